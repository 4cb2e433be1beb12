public import FoundationEssentials
import POSIXSupport
import Synchronization
public import WillItCompile

/// A `JobStore` in this process's memory, with the same keys, TTLs and
/// transition rules as `RedisJobStore`. Nothing survives the process.
///
/// Like a Redis at its `maxmemory`, a store holding `maxBytes` of jobs and results
/// refuses new jobs (`.full`) and still takes every transition of the jobs it holds.
public final class MemoryJobStore: JobStore {
    private let state = Mutex(Keyspace())
    /// Broadcast after every move to a terminal status, for long polls.
    private let verdictStored = Condition()
    /// Long polls waiting on `verdictStored`, for tests.
    private let waiting = Atomic<Int>(0)
    private let ttl: TimeInterval
    private let maxBytes: Int
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - ttlHours: lifetime of every key, as `REDIS_JOB_TTL_HOURS`.
    ///   - maxBytes: how much of jobs and results (sources, outputs, and a fixed
    ///     amount per key) the store holds before it refuses new jobs.
    ///   - now: the clock; tests inject one they can advance.
    public init(ttlHours: Int, maxBytes: Int = .max, now: @escaping @Sendable () -> Date = { Date() }) {
        self.ttl = TimeInterval(ttlHours) * 3600
        self.maxBytes = maxBytes
        self.now = now
    }

    public func create(_ job: CompilationJob) throws(JobStoreError) {
        try withKeyspace { keys, now throws(JobStoreError) in
            guard keys.get(JobKeys.job(job.id), now: now) == nil else { throw .duplicate(job.id) }
            // Expired keys still counted would refuse a job there is room for: dropped
            // here beyond `withKeyspace`'s batch, but only until there is room.
            while keys.bytes >= maxBytes, keys.dropExpired(now: now) > 0 {}
            guard keys.bytes < maxBytes else {
                throw .full("the worker's memory store holds \(keys.bytes) bytes of jobs, its bound (MEMORY_STORE_MAX_MB) is \(maxBytes)")
            }
            keys.store(job, now: now, expiresAt: now + ttl)
        }
    }

    public func job(_ id: JobID) throws(JobStoreError) -> CompilationJob? {
        try withKeyspace { keys, now in
            guard case let .job(job)? = keys.get(JobKeys.job(id), now: now) else { return nil }
            return job
        }
    }

    public func transition(
        _ id: JobID, to status: JobStatus, at date: Date, result: CompilationResult?
    ) throws(JobStoreError) -> TransitionOutcome {
        try checkResultFits(status, result, id: id)
        let outcome = try withKeyspace { keys, now throws(JobStoreError) -> TransitionOutcome in
            guard case let .job(job)? = keys.get(JobKeys.job(id), now: now) else { throw .notFound(id) }
            guard let next = job.transitioned(to: status, at: date) else {
                return .refused(current: job.status)
            }
            keys.set(JobKeys.job(id), .job(next), expiresAt: now + ttl)
            keys.removeFromIndex(id, job.status, now: now)
            keys.addToIndex(id, status, now: now, expiresAt: now + ttl)
            if let result {
                keys.set(JobKeys.result(id), .result(result), expiresAt: now + ttl)
            }
            return .applied
        }
        if outcome == .applied, status.isTerminal { announceVerdicts() }
        return outcome
    }

    /// This process's own verdict cache: what this worker compiled, for its own submissions.
    public func cacheVerdict(_ result: CompilationResult, status: JobStatus, under key: VerdictKey) throws(JobStoreError) {
        try checkCacheable(status)
        var compiled = result
        compiled.cached = false
        try withKeyspace { keys, now throws(JobStoreError) in
            guard keys.bytes < maxBytes else {
                throw .full("the worker's memory store holds \(keys.bytes) bytes, its bound (MEMORY_STORE_MAX_MB) is \(maxBytes)")
            }
            keys.set(JobKeys.verdict(key), .verdict(compiled, status), expiresAt: now + ttl)
        }
    }

    public func answerFromCache(_ job: CompilationJob, key: VerdictKey, at date: Date) throws(JobStoreError) -> (JobStatus, CompilationResult)? {
        let answer = try withKeyspace { keys, now throws(JobStoreError) -> (JobStatus, CompilationResult)? in
            guard case let .verdict(verdict, status)? = keys.get(JobKeys.verdict(key), now: now) else { return nil }
            guard keys.get(JobKeys.job(job.id), now: now) == nil else { throw .duplicate(job.id) }
            guard keys.bytes < maxBytes else {
                throw .full("the worker's memory store holds \(keys.bytes) bytes of jobs, its bound (MEMORY_STORE_MAX_MB) is \(maxBytes)")
            }
            return keys.store(job, answeredWith: verdict, status, at: date, now: now, expiresAt: now + ttl)
        }
        if answer != nil { announceVerdicts() }
        return answer
    }

    public func createMatrix(
        _ matrix: CompilationMatrix, cells: [MatrixCellJob], at date: Date
    ) throws(JobStoreError) -> [(JobStatus, CompilationResult)?] {
        let answers = try withKeyspace { keys, now throws(JobStoreError) -> [(JobStatus, CompilationResult)?] in
            guard keys.get(JobKeys.matrix(matrix.id), now: now) == nil else { throw .duplicate(matrix.id) }
            if let taken = cells.first(where: { keys.get(JobKeys.job($0.job.id), now: now) != nil }) { throw .duplicate(taken.job.id) }
            while keys.bytes >= maxBytes, keys.dropExpired(now: now) > 0 {}
            guard keys.bytes < maxBytes else {
                throw .full("the worker's memory store holds \(keys.bytes) bytes of jobs, its bound (MEMORY_STORE_MAX_MB) is \(maxBytes)")
            }
            keys.set(JobKeys.matrix(matrix.id), .matrix(matrix), expiresAt: now + ttl)
            return cells.map { cell in
                if let key = cell.cacheKey, case let .verdict(verdict, status)? = keys.get(JobKeys.verdict(key), now: now) {
                    return keys.store(cell.job, answeredWith: verdict, status, at: date, now: now, expiresAt: now + ttl)
                }
                keys.store(cell.job, now: now, expiresAt: now + ttl)
                return nil
            }
        }
        if answers.contains(where: { $0 != nil }) { announceVerdicts() }
        return answers
    }

    public func matrix(_ id: JobID) throws(JobStoreError) -> CompilationMatrix? {
        try withKeyspace { keys, now in
            guard case let .matrix(matrix)? = keys.get(JobKeys.matrix(id), now: now) else { return nil }
            return matrix
        }
    }

    /// Wakes the long polls: a verdict was stored.
    private func announceVerdicts() {
        verdictStored.lock()
        verdictStored.broadcast()
        verdictStored.unlock()
    }

    public func jobWithResult(
        _ id: JobID, waitingUpTo timeout: Duration
    ) throws(JobStoreError) -> (CompilationJob, CompilationResult?)? {
        guard timeout > .zero else { return try jobWithResult(id) }
        let deadline = ContinuousClock.now + timeout
        // Holding the condition's lock from the check to the wait: a verdict
        // stored in between broadcasts only once this thread waits.
        verdictStored.lock()
        defer { verdictStored.unlock() }
        while true {
            let found = try jobWithResult(id)
            guard let (job, _) = found, !job.status.isTerminal else { return found }
            waiting.add(1, ordering: .sequentiallyConsistent)
            let woken = verdictStored.wait(until: deadline)
            waiting.subtract(1, ordering: .sequentiallyConsistent)
            if !woken { return try jobWithResult(id) }
        }
    }

    /// How many long polls are waiting for a verdict right now.
    var waitingLongPolls: Int {
        // Under the lock, a poll counted here is inside `wait`: a verdict stored now wakes it.
        verdictStored.lock()
        defer { verdictStored.unlock() }
        return waiting.load(ordering: .sequentiallyConsistent)
    }

    public func result(_ id: JobID) throws(JobStoreError) -> CompilationResult? {
        try withKeyspace { keys, now in
            guard case let .result(result)? = keys.get(JobKeys.result(id), now: now) else { return nil }
            return result
        }
    }

    public func jobIDs(withStatus status: JobStatus) throws(JobStoreError) -> Set<JobID> {
        try withKeyspace { keys, now in
            guard case let .index(ids)? = keys.get(JobKeys.statusIndex(status), now: now) else { return [] }
            return ids
        }
    }

    /// An expired job leaves its status index as its key is dropped, which every call
    /// does (a batch at most), this one too. Returns how many ids left an index so
    /// since the last call.
    public func pruneIndexes() throws(JobStoreError) -> Int {
        try withKeyspace { keys, _ in keys.takeIdsUnindexed() }
    }

    public func lifetime(ofKey key: String) throws(JobStoreError) -> KeyLifetime {
        try withKeyspace { keys, now in
            guard keys.get(key, now: now) != nil, let expiresAt = keys.entries[key]?.expiresAt else {
                return .missing
            }
            return .expires(in: .milliseconds(Int64((expiresAt.timeIntervalSince(now) * 1000).rounded())))
        }
    }

    public func close() {
        state.withLock { keys in
            keys = Keyspace()
            keys.closed = true
        }
    }

    private func withKeyspace<T>(
        _ body: (inout Keyspace, Date) throws(JobStoreError) -> T
    ) throws(JobStoreError) -> T {
        let now = now()
        let outcome: Result<T, JobStoreError> = state.withLock { keys in
            guard !keys.closed else { return .failure(.closed) }
            keys.dropExpired(now: now)
            do throws(JobStoreError) {
                return .success(try body(&keys, now))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}

/// Redis-like keys with expiry. An expired key is gone for every reader at once:
/// every call first drops keys that expired, found in the order they expire, a
/// bounded batch, so the work is the number of expired keys, never all of them,
/// and even after an idle TTL a call holds the store's lock briefly.
/// A job leaves its status index as its key is dropped, so the indexes hold live
/// jobs only and need no pruning.
private struct Keyspace {
    enum Value {
        case job(CompilationJob)
        case result(CompilationResult)
        case index(Set<JobID>)
        /// A cached verdict: the compiled job's result and status.
        case verdict(CompilationResult, JobStatus)
        case matrix(CompilationMatrix)
    }

    struct Entry {
        var value: Value
        var expiresAt: Date
    }

    /// A job, result or verdict key's expiry, as it was written.
    struct Expiry {
        var expiresAt: Date
        var key: String
    }

    /// Changed only through `set`, `remove` and `dropExpired`, which keep `bytes` in step.
    private(set) var entries: [String: Entry] = [:]
    var closed = false
    /// Roughly what the values take: their sources and outputs, and a fixed amount per key.
    private(set) var bytes = 0
    /// Every write of a job or result key, in the order written, from `expiriesHead` on.
    /// Every key gets the same TTL, so this is the order they expire in (should the
    /// clock step back, a key is dropped a little late, never early). A key written
    /// again is written here again; its earlier expiry is then passed over.
    /// Status indexes are not here: an index's expiry is at least its newest job's,
    /// so it empties, and goes, as its jobs expire.
    private var expiries: [Expiry] = []
    private var expiriesHead = 0
    /// Ids that left a status index as their job expired, since `takeIdsUnindexed`.
    private var idsUnindexed = 0

    mutating func get(_ key: String, now: Date) -> Value? {
        guard let entry = entries[key] else { return nil }
        guard entry.expiresAt > now else {
            dropExpiredKey(key, now: now)
            return nil
        }
        return entry.value
    }

    mutating func set(_ key: String, _ value: Value, expiresAt: Date) {
        remove(key)
        entries[key] = Entry(value: value, expiresAt: expiresAt)
        bytes += value.bytes
        switch value {
        case .job, .result, .verdict, .matrix: expiries.append(Expiry(expiresAt: expiresAt, key: key))
        case .index: break
        }
    }

    mutating func remove(_ key: String) {
        guard let removed = entries.removeValue(forKey: key) else { return }
        bytes -= removed.value.bytes
    }

    mutating func addToIndex(_ id: JobID, _ status: JobStatus, now: Date, expiresAt: Date) {
        let key = JobKeys.statusIndex(status)
        var ids: Set<JobID> = []
        if case let .index(existing)? = get(key, now: now) {
            ids = existing
            remove(key)  // the set is then this function's alone: inserting does not copy it
        }
        ids.insert(id)
        set(key, .index(ids), expiresAt: expiresAt)
    }

    /// - Returns: whether `id` was in the index.
    @discardableResult
    mutating func removeFromIndex(_ id: JobID, _ status: JobStatus, now: Date) -> Bool {
        let key = JobKeys.statusIndex(status)
        guard case var .index(ids)? = get(key, now: now) else { return false }
        let expiresAt = entries[key]!.expiresAt
        remove(key)  // as in addToIndex: removing does not copy the set
        let removed = ids.remove(id) != nil
        // Like Redis, an empty set is no key at all.
        if !ids.isEmpty { set(key, .index(ids), expiresAt: expiresAt) }
        return removed
    }

    /// Drops keys that expired by `now`, the oldest first: one step per expired key.
    /// - Returns: how many expiries it went through, at most `dropBatch`.
    @discardableResult
    mutating func dropExpired(now: Date) -> Int {
        let start = expiriesHead
        while expiriesHead < expiries.count, expiriesHead - start < Self.dropBatch, expiries[expiriesHead].expiresAt <= now {
            let key = expiries[expiriesHead].key
            expiriesHead += 1
            // Written again since (a later expiry), or dropped by a read already: passed over.
            if let entry = entries[key], entry.expiresAt <= now { dropExpiredKey(key, now: now) }
        }
        let wentThrough = expiriesHead - start
        if expiriesHead == expiries.count {
            expiries.removeAll()
            expiriesHead = 0
        } else if expiriesHead > 1024, expiriesHead * 2 > expiries.count {
            expiries.removeFirst(expiriesHead)
            expiriesHead = 0
        }
        return wentThrough
    }

    /// Expiries `dropExpired` goes through per call: some milliseconds.
    static let dropBatch = 1000

    /// Drops an expired key; a job leaves its status index with it.
    private mutating func dropExpiredKey(_ key: String, now: Date) {
        guard let dropped = entries[key] else { return }
        remove(key)
        if case let .job(job) = dropped.value, removeFromIndex(job.id, job.status, now: now) {
            idsUnindexed += 1
        }
    }

    /// A new job, in its status's index.
    mutating func store(_ job: CompilationJob, now: Date, expiresAt: Date) {
        set(JobKeys.job(job.id), .job(job), expiresAt: expiresAt)
        addToIndex(job.id, job.status, now: now, expiresAt: expiresAt)
    }

    /// A new job finished at `date` with a cached verdict, which becomes its result (its id, `cached`).
    mutating func store(
        _ job: CompilationJob, answeredWith verdict: CompilationResult, _ status: JobStatus, at date: Date, now: Date, expiresAt: Date
    ) -> (JobStatus, CompilationResult) {
        var result = verdict
        result.jobID = job.id
        result.cached = true
        set(JobKeys.job(job.id), .job(job.finished(status, at: date)), expiresAt: expiresAt)
        set(JobKeys.result(job.id), .result(result), expiresAt: expiresAt)
        addToIndex(job.id, status, now: now, expiresAt: expiresAt)
        return (status, result)
    }

    mutating func takeIdsUnindexed() -> Int {
        defer { idsUnindexed = 0 }
        return idsUnindexed
    }
}

extension Keyspace.Value {
    /// What the value takes, roughly: its variable parts, and a fixed amount for the rest.
    var bytes: Int {
        switch self {
        case let .job(job):
            512 + job.request.source.count + job.request.flags.reduce(0) { $0 + $1.utf8.count }
                + job.request.files.reduce(0) { $0 + 64 + $1.name.utf8.count + $1.content.count }
        case let .result(result), let .verdict(result, _):
            512 + result.stdout.utf8.count + result.stderr.utf8.count + result.error.utf8.count
                + result.diagnostics.reduce(0) { $0 + 96 + $1.message.utf8.count + ($1.file?.utf8.count ?? 0) + ($1.option?.utf8.count ?? 0) }
        case let .index(ids): 64 * ids.count
        case let .matrix(matrix): 256 + 128 * matrix.cells.count
        }
    }
}
