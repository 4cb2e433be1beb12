import WillItCompile

struct SubmitResponse: Encodable {
    var jobID: String
    var status: String

    private enum CodingKeys: String, CodingKey {
        case jobID = "job_id", status
    }
}

/// `GET /api/v1/compile/{id}`: the job's state, and once it is terminal the
/// predecessor's result fields at top level.
struct JobResponse: Encodable {
    let job: CompilationJob
    let result: CompilationResult?

    private enum CodingKeys: String, CodingKey {
        case jobID = "job_id", status, language, compiler, standard, architecture, os, flags
        case createdAt = "created_at", startedAt = "started_at", completedAt = "completed_at"
        case success, compiled, stdout, stderr, exitCode = "exit_code", duration, error, artifact
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(job.id.description, forKey: .jobID)
        try container.encode(job.status.rawValue, forKey: .status)
        try container.encode(job.request.language.rawValue, forKey: .language)
        try container.encodeIfPresent(job.request.compiler, forKey: .compiler)
        try container.encodeIfPresent(job.request.standard, forKey: .standard)
        try container.encode(job.request.architecture ?? "x86_64", forKey: .architecture)
        try container.encode(job.request.os ?? "linux", forKey: .os)
        if !job.request.flags.isEmpty { try container.encode(job.request.flags, forKey: .flags) }
        try container.encode(Timestamp.format(job.createdAt), forKey: .createdAt)
        try container.encodeIfPresent(job.startedAt.map(Timestamp.format), forKey: .startedAt)
        try container.encodeIfPresent(job.completedAt.map(Timestamp.format), forKey: .completedAt)
        guard let result else { return }
        try container.encode(result.success, forKey: .success)
        try container.encode(result.compiled, forKey: .compiled)
        try container.encode(result.stdout, forKey: .stdout)
        try container.encode(result.stderr, forKey: .stderr)
        try container.encode(result.exitCode, forKey: .exitCode)
        try container.encode(result.durationNanoseconds, forKey: .duration)
        try container.encode(result.error, forKey: .error)
        if !result.artifact.isEmpty { try container.encode(result.artifact, forKey: .artifact) }
    }
}

/// `GET /api/v1/environments`: per language what can be asked for (the
/// predecessor's shape), then every toolchain with its real version.
struct EnvironmentsResponse: Encodable {
    struct Environment: Encodable {
        var language: String
        var compilers: [String]
        var standards: [String]
        var oses: [String]
        var architectures: [String]
        var defaultCompiler: String?

        private enum CodingKeys: String, CodingKey {
            case language, compilers, standards, oses, architectures, defaultCompiler = "default_compiler"
        }
    }

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
        var flags: String?

        private enum CodingKeys: String, CodingKey {
            case id, language, version, standards, oses, architectures, targets, flags
            case defaultStandard = "default_standard", isDefault = "default", acceptsFlags = "accepts_flags"
        }
    }

    var environments: [Environment]
    var toolchains: [ToolchainEntry]
    /// What a request gets for a field it omits.
    var defaults: [String: String]

    init(toolchains installed: [Toolchain]) {
        let languages = Language.allCases.filter { language in installed.contains { $0.spec.language == language } }
        environments = languages.map { language in
            let mine = installed.filter { $0.spec.language == language }
            return Environment(
                language: language.rawValue, compilers: mine.map(\.spec.id), standards: unique(mine.flatMap(\.spec.standards)),
                oses: unique(mine.flatMap(\.targets).map(\.os)), architectures: unique(mine.flatMap(\.targets).map(\.architecture)),
                defaultCompiler: mine.first { $0.isDefault }?.spec.id)
        }
        toolchains = installed.map { toolchain in
            ToolchainEntry(
                id: toolchain.spec.id, language: toolchain.spec.language.rawValue, version: toolchain.version,
                standards: toolchain.spec.standards, defaultStandard: toolchain.spec.defaultStandard,
                isDefault: toolchain.isDefault, oses: unique(toolchain.targets.map(\.os)),
                architectures: unique(toolchain.targets.map(\.architecture)), targets: toolchain.targets.map(\.name),
                acceptsFlags: toolchain.spec.flags != nil, flags: toolchain.spec.flags?.accepted)
        }
        defaults = [
            "compiler": "the language's default_compiler", "standard": "the compiler's default_standard",
            "architecture": "x86_64", "os": "linux", "flags": "none",
        ]
    }
}

/// The elements in first-seen order, each once.
private func unique(_ values: [String]) -> [String] {
    var seen: Set<String> = []
    return values.filter { seen.insert($0).inserted }
}

struct HealthResponse: Encodable {
    var status: String
    var time: String?
    var redis: String?
    var worker: String?
    var error: String?
    var message: String?
}
