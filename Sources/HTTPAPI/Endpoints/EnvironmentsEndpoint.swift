import WillItCompile

/// `GET /api/v1/environments`: the predecessor's array, one element per language.
extension APIHandler {
    func environments() -> HTTPResponse {
        do {
            // Asked afresh: what this host can compile right now, and nothing while the worker is down.
            return .json(200, LanguageEnvironment.all(of: try toolchains.refresh()))
        } catch {
            return workerUnavailable(error)
        }
    }
}

/// One element of `GET /api/v1/environments`, the predecessor's bare array: per
/// language what a request may ask for, plus the defaults it gets for what it
/// omits. In a cluster it is the union of what the live hosts offer.
struct LanguageEnvironment: Encodable {
    var language: String
    var compilers: [String]
    var standards: [String]
    var oses: [String]
    var architectures: [String]
    var defaultCompiler: String?
    /// The default compiler's default standard; absent when it has none (Go).
    var defaultStandard: String?

    private enum CodingKeys: String, CodingKey {
        case language, compilers, standards, oses, architectures
        case defaultCompiler = "default_compiler", defaultStandard = "default_standard"
    }

    /// One element per language with an installed toolchain, in the catalog's language order.
    static func all(of installed: [Toolchain]) -> [LanguageEnvironment] {
        let languages = Language.allCases.filter { language in installed.contains { $0.spec.language == language } }
        return languages.map { language in
            // The same lists a request's names are checked against.
            let offer = installed.offer(for: language)
            let preferred = installed.first { $0.spec.language == language && $0.isDefault }
            return LanguageEnvironment(
                language: language.rawValue, compilers: offer.compilers, standards: offer.standards,
                oses: offer.oses, architectures: offer.architectures,
                defaultCompiler: preferred?.spec.id, defaultStandard: preferred?.spec.defaultStandard)
        }
    }
}
