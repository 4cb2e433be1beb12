public import FoundationEssentials

/// One thing wrong with a request: which field, what kind of problem, and a
/// sentence for the client that says what is accepted.
public struct ValidationProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The body is not a JSON object.
        case malformedBody
        /// The field has the wrong JSON type.
        case wrongType
        case missing
        /// Fields that exclude each other were both given.
        case conflicting
        case invalidBase64
        case emptySource
        /// The decoded source is larger than the configured limit (HTTP 413).
        case tooLarge(limit: Int, actual: Int)
        /// The value is not one of `accepted` (an empty list: the field takes no value here).
        case unsupported(accepted: [String])
        /// The body names a field that does not exist; `suggestion` is the known field it most plausibly means.
        case unknownField(suggestion: String?)
        /// An object in the body holds this key more than once.
        case duplicateKey
    }

    public let field: String
    public let kind: Kind
    public let message: String

    public init(field: String, kind: Kind, message: String) {
        self.field = field
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Every problem found in a request, never just the first.
public struct RequestValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let problems: [ValidationProblem]

    public init(problems: [ValidationProblem]) {
        self.problems = problems
    }

    /// True when the only reason to refuse is the source size, which HTTP answers with 413.
    public var isOnlyTooLarge: Bool {
        problems.allSatisfy { if case .tooLarge = $0.kind { true } else { false } }
    }

    public var description: String { problems.map(\.message).joined(separator: " ") }
}

/// Turns a client's JSON body into a `CompilationRequest`, or says everything that is wrong.
///
/// Checks here need no toolchain. Which compilers, standards, architectures and operating
/// systems exist is the catalog's knowledge alone: `[Toolchain].resolve` checks them against
/// what the worker offers, so a catalog entry with a new standard or target is accepted as it is.
public struct RequestValidator: Sendable {
    /// Other spellings of the catalog's architecture names (the predecessor's and the kernel's).
    public static let architectureAliases = ["amd64": "x86_64", "aarch64": "arm64"]

    /// Largest decoded source, in bytes; for a project, of all its files together.
    public var maxSourceSize: Int
    /// Most files one project (`files`) may have.
    public var maxFiles: Int

    public init(maxSourceSize: Int, maxFiles: Int = ProjectFile.defaultMaxCount) {
        self.maxSourceSize = maxSourceSize
        self.maxFiles = maxFiles
    }

    /// Reads the body with `JSONValue` rather than `JSONDecoder`, which drops
    /// unknown fields and lets the first of two duplicate keys win.
    public func validate(json: Data) throws(RequestValidationError) -> CompilationRequest {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: Array(json))
        } catch {
            throw RequestValidationError(problems: [SubmissionBody.notAnObject(json.isEmpty ? "the body is empty" : "\(error)")])
        }
        return try validate(object: document)
    }

    /// A submission's JSON document, read as `validate(json:)` reads it.
    public func validate(object document: JSONValue) throws(RequestValidationError) -> CompilationRequest {
        try validate(SubmissionBody(object: document))
    }

    /// A submission whose source is the whole body, its settings given apart (the query string).
    public func validate(_ settings: SubmissionBody, source: [UInt8]) throws(RequestValidationError) -> CompilationRequest {
        try validate(settings, rawSource: source)
    }

    private func validate(_ body: SubmissionBody, rawSource: [UInt8]? = nil) throws(RequestValidationError) -> CompilationRequest {
        var problems: [ValidationProblem] = []
        let source = body.files != nil ? [] : rawSource.map { checkSource($0, field: "body", into: &problems) }
            ?? checkSource(code: body.code, sourceCode: body.source_code, into: &problems)
        let language = checkLanguage(body.language, into: &problems)
        let project = body.files.flatMap { files in
            checkProject(files, translationUnits: body.translation_units, language: language, link: body.link ?? true,
                         besides: body.code != nil || body.source_code != nil, into: &problems)
        }
        if body.files == nil, body.translation_units != nil {
            problems.append(ValidationProblem(
                field: "translation_units", kind: .conflicting,
                message: "`translation_units` names files of `files`; send it with `files`, or leave it out with `code` or `source_code`."))
        }
        let standard = nonEmpty(body.standard)
        let compiler = nonEmpty(body.compiler)
        if let compiler, !Self.isToolchainName(compiler) {
            problems.append(ValidationProblem(
                field: "compiler", kind: .unsupported(accepted: []),
                message: "Compiler `\(compiler)` is not a toolchain name (lower-case letters, digits, `.`, `-`, `+`, `_`, such as `gcc-12` or `clang-16`)."))
        }
        let architecture = nonEmpty(body.architecture).map { name in
            Self.architectureAliases[name.lowercased()] ?? name.lowercased()
        }
        let os = nonEmpty(body.os)?.lowercased()
        let flags = body.flags ?? []
        if flags.count > FlagFamily.maxCount {
            problems.append(ValidationProblem(
                field: "flags", kind: .unsupported(accepted: []),
                message: "\(flags.count) flags given; at most \(FlagFamily.maxCount) are accepted."))
        }
        guard problems.isEmpty, let source, let language else {
            throw RequestValidationError(problems: problems)
        }
        return CompilationRequest(
            source: source, language: language, compiler: compiler, standard: standard,
            architecture: architecture, os: os, flags: flags, link: body.link ?? true,
            useCache: body.cache ?? true, files: project?.files ?? [], translationUnits: project?.translationUnits ?? [])
    }

    private func checkSource(code: String?, sourceCode: String?, into problems: inout [ValidationProblem]) -> [UInt8]? {
        let field: String
        let source: [UInt8]
        switch (code, sourceCode) {
        case (nil, nil):
            problems.append(ValidationProblem(
                field: "code", kind: .missing,
                message: "The source is missing: send `code` (Base64) or `source_code` (plain text), or a project's `files`."))
            return nil
        case (.some, .some):
            problems.append(ValidationProblem(
                field: "code", kind: .conflicting,
                message: "Send either `code` (Base64) or `source_code` (plain text), not both."))
            return nil
        case let (.some(base64), nil):
            field = "code"
            do {
                source = try decodeBase64(base64, field: field, limit: maxSourceSize)
            } catch {
                problems += error.problems
                return nil
            }
        case let (nil, .some(text)):
            field = "source_code"
            source = Array(text.utf8)
        }
        return checkSource(source, field: field, into: &problems)
    }

    /// Base64 as Go's base64.StdEncoding reads it (line breaks are ignored; anything else must be
    /// Base64), refused unread when it would decode to more than `limit` bytes.
    /// - Throws: the one problem: `tooLarge` (with about the size it would decode to) or `invalidBase64`.
    func decodeBase64(_ base64: String, field: String, limit: Int) throws(RequestValidationError) -> [UInt8] {
        let compact = base64.filter { $0 != "\n" && $0 != "\r" }
        // Reject before decoding a huge body: 4 Base64 characters carry 3 bytes.
        if compact.utf8.count / 4 * 3 > limit + 2 {
            throw RequestValidationError(problems: [tooLarge(field: field, size: compact.utf8.count / 4 * 3)])
        }
        guard let data = Data(base64Encoded: compact) else {
            let instead = field == "code" ? "send plain text in `source_code` instead" : "leave `encoding` out to send plain text"
            throw RequestValidationError(problems: [ValidationProblem(
                field: field, kind: .invalidBase64,
                message: "Field `\(field)` is not valid Base64 (standard alphabet with `=` padding); \(instead).")])
        }
        return Array(data)
    }

    /// The source whatever form it came in: within the size limit, and not only blanks.
    private func checkSource(_ source: [UInt8], field: String, into problems: inout [ValidationProblem]) -> [UInt8]? {
        if source.count > maxSourceSize {
            problems.append(tooLarge(field: field, size: source.count))
            return nil
        }
        if source.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            problems.append(ValidationProblem(
                field: field, kind: .emptySource,
                message: field == "body" ? "The body holds no source code." : "Field `\(field)` holds no source code."))
            return nil
        }
        return source
    }

    func tooLarge(field: String, size: Int) -> ValidationProblem {
        ValidationProblem(
            field: field, kind: .tooLarge(limit: maxSourceSize, actual: size),
            message: field == "files"
                ? "The files hold \(size) bytes together; at most \(maxSourceSize) bytes are accepted."
                : "The source is \(size) bytes; at most \(maxSourceSize) bytes are accepted.")
    }

    private func checkLanguage(_ name: String?, into problems: inout [ValidationProblem]) -> Language? {
        let accepted = Language.acceptedNames.joined(separator: ", ")
        guard let name = nonEmpty(name) else {
            problems.append(ValidationProblem(
                field: "language", kind: .missing,
                message: "Field `language` is required (accepted: \(accepted))."))
            return nil
        }
        guard let language = Language(name: name) else {
            problems.append(ValidationProblem(
                field: "language", kind: .unsupported(accepted: Language.acceptedNames),
                message: "Unknown language `\(name)` (accepted: \(accepted))."))
            return nil
        }
        return language
    }

    private func nonEmpty(_ value: String?) -> String? {
        guard let value = value?.trimmingBlanks, !value.isEmpty else { return nil }
        return value
    }

    private static func isToolchainName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != ".", first != "-", first != "+", first != "_"
        else { return false }
        return name.count <= 64 && name.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || ".-+_".unicodeScalars.contains(scalar)
        }
    }
}
