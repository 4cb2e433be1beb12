import FoundationEssentials
import JobStore
import WillItCompile

/// `POST /api/v1/compile[?wait=S]`: a JSON body, or the source itself with its
/// settings in the query (`RawSubmission`); the job goes to the worker.
extension APIHandler {
    /// The largest sources (bytes, all files together) a responder answers from the verdict cache itself.
    static let largestAnsweredSource = 64 << 10

    /// `Retry-After` of a 503 `store_full`: room comes back as jobs expire, not within seconds.
    static let storeFullRetryAfterSeconds = 60

    func submit(_ http: HTTPRequest) -> HTTPResponse {
        let body = http.body
        if let tooLarge = bodyTooLarge(length: body.count) { return tooLarge }
        let wait: Duration?
        do {
            wait = try WaitParameter.duration(from: http.queryValues("wait"))
        } catch {
            return invalidWait(error)
        }
        var request: CompilationRequest
        do {
            switch SubmissionForm(contentType: http.contentType) {
            case .json:
                try RawSubmission.checkQuery(ofJSONBody: http, accepting: ["wait"])
                request = try validator.validate(json: Data(body))
            case .form where body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{"):
                try RawSubmission.checkQuery(ofJSONBody: http, accepting: ["wait"])
                request = try validator.validate(json: Data(body))
            case .form where RawSubmission.holdsALineBreak(body), .raw:
                request = try validator.validate(RawSubmission.settings(of: http), source: body)
            case .form:
                return .error(400, "invalid_request", RawSubmission.formRefusal)
            case .multipart:
                return .error(400, "invalid_request", RawSubmission.multipartRefusal)
            }
        } catch {
            return invalid(error)
        }
        let offer: ToolchainCache.Offer
        do {
            offer = try toolchains.currentOffer()
        } catch {
            return workerUnavailable(error)
        }
        let toolchain: Toolchain
        do {
            toolchain = try offer.toolchains.resolve(request)
            // Store what will really be used, so a result always says which compiler and standard made it.
            request.compiler = toolchain.spec.id
            request.standard = request.standard ?? toolchain.spec.defaultStandard
        } catch {
            return invalid(error)
        }
        let client = client(of: http)
        var job = CompilationJob(request: request, createdAt: Date())
        job.requestID = http.requestID
        switch admit(job, compiledWith: toolchain, terms: offer.verdictCacheTerms, from: client) {
        case let .refused(response):
            return response
        case let .answered(answeredJob, result):
            var response = accepted(job, id: answeredJob.id, answered: (answeredJob, result), http, wait: wait)
            response.answeredFromCache = AnsweredFromCache(job: answeredJob, result: result)
            return response
        case .admitted:
            break
        }
        let reply: WorkerReply
        do {
            reply = try workers.requests.send(.submit(job, client: client))
        } catch {
            return workerUnavailable(error)
        }
        switch reply {
        case let .accepted(id):
            return accepted(job, id: id, answered: nil, http, wait: wait)
        case let .answered(answeredJob, result):
            // Answered from the verdict cache: finished already, and answered as any accepted job.
            return accepted(job, id: answeredJob.id, answered: (answeredJob, result), http, wait: wait)
        default:
            return refusal(reply)
        }
    }

    /// The answer to an accepted submission: at once (202) or, with `wait`, once it is finished.
    private func accepted(
        _ job: CompilationJob, id: JobID, answered: (CompilationJob, CompilationResult)?, _ http: HTTPRequest, wait: Duration?
    ) -> HTTPResponse {
        let answer = MediaType.preferred(by: http.accept, among: [MediaType.json, MediaType.plainText, MediaType.sarif])
        guard let wait else {
            if answer == MediaType.plainText {
                var queued = job
                queued.id = id
                return PlainTextAnswer.response(job: queued, result: nil, location: location(of: id)).about(id)
            }
            return .json(202, body: SubmitResponse(jobID: id, status: .queued).body, headers: [location(of: id)]).about(id)
        }
        return submitted(job, id: id, waitingUpTo: wait, answer: answer, answered: answered).about(id)
    }

    /// What a submission's first step says: refused (over the client's limit, Redis
    /// unreachable), answered from the verdict cache, or admitted, for the worker to take.
    enum Admission {
        case refused(HTTPResponse)
        case answered(CompilationJob, CompilationResult)
        case admitted
    }

    /// The client's submission limit and, in Redis mode for a submission that may use it, the
    /// verdict cache, in one step: a verdict the cache holds is answered here, as the worker
    /// would answer it (the job stored finished, as the worker's host, counted in its
    /// counters), without the worker's hop. The key is the worker's (`terms`: its limits).
    /// Sources over `largestAnsweredSource` are left to the worker: the step carries the job
    /// to Redis in case it is answered, and a miss would carry a large source twice.
    func admit(_ job: CompilationJob, compiledWith toolchain: Toolchain, terms: VerdictCacheTerms?, from client: ClientIdentity?) -> Admission {
        guard let gate, let terms, job.request.useCache, job.request.sourceByteCount <= Self.largestAnsweredSource else {
            return checkRate(of: client).map(Admission.refused) ?? .admitted
        }
        let date = Date()
        let key = VerdictKey(request: job.request, toolchain: toolchain, limits: terms.limits)
        let decision: GateDecision
        do {
            decision = try gate.admit(client, answering: job, key: key, terms: terms, at: date)
        } catch {
            return .refused(redisUnavailable("\(error)"))
        }
        switch decision {
        case let .limited(retryAfter):
            return .refused(rateLimited(retryAfter: retryAfter, cells: nil))
        case .admitted:
            return .admitted
        case .termsOutdated:
            // The worker's limits changed (or it stopped): the next submission asks it again.
            toolchains.invalidate()
            return .admitted
        case let .answered(status, result):
            verdictCacheHits.increment()
            var answered = job
            answered.host = terms.hostID
            answered = answered.finished(status, at: date)
            answered.request = answered.request.withoutSources  // as the worker's answer shows it
            return .answered(answered, result)
        }
    }

    /// The answer to a submission the worker did not accept: of one job, or of a matrix's
    /// `cells` jobs (all of them refused, none stored).
    func refusal(_ reply: WorkerReply, cells: Int? = nil) -> HTTPResponse {
        let what = cells.map { "this matrix's \($0) jobs" } ?? "this job"
        switch reply {
        case let .queueFull(capacity, seconds):
            let message = cells.map { "The compile queue cannot take this matrix's \($0) jobs: \(capacity) jobs may wait, some wait already, and a matrix needs room for all its jobs (or an empty queue); nothing of it was stored. Retry after \(seconds) s." }
                ?? "The compile queue is full (\(capacity) jobs wait already); retry after \(seconds) s."
            return .error(429, "queue_full", message, headers: [("Retry-After", String(seconds))])
        case let .tooManyJobs(share, seconds):
            let matrix = cells.map { " This matrix's \($0) jobs need room for all of them (or a client holding none); nothing of it was stored." } ?? ""
            return .error(429, "too_many_jobs", "This client already has \(share.jobs) jobs queued or compiling (\(share.waiting) of them waiting for a slot); at most \(share.limit) per client are accepted.\(matrix) Retry after \(seconds) s, once one of them is finished.",
                          headers: [("Retry-After", String(seconds))])
        case let .failure(failure):
            switch failure.code {
            case .storeUnavailable:
                return redisUnavailable(failure.message)
            case .storeFull:
                return .error(503, "store_full", "The job store is full and takes no new job until older ones expire; nothing of \(what) was stored. Retry after \(Self.storeFullRetryAfterSeconds) s.",
                              headers: [("Retry-After", String(Self.storeFullRetryAfterSeconds))])
            case .shuttingDown:
                return .error(503, "worker_unavailable", "The compile worker is shutting down; retry shortly.", headers: [("Retry-After", "5")])
            case .unsupportedJob:
                toolchains.invalidate()
                return .error(400, "invalid_request", failure.message)
            case .malformedRequest, .duplicateJob:
                return .error(500, "internal_error", "The compile worker refused \(cells == nil ? "the job" : "the matrix"): \(failure.message)")
            }
        default:
            return .error(500, "internal_error", "The compile worker answered \(reply) to a submission.")
        }
    }

    /// Whose share of compile capacity a request counts against: its address. A
    /// missing or unusable address (nginx without the project's `fastcgi_params`)
    /// gives nil, which the worker counts as one share for all such requests.
    func client(of request: HTTPRequest) -> ClientIdentity? {
        request.clientAddress.flatMap { ClientIdentity(address: $0) }
    }

    /// The 429 for a client over the cluster-wide submission limit, or nil when
    /// the submission may go on. Only valid submissions get here: a request refused
    /// as invalid costs no compile and counts only against nginx's own limit.
    /// Every valid one counts, also when the worker then refuses it (queue full),
    /// so that retrying in a loop is slowed down too. Redis unreachable is a 503,
    /// as the submission itself would get: the limit is never skipped silently.
    /// A matrix's `cells` count as that many submissions, all admitted or none.
    func checkRate(of client: ClientIdentity?, cells: Int? = nil) -> HTTPResponse? {
        guard let rateLimiter else { return nil }
        let decision: RateDecision
        do {
            decision = try rateLimiter.admit(client, count: cells ?? 1)
        } catch {
            return redisUnavailable("\(error)")
        }
        guard case let .limited(retryAfter) = decision else { return nil }
        return rateLimited(retryAfter: retryAfter, cells: cells)
    }

    /// The 429 of a client over the cluster-wide submission limit.
    private func rateLimited(retryAfter: Duration, cells: Int?) -> HTTPResponse {
        let seconds = max(1, (retryAfter.roundedUpMilliseconds + 999) / 1000)
        let matrix = cells.map { " This matrix counts as \($0) submissions, one per cell (more than a burst at once only when the client has submitted nothing for a burst's time); nothing of it was stored." } ?? ""
        let limit = rateLimiter.map { "at most \($0.submitsPerSecond) per second, in bursts of up to \($0.burst)" } ?? "the limit"
        return .error(429, "rate_limited", "Too many submissions from this client address (an IPv6 address counts by its /64) across all hosts: \(limit).\(matrix) Retry after \(seconds) s, and space submissions out.",
                      headers: [("Retry-After", String(seconds))])
    }

    /// A submission with `?wait=`: the job once it is finished (200, the body of
    /// a status read), or as it is after `wait` (202 and its `Location`). The job
    /// is accepted whatever happens next, so a read that fails answers 202 with
    /// the job as submitted rather than an error a client would submit again for;
    /// its status read then names the failure. In plain text or SARIF when `answer` says so. A
    /// job `answered` from the verdict cache is finished already and needs no read.
    private func submitted(
        _ job: CompilationJob, id: JobID, waitingUpTo wait: Duration, answer: String?, answered: (CompilationJob, CompilationResult)?
    ) -> HTTPResponse {
        var (current, result) = (job, CompilationResult?.none)
        current.id = id
        if let answered {
            (current, result) = answered
        } else if let found = try? readJob(id, wait: wait) {
            (current, result) = found
        }
        if answer == MediaType.plainText { return PlainTextAnswer.response(job: current, result: result, location: location(of: id)) }
        guard current.status.isTerminal else {
            return .json(202, body: JobResponse(job: current, result: nil).body, headers: [location(of: id)])
        }
        if answer == MediaType.sarif, let result { return SARIFAnswer.response(job: current, result: result) }
        return .json(200, body: JobResponse(job: current, result: result).body)
    }

    func invalid(_ error: RequestValidationError) -> HTTPResponse {
        let details = error.problems.map { ErrorDetail(field: $0.field, message: $0.message) }
        if error.isOnlyTooLarge {
            return .error(413, "source_too_large", error.description, details: details)
        }
        return .error(400, "invalid_request", error.description, details: details)
    }
}
