import FoundationEssentials
import WillItCompile

/// The forms a submission's body may take, by its `Content-Type`.
enum SubmissionForm: Equatable {
    /// `application/json` (or `…+json`), and a body without a type, as the predecessor's
    /// clients send it: the JSON object of the API.
    case json
    /// `application/x-www-form-urlencoded`, which curl sends for `-d` and `--data-binary`
    /// alike. `-d @main.c` deletes the file's line breaks and `--data-binary` keeps them, and a
    /// real form encoder writes a line break as `%0A`: so a body with a line break in it is the
    /// file as it is (the raw form), a JSON object is the JSON form, and anything else is refused.
    case form
    /// `multipart/form-data` (`curl -F`): an envelope around the file, never the file itself.
    case multipart
    /// Anything else (`text/plain`, `application/octet-stream`, …): the body is the source
    /// itself, and the settings come from the query string.
    case raw

    init(contentType: String?) {
        let type = contentType?.split(separator: ";").first.map { String($0).trimmingBlanks.lowercased() } ?? ""
        switch type {
        case "", "application/json": self = .json
        case _ where type.hasSuffix("+json"): self = .json
        case "application/x-www-form-urlencoded": self = .form
        case "multipart/form-data": self = .multipart
        default: self = .raw
        }
    }
}

/// A submission whose body is the source itself (`curl --data-binary @main.cpp
/// '…/api/v1/compile?language=cpp&standard=c%2B%2B20&wait=30'`). Its query string gives the
/// settings a JSON body would; the validator checks them with the source, byte for byte, as
/// it checks a JSON submission.
enum RawSubmission {
    /// The query parameters of the raw form; each but `flag` at most once.
    static let parameters = ["language", "compiler", "standard", "architecture", "os", "flag", "link", "cache", "filename", "wait"]

    /// The settings of the query string, for the validator to check with the source, or the problem with the query.
    static func settings(of request: HTTPRequest) throws(RequestValidationError) -> SubmissionBody {
        var problems: [ValidationProblem] = []
        let accepted = parameters.joined(separator: ", ")
        for name in Set(request.queryNames) {
            if !parameters.contains(name) {
                let shown = SubmissionBody.shortened(name)
                let meant = SubmissionBody.suggestion(for: name, among: parameters).map { " did you mean `\($0)`?" } ?? ""
                problems.append(ValidationProblem(
                    field: shown, kind: .unsupported(accepted: parameters),
                    message: "`\(shown)` is not a parameter of a raw submission;\(meant) Accepted: \(accepted)."))
            } else if name != "flag", request.queryValues(name).count > 1 {
                problems.append(ValidationProblem(
                    field: name, kind: .wrongType, message: "`\(name)` is given more than once; give it once."))
            }
        }
        func value(_ name: String) -> String? { request.queryValues(name).first }
        var language = value("language")
        if language == nil, let filename = value("filename") {
            guard let inferred = Language(fileName: filename) else {
                throw RequestValidationError(problems: SubmissionBody.capped(problems + [ValidationProblem(
                    field: "filename", kind: .unsupported(accepted: Language.fileExtensions.keys.sorted()),
                    message: "The language of `\(SubmissionBody.shortened(filename))` is not known from its extension (known: \(Language.knownExtensions)); give `language=`.")],
                    more: "The query string has"))
            }
            language = inferred.rawValue
        }
        if language == nil {
            problems.append(ValidationProblem(
                field: "language", kind: .missing,
                message: "A raw submission needs `language=` in the query string (c, cpp, go, rust, swift), or a `filename=` whose extension says it."))
        }
        func boolean(_ name: String, meaningOfFalse: String) -> Bool? {
            guard let text = value(name) else { return nil }
            guard let given = ["true": true, "false": false][text] else {
                problems.append(ValidationProblem(
                    field: name, kind: .unsupported(accepted: ["true", "false"]),
                    message: "`\(name)=\(SubmissionBody.shortened(text))` is not accepted; give `\(name)=false` to \(meaningOfFalse), or `\(name)=true` (the default)."))
                return nil
            }
            return given
        }
        let link = boolean("link", meaningOfFalse: "compile without linking")
        let cache = boolean("cache", meaningOfFalse: "compile even when the verdict cache holds the answer")
        guard problems.isEmpty else { throw RequestValidationError(problems: SubmissionBody.capped(problems, more: "The query string has")) }
        var settings = SubmissionBody()
        settings.language = language
        settings.compiler = value("compiler")
        settings.standard = value("standard")
        settings.architecture = value("architecture")
        settings.os = value("os")
        let flags = request.queryValues("flag")
        settings.flags = flags.isEmpty ? nil : flags
        settings.link = link
        settings.cache = cache
        return settings
    }

    /// The query string of a submission whose body is JSON, which takes only `accepted`
    /// (`wait`, or nothing): the body says everything else, so a raw form's setting in the
    /// query would be ignored without a word; it is refused, naming where it belongs.
    static func checkQuery(ofJSONBody request: HTTPRequest, accepting accepted: [String]) throws(RequestValidationError) {
        let shownAccepted = accepted.isEmpty ? "none" : accepted.joined(separator: ", ")
        var problems: [ValidationProblem] = []
        for name in Set(request.queryNames).sorted() where !accepted.contains(name) {
            let shown = SubmissionBody.shortened(name)
            let instead = switch name {
            case "flag": " With a JSON body, the flags are its field `flags` (an array)."
            case "filename": " With a JSON body, the language is its field `language`."
            case _ where parameters.contains(name): " With a JSON body, give it as the body's field `\(name)`."
            default: ""
            }
            let raw = parameters.contains(name) ? " is a setting of a raw submission (a body that is the source itself), and this body is JSON." : " is not a query parameter of a submission with a JSON body."
            problems.append(ValidationProblem(
                field: shown, kind: .unsupported(accepted: accepted),
                message: "The query parameter `\(shown)`\(raw)\(instead) Accepted in the query here: \(shownAccepted)."))
        }
        if !problems.isEmpty { throw RequestValidationError(problems: SubmissionBody.capped(problems, more: "The query string has")) }
    }

    /// What a form-encoded body with no line break that is not a JSON object gets.
    static let formRefusal = "The body came as a form (Content-Type application/x-www-form-urlencoded) without a single line break, as `curl -d @main.c` sends a file after deleting its newlines, so it is not compiled. Send the file as it is with `curl --data-binary @main.c '…/api/v1/compile?language=c'` (for a file of one line with no final newline, add `-H 'Content-Type: text/plain'`), or a JSON body with Content-Type application/json."
    /// What a `multipart/form-data` body gets.
    static let multipartRefusal = "A multipart/form-data body (what `curl -F` sends) is not accepted. Send the file itself as the body with `curl --data-binary @main.c -H 'Content-Type: text/plain' '…/api/v1/compile?language=c'`, or a JSON body with Content-Type application/json."

    /// Whether a form-encoded body is a file sent as it is: a form encoder escapes line breaks.
    static func holdsALineBreak(_ body: [UInt8]) -> Bool {
        body.contains(0x0A) || body.contains(0x0D)
    }
}
