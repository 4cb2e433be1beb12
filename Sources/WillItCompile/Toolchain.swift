import FoundationEssentials

/// One compiler as the catalog (`toolchains/catalog/*.json`, see toolchains/README.md) describes it.
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
    /// The compile command. `{executable}` and `{output}` are replaced, the element `{source}`
    /// becomes the sources (one argument each);
    /// the element `{standard_arguments}` expands to `standardArguments`, `{flags}` to the request's flags
    /// (after `compileOnlyArguments` when the request does not link).
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
    /// Arguments that make the compiler stop before linking (`-c`, `--crate-type=lib`), placed
    /// where `{flags}` expands, for requests with `link: false`; nil: this toolchain always links.
    public var compileOnlyArguments: [String]?
    /// Which allowlist per-request flags are checked against; nil: no flags accepted.
    public var flags: FlagFamily?
    /// Cross targets besides the host; each is offered only where its `requires` exist.
    public var targets: [TargetSpec]?
    /// A sandbox path (e.g. Go's GOCACHE) backed by a persistent directory of the
    /// worker's that only jobs with the very same program and settings share:
    /// the second compile of a program is fast, and no job sees another program's build.
    public var programCache: String?
    /// Makes this entry a template for toolchains found at start-up: `rustup` looks in
    /// the directory `discoverIn` for rustup toolchains, and `{toolchain}` in the
    /// executable and binds becomes each one's directory.
    public var discover: String?
    public var discoverIn: String?
    /// For a template: the first version (`major.minor`) that knows each standard; a toolchain
    /// found gets those its version reaches (Rust's editions). A standard not named here is always given.
    public var standardsSince: [String: String]?

    /// The fields a catalog entry may have; the catalog reader refuses any other.
    public static let fieldNames = CodingKeys.allCases.map(\.rawValue)

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case id, language, executable, standards, command, binds, environment, priority, flags, targets
        case programCache = "program_cache", discover, discoverIn = "discover_in", standardsSince = "standards_since"
        case versionArguments = "version_arguments", defaultStandard = "default_standard"
        case standardArguments = "standard_arguments", sourceFile = "source_file"
        case addressSpaceMegabytes = "address_space_mb"
        case compileOnlyArguments = "compile_only_arguments"
    }

    /// The argument vector for one compile of one source; `link: false` needs `compileOnlyArguments`.
    public func commandLine(
        standard: String?, flags: [String] = [], link: Bool = true, target: TargetSpec = .host, source: String, output: String
    ) -> [String] {
        commandLine(standard: standard, flags: flags, link: link, target: target, sources: [source], output: output)
    }

    /// The argument vector for one compile of a project's translation units: the element
    /// `{source}` becomes one argument per source. Compiling several sources without linking
    /// makes one object each, so then the `-o {output}` pair is left out (a compiler refuses
    /// one output for several objects) and each object is named after its source.
    public func commandLine(
        standard: String?, flags: [String] = [], link: Bool = true, target: TargetSpec = .host, sources: [String], output: String
    ) -> [String] {
        var elements = command
        if !link, sources.count > 1, let pair = elements.indices.dropLast().first(where: {
            elements[$0] == "-o" && elements[$0 + 1] == "{output}"
        }) {
            elements.removeSubrange(pair...pair + 1)
        }
        return elements.flatMap { element -> [String] in
            if element == "{flags}" { return (link ? [] : compileOnlyArguments ?? []) + flags }
            if element == "{executable}" { return [target.executable ?? executable] + target.arguments }
            if element == "{source}" { return sources }
            if element == "{standard_arguments}" {
                guard let standard = standard ?? defaultStandard else { return [] }
                return standardArguments.map { $0.replacing( "{standard}", with: standard) }
            }
            return [element
                .replacing( "{executable}", with: executable)
                .replacing( "{output}", with: output)]
        }
    }
}

/// A target other than the host (x86_64 Linux) that a toolchain can build for.
public struct TargetSpec: Sendable, Equatable, Codable {
    /// As in requests: `arm64`, `armhf`, `riscv64`, `x86_64`.
    public var architecture: String
    /// `linux` or `windows`.
    public var os: String
    /// A cross driver to run instead of the toolchain's executable, e.g. `/usr/bin/aarch64-linux-gnu-gcc-12`.
    public var executable: String?
    /// Arguments placed right after the executable, e.g. `--target=aarch64-linux-gnu`.
    public var arguments: [String]
    /// Host paths the sandbox binds read-only for this target (its sysroot).
    public var binds: [String]
    /// Paths that must exist for the target to be offered (the cross libraries).
    public var requires: [String]

    /// The fields a catalog target may have; the catalog reader refuses any other.
    public static let fieldNames = CodingKeys.allCases.map(\.rawValue)

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, os, executable, arguments, binds, requires
    }

    public static let host = TargetSpec(architecture: "x86_64", os: "linux", executable: nil, arguments: [], binds: [], requires: [])

    public init(architecture: String, os: String, executable: String?, arguments: [String], binds: [String], requires: [String]) {
        self.architecture = architecture
        self.os = os
        self.executable = executable
        self.arguments = arguments
        self.binds = binds
        self.requires = requires
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            architecture: try container.decode(String.self, forKey: .architecture),
            os: try container.decode(String.self, forKey: .os),
            executable: try container.decodeIfPresent(String.self, forKey: .executable),
            arguments: try container.decodeIfPresent([String].self, forKey: .arguments) ?? [],
            binds: try container.decodeIfPresent([String].self, forKey: .binds) ?? [],
            requires: try container.decodeIfPresent([String].self, forKey: .requires) ?? [])
    }

    /// `arm64/linux`, as error messages and listings name a target.
    public var name: String { "\(architecture)/\(os)" }
}

/// A toolchain found on this host at start-up, with the version it reported.
public struct Toolchain: Sendable, Equatable, Codable {
    public var spec: ToolchainSpec
    /// The first line the compiler printed for its version, e.g. `gcc-12 (Debian 12.2.0-14) 12.2.0`.
    public var version: String
    /// The toolchain a request of this language gets when it names none.
    public var isDefault: Bool
    /// What it can build for on this host: the host first, then the cross targets found.
    public var targets: [TargetSpec]
    /// In a cluster (Redis mode): the live hosts that offer it, by `WORKER_HOST_ID`. nil for one host's own list.
    public var hosts: [String]?

    public init(spec: ToolchainSpec, version: String, isDefault: Bool, targets: [TargetSpec] = [.host], hosts: [String]? = nil) {
        self.spec = spec
        self.version = version
        self.isDefault = isDefault
        self.targets = targets
        self.hosts = hosts
    }

    private enum CodingKeys: String, CodingKey {
        case spec, version, isDefault = "is_default", targets, hosts
    }

    /// The target a request names (x86_64 and linux when it names none), if this toolchain builds for it.
    public func target(architecture: String?, os: String?) -> TargetSpec? {
        let wanted = (architecture ?? "x86_64", os ?? "linux")
        return targets.first { $0.architecture == wanted.0 && $0.os == wanted.1 }
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
        // First the names no toolchain of the language declares, each refused with what they declare together.
        var problems = candidates.isEmpty ? [] : unknownNames(in: request)
        guard let toolchain = find(language: request.language, id: request.compiler) else {
            let installed = candidates.map(\.spec.id)
            let list = installed.isEmpty ? "none is installed on this host" : "installed: \(installed.joined(separator: ", "))"
            let what = request.compiler.map { "Compiler `\($0)` is not available for \(request.language.rawValue)" }
                ?? "No compiler for \(request.language.rawValue) is installed"
            problems.insert(ValidationProblem(
                field: "compiler", kind: .unsupported(accepted: installed), message: "\(what) (\(list))."), at: 0)
            throw RequestValidationError(problems: problems)
        }
        let namesAreKnown = problems.isEmpty
        if namesAreKnown, let standard = request.standard, !toolchain.spec.standards.contains(standard) {
            let accepted = toolchain.spec.standards
            let list = accepted.isEmpty ? "it takes no standard; omit the field" : "accepted: \(accepted.joined(separator: ", "))"
            problems.append(ValidationProblem(
                field: "standard", kind: .unsupported(accepted: accepted),
                message: "Standard `\(standard)` is not supported by \(toolchain.spec.id) (\(list))."))
        }
        let target = toolchain.target(architecture: request.architecture, os: request.os)
        if namesAreKnown, target == nil {
            let wanted = TargetSpec(architecture: request.architecture ?? "x86_64", os: request.os ?? "linux",
                                    executable: nil, arguments: [], binds: [], requires: [])
            let accepted = toolchain.targets.map(\.name)
            problems.append(ValidationProblem(
                field: request.architecture != nil ? "architecture" : "os", kind: .unsupported(accepted: accepted),
                message: "\(toolchain.spec.id) cannot build \(request.language.rawValue) for \(wanted.name) on this host (it builds for: \(accepted.joined(separator: ", ")))."))
        }
        if !request.link, toolchain.spec.compileOnlyArguments == nil {
            var accepting: [String] = []
            for candidate in candidates where candidate.spec.compileOnlyArguments != nil && !accepting.contains(candidate.spec.id) {
                accepting.append(candidate.spec.id)
            }
            let others = accepting.isEmpty
                ? "no \(request.language.rawValue) compiler here does"
                : "for \(request.language.rawValue) these do: \(accepting.joined(separator: ", "))"
            problems.append(ValidationProblem(
                field: "link", kind: .unsupported(accepted: accepting),
                message: "\(toolchain.spec.id) cannot compile without linking (`link: false`); omit `link` or set it to true, or name a compiler that can (\(others))."))
        }
        if !request.flags.isEmpty {
            if let family = toolchain.spec.flags {
                for flag in request.flags {
                    if let accepted = request.projectIncludeFlag(flag) {
                        guard !accepted else { continue }
                        problems.append(ValidationProblem(
                            field: "flags", kind: .unsupported(accepted: request.projectFolders.map { "-I" + $0 }),
                            message: "Flag `\(SubmissionBody.shortened(flag))` is refused: in a project, -I takes one of the project's folders (\((["."] + request.projectFolders).map { "-I" + $0 }.joined(separator: ", ")))."))
                        continue
                    }
                    guard let reason = family.refusal(of: flag, target: target ?? .host) else { continue }
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

    /// What the offered toolchains of `language` declare together, each name once, in the
    /// order first declared: the names a request may use (and `/api/v1/environments` lists).
    public func offer(for language: Language) -> LanguageOffer {
        let mine = filter { $0.spec.language == language }
        return LanguageOffer(
            compilers: mine.map(\.spec.id).distinct, standards: mine.flatMap(\.spec.standards).distinct,
            architectures: mine.flatMap(\.targets).map(\.architecture).distinct, oses: mine.flatMap(\.targets).map(\.os).distinct)
    }

    /// The request's standard, architecture and os where no offered toolchain of its language
    /// has them, each with what the language's toolchains offer together.
    private func unknownNames(in request: CompilationRequest) -> [ValidationProblem] {
        // Most requests name what some toolchain declares: answered without building the offer's lists.
        let mine = filter { $0.spec.language == request.language }
        func declared(_ name: String?, _ names: (Toolchain) -> [String]) -> Bool {
            name.map { name in mine.contains { names($0).contains(name) } } ?? true
        }
        if declared(request.standard, \.spec.standards), declared(request.architecture, { $0.targets.map(\.architecture) }),
           declared(request.os, { $0.targets.map(\.os) }) {
            return []
        }
        let language = request.language.rawValue
        let offer = offer(for: request.language)
        func problem(_ field: String, _ value: String?, accepted: [String], none: String) -> ValidationProblem? {
            guard let value, !accepted.contains(value) else { return nil }
            let list = accepted.isEmpty ? none : "accepted for \(language): \(accepted.joined(separator: ", "))"
            return ValidationProblem(field: field, kind: .unsupported(accepted: accepted), message: "Unknown \(field) `\(value)` (\(list)).")
        }
        return [
            problem("standard", request.standard, accepted: offer.standards, none: "\(language) takes no standard; omit the field"),
            problem("architecture", request.architecture, accepted: offer.architectures, none: "none is offered"),
            problem("os", request.os, accepted: offer.oses, none: "none is offered"),
        ].compactMap { $0 }
    }
}

/// The names a language's offered toolchains declare together (`[Toolchain].offer(for:)`).
public struct LanguageOffer: Sendable, Equatable {
    public var compilers: [String]
    public var standards: [String]
    public var architectures: [String]
    public var oses: [String]
}

extension [String] {
    /// Each name once, in the order first given.
    var distinct: [String] {
        var seen: Set<String> = []
        return filter { seen.insert($0).inserted }
    }
}
