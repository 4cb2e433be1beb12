/// Every metric of the service, by the name Prometheus shows (README, "Metrics").
public enum MetricName {
    // Measured by the responders, kept by the worker.
    /// Counter: answered requests, by `route` (the route table's pattern) and `status`.
    public static let httpRequests = "will_it_compile_http_requests_total"
    /// Histogram: from the request reaching a responder to its answer, by `route`.
    public static let httpRequestDuration = "will_it_compile_http_request_duration_seconds"
    /// Counter: Redis commands that failed for want of Redis (no connection, connection
    /// lost, timeout), in the responders and the worker together.
    public static let redisErrors = "will_it_compile_redis_errors_total"

    // Measured by the worker.
    /// Histogram: a compile in the sandbox, by `toolchain` (the catalog's id) and `verdict`
    /// (the job's final status).
    public static let compileDuration = "will_it_compile_compile_duration_seconds"
    /// Counter: submissions answered from the verdict cache, by the worker or by a responder.
    public static let verdictCacheHits = "will_it_compile_verdict_cache_hits_total"
    /// Gauge: jobs waiting for a compile slot (in Redis mode, in the cluster's queue).
    public static let queueDepth = "will_it_compile_queue_depth"
    /// Gauge: this host's compile slots that are compiling.
    public static let busySlots = "will_it_compile_busy_slots"
    /// Gauge: this host's compile slots (`MAX_WORKERS`).
    public static let slots = "will_it_compile_slots"
    /// Counter: how often this host's worker started (in Redis mode kept in Redis, so it
    /// survives the worker; in memory mode counted from this worker's start).
    public static let workerStarts = "will_it_compile_worker_starts_total"
    /// Gauge: when this worker process started, in seconds since 1970.
    public static let workerStartTime = "will_it_compile_worker_start_time_seconds"

    /// What a responder may hand to the worker, with the names of its dimensions in their
    /// order: a batch naming anything else is refused, so that each metric keeps the one set
    /// of labels its queries expect.
    public static let measuredByResponders: [String: [String]] = [
        httpRequests: ["route", "status"], httpRequestDuration: ["route"], redisErrors: [], verdictCacheHits: [],
    ]
}
