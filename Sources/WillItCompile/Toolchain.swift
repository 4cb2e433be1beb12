import Foundation

/// One compiler as the catalog (`toolchains/catalog.json`) describes it.
/// The catalog is data: adding a compiler is an edit there, not here.
public struct ToolchainSpec: Sendable, Equatable, Codable {
    /// What requests name in `compiler`, e.g. `gcc-12`. With `language` it identifies the entry.
    public var id: String
    public var language: Language
    /// Absolute path of the compiler driver.
    public var executable: String
    /// Arguments that make the executable print its version on the first line.
    public var versionArguments: [String]
    /// The standards (editions, language modes) a request may name.
    public var standards: [String]
    /// Used when a request names none; nil when the language has no standards.
    public var defaultStandard: String?
    /// How a standard becomes arguments; `{standard}` is replaced.
    public var standardArguments: [String]
    /// The compile command. `{executable}`, `{source}` and `{output}` are replaced;
    /// the element `{standard_arguments}` expands to `standardArguments`, `{flags}` to the request's flags.
    public var command: [String]
    /// The source file's name in the workspace, e.g. `main.c`.
    public var sourceFile: String
    /// Host paths bound read-only into the sandbox, besides the common ones.
    public var binds: [String]
    /// Variables set in the sandbox, besides the common ones.
    public var environment: [String: String]
    /// Among installed toolchains of a language, the highest priority is the default.
    public var priority: Int
    /// Address-space limit in MiB where this toolchain needs another than the configured one.
    public var addressSpaceMegabytes: Int?
    /// Which allowlist per-request flags are checked against; nil: no flags accepted.
    public var flags: FlagFamily?

    private enum CodingKeys: String, CodingKey {
        case id, language, executable, standards, command, binds, environment, priority, flags
        case versionArguments = "version_arguments", defaultStandard = "default_standard"
        case standardArguments = "standard_arguments", sourceFile = "source_file"
        case addressSpaceMegabytes = "address_space_mb"
    }

    /// The argument vector for one compile.
    public func commandLine(standard: String?, flags: [String] = [], source: String, output: String) -> [String] {
        command.flatMap { element -> [String] in
            if element == "{flags}" { return flags }
            if element == "{standard_arguments}" {
                guard let standard = standard ?? defaultStandard else { return [] }
                return standardArguments.map { $0.replacingOccurrences(of: "{standard}", with: standard) }
            }
            return [element
                .replacingOccurrences(of: "{executable}", with: executable)
                .replacingOccurrences(of: "{source}", with: source)
                .replacingOccurrences(of: "{output}", with: output)]
        }
    }
}

/// A toolchain found on this host at start-up, with the version it reported.
public struct Toolchain: Sendable, Equatable, Codable {
    public var spec: ToolchainSpec
    /// The first line the compiler printed for its version, e.g. `gcc-12 (Debian 12.2.0-14) 12.2.0`.
    public var version: String
    /// The toolchain a request of this language gets when it names none.
    public var isDefault: Bool

    public init(spec: ToolchainSpec, version: String, isDefault: Bool) {
        self.spec = spec
        self.version = version
        self.isDefault = isDefault
    }

    private enum CodingKeys: String, CodingKey {
        case spec, version, isDefault = "is_default"
    }
}

extension [Toolchain] {
    /// The toolchain for `language` named `id`, or the language's default when `id` is nil.
    public func find(language: Language, id: String?) -> Toolchain? {
        first { $0.spec.language == language && (id == nil ? $0.isDefault : $0.spec.id == id) }
    }

    /// Checks a request against what is installed and returns the toolchain that will compile it.
    /// - Throws: a problem naming the field and listing what is installed for the language.
    public func resolve(_ request: CompilationRequest) throws(RequestValidationError) -> Toolchain {
        let candidates = filter { $0.spec.language == request.language }
        guard let toolchain = find(language: request.language, id: request.compiler) else {
            let installed = candidates.map(\.spec.id)
            let list = installed.isEmpty ? "none is installed on this host" : "installed: \(installed.joined(separator: ", "))"
            let what = request.compiler.map { "Compiler `\($0)` is not available for \(request.language.rawValue)" }
                ?? "No compiler for \(request.language.rawValue) is installed"
            throw RequestValidationError(problems: [ValidationProblem(
                field: "compiler", kind: .unsupported(accepted: installed), message: "\(what) (\(list)).")])
        }
        var problems: [ValidationProblem] = []
        if let standard = request.standard, !toolchain.spec.standards.contains(standard) {
            let accepted = toolchain.spec.standards
            let list = accepted.isEmpty ? "it takes no standard; omit the field" : "accepted: \(accepted.joined(separator: ", "))"
            problems.append(ValidationProblem(
                field: "standard", kind: .unsupported(accepted: accepted),
                message: "Standard `\(standard)` is not supported by \(toolchain.spec.id) (\(list))."))
        }
        // Cross targets arrive with the cross toolchains; until then every toolchain builds for the host.
        if let architecture = request.architecture, architecture != "x86_64" {
            problems.append(ValidationProblem(
                field: "architecture", kind: .unsupported(accepted: ["x86_64"]),
                message: "\(toolchain.spec.id) cannot build for `\(architecture)` on this host (accepted: x86_64)."))
        }
        if let os = request.os, os != "linux" {
            problems.append(ValidationProblem(
                field: "os", kind: .unsupported(accepted: ["linux"]),
                message: "\(toolchain.spec.id) cannot build for `\(os)` on this host (accepted: linux)."))
        }
        if !request.flags.isEmpty {
            if let family = toolchain.spec.flags {
                for flag in request.flags {
                    guard let reason = family.refusal(of: flag) else { continue }
                    problems.append(ValidationProblem(
                        field: "flags", kind: .unsupported(accepted: [family.accepted]),
                        message: "Flag `\(flag)` is refused: \(reason). \(toolchain.spec.id) accepts: \(family.accepted)."))
                }
            } else {
                problems.append(ValidationProblem(
                    field: "flags", kind: .unsupported(accepted: []),
                    message: "\(toolchain.spec.id) takes no extra flags; omit `flags`."))
            }
        }
        guard problems.isEmpty else { throw RequestValidationError(problems: problems) }
        return toolchain
    }
}
