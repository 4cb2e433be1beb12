public import Foundation

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

/// The compile worker's capacity.
public struct WorkerConfiguration: Sendable, Equatable {
    /// `MAX_WORKERS`: concurrent compiles (default: the number of cores).
    public var maxWorkers: Int
    /// `QUEUE_SIZE`: jobs waiting for a slot before submissions are refused (default 100).
    public var queueSize: Int

    public init(maxWorkers: Int = ProcessInfo.processInfo.activeProcessorCount, queueSize: Int = 100) {
        self.maxWorkers = maxWorkers
        self.queueSize = queueSize
    }
}

/// Limits on what one compilation may take.
public struct CompilationConfiguration: Sendable, Equatable {
    /// `MAX_SOURCE_SIZE`: largest source in bytes (default 1 MiB).
    public var maxSourceSize: Int
    /// `COMPILATION_TIMEOUT_SECONDS`: wall-clock limit of one compile (default 30).
    public var timeoutSeconds: Int

    public init(maxSourceSize: Int = 1 << 20, timeoutSeconds: Int = 30) {
        self.maxSourceSize = maxSourceSize
        self.timeoutSeconds = timeoutSeconds
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

    public init(
        port: Int = 8080, redis: RedisConfiguration = .init(), worker: WorkerConfiguration = .init(),
        compilation: CompilationConfiguration = .init()
    ) {
        self.port = port
        self.redis = redis
        self.worker = worker
        self.compilation = compilation
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
            queueSize: try reader.integer("QUEUE_SIZE", default: defaults.worker.queueSize, in: 1...1_000_000))
        compilation = CompilationConfiguration(
            maxSourceSize: try reader.integer(
                "MAX_SOURCE_SIZE", default: defaults.compilation.maxSourceSize, in: 1...(64 << 20)),
            timeoutSeconds: try reader.integer(
                "COMPILATION_TIMEOUT_SECONDS", default: defaults.compilation.timeoutSeconds, in: 1...3600))
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
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty
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
