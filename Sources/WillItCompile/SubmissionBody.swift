/// Reads a submission's JSON object strictly: every member must be a known
/// field, named once, of the JSON type that field takes. A misspelt field
/// would otherwise be dropped and the job compiled with a default the client
/// did not ask for; a duplicate key would mean one thing here and another to
/// every reader that keeps the last one.
///
/// The raw form (the source as the whole body) fills the settings from its query
/// string instead, and gives its source to `RequestValidator.validate(_:source:)`.
public struct SubmissionBody: Sendable {
    var code: String?
    var source_code: String?
    public var language: String?
    public var compiler: String?
    public var standard: String?
    public var architecture: String?
    public var os: String?
    public var flags: [String]?
    public var link: Bool?
    /// false: compile even when the verdict cache has an answer.
    public var cache: Bool?
    /// A multi-file project's files as sent; only the JSON form has them.
    var files: [SubmittedFile]?
    var translation_units: [String]?

    /// One element of `files` as sent: checked for its JSON types only.
    struct SubmittedFile {
        var name: String
        var content: String
        /// `utf-8` (nil: the default) or `base64`.
        var encoding: String?
    }

    /// Nothing set: every setting at its default.
    public init() {}

    /// The fields a submission takes, each with what it accepts, in the order the API documents them.
    static let fields: [(name: String, accepts: String)] = [
        ("code", "a string: the source in Base64"),
        ("source_code", "a string: the source as plain text"),
        ("language", "a string such as \"cpp\""),
        ("compiler", "a string such as \"gcc-12\""),
        ("standard", "a string such as \"c++20\" or \"2021\""),
        ("architecture", "a string such as \"x86_64\""),
        ("os", "a string such as \"linux\""),
        ("flags", "an array of strings such as [\"-O2\", \"-Wall\"]"),
        ("link", "a boolean: false compiles without linking, true (the default) links"),
        ("cache", "a boolean: false compiles even when the verdict cache holds the answer, true (the default) may answer from it"),
        ("files", "an array of files such as [{\"name\": \"src/main.cpp\", \"content\": \"…\"}], instead of `code` or `source_code`"),
        ("translation_units", "an array of names of `files` to compile such as [\"src/main.cpp\"]"),
    ]

    static let fieldNames = fields.map(\.name)

    /// Names clients use for a field that an edit distance would not find.
    static let synonyms = [
        "std": "standard", "lang": "language", "cc": "compiler", "compilerid": "compiler",
        "arch": "architecture", "source": "source_code", "src": "source_code",
        "cflags": "flags", "options": "flags", "args": "flags", "arguments": "flags",
        "compileonly": "link", "nolink": "link", "linking": "link",
        "nocache": "cache", "usecache": "cache", "cached": "cache",
        "operatingsystem": "os", "platform": "os",
    ]

    init(object document: JSONValue) throws(RequestValidationError) {
        guard case let .object(members) = document else {
            throw RequestValidationError(problems: [Self.notAnObject("got \(Self.describe(document))")])
        }
        var problems = Self.duplicateKeys(in: document, path: "")
        for member in members {
            guard Self.fieldNames.contains(member.name) else {
                problems.append(Self.unknownField(member.name))
                continue
            }
            // As the predecessor read it (Go leaves a field null sets at its zero value): the default.
            if case .null = member.value { continue }
            if member.name == "flags" || member.name == "translation_units" {
                let strings = Self.strings(member.value, field: member.name, into: &problems)
                if member.name == "flags" { flags = strings } else { translation_units = strings }
                continue
            }
            if member.name == "files" {
                files = Self.files(member.value, into: &problems)
                continue
            }
            if member.name == "link" || member.name == "cache" {
                guard case let .bool(value) = member.value else {
                    let hint = if case let .string(text) = member.value, ["true", "false"].contains(text) {
                        "write it without quotes" } else { nil as String? }
                    problems.append(Self.wrongType(field: member.name, given: member.value, hint: hint))
                    continue
                }
                if member.name == "link" { link = value } else { cache = value }
                continue
            }
            guard case let .string(text) = member.value else {
                problems.append(Self.wrongType(field: member.name, given: member.value))
                continue
            }
            switch member.name {
            case "code": code = text
            case "source_code": source_code = text
            case "language": language = text
            case "compiler": compiler = text
            case "standard": standard = text
            case "architecture": architecture = text
            default: os = text
            }
        }
        guard problems.isEmpty else { throw RequestValidationError(problems: Self.capped(problems)) }
    }

    public static let maximumProblems = 20

    /// At most `maximumProblems`, then one that says how many more: a body of a hundred
    /// thousand stray keys gets an answer of a readable size.
    public static func capped(_ problems: [ValidationProblem], more what: String = "The body has") -> [ValidationProblem] {
        guard problems.count > maximumProblems else { return problems }
        let more = problems.count - maximumProblems
        return Array(problems.prefix(maximumProblems)) + [ValidationProblem(
            field: "body", kind: .malformedBody, message: "\(what) \(more) more problems like these.")]
    }

    static func notAnObject(_ reason: String) -> ValidationProblem {
        ValidationProblem(
            field: "body", kind: .malformedBody,
            message: "The body must be a JSON object with `code` (Base64) or `source_code` (plain text) and `language`; \(reason).")
    }

    private static func strings(_ value: JSONValue, field: String, into problems: inout [ValidationProblem]) -> [String]? {
        guard case let .array(elements) = value else {
            let hint = if case let .string(text) = value { "write it as [\(quoted(text))]" } else { nil as String? }
            problems.append(wrongType(field: field, given: value, hint: hint))
            return nil
        }
        let each = field == "flags" ? "Each flag must be a string such as \"-O2\"" : "Each translation unit must be a file's name such as \"src/main.cpp\""
        var strings: [String] = []
        for (position, element) in elements.enumerated() {
            guard case let .string(text) = element else {
                problems.append(ValidationProblem(
                    field: "\(field)[\(position)]", kind: .wrongType,
                    message: "\(each); `\(field)[\(position)]` is \(describe(element))."))
                continue
            }
            strings.append(text)
        }
        return strings
    }

    /// The members a file of `files` takes, each with what it accepts.
    static let fileFields: [(name: String, accepts: String)] = [
        ("name", "a string: the file's path in the project, such as \"src/main.cpp\""),
        ("content", "a string: the file's content"),
        ("encoding", "\"utf-8\" (the default: `content` is the text) or \"base64\" (`content` is the bytes in Base64)"),
    ]

    private static func files(_ value: JSONValue, into problems: inout [ValidationProblem]) -> [SubmittedFile]? {
        guard case let .array(elements) = value else {
            problems.append(wrongType(field: "files", given: value))
            return nil
        }
        var files: [SubmittedFile] = []
        let known = fileFields.map(\.name)
        for (position, element) in elements.enumerated() {
            let field = "files[\(position)]"
            guard case let .object(members) = element else {
                problems.append(ValidationProblem(
                    field: field, kind: .wrongType,
                    message: "Each file must be an object such as {\"name\": \"src/main.cpp\", \"content\": \"…\"}; `\(field)` is \(describe(element))."))
                continue
            }
            var strings: [String: String] = [:]
            var fine = true
            for member in members {
                guard let accepts = fileFields.first(where: { $0.name == member.name })?.accepts else {
                    let name = shortened(member.name)
                    let meant = suggestion(for: member.name, among: known).map { "; did you mean `\($0)`?" } ?? " (accepted: \(known.joined(separator: ", ")))."
                    problems.append(ValidationProblem(
                        field: "\(field).\(name)", kind: .unknownField(suggestion: suggestion(for: member.name, among: known)),
                        message: "`\(field).\(name)` is not a field of a file\(meant)"))
                    fine = false
                    continue
                }
                guard case let .string(text) = member.value else {
                    problems.append(ValidationProblem(
                        field: "\(field).\(member.name)", kind: .wrongType,
                        message: "Field `\(field).\(member.name)` must be \(accepts); got \(describe(member.value))."))
                    fine = false
                    continue
                }
                strings[member.name] = text
            }
            for required in ["name", "content"] where strings[required] == nil && fine {
                problems.append(ValidationProblem(
                    field: "\(field).\(required)", kind: .missing,
                    message: "File \(position) has no `\(required)`; each file needs `name` and `content`."))
                fine = false
            }
            guard fine, let name = strings["name"], let content = strings["content"] else { continue }
            files.append(SubmittedFile(name: name, content: content, encoding: strings["encoding"]))
        }
        return files
    }

    private static func wrongType(field: String, given: JSONValue, hint: String? = nil) -> ValidationProblem {
        let accepts = fields.first { $0.name == field }?.accepts ?? ""
        let advice = hint.map { "; \($0)" } ?? ""
        return ValidationProblem(
            field: field, kind: .wrongType,
            message: "Field `\(field)` must be \(accepts); got \(describe(given))\(advice).")
    }

    private static func unknownField(_ name: String) -> ValidationProblem {
        let field = shortened(name)
        if let suggestion = suggestion(for: name, among: fieldNames) {
            return ValidationProblem(
                field: field, kind: .unknownField(suggestion: suggestion),
                message: "`\(field)` is not a field; did you mean `\(suggestion)`?")
        }
        return ValidationProblem(
            field: field, kind: .unknownField(suggestion: nil),
            message: "`\(field)` is not a field (accepted: \(fieldNames.joined(separator: ", "))).")
    }

    /// Every key that an object of the document holds more than once, named by its path. The
    /// path is kept as short as it is shown, so a long key above many others is not copied
    /// for each of them.
    static func duplicateKeys(in value: JSONValue, path: String) -> [ValidationProblem] {
        switch value {
        case let .object(members):
            var counts: [String: Int] = [:]
            for member in members { counts[member.name, default: 0] += 1 }
            var problems: [ValidationProblem] = []
            for member in members {
                let memberPath = shortened(path.isEmpty ? shortened(member.name) : "\(path).\(shortened(member.name))")
                if let count = counts[member.name], count > 1 {
                    counts[member.name] = 0
                    problems.append(ValidationProblem(
                        field: memberPath, kind: .duplicateKey,
                        message: "Key `\(memberPath)` appears \(count) times; send it once (JSON readers disagree on which one counts)."))
                }
                problems += duplicateKeys(in: member.value, path: memberPath)
            }
            return problems
        case let .array(elements):
            return elements.enumerated().flatMap { position, element in
                duplicateKeys(in: element, path: shortened("\(path)[\(position)]"))
            }
        default:
            return []
        }
    }

    /// The known field a misspelt or foreign name most plausibly means, if one does.
    /// The name of `names` that `name` most likely means: a common other name for it, or
    /// one that is spelt nearly the same; nil when none is plausible.
    public static func suggestion(for name: String, among names: [String]) -> String? {
        // Case, `_` and `-` differences (`sourceCode`, `Source-Code`) are no evidence against a field.
        let folded = fold(name)
        if let synonym = synonyms[folded], names.contains(synonym) { return synonym }
        var best: (name: String, distance: Int)?
        for known in names {
            let target = fold(known)
            guard abs(folded.utf8.count - target.utf8.count) <= 2 else { continue }
            let distance = editDistance(Array(folded.utf8), Array(target.utf8))
            // Short names are a step apart from many others, so they may differ in one edit only.
            let allowed = max(folded.utf8.count, target.utf8.count) <= 4 ? 1 : 2
            if distance <= allowed, distance < best?.distance ?? .max {
                best = (known, distance)
            }
        }
        return best?.name
    }

    private static func fold(_ name: String) -> String {
        String(name.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " })
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and
    /// swaps of two neighbours (`langauge`) each count as one edit.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var twoBack = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], twoBack[j - 2] + 1)
                }
            }
            (twoBack, previous, current) = (previous, current, twoBack)
        }
        return previous[b.count]
    }

    /// What a client sent, for a message: its JSON type and, for scalars, a short rendering.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case let .bool(flag): "the boolean \(flag)"
        case let .number(text): "the number \(shortened(text))"
        case let .string(text): "the string \(quoted(text))"
        case .array: "an array"
        case .object: "an object"
        }
    }

    private static func quoted(_ text: String) -> String {
        "\"" + shortened(text).replacing("\"", with: "\\\"") + "\""
    }

    /// A client's text in a message is cut short: it may be a whole source file.
    /// A name or value from the request, as an answer repeats it: at most 40 characters.
    public static func shortened(_ text: String) -> String {
        // Counts 41 characters at most: a key of a megabyte costs no more than a short one.
        let head = text.prefix(41)
        return head.count > 40 ? String(head.prefix(40)) + "…" : text
    }
}
