import FoundationEssentials
import JobStore
import WillItCompile
import WorkerClient

/// `GET /api/v1/compile/{job_id}[?wait=S]`: the job, and once it is finished its
/// result; with `wait`, a long poll for the verdict. In JSON, plain text or SARIF, as `Accept` asks.
extension APIHandler {
    /// A long poll waits in slices this long, so a stopping process answers its
    /// polls (with the job as it is) within one slice instead of cutting them off.
    static let longPollSlice = Duration.seconds(1)

    func job(_ idText: String, _ request: HTTPRequest) -> HTTPResponse {
        guard let id = JobID(idText) else {
            return .error(400, "invalid_job_id", "`\(idText)` is not a job id; job ids are UUIDs such as 3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c.")
        }
        // Checked before the job is looked up: a bad wait is the same answer for any id.
        let wait: Duration
        do {
            wait = try WaitParameter.duration(from: request.queryValues("wait")) ?? .zero
        } catch {
            return invalidWait(error)
        }
        let mediaType = MediaType.preferred(by: request.accept, among: [MediaType.json, MediaType.plainText, MediaType.sarif])
        // The hot path of polling clients: JSON written straight from the store.
        if wait == .zero, mediaType != MediaType.plainText, mediaType != MediaType.sarif, let store {
            do {
                switch try store.statusJSON(id) {
                case let .body(body): return .json(200, body: body)
                case .notFound: return jobNotFound(id)
                case .useModel: break
                }
            } catch {
                return redisUnavailable("\(error)")
            }
        }
        let found: (CompilationJob, CompilationResult?)?
        do {
            found = try readJob(id, wait: wait)
        } catch let error as JobStoreError {
            return redisUnavailable("\(error)")
        } catch {
            return workerUnavailable(error)
        }
        guard let (job, result) = found else { return jobNotFound(id) }
        switch mediaType {
        case MediaType.plainText?:
            return PlainTextAnswer.response(job: job, result: result, location: location(of: id))
        case MediaType.sarif?:
            // Diagnostics exist once the job is finished: until then, the job as it is.
            guard job.status.isTerminal, let result else {
                return .json(202, body: JobResponse(job: job, result: nil).body, headers: [location(of: id)])
            }
            return SARIFAnswer.response(job: job, result: result)
        default:
            return .json(200, body: JobResponse(job: job, result: job.status.isTerminal ? result : nil).body)
        }
    }

    private func jobNotFound(_ id: JobID) -> HTTPResponse {
        .error(404, "job_not_found", "No job \(id): it never existed or expired after \(configuration.redis.jobTTLHours) h.")
    }

    func location(of id: JobID) -> (String, String) {
        ("Location", "/api/v1/compile/\(id)")
    }

    /// The job, after waiting up to `wait` for its verdict when a waiting slot is free.
    func readJob(_ id: JobID, wait: Duration) throws -> (CompilationJob, CompilationResult?)? {
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

    private func fetchJob(_ id: JobID, waitingUpTo wait: Duration) throws -> (CompilationJob, CompilationResult?)? {
        if let store {
            return wait > .zero ? try store.jobWithResult(id, waitingUpTo: wait) : try store.jobWithResult(id)
        }
        let channel = wait > .zero ? workers.longPolls : workers.requests
        switch try channel.send(.readJob(id, waitMilliseconds: wait.roundedUpMilliseconds)) {
        case let .job(job?, result): return (job, result)
        case .job(nil, _): return nil
        case let .failure(failure): throw WorkerUnreachable(description: failure.message)
        case let other: throw WorkerUnreachable(description: "unexpected reply \(other)")
        }
    }
}
