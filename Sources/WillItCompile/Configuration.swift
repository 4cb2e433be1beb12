public import FoundationEssentials

/// A configuration variable had a value that cannot be used. Start-up stops with it.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let variable: String
    public let value: String
    public let expected: String

    public var description: String {
        "\(variable)=\"\(value)\" is invalid: expected \(expected)."
    }
}

/// Where Redis listens.
public enum RedisAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// `host:port`, `[v6addr]:port`, or a Unix-socket path (absolute, or `unix:` followed by a path).
    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else {
            guard let colon = text.lastIndex(of: ":"),
                  let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
            else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .tcp(host: host, port: port)
        }
    }

    public var description: String {
        switch self {
        case let .tcp(host, port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path): path
        }
    }
}

/// How to reach Redis and how long jobs live there.
public struct RedisConfiguration: Sendable, Equatable {
    /// `REDIS_ENABLED` (default false, as in the predecessor: jobs live in the worker's memory).
    public var enabled: Bool
    /// `REDIS_ADDR` (default `localhost:6379`).
    public var address: RedisAddress
    /// `REDIS_PASSWORD` (default none).
    public var password: String?
    /// `REDIS_DB` (default 0).
    public var database: Int
    /// `REDIS_POOL_SIZE`: most connections one process holds open (default 20).
    public var poolSize: Int
    /// `REDIS_JOB_TTL_HOURS`: lifetime of every key a job writes (default 24).
    public var jobTTLHours: Int
    /// `REDIS_CONNECT_TIMEOUT_MS` (default 1000).
    public var connectTimeout: Duration
    /// `REDIS_TIMEOUT_MS`: read/write timeout of one command (default 2000).
    public var commandTimeout: Duration

    public init(
        enabled: Bool = false, address: RedisAddress = .tcp(host: "localhost", port: 6379),
        password: String? = nil, database: Int = 0, poolSize: Int = 20, jobTTLHours: Int = 24,
        connectTimeout: Duration = .milliseconds(1000), commandTimeout: Duration = .milliseconds(2000)
    ) {
        self.enabled = enabled
        self.address = address
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.jobTTLHours = jobTTLHours
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    public var jobTTLSeconds: Int { jobTTLHours * 3600 }
}

/// The compile worker: capacity, where it listens, what it offers.
public struct WorkerConfiguration: Sendable, Equatable {
    /// `MAX_WORKERS`: concurrent compiles (default: the number of cores).
    public var maxWorkers: Int
    /// `QUEUE_SIZE`: jobs waiting for a slot before submissions are refused (default 100).
    public var queueSize: Int
    /// `MAX_JOBS_PER_CLIENT`: jobs one client may have queued or compiling at once (default 20),
    /// so that no client can fill the queue and every slot alone.
    public var maxJobsPerClient: Int
    /// `WORKER_SOCKET`: the Unix socket responders reach the worker on (default `run/worker.sock`).
    public var socketPath: String
    /// `WORKER_HOST_ID`: this host's name in the cluster: its row in the worker registry and
    /// its consumer in the Redis work queue, whose leases a restarted worker takes back
    /// (default: the host name). Every host sharing one Redis needs its own.
    public var hostID: String
    /// `WORKER_CATALOG`: the toolchain catalog, a directory of one JSON file per toolchain
    /// family, or one such file alone (default `toolchains/catalog`).
    public var catalogPath: String
    /// `MEMORY_STORE_MAX_MB`: with `REDIS_ENABLED=false`, the most jobs and results the
    /// worker keeps in its memory, in MB (default 1024); then submissions get 503 `store_full`.
    public var memoryStoreMegabytes: Int
    /// `JOB_LEASE_SECONDS`: how long a job taken from the Redis work queue stays this host's
    /// without being renewed; after that another host claims and compiles it (default 15).
    public var leaseSeconds: Int
    /// `JOB_MAX_CLAIMS`: how many times a job may be taken (first take included) before it ends
    /// as `error` instead of being compiled again: its compiles keep killing their hosts (default 3).
    public var maxClaims: Int
    /// `CLUSTER_QUEUE_SIZE`: jobs waiting in the whole cluster before submissions get 429
    /// (default 0: the live hosts' `QUEUE_SIZE` added up).
    public var clusterQueueSize: Int
    /// `CLUSTER_RATE_LIMIT_PER_SECOND` and `CLUSTER_RATE_LIMIT_BURST`: submissions per second one
    /// client address may make across every host together, and how many at once above that
    /// rate (defaults 20 and 40; a rate of 0 turns the limit off). Redis mode only.
    public var clientSubmitsPerSecond: Int
    public var clientSubmitBurst: Int

    public init(
        maxWorkers: Int = ProcessInfo.processInfo.activeProcessorCount, queueSize: Int = 100, maxJobsPerClient: Int = 20,
        socketPath: String = "run/worker.sock", hostID: String = ProcessInfo.processInfo.hostName,
        catalogPath: String = "toolchains/catalog", memoryStoreMegabytes: Int = 1024,
        leaseSeconds: Int = 15, maxClaims: Int = 3, clusterQueueSize: Int = 0,
        clientSubmitsPerSecond: Int = 20, clientSubmitBurst: Int = 40
    ) {
        self.leaseSeconds = leaseSeconds
        self.maxClaims = maxClaims
        self.clusterQueueSize = clusterQueueSize
        self.clientSubmitsPerSecond = clientSubmitsPerSecond
        self.clientSubmitBurst = clientSubmitBurst
        self.maxWorkers = maxWorkers
        self.queueSize = queueSize
        self.maxJobsPerClient = maxJobsPerClient
        self.socketPath = socketPath
        self.hostID = hostID
        self.catalogPath = catalogPath
        self.memoryStoreMegabytes = memoryStoreMegabytes
    }
}

/// Hard limits on one sandboxed compile. Every one is enforced on the whole sandbox.
public struct SandboxConfiguration: Sendable, Equatable {
    /// `SANDBOX_CPU_SECONDS`: CPU time of each process (default 30).
    public var cpuSeconds: Int
    /// `SANDBOX_MEMORY_MB`: address space of each process (default 2048; a toolchain may need more).
    public var addressSpaceMegabytes: Int
    /// `SANDBOX_FILE_SIZE_MB`: largest file a process may write (default 64).
    public var fileSizeMegabytes: Int
    /// `SANDBOX_PROCESSES`: `RLIMIT_NPROC`, processes and threads of the service user (default 1024),
    /// applied only when `cgroups` is off. The kernel counts every process and thread of that user on
    /// the host (the worker's, the responders', every sandbox's), so one job can use it up for all.
    public var processes: Int
    /// `SANDBOX_CGROUPS`: put each compile's whole sandbox in its own cgroup (default true). false
    /// runs without whole-sandbox limits, and must be chosen explicitly.
    public var cgroups: Bool
    /// `SANDBOX_CGROUP_MEMORY_MB`: memory of one sandbox's processes together, page cache and
    /// tmpfs files included, with no swap (default 3072).
    public var cgroupMemoryMegabytes: Int
    /// `SANDBOX_PIDS`: processes and threads of one sandbox together (default 512).
    public var pids: Int
    /// `SANDBOX_CGROUP_SUBTREE`: where the subtree delegated to the service user lies, as a path
    /// below the root of each cgroup hierarchy (default `will-it-compile`, which
    /// scripts/setup-cgroups makes; the systemd unit names its own cgroup, which systemd delegates).
    public var cgroupSubtree: String
    /// `SANDBOX_WORKSPACE_MB`: size of the workspace and of /tmp, each a fresh tmpfs (default 256).
    public var workspaceMegabytes: Int
    /// `SANDBOX_OUTPUT_LIMIT_BYTES`: stdout and stderr kept per compile, each (default 131072).
    public var outputLimitBytes: Int
    /// `SANDBOX_BWRAP`: the bubblewrap executable (default `/usr/bin/bwrap`).
    public var bwrapPath: String
    /// `SANDBOX_PROGRAM_CACHE_DIR`: where per-program build caches live, a directory of the
    /// worker's user that no one else can write (default: `program-cache` beside `WORKER_SOCKET`,
    /// that is in the run directory).
    public var programCacheDirectory: String
    /// `SANDBOX_PROGRAM_CACHE_MB`: disk the program caches may take together; the least recently
    /// used go first (default 1024; 0 turns caching off).
    public var programCacheMegabytes: Int
    /// `SANDBOX_PROGRAM_CACHE_ENTRIES`: programs whose caches are kept; the least recently used go first (default 256).
    public var programCacheEntries: Int

    public init(
        cpuSeconds: Int = 30, addressSpaceMegabytes: Int = 2048, fileSizeMegabytes: Int = 64, processes: Int = 1024,
        cgroups: Bool = true, cgroupMemoryMegabytes: Int = 3072, pids: Int = 512,
        workspaceMegabytes: Int = 256, outputLimitBytes: Int = 128 << 10, bwrapPath: String = "/usr/bin/bwrap",
        programCacheDirectory: String = "run/program-cache", programCacheMegabytes: Int = 1024, programCacheEntries: Int = 256,
        cgroupSubtree: String = "will-it-compile"
    ) {
        self.cgroupSubtree = cgroupSubtree
        self.programCacheDirectory = programCacheDirectory
        self.programCacheMegabytes = programCacheMegabytes
        self.programCacheEntries = programCacheEntries
        self.cpuSeconds = cpuSeconds
        self.addressSpaceMegabytes = addressSpaceMegabytes
        self.fileSizeMegabytes = fileSizeMegabytes
        self.processes = processes
        self.cgroups = cgroups
        self.cgroupMemoryMegabytes = cgroupMemoryMegabytes
        self.pids = pids
        self.workspaceMegabytes = workspaceMegabytes
        self.outputLimitBytes = outputLimitBytes
        self.bwrapPath = bwrapPath
    }
}

/// Limits on what one compilation may take.
public struct CompilationConfiguration: Sendable, Equatable {
    /// `MAX_SOURCE_SIZE`: largest source in bytes (default 1 MiB).
    public var maxSourceSize: Int
    /// `COMPILATION_TIMEOUT_SECONDS`: wall-clock limit of one compile (default 30).
    public var timeoutSeconds: Int
    /// `MAX_FILES`: most files of one multi-file project (default 64).
    public var maxFiles: Int
    /// `MAX_MATRIX_CELLS`: most cells (jobs) one compile matrix may make (default 128: every
    /// C++ toolchain of the catalog × every standard it lists, 108, fits).
    public var maxMatrixCells: Int

    public init(maxSourceSize: Int = 1 << 20, timeoutSeconds: Int = 30, maxFiles: Int = ProjectFile.defaultMaxCount,
                maxMatrixCells: Int = 128) {
        self.maxFiles = maxFiles
        self.maxSourceSize = maxSourceSize
        self.timeoutSeconds = timeoutSeconds
        self.maxMatrixCells = maxMatrixCells
    }
}

/// The service's whole configuration, read from environment variables with the
/// predecessor's names. Only executables call `init(environment:)`.
public struct ServiceConfiguration: Sendable, Equatable {
    /// `PORT`: where the HTTP front end listens (default 8080).
    public var port: Int
    public var redis: RedisConfiguration
    public var worker: WorkerConfiguration
    public var compilation: CompilationConfiguration
    public var sandbox: SandboxConfiguration

    public init(
        port: Int = 8080, redis: RedisConfiguration = .init(), worker: WorkerConfiguration = .init(),
        compilation: CompilationConfiguration = .init(), sandbox: SandboxConfiguration = .init()
    ) {
        self.port = port
        self.redis = redis
        self.worker = worker
        self.compilation = compilation
        self.sandbox = sandbox
    }

    /// Reads every variable; an unset or empty variable keeps its default.
    /// - Throws: `ConfigurationError` naming the first variable whose value is unusable.
    public init(environment: [String: String]) throws(ConfigurationError) {
        let reader = EnvironmentReader(environment: environment)
        let defaults = ServiceConfiguration()
        port = try reader.integer("PORT", default: defaults.port, in: 1...65535)
        redis = RedisConfiguration(
            enabled: try reader.boolean("REDIS_ENABLED", default: defaults.redis.enabled),
            address: try reader.value("REDIS_ADDR", default: defaults.redis.address,
                                      expected: "host:port or a Unix-socket path", RedisAddress.init),
            password: reader.string("REDIS_PASSWORD"),
            database: try reader.integer("REDIS_DB", default: defaults.redis.database, in: 0...1_000_000),
            poolSize: try reader.integer("REDIS_POOL_SIZE", default: defaults.redis.poolSize, in: 1...10_000),
            jobTTLHours: try reader.integer("REDIS_JOB_TTL_HOURS", default: defaults.redis.jobTTLHours, in: 1...87_600),
            connectTimeout: .milliseconds(try reader.integer(
                "REDIS_CONNECT_TIMEOUT_MS", default: 1000, in: 1...600_000)),
            commandTimeout: .milliseconds(try reader.integer(
                "REDIS_TIMEOUT_MS", default: 2000, in: 1...600_000)))
        worker = WorkerConfiguration(
            maxWorkers: try reader.integer("MAX_WORKERS", default: defaults.worker.maxWorkers, in: 1...1024),
            queueSize: try reader.integer("QUEUE_SIZE", default: defaults.worker.queueSize, in: 1...1_000_000),
            maxJobsPerClient: try reader.integer(
                "MAX_JOBS_PER_CLIENT", default: defaults.worker.maxJobsPerClient, in: 1...1_000_000),
            socketPath: reader.string("WORKER_SOCKET") ?? defaults.worker.socketPath,
            hostID: reader.string("WORKER_HOST_ID") ?? defaults.worker.hostID,
            catalogPath: reader.string("WORKER_CATALOG") ?? defaults.worker.catalogPath,
            memoryStoreMegabytes: try reader.integer(
                "MEMORY_STORE_MAX_MB", default: defaults.worker.memoryStoreMegabytes, in: 1...1_048_576),
            leaseSeconds: try reader.integer("JOB_LEASE_SECONDS", default: defaults.worker.leaseSeconds, in: 2...3600),
            maxClaims: try reader.integer("JOB_MAX_CLAIMS", default: defaults.worker.maxClaims, in: 1...100),
            clusterQueueSize: try reader.integer(
                "CLUSTER_QUEUE_SIZE", default: defaults.worker.clusterQueueSize, in: 0...100_000_000),
            clientSubmitsPerSecond: try reader.integer(
                "CLUSTER_RATE_LIMIT_PER_SECOND", default: defaults.worker.clientSubmitsPerSecond, in: 0...1_000_000),
            clientSubmitBurst: try reader.integer(
                "CLUSTER_RATE_LIMIT_BURST", default: defaults.worker.clientSubmitBurst, in: 1...1_000_000))
        compilation = CompilationConfiguration(
            maxSourceSize: try reader.integer(
                // Bounded so that a job, its source in Base64, fits one worker frame (`WorkerCodec.maxPayloadSize`).
                "MAX_SOURCE_SIZE", default: defaults.compilation.maxSourceSize, in: 1...(8 << 20)),
            timeoutSeconds: try reader.integer(
                "COMPILATION_TIMEOUT_SECONDS", default: defaults.compilation.timeoutSeconds, in: 1...3600),
            maxFiles: try reader.integer("MAX_FILES", default: defaults.compilation.maxFiles, in: 1...ProjectFile.maxCountLimit),
            maxMatrixCells: try reader.integer(
                "MAX_MATRIX_CELLS", default: defaults.compilation.maxMatrixCells, in: 1...1000))
        let sandboxDefaults = defaults.sandbox
        sandbox = SandboxConfiguration(
            cpuSeconds: try reader.integer("SANDBOX_CPU_SECONDS", default: compilation.timeoutSeconds, in: 1...3600),
            addressSpaceMegabytes: try reader.integer(
                "SANDBOX_MEMORY_MB", default: sandboxDefaults.addressSpaceMegabytes, in: 64...1_048_576),
            fileSizeMegabytes: try reader.integer(
                "SANDBOX_FILE_SIZE_MB", default: sandboxDefaults.fileSizeMegabytes, in: 1...65536),
            processes: try reader.integer("SANDBOX_PROCESSES", default: sandboxDefaults.processes, in: 8...65536),
            cgroups: try reader.boolean("SANDBOX_CGROUPS", default: sandboxDefaults.cgroups),
            cgroupMemoryMegabytes: try reader.integer(
                "SANDBOX_CGROUP_MEMORY_MB", default: sandboxDefaults.cgroupMemoryMegabytes, in: 64...1_048_576),
            pids: try reader.integer("SANDBOX_PIDS", default: sandboxDefaults.pids, in: 8...65536),
            workspaceMegabytes: try reader.integer(
                "SANDBOX_WORKSPACE_MB", default: sandboxDefaults.workspaceMegabytes, in: 1...65536),
            outputLimitBytes: try reader.integer(
                // Bounded so that a result, both outputs JSON-escaped (up to 6 bytes per byte), fits one worker frame.
                "SANDBOX_OUTPUT_LIMIT_BYTES", default: sandboxDefaults.outputLimitBytes, in: 1024...(1 << 20)),
            bwrapPath: reader.string("SANDBOX_BWRAP") ?? sandboxDefaults.bwrapPath,
            programCacheDirectory: reader.string("SANDBOX_PROGRAM_CACHE_DIR")
                ?? "\(Self.directory(of: worker.socketPath))/program-cache",
            programCacheMegabytes: try reader.integer(
                "SANDBOX_PROGRAM_CACHE_MB", default: sandboxDefaults.programCacheMegabytes, in: 0...1_048_576),
            programCacheEntries: try reader.integer(
                "SANDBOX_PROGRAM_CACHE_ENTRIES", default: sandboxDefaults.programCacheEntries, in: 0...1_000_000),
            cgroupSubtree: try reader.value(
                "SANDBOX_CGROUP_SUBTREE", default: sandboxDefaults.cgroupSubtree,
                expected: "a path below the cgroup hierarchy's root: names of letters, digits, '.', '_', '-', '@' and '\\x' separated by '/', none of them '.' or '..' (e.g. will-it-compile, system.slice/will-it-compile-worker.service)",
                Self.cgroupSubtree))
    }
}

extension ServiceConfiguration {
    /// A cgroup path below a hierarchy's root, without a leading or trailing '/': only names
    /// systemd and cgroupfs write (systemd escapes others as `\xNN`), never '.' or '..'.
    static func cgroupSubtree(_ text: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@\\")
        let names = text.split(separator: "/", omittingEmptySubsequences: false)
        guard names.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && $0.allSatisfy(allowed.contains) }) else { return nil }
        return text
    }

    /// The directory part of a path: `run` for `run/worker.sock`, `.` for `worker.sock`.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }
}

/// Reads typed values from an environment dictionary; every failure names the variable.
public struct EnvironmentReader: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// The trimmed value, or nil when unset or empty.
    public func string(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingBlanks, !value.isEmpty
        else { return nil }
        return value
    }

    public func value<T>(
        _ name: String, default fallback: T, expected: String, _ parse: (String) -> T?
    ) throws(ConfigurationError) -> T {
        guard let text = string(name) else { return fallback }
        guard let value = parse(text) else {
            throw ConfigurationError(variable: name, value: text, expected: expected)
        }
        return value
    }

    public func integer(_ name: String, default fallback: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        try value(name, default: fallback, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)") {
            Int($0).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    public func boolean(_ name: String, default fallback: Bool) throws(ConfigurationError) -> Bool {
        try value(name, default: fallback, expected: "true or false (also 1/0, yes/no)") { text in
            switch text.lowercased() {
            case "true", "1", "yes", "on": true
            case "false", "0", "no", "off": false
            default: nil
            }
        }
    }
}
