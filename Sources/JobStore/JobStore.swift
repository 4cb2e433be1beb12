public import FoundationEssentials
public import WillItCompile

/// Why a store operation did not happen. An outage is never reported as "not found".
public enum JobStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The backing service cannot be reached, failed mid-operation, timed out, or
    /// answered that it cannot serve yet (Redis still loading its data after a
    /// restart, say): an outage, which ends by itself (HTTP 503).
    case unavailable(String)
    /// The backing service is reachable and refused the operation with an error of
    /// its own (a Redis error reply that is no outage, or a reply of an unexpected
    /// shape): repeating the operation gets the same answer (HTTP 503).
    case rejected(String)
    /// The store is at its memory bound and takes no new job (HTTP 503 `store_full`).
    /// Nothing of the refused job was written; jobs already stored still move on.
    case full(String)
    /// `create` was given an id that already exists.
    case duplicate(JobID)
    /// A transition named a job that does not exist (or has expired).
    case notFound(JobID)
    /// Stored data could not be read back (a key written by something else).
    case corrupt(key: String, reason: String)
    /// The caller broke the operation's contract (for example a terminal status without a result).
    case invalidArgument(String)
    /// The store was closed.
    case closed

    public var description: String {
        switch self {
        case let .unavailable(reason): "job store unavailable: \(reason)"
        case let .rejected(reason): "job store refused the operation: \(reason)"
        case let .full(reason): "job store full: \(reason)"
        case let .duplicate(id): "job \(id) already exists"
        case let .notFound(id): "job \(id) does not exist"
        case let .corrupt(key, reason): "stored data at \(key) is unreadable: \(reason)"
        case let .invalidArgument(reason): "invalid store operation: \(reason)"
        case .closed: "job store is closed"
        }
    }
}

/// What a transition did.
public enum TransitionOutcome: Sendable, Equatable {
    case applied
    /// The lifecycle forbids the move from the job's current status, which is unchanged.
    /// This is how a late write (a "processing" after "completed") ends.
    case refused(current: JobStatus)
}

/// What `JobStore.statusJSON` found.
public enum StatusJSON: Sendable, Equatable {
    /// The status body, the same bytes as the models would give.
    case body([UInt8])
    case notFound
    /// This store, or this job's stored data, needs the model path: `jobWithResult`.
    case useModel
}

/// How long a key has left to live.
public enum KeyLifetime: Sendable, Equatable {
    case missing
    /// The key exists with no expiry (a bug for any key a job writes).
    case persistent
    case expires(in: Duration)
}

/// Where jobs and results live. Implementations are safe to call from many threads.
///
/// Every key a job writes (see `JobKeys`) expires after the store's TTL, counted
/// from the job's latest write.
public protocol JobStore: Sendable {
    /// Stores a new job in its current status (normally `queued`).
    /// Either all of the job is stored or none of it.
    /// - Throws: `.duplicate` if the id exists; `.full` when the store is at its
    ///   memory bound; `.unavailable` on an outage.
    func create(_ job: CompilationJob) throws(JobStoreError)

    /// The job, or nil when the id is unknown or expired.
    /// - Throws: `.unavailable` on an outage (never nil for that).
    func job(_ id: JobID) throws(JobStoreError) -> CompilationJob?

    /// Moves a job to `status` at `date`, atomically with its status index and,
    /// for a terminal status, its result. `processing` stamps `started_at`; a
    /// terminal status stamps `completed_at`. Moves the lifecycle forbids are
    /// refused and change nothing.
    /// A store at its memory bound still applies it: a job once accepted always gets its verdict.
    /// - Parameter result: required for a terminal status, nil otherwise.
    /// - Throws: `.notFound` for an unknown job, `.invalidArgument` when `result`
    ///   does not fit `status`, `.unavailable` on an outage.
    func transition(
        _ id: JobID, to status: JobStatus, at date: Date, result: CompilationResult?
    ) throws(JobStoreError) -> TransitionOutcome

    /// The result of a finished job, or nil when there is none (yet, or any more).
    func result(_ id: JobID) throws(JobStoreError) -> CompilationResult?

    /// The job and, once it is terminal, its result: what a status read needs.
    /// The request comes without its source (`source` is empty): no status read
    /// shows it, and decoding it would cost every poll. Stores that can fetch
    /// both in one round trip override this.
    func jobWithResult(_ id: JobID) throws(JobStoreError) -> (CompilationJob, CompilationResult?)?

    /// `jobWithResult` of each of `ids`, by id (a job that does not exist is absent). Stores
    /// that can fetch them all in one round trip override this: a matrix read needs every cell.
    func jobsWithResults(_ ids: [JobID]) throws(JobStoreError) -> [JobID: (CompilationJob, CompilationResult?)]

    /// The JSON body of the job's status (`GET /api/v1/compile/{id}`), written straight
    /// from what is stored, for stores that keep it as text; `.useModel` where the caller
    /// reads it with `jobWithResult` and writes it from the models.
    func statusJSON(_ id: JobID) throws(JobStoreError) -> StatusJSON

    /// `jobWithResult` once the job is terminal or `timeout` has passed, whichever
    /// comes first: a long poll. An unknown or already terminal job answers at once.
    /// The verdict is noticed the moment it is stored, without polling.
    func jobWithResult(_ id: JobID, waitingUpTo timeout: Duration) throws(JobStoreError) -> (CompilationJob, CompilationResult?)?

    /// The ids in one status index.
    func jobIDs(withStatus status: JobStatus) throws(JobStoreError) -> Set<JobID>

    /// Removes from the status indexes the ids whose job has expired, a bounded
    /// batch per call, continuing where the last call stopped, so that the indexes
    /// hold live jobs only (every write renews an index's TTL, so a busy index
    /// never expires as a whole). Works also when the store is full.
    /// - Returns: how many ids it removed.
    func pruneIndexes() throws(JobStoreError) -> Int

    /// Keeps a verdict under `key` for the store's TTL, replacing what was there, so
    /// that `answerFromCache` answers identical requests with it. Only `completed` and
    /// `failed` are cached: a `timeout` or an `error` says nothing certain about the code.
    /// A store at its memory bound refuses it (`.full`), as it refuses a new job.
    /// - Throws: `.invalidArgument` for another status.
    func cacheVerdict(_ result: CompilationResult, status: JobStatus, under key: VerdictKey) throws(JobStoreError)

    /// When `key` holds a verdict: stores `job` already finished with it, in the cached
    /// verdict's status, `started_at` and `completed_at` at `date`, its result that
    /// verdict with the job's id and `cached` set, all in one step; returns that result.
    /// nil, with nothing written, when `key` holds no verdict.
    /// - Throws: as `create`: `.duplicate`, `.full`, `.unavailable`.
    func answerFromCache(_ job: CompilationJob, key: VerdictKey, at date: Date) throws(JobStoreError) -> (JobStatus, CompilationResult)?

    /// Stores a compile matrix and its cells' jobs, all or nothing: a cell whose `cacheKey`
    /// holds a verdict is stored finished with it at `date`, as `answerFromCache` stores a job,
    /// every other cell as `create` stores it; the record under `matrix:{id}`, for the TTL.
    /// - Returns: per cell, its cached status and result, or nil when it was stored as it is.
    /// - Throws: `.duplicate` when the matrix or a cell's job exists, `.full`, `.unavailable`;
    ///   then nothing is written.
    func createMatrix(_ matrix: CompilationMatrix, cells: [MatrixCellJob], at date: Date) throws(JobStoreError) -> [(JobStatus, CompilationResult)?]

    /// The matrix, or nil when the id is unknown or expired.
    func matrix(_ id: JobID) throws(JobStoreError) -> CompilationMatrix?

    /// The remaining lifetime of one of the keys in `JobKeys`, for operators and tests.
    func lifetime(ofKey key: String) throws(JobStoreError) -> KeyLifetime

    /// Releases connections. Later calls throw `.closed`.
    func close()
}

/// The key names of the data model, shared with the Go predecessor.
public enum JobKeys {
    public static let jobPrefix = "job:"
    public static func job(_ id: JobID) -> String { jobPrefix + id.description }
    public static func result(_ id: JobID) -> String { "result:\(id)" }
    public static let statusIndexPrefix = "job:index:status:"
    public static func statusIndex(_ status: JobStatus) -> String { statusIndexPrefix + status.rawValue }
    /// A cached verdict, named by its `VerdictKey`: the result's fields, and `status`.
    public static func verdict(_ key: VerdictKey) -> String { "verdict:\(key.digest)" }
    /// A compile matrix: its cells and their jobs (`CompilationMatrix`, JSON).
    public static func matrix(_ id: JobID) -> String { "matrix:\(id)" }
    /// The pub/sub channel on which a job's terminal status is published (not a key).
    public static func verdictChannel(_ id: JobID) -> String { "job:verdict:\(id)" }
}

/// One cell of a matrix to store: its job, and the verdict key to answer it from (nil: `cache: false`).
public struct MatrixCellJob: Sendable {
    public var job: CompilationJob
    public var cacheKey: VerdictKey?

    public init(job: CompilationJob, cacheKey: VerdictKey?) {
        self.job = job
        self.cacheKey = cacheKey
    }
}

extension JobStore {
    public func statusJSON(_ id: JobID) throws(JobStoreError) -> StatusJSON { .useModel }

    public func jobWithResult(_ id: JobID) throws(JobStoreError) -> (CompilationJob, CompilationResult?)? {
        guard var job = try job(id) else { return nil }
        job.request = job.request.withoutSources
        return (job, job.status.isTerminal ? try result(id) : nil)
    }

    public func jobsWithResults(_ ids: [JobID]) throws(JobStoreError) -> [JobID: (CompilationJob, CompilationResult?)] {
        var found: [JobID: (CompilationJob, CompilationResult?)] = [:]
        for id in ids {
            if let jobAndResult = try jobWithResult(id) { found[id] = jobAndResult }
        }
        return found
    }

    /// Only a verdict about the code itself is cached.
    func checkCacheable(_ status: JobStatus) throws(JobStoreError) {
        guard status == .completed || status == .failed else {
            throw .invalidArgument("a \(status.rawValue) verdict is not cached; only completed and failed are")
        }
    }

    /// Checks the contract between a status and a result shared by every implementation.
    func checkResultFits(_ status: JobStatus, _ result: CompilationResult?, id: JobID) throws(JobStoreError) {
        if status.isTerminal, result == nil {
            throw .invalidArgument("terminal status \(status.rawValue) needs a result")
        }
        if !status.isTerminal, result != nil {
            throw .invalidArgument("status \(status.rawValue) takes no result")
        }
        if let result, result.jobID != id {
            throw .invalidArgument("result for job \(result.jobID) given for job \(id)")
        }
    }
}
