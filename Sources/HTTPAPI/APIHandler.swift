public import FoundationEssentials
public import JobStore
public import WillItCompile
public import WorkerClient
import Synchronization

/// The HTTP API v1 of `ARCHITECTURE.md`, independent of how requests arrive
/// (the responder feeds it from FastCGI). Safe to call from many threads.
public final class APIHandler: Sendable {
    private let configuration: ServiceConfiguration
    private let worker: WorkerClient
    /// A short-timeout client for health checks, which must answer fast.
    private let healthProbe: WorkerClient
    /// nil in memory mode: jobs are then read through the worker.
    private let store: (any JobStore)?
    /// The cluster-wide per-client submission limit; nil in memory mode or when it is off.
    private let rateLimiter: ClientRateLimiter?
    private let validator: RequestValidator
    private let toolchains: ToolchainCache
    /// A client for memory-mode long polls, whose timeout covers the longest wait.
    private let waitingWorker: WorkerClient
    /// Long polls in progress in this process, and how many may be: each holds a
    /// responder thread, so some threads always stay free for quick requests.
    private let waitingRequests = Atomic<Int>(0)
    private let maxWaitingRequests: Int

    /// Set when the process stops: long polls then answer at their next slice.
    private let stopping = Atomic<Bool>(false)

    /// `Retry-After` of a 503 `store_full`: room comes back as jobs expire, not within seconds.
    static let storeFullRetryAfterSeconds = 60

    /// The longest `wait` a status read or a submission accepts.
    public static let maxWait = Duration.seconds(WaitParameter.maxSeconds)
    /// A long poll waits in slices this long, so a stopping process answers its
    /// polls (with the job as it is) within one slice instead of cutting them off.
    static let longPollSlice = Duration.seconds(1)

    /// Largest body accepted: a source at the limit in Base64, plus room for the other fields.
    private var maxBodySize: Int { configuration.compilation.maxSourceSize / 3 * 4 + 64 * 1024 }

    /// The 413 for a body of `length` bytes, or nil when it fits. The responder
    /// asks before reading a body, so one over the limit is never buffered.
    public func bodyTooLarge(length: Int) -> HTTPResponse? {
        guard length > maxBodySize else { return nil }
        return .error(413, "source_too_large", "The body is \(length) bytes; at most \(maxBodySize) bytes are accepted (sources up to \(configuration.compilation.maxSourceSize) bytes).")
    }

    /// - Parameters:
    ///   - rateLimiter: asked for every valid submission before the worker gets it.
    ///   - maxWaitingRequests: how many long polls (`?wait=`) may run at
    ///     once; more answer at once with the job as it is.
    public init(
        configuration: ServiceConfiguration, worker: WorkerClient, store: (any JobStore)?,
        rateLimiter: ClientRateLimiter? = nil, maxWaitingRequests: Int
    ) {
        self.configuration = configuration
        self.rateLimiter = rateLimiter
        self.worker = worker
        self.waitingWorker = WorkerClient(
            socketPath: worker.socketPath, timeoutMilliseconds: worker.timeoutMilliseconds + Self.maxWait.roundedUpMilliseconds)
        self.maxWaitingRequests = maxWaitingRequests
        self.healthProbe = WorkerClient(socketPath: worker.socketPath, timeoutMilliseconds: 1000)
        self.store = store
        self.validator = RequestValidator(maxSourceSize: configuration.compilation.maxSourceSize)
        self.toolchains = ToolchainCache(worker: worker)
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        switch path {
        case "/api/v1/compile":
            guard request.method == "POST" else { return methodNotAllowed("POST") }
            return submit(request, waitValues: request.queryValues("wait"), from: client(of: request))
        case _ where path.hasPrefix("/api/v1/compile/"):
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return status(of: String(path.dropFirst("/api/v1/compile/".count)), waitValues: request.queryValues("wait"),
                          plainText: PlainTextAnswer.isPreferred(by: request.accept))
        case "/api/v1/environments":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return environments()
        case "/api/v1/toolchains":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return toolchainList()
        case _ where path.hasPrefix("/api/v1/flags/"):
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return flagList(String(path.dropFirst("/api/v1/flags/".count)))
        case "/health", "/api/v1/health":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return health()
        case "/api/v1/workers/stats":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return workerStats()
        default:
            return .error(404, "not_found", "No endpoint at \(request.path). Endpoints: POST /api/v1/compile, GET /api/v1/compile/{job_id}, GET /api/v1/environments, GET /api/v1/toolchains, GET /api/v1/flags/{family}, GET /api/v1/workers/stats, GET /health.")
        }
    }

    // MARK: - Endpoints

    /// Whose share of compile capacity a request counts against: its address. A
    /// missing or unusable address (nginx without the project's `fastcgi_params`)
    /// gives nil, which the worker counts as one share for all such requests.
    private func client(of request: HTTPRequest) -> ClientIdentity? {
        request.clientAddress.flatMap { ClientIdentity(address: $0) }
    }

    /// - Parameter waitValues: the query's `wait` values; with one, the answer is
    ///   the job once it is finished or as it is after that long (`submitted`).
    private func submit(_ http: HTTPRequest, waitValues: [String], from client: ClientIdentity?) -> HTTPResponse {
        let body = http.body
        if let tooLarge = bodyTooLarge(length: body.count) { return tooLarge }
        let wait: Duration?
        do {
            wait = try WaitParameter.duration(from: waitValues)
        } catch {
            return invalidWait(error)
        }
        var request: CompilationRequest
        do {
            switch SubmissionForm(contentType: http.contentType) {
            case .json:
                request = try validator.validate(json: Data(body))
            case .form:
                guard body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") else {
                    return .error(400, "invalid_request", RawSubmission.formRefusal)
                }
                request = try validator.validate(json: Data(body))
            case .raw:
                request = try validator.validate(RawSubmission.settings(of: http), source: body)
            }
        } catch {
            return invalid(error)
        }
        let installed: [Toolchain]
        do {
            installed = try toolchains.current()
        } catch {
            return workerUnavailable(error)
        }
        do {
            let toolchain = try installed.resolve(request)
            // Store what will really be used, so a result always says which compiler and standard made it.
            request.compiler = toolchain.spec.id
            request.standard = request.standard ?? toolchain.spec.defaultStandard
        } catch {
            return invalid(error)
        }
        if let refused = checkRate(of: client) { return refused }
        let job = CompilationJob(request: request, createdAt: Date())
        let reply: WorkerReply
        do {
            reply = try worker.send(.submit(job, client: client))
        } catch {
            return workerUnavailable(error)
        }
        switch reply {
        case let .accepted(id):
            let plainText = PlainTextAnswer.isPreferred(by: http.accept)
            guard let wait else {
                if plainText {
                    var queued = job
                    queued.id = id
                    return PlainTextAnswer.response(job: queued, result: nil, location: location(of: id))
                }
                return .json(202, body: SubmitResponse(jobID: id, status: .queued).body, headers: [location(of: id)])
            }
            return submitted(job, id: id, waitingUpTo: wait, plainText: plainText)
        case let .queueFull(capacity, seconds):
            return .error(429, "queue_full", "The compile queue is full (\(capacity) jobs wait already); retry after \(seconds) s.",
                          headers: [("Retry-After", String(seconds))])
        case let .tooManyJobs(share, seconds):
            return .error(429, "too_many_jobs", "This client already has \(share.jobs) jobs queued or compiling (\(share.waiting) of them waiting for a slot); at most \(share.limit) per client are accepted. Retry after \(seconds) s, once one of them is finished.",
                          headers: [("Retry-After", String(seconds))])
        case let .failure(failure):
            switch failure.code {
            case .storeUnavailable:
                return redisUnavailable(failure.message)
            case .storeFull:
                return .error(503, "store_full", "The job store is full and takes no new job until older ones expire; nothing of this job was stored. Retry after \(Self.storeFullRetryAfterSeconds) s.",
                              headers: [("Retry-After", String(Self.storeFullRetryAfterSeconds))])
            case .shuttingDown:
                return .error(503, "worker_unavailable", "The compile worker is shutting down; retry shortly.", headers: [("Retry-After", "5")])
            case .unsupportedJob:
                toolchains.invalidate()
                return .error(400, "invalid_request", failure.message)
            case .malformedRequest, .duplicateJob:
                return .error(500, "internal_error", "The compile worker refused the job: \(failure.message)")
            }
        default:
            return .error(500, "internal_error", "The compile worker answered \(reply) to a submission.")
        }
    }

    /// The 429 for a client over the cluster-wide submission limit, or nil when
    /// the submission may go on. Only valid submissions get here: a request refused
    /// as invalid costs no compile and counts only against nginx's own limit.
    /// Every valid one counts, also when the worker then refuses it (queue full),
    /// so that retrying in a loop is slowed down too. Redis unreachable is a 503,
    /// as the submission itself would get: the limit is never skipped silently.
    private func checkRate(of client: ClientIdentity?) -> HTTPResponse? {
        guard let rateLimiter else { return nil }
        let decision: RateDecision
        do {
            decision = try rateLimiter.admit(client)
        } catch {
            return redisUnavailable("\(error)")
        }
        guard case let .limited(retryAfter) = decision else { return nil }
        let seconds = max(1, (retryAfter.roundedUpMilliseconds + 999) / 1000)
        return .error(429, "rate_limited", "Too many submissions from this client address (an IPv6 address counts by its /64) across all hosts: at most \(rateLimiter.submitsPerSecond) per second, in bursts of up to \(rateLimiter.burst). Retry after \(seconds) s, and space submissions out.",
                      headers: [("Retry-After", String(seconds))])
    }

    /// A submission with `?wait=`: the job once it is finished (200, the body of
    /// a status read), or as it is after `wait` (202 and its `Location`). The job
    /// is accepted whatever happens next, so a read that fails answers 202 with
    /// the job as submitted rather than an error a client would submit again for;
    /// its status read then names the failure.
    private func submitted(_ job: CompilationJob, id: JobID, waitingUpTo wait: Duration, plainText: Bool) -> HTTPResponse {
        var (current, result) = (job, CompilationResult?.none)
        current.id = id
        if let found = try? readJob(id, wait: wait) {
            (current, result) = found
        }
        if plainText { return PlainTextAnswer.response(job: current, result: result, location: location(of: id)) }
        guard current.status.isTerminal else {
            return .json(202, body: JobResponse(job: current, result: nil).body, headers: [location(of: id)])
        }
        return .json(200, body: JobResponse(job: current, result: result).body)
    }

    private func location(of id: JobID) -> (String, String) {
        ("Location", "/api/v1/compile/\(id)")
    }

    private func status(of idText: String, waitValues: [String], plainText: Bool) -> HTTPResponse {
        guard let id = JobID(idText) else {
            return .error(400, "invalid_job_id", "`\(idText)` is not a job id; job ids are UUIDs such as 3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c.")
        }
        // Checked before the job is looked up: a bad wait is the same answer for any id.
        let wait: Duration
        do {
            wait = try WaitParameter.duration(from: waitValues) ?? .zero
        } catch {
            return invalidWait(error)
        }
        let found: (CompilationJob, CompilationResult?)?
        do {
            found = try readJob(id, wait: wait)
        } catch let error as JobStoreError {
            return redisUnavailable("\(error)")
        } catch {
            return workerUnavailable(error)
        }
        guard let (job, result) = found else {
            return .error(404, "job_not_found", "No job \(id): it never existed or expired after \(configuration.redis.jobTTLHours) h.")
        }
        if plainText { return PlainTextAnswer.response(job: job, result: result, location: location(of: id)) }
        return .json(200, body: JobResponse(job: job, result: job.status.isTerminal ? result : nil).body)
    }

    /// The job, after waiting up to `wait` for its verdict when a waiting slot is free.
    private func readJob(_ id: JobID, wait: Duration) throws -> (CompilationJob, CompilationResult?)? {
        guard wait > .zero else { return try fetchJob(id, waitingUpTo: .zero) }
        guard waitingRequests.add(1, ordering: .relaxed).newValue <= maxWaitingRequests else {
            waitingRequests.subtract(1, ordering: .relaxed)
            return try fetchJob(id, waitingUpTo: .zero)
        }
        defer { waitingRequests.subtract(1, ordering: .relaxed) }
        let deadline = ContinuousClock.now + wait
        var found = try fetchJob(id, waitingUpTo: min(wait, Self.longPollSlice))
        while let (job, _) = found, !job.status.isTerminal, !stopping.load(ordering: .relaxed) {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            found = try fetchJob(id, waitingUpTo: min(remaining, Self.longPollSlice))
        }
        return found
    }

    /// Makes long polls in progress answer within one slice: the process is stopping.
    public func stopLongPolls() {
        stopping.store(true, ordering: .relaxed)
    }

    private func fetchJob(_ id: JobID, waitingUpTo wait: Duration) throws -> (CompilationJob, CompilationResult?)? {
        if let store {
            return wait > .zero ? try store.jobWithResult(id, waitingUpTo: wait) : try store.jobWithResult(id)
        }
        let client = wait > .zero ? waitingWorker : worker
        switch try client.send(.readJob(id, waitMilliseconds: wait.roundedUpMilliseconds)) {
        case let .job(job?, result): return (job, result)
        case .job(nil, _): return nil
        case let .failure(failure): throw WorkerUnreachable(description: failure.message)
        case let other: throw WorkerUnreachable(description: "unexpected reply \(other)")
        }
    }

    private func environments() -> HTTPResponse {
        do {
            // Asked afresh: what this host can compile right now, and nothing while the worker is down.
            return .json(200, LanguageEnvironment.all(of: try toolchains.refresh()))
        } catch {
            return workerUnavailable(error)
        }
    }

    private func toolchainList() -> HTTPResponse {
        do {
            return .json(200, ToolchainsResponse(toolchains: try toolchains.refresh()))
        } catch {
            return workerUnavailable(error)
        }
    }

    /// The whole allowlist of a flag family (`flag_family` in `/api/v1/toolchains`); it is
    /// compiled in, so it answers while the worker is down.
    private func flagList(_ name: String) -> HTTPResponse {
        guard let family = FlagFamily(rawValue: name) else {
            let families = FlagFamily.allCases.map(\.rawValue)
            return .error(404, "not_found", "No flag family `\(name)` (families: \(families.joined(separator: ", ")); each toolchain's is its `flag_family` in GET /api/v1/toolchains).")
        }
        return .json(200, FlagListResponse(family: family))
    }

    private func health() -> HTTPResponse {
        if let store = store as? RedisJobStore {
            do {
                try store.ping()
            } catch {
                return .json(503, HealthResponse(status: "unhealthy", error: "redis_unavailable", message: "Redis is unavailable: \(error)"))
            }
        }
        do {
            guard case .pong = try healthProbe.send(.ping) else { throw WorkerUnreachable(description: "no pong") }
        } catch {
            return .json(503, HealthResponse(status: "unhealthy", error: "worker_unavailable", message: "The compile worker is unavailable: \(error)"))
        }
        return .json(200, HealthResponse(status: "healthy", time: Timestamp.format(Date()),
                                         redis: store == nil ? "disabled" : "ok", worker: "ok"))
    }

    private func workerStats() -> HTTPResponse {
        do {
            guard case let .stats(stats) = try worker.send(.stats) else {
                throw WorkerUnreachable(description: "the worker did not answer with statistics")
            }
            return .json(200, stats)
        } catch {
            return workerUnavailable(error)
        }
    }

    // MARK: - Errors

    private func invalid(_ error: RequestValidationError) -> HTTPResponse {
        let details = error.problems.map { ErrorDetail(field: $0.field, message: $0.message) }
        if error.isOnlyTooLarge {
            return .error(413, "source_too_large", error.description, details: details)
        }
        return .error(400, "invalid_request", error.description, details: details)
    }

    private func invalidWait(_ error: InvalidWait) -> HTTPResponse {
        .error(400, "invalid_wait", error.message)
    }

    private func redisUnavailable(_ reason: String) -> HTTPResponse {
        .error(503, "redis_unavailable", "The job store is unavailable: \(reason)")
    }

    private func workerUnavailable(_ error: any Error) -> HTTPResponse {
        .error(503, "worker_unavailable", "The compile worker is unavailable: \(error)", headers: [("Retry-After", "5")])
    }

    private func methodNotAllowed(_ allowed: String) -> HTTPResponse {
        .error(405, "method_not_allowed", "This endpoint accepts \(allowed) only.", headers: [("Allow", allowed)])
    }
}

/// The worker's probed toolchains, asked for again at most every 30 s (a worker
/// restarted with other compilers is noticed) or after the worker refused a job.
final class ToolchainCache: Sendable {
    private let worker: WorkerClient
    private let cached = Mutex<(toolchains: [Toolchain], fetched: Date)?>(nil)

    init(worker: WorkerClient) {
        self.worker = worker
    }

    func current() throws -> [Toolchain] {
        if let cached = cached.withLock({ $0 }), Date().timeIntervalSince(cached.fetched) < 30 {
            return cached.toolchains
        }
        return try refresh()
    }

    /// Asks the worker now and keeps the answer.
    func refresh() throws -> [Toolchain] {
        guard case let .toolchains(list) = try worker.send(.toolchains) else {
            throw WorkerUnreachable(description: "the worker did not list its toolchains")
        }
        cached.withLock { $0 = (list, Date()) }
        return list
    }

    func invalidate() {
        cached.withLock { $0 = nil }
    }
}
