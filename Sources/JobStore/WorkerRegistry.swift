public import FoundationEssentials
public import WillItCompile

/// One host's counters, kept in Redis so that they survive the worker.
public struct HostCounters: Sendable, Equatable, Codable {
    public var processed = 0
    public var successful = 0
    public var failed = 0
    public var timeout = 0
    public var errors = 0
    public var compileNanoseconds: Int64 = 0
    /// Submissions answered from the verdict cache: not compiled, so in none of the counts above.
    public var cached = 0

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case processed, successful, failed, timeout, errors, compileNanoseconds = "compile_nanoseconds", cached
    }

    /// A record of a host without the verdict cache reads as one that answered none from it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        processed = try container.decode(Int.self, forKey: .processed)
        successful = try container.decode(Int.self, forKey: .successful)
        failed = try container.decode(Int.self, forKey: .failed)
        timeout = try container.decode(Int.self, forKey: .timeout)
        errors = try container.decode(Int.self, forKey: .errors)
        compileNanoseconds = try container.decode(Int64.self, forKey: .compileNanoseconds)
        cached = try container.decodeIfPresent(Int.self, forKey: .cached) ?? 0
    }

    /// The counter a verdict of `status` adds one to.
    static func field(of status: JobStatus) -> String {
        switch status {
        case .completed: "successful"
        case .failed: "failed"
        case .timeout: "timeout"
        case .error, .queued, .processing: "errors"
        }
    }
}

/// What one worker says about itself in the registry, renewed every second.
public struct HostRecord: Sendable, Equatable, Codable {
    public var hostID: String
    public var startTime: Date
    public var maxWorkers: Int
    /// `QUEUE_SIZE`: its part of the cluster's queue capacity.
    public var queueSize: Int
    public var activeWorkers: Int
    /// Jobs it has taken that wait for one of its slots.
    public var queuedJobs: Int
    public var counters: HostCounters
    public var toolchains: [Toolchain]

    public init(
        hostID: String, startTime: Date, maxWorkers: Int, queueSize: Int, activeWorkers: Int, queuedJobs: Int,
        counters: HostCounters, toolchains: [Toolchain]
    ) {
        self.hostID = hostID
        self.startTime = startTime
        self.maxWorkers = maxWorkers
        self.queueSize = queueSize
        self.activeWorkers = activeWorkers
        self.queuedJobs = queuedJobs
        self.counters = counters
        self.toolchains = toolchains
    }

    /// Its row of `/api/v1/workers/stats` at `now`.
    public func stats(now: Date) -> WorkerStats {
        WorkerStats(
            maxWorkers: maxWorkers, activeWorkers: activeWorkers, queuedJobs: queuedJobs,
            totalProcessed: counters.processed, totalSuccessful: counters.successful, totalFailed: counters.failed,
            totalTimeout: counters.timeout, totalErrors: counters.errors, totalCached: counters.cached,
            startTime: startTime, now: now)
    }

    private enum CodingKeys: String, CodingKey {
        case hostID = "host_id", startTime = "start_time", maxWorkers = "max_workers", queueSize = "queue_size"
        case activeWorkers = "active_workers", queuedJobs = "queued_jobs", counters, toolchains
    }
}

/// The live workers of the cluster: each keeps `wic:host:{id}` (its `HostRecord` as
/// JSON) alive with a TTL and is listed in the set `wic:hosts`. A host that stops
/// renewing drops out when its record expires.
public final class WorkerRegistry: Sendable {
    private let store: RedisJobStore
    /// How long a record lives without being renewed.
    public let recordLifetime: Duration

    static let hostsKey = "wic:hosts"
    /// KEYS: the hosts set. ARGV: n record keys, then the n host ids.
    static let forgetGoneHosts = """
        #!lua flags=allow-oom
        local n = #ARGV / 2
        for i = 1, n do
            if redis.call('EXISTS', ARGV[i]) == 0 then redis.call('SREM', KEYS[1], ARGV[n + i]) end
        end
        return 0
        """
    static func recordKey(_ host: String) -> String { "wic:host:\(host)" }

    public init(store: RedisJobStore, recordLifetime: Duration = .seconds(5)) {
        self.store = store
        self.recordLifetime = recordLifetime
    }

    public func publish(_ record: HostRecord) throws(JobStoreError) {
        let json: [UInt8]
        do {
            json = Array(try JSONEncoder().encode(record))
        } catch {
            throw .invalidArgument("the record of host \(record.hostID) cannot be encoded: \(error)")
        }
        let key = Self.recordKey(record.hostID)
        let replies = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.pipeline([
                [bytes("SET"), bytes(key), json, bytes("PX"), bytes(String(recordLifetime.roundedUpMilliseconds))],
                [bytes("SADD"), bytes(Self.hostsKey), bytes(record.hostID)],
            ])
        }
        for reply in replies { try store.check(reply, doing: "publish the record of host \(record.hostID)") }
    }

    /// Drops this host's record at once (a worker that stops).
    public func withdraw(host: String) throws(JobStoreError) {
        let replies = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.pipeline([
                [bytes("DEL"), bytes(Self.recordKey(host))], [bytes("SREM"), bytes(Self.hostsKey), bytes(host)],
            ])
        }
        for reply in replies { try store.check(reply, doing: "withdraw host \(host)") }
    }

    /// The records of every live host, by host id; hosts whose record expired leave the set.
    /// A record that cannot be read (another version's, say) is left out, not fatal: the
    /// other hosts must still be seen.
    public func liveHosts() throws(JobStoreError) -> [HostRecord] {
        let members = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["SMEMBERS", Self.hostsKey])
        }
        try store.check(members, doing: "SMEMBERS \(Self.hostsKey)", on: Self.hostsKey)
        guard case let .array(items) = members else { throw .corrupt(key: Self.hostsKey, reason: "not a set") }
        let hosts = items.compactMap(\.text).sorted()
        guard !hosts.isEmpty else { return [] }
        let values = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["MGET"] + hosts.map(Self.recordKey))
        }
        try store.check(values, doing: "read the host records")
        guard case let .array(records) = values, records.count == hosts.count else {
            throw .rejected("unexpected reply to reading the host records: \(values)")
        }
        var live: [HostRecord] = []
        var gone: [String] = []
        for (host, value) in zip(hosts, records) {
            guard case let .bulk(json) = value else {
                gone.append(host)
                continue
            }
            if let record = try? JSONDecoder().decode(HostRecord.self, from: Data(json)) { live.append(record) }
        }
        if !gone.isEmpty {
            // Only those still without a record: one may have come back since the MGET.
            let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
                try connection.evaluate(
                    Self.forgetGoneHosts, keys: [bytes(Self.hostsKey)], arguments: gone.map { bytes(Self.recordKey($0)) } + gone.map(bytes))
            }
            try store.check(reply, doing: "SREM \(Self.hostsKey)")
        }
        return live
    }
}
