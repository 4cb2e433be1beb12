public import FoundationEssentials

/// The worker's counters, in the predecessor's `/api/v1/workers/stats` shape.
public struct WorkerStats: Sendable, Equatable, Codable {
    public var maxWorkers: Int
    public var activeWorkers: Int
    public var availableSlots: Int
    public var queuedJobs: Int
    public var totalProcessed: Int
    public var totalSuccessful: Int
    public var totalFailed: Int
    public var totalTimeout: Int
    public var totalErrors: Int
    /// Submissions answered from the verdict cache, never compiled: in none of the other totals.
    public var totalCached: Int
    /// Go's `time.Duration.String()` form, e.g. `1h2m3.5s`.
    public var uptime: String
    public var uptimeSeconds: Double
    /// RFC 3339.
    public var startTime: String
    /// In a cluster (Redis mode) the fields above are the live hosts' totals (`max_workers`
    /// their slots together, `queued_jobs` the jobs waiting in the cluster's queue, the
    /// uptime the longest), and this has one row per live host. nil for a single host.
    public var hosts: [HostStats]?

    public init(
        maxWorkers: Int, activeWorkers: Int, queuedJobs: Int, totalProcessed: Int, totalSuccessful: Int,
        totalFailed: Int, totalTimeout: Int, totalErrors: Int, totalCached: Int = 0, startTime: Date, now: Date
    ) {
        self.totalCached = totalCached
        self.maxWorkers = maxWorkers
        self.activeWorkers = activeWorkers
        self.availableSlots = max(0, maxWorkers - activeWorkers)
        self.queuedJobs = queuedJobs
        self.totalProcessed = totalProcessed
        self.totalSuccessful = totalSuccessful
        self.totalFailed = totalFailed
        self.totalTimeout = totalTimeout
        self.totalErrors = totalErrors
        self.uptimeSeconds = max(0, now.timeIntervalSince(startTime))
        self.uptime = Self.goDuration(seconds: uptimeSeconds)
        self.startTime = Timestamp.format(startTime)
    }

    private enum CodingKeys: String, CodingKey {
        case maxWorkers = "max_workers", activeWorkers = "active_workers", availableSlots = "available_slots"
        case queuedJobs = "queued_jobs", totalProcessed = "total_processed", totalSuccessful = "total_successful"
        case totalFailed = "total_failed", totalTimeout = "total_timeout", totalErrors = "total_errors"
        case totalCached = "total_cached"
        case uptime, uptimeSeconds = "uptime_seconds", startTime = "start_time", hosts
    }

    /// Formats like Go's `Duration.String()` at millisecond precision: `3.25s`, `4m0s`, `1h2m3s`.
    static func goDuration(seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        let hours = milliseconds / 3_600_000
        let minutes = milliseconds / 60_000 % 60
        let secondsPart = Double(milliseconds % 60_000) / 1000
        var text = secondsPart == secondsPart.rounded() ? "\(Int(secondsPart))s" : "\(secondsPart)s"
        if hours > 0 || minutes > 0 { text = "\(minutes)m" + text }
        if hours > 0 { text = "\(hours)h" + text }
        return text
    }
}

/// One host's row in a cluster's `/api/v1/workers/stats`: its id and its own counters
/// (`queued_jobs`: jobs it has taken that wait for one of its slots).
public struct HostStats: Sendable, Equatable, Codable {
    public var hostID: String
    public var stats: WorkerStats

    public init(hostID: String, stats: WorkerStats) {
        self.hostID = hostID
        self.stats = stats
    }

    private enum CodingKeys: String, CodingKey {
        case hostID = "host_id"
    }

    /// Flat: `host_id` beside the counters' own fields.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hostID, forKey: .hostID)
        try stats.encode(to: encoder)
    }

    public init(from decoder: any Decoder) throws {
        hostID = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .hostID)
        stats = try WorkerStats(from: decoder)
    }
}
