import CoreMetrics
public import JobStore
public import WillItCompile
public import WorkerClient
import Synchronization

/// The HTTP API v1 of `ARCHITECTURE.md`, independent of how requests arrive
/// (the responder feeds it from FastCGI). Safe to call from many threads.
///
/// `handle` finds the request's endpoint in `routes` (Routes.swift); each
/// endpoint answers in a file of its own under Endpoints/.
public final class APIHandler: Sendable {
    let configuration: ServiceConfiguration
    let workers: WorkerChannels
    /// nil in memory mode: jobs are then read through the worker.
    let store: (any JobStore)?
    /// The cluster-wide per-client submission limit; nil in memory mode or when it is off.
    let rateLimiter: ClientRateLimiter?
    /// The limit and the verdict cache in one step (Redis mode only).
    let gate: SubmissionGate?
    /// Made once: a counter made per answer goes through the metrics factory each time.
    let verdictCacheHits = Counter(label: MetricName.verdictCacheHits)
    let validator: RequestValidator
    let toolchains: ToolchainCache
    /// Long polls in progress in this process, and how many may be: each holds a
    /// responder thread, so some threads always stay free for quick requests.
    let waitingRequests = Atomic<Int>(0)
    let maxWaitingRequests: Int

    /// Set when the process stops: long polls then answer at their next slice.
    let stopping = Atomic<Bool>(false)

    /// The longest `wait` a status read or a submission accepts.
    public static let maxWait = Duration.seconds(WaitParameter.maxSeconds)

    /// The largest body accepted; nginx's `client_max_body_size` is the same number (`BodyLimit`).
    var maxBodySize: Int { BodyLimit.bytes(forSourceSize: configuration.compilation.maxSourceSize) }

    /// The 413 for a body of `length` bytes, or nil when it fits. The responder
    /// asks before reading a body, so one over the limit is never buffered.
    public func bodyTooLarge(length: Int) -> HTTPResponse? {
        guard length > maxBodySize else { return nil }
        return .error(413, "source_too_large", "The body is \(length) bytes; at most \(maxBodySize) bytes are accepted (sources up to \(configuration.compilation.maxSourceSize) bytes).")
    }

    /// Reaches the worker at `worker`'s socket (see `WorkerChannels.init(_:)`).
    public convenience init(
        configuration: ServiceConfiguration, worker: WorkerClient, store: (any JobStore)?,
        rateLimiter: ClientRateLimiter? = nil, maxWaitingRequests: Int
    ) {
        self.init(configuration: configuration, workers: WorkerChannels(worker), store: store,
                  rateLimiter: rateLimiter, maxWaitingRequests: maxWaitingRequests)
    }

    /// - Parameters:
    ///   - rateLimiter: asked for every valid submission before the worker gets it.
    ///   - maxWaitingRequests: how many long polls (`?wait=`) may run at
    ///     once; more answer at once with the job as it is.
    public init(
        configuration: ServiceConfiguration, workers: WorkerChannels, store: (any JobStore)?,
        rateLimiter: ClientRateLimiter? = nil, maxWaitingRequests: Int
    ) {
        self.configuration = configuration
        self.rateLimiter = rateLimiter
        gate = (store as? RedisJobStore).map { SubmissionGate(store: $0, rateLimiter: rateLimiter) }
        self.workers = workers
        self.maxWaitingRequests = maxWaitingRequests
        self.store = store
        self.validator = RequestValidator(
            maxSourceSize: configuration.compilation.maxSourceSize, maxFiles: configuration.compilation.maxFiles)
        self.toolchains = ToolchainCache(worker: workers.requests)
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        handleNamingRoute(request).response
    }

    /// The answer, and the route that gave it as `routeName(of:)` names it: the route is
    /// looked up once for both.
    public func handleNamingRoute(_ request: HTTPRequest) -> (response: HTTPResponse, route: String) {
        guard let (route, parameter) = Self.routes.route(for: Self.withoutTrailingSlash(request.path)) else {
            return (.error(404, "not_found", "No endpoint at \(request.path). Endpoints: \(Self.routes.listing)."), Self.noRoute)
        }
        guard route.methods.contains(request.method) else {
            let allowed = route.methods.joined(separator: ", ")
            return (.error(405, "method_not_allowed", "This endpoint accepts \(allowed) only.", headers: [("Allow", allowed)]), route.pattern)
        }
        return (route.answer(self, request, parameter), route.pattern)
    }

    /// The pattern of the route that answers `path` (`/api/v1/compile/{job_id}`), or `none`:
    /// what metrics and logs name a request by, one of a few values whatever the path.
    public func routeName(of path: String) -> String {
        Self.routes.route(for: Self.withoutTrailingSlash(path))?.0.pattern ?? Self.noRoute
    }

    private static let noRoute = "none"

    /// Without one trailing `/` (`/` itself stays), looked at as bytes.
    private static func withoutTrailingSlash(_ path: String) -> String {
        path.utf8.count > 1 && path.utf8.last == UInt8(ascii: "/") ? String(Substring(path.utf8.dropLast())) : path
    }

    /// Makes long polls in progress answer within one slice: the process is stopping.
    public func stopLongPolls() {
        stopping.store(true, ordering: .relaxed)
    }

    // MARK: - Errors more than one endpoint answers

    func redisUnavailable(_ reason: String) -> HTTPResponse {
        .error(503, "redis_unavailable", "The job store is unavailable: \(reason)")
    }

    func workerUnavailable(_ error: any Error) -> HTTPResponse {
        .error(503, "worker_unavailable", "The compile worker is unavailable: \(error)", headers: [("Retry-After", "5")])
    }

    func invalidWait(_ error: InvalidWait) -> HTTPResponse {
        .error(400, "invalid_wait", error.message)
    }
}
