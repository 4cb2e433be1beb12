import WillItCompile

/// `GET /api/v1/environments`: the predecessor's array, one element per language.
extension APIHandler {
    func environments() -> HTTPResponse {
        do {
            // Asked afresh: what this host can compile right now, and nothing while the worker is down.
            return .json(200, LanguageEnvironment.all(of: try toolchains.refresh().toolchains))
        } catch {
            return workerUnavailable(error)
        }
    }
}

extension LanguageEnvironment {
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
