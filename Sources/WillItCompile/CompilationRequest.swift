import FoundationEssentials

/// A validated request: the source as bytes (or a project's files) and a language the
/// service knows. Only `RequestValidator` makes one from client input; the store keeps it
/// in the predecessor's JSON shape (see `Codable` below).
public struct CompilationRequest: Sendable, Equatable {
    /// The source exactly as the client sent it (any bytes); empty for a project of `files`.
    public var source: [UInt8]
    /// A multi-file project's files, their names checked (`ProjectFile.problem(withName:)`);
    /// empty for a single source.
    public var files: [ProjectFile]
    /// The names of the `files` the compiler is given, in order (the others are only read by
    /// them, as headers or modules); empty for a single source.
    public var translationUnits: [String]
    public var language: Language
    /// A toolchain id such as `gcc-12`; nil means the language's default.
    public var compiler: String?
    /// A standard, edition or language mode; nil means the compiler's default.
    public var standard: String?
    /// nil means `x86_64`.
    public var architecture: String?
    /// nil means `linux`.
    public var os: String?
    /// Extra compiler flags, checked against the toolchain's allowlist (`FlagFamily`).
    public var flags: [String]
    /// false: compile only, without linking, so a file with no `main` (a library) can
    /// compile; the toolchain's `compileOnlyArguments` say how.
    public var link: Bool
    /// false: compile even if the verdict cache holds this request's verdict (`cache=false`).
    /// Not part of what is compiled, so not part of the `VerdictKey`.
    public var useCache: Bool

    public init(
        source: [UInt8], language: Language, compiler: String? = nil, standard: String? = nil,
        architecture: String? = nil, os: String? = nil, flags: [String] = [], link: Bool = true,
        useCache: Bool = true, files: [ProjectFile] = [], translationUnits: [String] = []
    ) {
        self.files = files
        self.translationUnits = translationUnits
        self.useCache = useCache
        self.flags = flags
        self.link = link
        self.source = source
        self.language = language
        self.compiler = compiler
        self.standard = standard
        self.architecture = architecture
        self.os = os
    }

    /// Whether the request is a project of `files` rather than one source.
    public var isProject: Bool { !files.isEmpty }

    /// The bytes of its sources together: the single source's, or every file's.
    public var sourceByteCount: Int { source.count + files.reduce(0) { $0 + $1.content.count } }

    /// Every file's bytes, for the places that look into the sources: the single source as
    /// the one file `singleName`, or the project's files.
    public func sourceFiles(singleName: String) -> [ProjectFile] {
        isProject ? files : [ProjectFile(name: singleName, content: source)]
    }

    /// The request without the bytes of its source or files, for answers that never show them.
    public var withoutSources: CompilationRequest {
        var request = self
        request.source = []
        request.files = files.map { ProjectFile(name: $0.name, content: []) }
        return request
    }
}

/// Stored as the predecessor stored it: the source Base64-encoded in `code`,
/// which also keeps arbitrary bytes intact inside JSON. A project has no `code`, but
/// `files` (each `{"name", "content"}`, the content in Base64) and `translation_units`.
extension CompilationRequest: Codable {
    private enum CodingKeys: String, CodingKey {
        case code, language, compiler, standard, architecture, os, flags, link, cache, files
        case translationUnits = "translation_units"
    }

    private struct StoredFile: Codable {
        var name: String
        var content: String
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func text(_ key: CodingKeys) throws -> String? { try container.decodeIfPresent(String.self, forKey: key) }
        do {
            try self.init(
                code: try container.decodeIfPresent(String.self, forKey: .code),
                files: try container.decodeIfPresent([StoredFile].self, forKey: .files)?.map { ($0.name, $0.content) },
                translationUnits: try container.decodeIfPresent([String].self, forKey: .translationUnits) ?? [],
                decodingSource: true,
                languageName: try container.decode(String.self, forKey: .language),
                compiler: try text(.compiler), standard: try text(.standard), architecture: try text(.architecture),
                os: try text(.os), flags: try container.decodeIfPresent([String].self, forKey: .flags) ?? [],
                link: try container.decodeIfPresent(Bool.self, forKey: .link) ?? true,
                useCache: try container.decodeIfPresent(Bool.self, forKey: .cache) ?? true)
        } catch let error as StoredRequestError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if isProject {
            try container.encode(files.map { StoredFile(name: $0.name, content: Data($0.content).base64EncodedString()) }, forKey: .files)
            try container.encode(translationUnits, forKey: .translationUnits)
        } else {
            try container.encode(Data(source).base64EncodedString(), forKey: .code)
        }
        try container.encode(language.rawValue, forKey: .language)
        try container.encodeIfPresent(compiler, forKey: .compiler)
        try container.encodeIfPresent(standard, forKey: .standard)
        try container.encodeIfPresent(architecture, forKey: .architecture)
        try container.encodeIfPresent(os, forKey: .os)
        if !flags.isEmpty { try container.encode(flags, forKey: .flags) }
        // Absent means linked, so jobs stored before the field existed read as they ran.
        if !link { try container.encode(false, forKey: .link) }
        if !useCache { try container.encode(false, forKey: .cache) }
    }
}

extension CompilationRequest {
    /// The stored JSON shape, written by hand: byte for byte what `JSONEncoder` (default
    /// options) makes of `encode(to:)` above, in the same member order, without its generic
    /// machinery. The responder writes it once per submission; it travels to the worker
    /// and into the store as it is.
    public var storedJSON: [UInt8] {
        var json = JSONObjectWriter(reservingCapacity: 160 + source.count * 4 / 3 + files.reduce(0) { $0 + 40 + $1.content.count * 4 / 3 },
                                    escapingSlashes: true)
        if isProject {
            var stored: [UInt8] = [UInt8(ascii: "[")]
            for file in files {
                if stored.count > 1 { stored.append(UInt8(ascii: ",")) }
                var entry = JSONObjectWriter(reservingCapacity: 40 + file.content.count * 4 / 3, escapingSlashes: true)
                entry.member("name", file.name)
                entry.member("content", Data(file.content).base64EncodedString())
                stored += entry.finish()
            }
            stored.append(UInt8(ascii: "]"))
            json.member("files", json: stored)
            json.member("translation_units", translationUnits)
        } else {
            json.member("code", Data(source).base64EncodedString())
        }
        json.member("language", language.rawValue)
        for (name, value) in [("compiler", compiler), ("standard", standard), ("architecture", architecture), ("os", os)] {
            if let value { json.member(name, value) }
        }
        if !flags.isEmpty { json.member("flags", flags) }
        if !link { json.member("link", false) }
        if !useCache { json.member("cache", false) }
        return json.finish()
    }

    /// Reads the stored JSON shape (as `Codable` writes it, or the predecessor
    /// did) with `JSONValue` instead of `JSONDecoder`: this runs on every status read.
    /// - Parameter withSource: false leaves `source` empty and skips the Base64
    ///   decode, for reads that never show the source.
    /// - Throws: `StoredRequestError` naming the field that is wrong.
    public init(storedJSON bytes: [UInt8], withSource: Bool) throws(StoredRequestError) {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: bytes)
        } catch {
            throw StoredRequestError(description: error.description)
        }
        guard case .object = json else { throw StoredRequestError(description: "not a JSON object") }
        func text(_ key: String) throws(StoredRequestError) -> String? {
            switch json[key] {
            case nil, .null: return nil
            case let .string(text): return text
            default: throw StoredRequestError(description: "\(key) is not a string")
            }
        }
        func strings(_ key: String) throws(StoredRequestError) -> [String] {
            switch json[key] {
            case nil, .null: return []
            case let .array(values):
                var strings: [String] = []
                for value in values {
                    guard let string = value.string else { throw StoredRequestError(description: "\(key) holds a non-string") }
                    strings.append(string)
                }
                return strings
            default: throw StoredRequestError(description: "\(key) is not an array")
            }
        }
        let flags = try strings("flags")
        func bool(_ key: String) throws(StoredRequestError) -> Bool {
            switch json[key] {
            case nil, .null: return true
            case let .bool(value): return value
            default: throw StoredRequestError(description: "\(key) is not a boolean")
            }
        }
        let link = try bool("link")
        let useCache = try bool("cache")
        var files: [(name: String, content: String)]?
        switch json["files"] {
        case nil, .null: break
        case let .array(values):
            files = []
            for value in values {
                guard let name = value["name"]?.string, let content = value["content"]?.string else {
                    throw StoredRequestError(description: "files holds an entry without a string name and content")
                }
                files?.append((name, content))
            }
        default: throw StoredRequestError(description: "files is not an array")
        }
        guard let languageName = try text("language") else { throw StoredRequestError(description: "language is missing") }
        try self.init(
            code: try text("code"), files: files, translationUnits: try strings("translation_units"), decodingSource: withSource, languageName: languageName, compiler: try text("compiler"),
            standard: try text("standard"), architecture: try text("architecture"), os: try text("os"), flags: flags,
            link: link, useCache: useCache)
    }

    /// The stored shape's rules, shared by both readers: the source in Base64 in
    /// `code` or a project's `files`, the language by name, and an empty string (the
    /// predecessor's "not given") read as absent.
    private init(
        code: String?, files storedFiles: [(name: String, content: String)]?, translationUnits: [String],
        decodingSource: Bool, languageName: String, compiler: String?, standard: String?,
        architecture: String?, os: String?, flags: [String], link: Bool, useCache: Bool
    ) throws(StoredRequestError) {
        func decoded(_ base64: String, _ field: String) throws(StoredRequestError) -> [UInt8] {
            guard decodingSource else { return [] }
            guard let bytes = Data(base64Encoded: base64) else { throw StoredRequestError(description: "\(field) is not Base64") }
            return Array(bytes)
        }
        var source: [UInt8] = []
        var files: [ProjectFile] = []
        switch (code, storedFiles) {
        case let (code?, nil):
            source = try decoded(code, "code")
        case let (nil, storedFiles?) where !storedFiles.isEmpty:
            for file in storedFiles {
                files.append(ProjectFile(name: file.name, content: try decoded(file.content, "the content of \(file.name)")))
            }
        case (nil, _):
            throw StoredRequestError(description: "code is missing")
        case (_?, _?):
            throw StoredRequestError(description: "both code and files are given")
        }
        guard let language = Language(name: languageName) else {
            throw StoredRequestError(description: "unknown language \(languageName); known: \(Language.acceptedNames.joined(separator: ", "))")
        }
        func given(_ text: String?) -> String? { text?.isEmpty == true ? nil : text }
        self.init(
            source: source, language: language, compiler: given(compiler), standard: given(standard),
            architecture: given(architecture), os: given(os), flags: flags, link: link, useCache: useCache,
            files: files, translationUnits: translationUnits)
    }
}

public struct StoredRequestError: Error, CustomStringConvertible {
    public let description: String
}
