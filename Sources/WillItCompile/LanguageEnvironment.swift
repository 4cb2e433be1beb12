/// One element of `GET /api/v1/environments`, the predecessor's bare array: per language what
/// a request may ask for, plus the defaults it gets for what it omits. In a cluster it is the
/// union of what the live hosts offer. The API writes it; the command-line client reads it.
public struct LanguageEnvironment: Codable, Sendable, Equatable {
    public var language: String
    public var compilers: [String]
    public var standards: [String]
    public var oses: [String]
    public var architectures: [String]
    public var defaultCompiler: String?
    /// The default compiler's default standard; absent when it has none (Go).
    public var defaultStandard: String?

    private enum CodingKeys: String, CodingKey {
        case language, compilers, standards, oses, architectures
        case defaultCompiler = "default_compiler", defaultStandard = "default_standard"
    }

    public init(
        language: String, compilers: [String], standards: [String], oses: [String], architectures: [String],
        defaultCompiler: String?, defaultStandard: String?
    ) {
        self.language = language
        self.compilers = compilers
        self.standards = standards
        self.oses = oses
        self.architectures = architectures
        self.defaultCompiler = defaultCompiler
        self.defaultStandard = defaultStandard
    }
}
