import FoundationEssentials

/// A validated request: the source as bytes and a language the service knows.
/// Only `RequestValidator` makes one from client input; the store keeps it in
/// the predecessor's JSON shape (see `Codable` below).
public struct CompilationRequest: Sendable, Equatable {
    /// The source exactly as the client sent it (any bytes).
    public var source: [UInt8]
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

    public init(
        source: [UInt8], language: Language, compiler: String? = nil, standard: String? = nil,
        architecture: String? = nil, os: String? = nil, flags: [String] = []
    ) {
        self.flags = flags
        self.source = source
        self.language = language
        self.compiler = compiler
        self.standard = standard
        self.architecture = architecture
        self.os = os
    }
}

/// Stored as the predecessor stored it: the source Base64-encoded in `code`,
/// which also keeps arbitrary bytes intact inside JSON.
extension CompilationRequest: Codable {
    private enum CodingKeys: String, CodingKey {
        case code, language, compiler, standard, architecture, os, flags
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let code = try container.decode(String.self, forKey: .code)
        guard let source = Data(base64Encoded: code) else {
            throw DecodingError.dataCorruptedError(
                forKey: .code, in: container, debugDescription: "not Base64")
        }
        let languageName = try container.decode(String.self, forKey: .language)
        guard let language = Language(name: languageName) else {
            throw DecodingError.dataCorruptedError(
                forKey: .language, in: container, debugDescription: "unknown language \(languageName)")
        }
        func optional(_ key: CodingKeys) throws -> String? {
            let value = try container.decodeIfPresent(String.self, forKey: key)
            return value?.isEmpty == true ? nil : value
        }
        self.init(
            source: Array(source), language: language,
            compiler: try optional(.compiler), standard: try optional(.standard),
            architecture: try optional(.architecture), os: try optional(.os),
            flags: try container.decodeIfPresent([String].self, forKey: .flags) ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Data(source).base64EncodedString(), forKey: .code)
        try container.encode(language.rawValue, forKey: .language)
        try container.encodeIfPresent(compiler, forKey: .compiler)
        try container.encodeIfPresent(standard, forKey: .standard)
        try container.encodeIfPresent(architecture, forKey: .architecture)
        try container.encodeIfPresent(os, forKey: .os)
        if !flags.isEmpty { try container.encode(flags, forKey: .flags) }
    }
}

extension CompilationRequest {
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
        guard let code = json["code"]?.string else { throw StoredRequestError(description: "code is missing or not a string") }
        var source: [UInt8] = []
        if withSource {
            guard let decoded = Data(base64Encoded: code) else { throw StoredRequestError(description: "code is not Base64") }
            source = Array(decoded)
        }
        guard let languageName = json["language"]?.string, let language = Language(name: languageName) else {
            throw StoredRequestError(description: "language is missing or unknown")
        }
        func optional(_ key: String) throws(StoredRequestError) -> String? {
            switch json[key] {
            case nil, .null: return nil
            case let .string(text): return text.isEmpty ? nil : text
            default: throw StoredRequestError(description: "\(key) is not a string")
            }
        }
        var flags: [String] = []
        switch json["flags"] {
        case nil, .null: break
        case let .array(values):
            for value in values {
                guard let flag = value.string else { throw StoredRequestError(description: "flags holds a non-string") }
                flags.append(flag)
            }
        default: throw StoredRequestError(description: "flags is not an array")
        }
        self.init(
            source: source, language: language, compiler: try optional("compiler"), standard: try optional("standard"),
            architecture: try optional("architecture"), os: try optional("os"), flags: flags)
    }
}

public struct StoredRequestError: Error, CustomStringConvertible {
    public let description: String
}
