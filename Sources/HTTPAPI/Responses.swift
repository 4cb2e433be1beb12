import WillItCompile

/// `POST /api/v1/compile` accepted: `{"job_id","status"}`.
struct SubmitResponse {
    var jobID: JobID
    var status: JobStatus

    var body: [UInt8] {
        var json = JSONObjectWriter(reservingCapacity: 80)
        json.member("job_id", jobID.description)
        json.member("status", status.rawValue)
        return json.finish()
    }
}

/// `GET /api/v1/compile/{id}`: the job's state, and once it is terminal the
/// predecessor's result fields at top level. Written with `JSONObjectWriter`
/// (members in name order, as every other body's sorted keys): this is the
/// body clients poll.
struct JobResponse {
    let job: CompilationJob
    let result: CompilationResult?

    var body: [UInt8] {
        let request = job.request
        var json = JSONObjectWriter(reservingCapacity: 512 + (result.map { $0.stdout.utf8.count + $0.stderr.utf8.count } ?? 0))
        json.member("architecture", request.architecture ?? "x86_64")
        if let result, !result.artifact.isEmpty { json.member("artifact", result.artifact) }
        if let result { json.member("compiled", result.compiled) }
        if let compiler = request.compiler { json.member("compiler", compiler) }
        if let completedAt = job.completedAt { json.member("completed_at", Timestamp.format(completedAt)) }
        json.member("created_at", Timestamp.format(job.createdAt))
        if let result {
            json.member("duration", result.durationNanoseconds)
            json.member("error", result.error)
            json.member("exit_code", result.exitCode)
        }
        if !request.flags.isEmpty { json.member("flags", request.flags) }
        json.member("job_id", job.id.description)
        json.member("language", request.language.rawValue)
        if !request.link { json.member("link", false) }
        json.member("os", request.os ?? "linux")
        if let standard = request.standard { json.member("standard", standard) }
        if let startedAt = job.startedAt { json.member("started_at", Timestamp.format(startedAt)) }
        json.member("status", job.status.rawValue)
        if let result {
            json.member("stderr", result.stderr)
            json.member("stdout", result.stdout)
            json.member("success", result.success)
        }
        return json.finish()
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
            let mine = installed.filter { $0.spec.language == language }
            let preferred = mine.first { $0.isDefault }
            return LanguageEnvironment(
                language: language.rawValue, compilers: unique(mine.map(\.spec.id)), standards: unique(mine.flatMap(\.spec.standards)),
                oses: unique(mine.flatMap(\.targets).map(\.os)), architectures: unique(mine.flatMap(\.targets).map(\.architecture)),
                defaultCompiler: preferred?.spec.id, defaultStandard: preferred?.spec.defaultStandard)
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

/// `GET /api/v1/flags/{family}`: every flag the family accepts, in the lists' notation
/// (`-fvisibility=<one of default, hidden, internal, protected>`), and per target its -m flags.
struct FlagListResponse: Encodable {
    var family: String
    var accepted: String
    /// nil for rustc and go, whose rules `accepted` states in full.
    var flags: [String]?
    var targetFlags: [String: [String]]?

    private enum CodingKeys: String, CodingKey {
        case family, accepted, flags, targetFlags = "target_flags"
    }

    init(family: FlagFamily) {
        self.family = family.rawValue
        accepted = family.accepted
        flags = family.fullList
        if flags != nil {
            var targets: [String: [String]] = [:]
            for (architecture, os) in FlagFamily.targetsWithFlags {
                targets["\(architecture)/\(os)"] = FlagFamily.targetList(architecture: architecture, os: os)
            }
            targetFlags = targets
        }
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
