import WillItCompile

/// `GET /api/v1/toolchains`: every toolchain with its real version, and the defaults.
extension APIHandler {
    func toolchainList() -> HTTPResponse {
        do {
            // Asked afresh, as the environments are.
            return .json(200, ToolchainsResponse(toolchains: try toolchains.refresh().toolchains))
        } catch {
            return workerUnavailable(error)
        }
    }
}

/// `GET /api/v1/toolchains`: every toolchain with its real version. In a
/// cluster the worker lists what the live hosts offer together, and each
/// toolchain says which hosts have it; a request for it may go to any host.
struct ToolchainsResponse: Encodable {
    struct ToolchainEntry: Encodable {
        var id: String
        var language: String
        var version: String
        var standards: [String]
        var defaultStandard: String?
        var isDefault: Bool
        var oses: [String]
        var architectures: [String]
        var targets: [String]
        var acceptsFlags: Bool
        /// A summary; the whole list is at `GET /api/v1/flags/{flag_family}`.
        var flags: String?
        var flagFamily: String?
        /// Whether it takes `link: false` (the catalog has its `compile_only_arguments`).
        var compilesWithoutLinking: Bool
        /// The live hosts (`WORKER_HOST_ID`) that offer it; absent for a single host (memory mode).
        var hosts: [String]?

        private enum CodingKeys: String, CodingKey {
            case id, language, version, standards, oses, architectures, targets, flags, hosts
            case defaultStandard = "default_standard", isDefault = "default", acceptsFlags = "accepts_flags"
            case flagFamily = "flag_family", compilesWithoutLinking = "compiles_without_linking"
        }
    }

    var toolchains: [ToolchainEntry]
    /// What a request gets for a field it omits.
    var defaults: [String: String]

    init(toolchains installed: [Toolchain]) {
        toolchains = installed.map { toolchain in
            ToolchainEntry(
                id: toolchain.spec.id, language: toolchain.spec.language.rawValue, version: toolchain.version,
                standards: toolchain.spec.standards, defaultStandard: toolchain.spec.defaultStandard,
                isDefault: toolchain.isDefault, oses: unique(toolchain.targets.map(\.os)),
                architectures: unique(toolchain.targets.map(\.architecture)), targets: toolchain.targets.map(\.name),
                acceptsFlags: toolchain.spec.flags != nil, flags: toolchain.spec.flags?.accepted,
                flagFamily: toolchain.spec.flags?.rawValue, compilesWithoutLinking: toolchain.spec.compileOnlyArguments != nil,
                hosts: toolchain.hosts)
        }
        defaults = [
            "compiler": "the language's default_compiler", "standard": "the compiler's default_standard",
            "architecture": "x86_64", "os": "linux", "flags": "none", "link": "true",
        ]
    }
}
