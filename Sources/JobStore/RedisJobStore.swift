public import FoundationEssentials
import Synchronization
public import WillItCompile

/// A `JobStore` in Redis, in the predecessor's data model:
///
/// - `job:{id}` hash: `id`, `request` (JSON), `status`, `created_at`, `started_at`, `completed_at`,
///   and `host` (the worker that owns the job; new, ignored by the predecessor)
/// - `result:{id}` hash: `job_id`, `success`, `compiled`, `stdout`, `stderr`, `exit_code`, `duration`, `error`
///   as the predecessor wrote them; then `artifact`, `diagnostics` (a JSON array), `error_count`, `warning_count`
/// - `job:index:status:{status}` set of ids; a job is in exactly one.
/// - `verdict:{VerdictKey}` hash: a cached verdict, the `result:{id}` fields of the job that
///   was compiled and its `status` (new, unknown to the predecessor).
/// - `matrix:{id}` string: a compile matrix (`CompilationMatrix` as JSON), stored with its cells' jobs.
///
/// Every write of one operation runs in one Lua script, so readers never see a
/// status index and a hash that disagree, and every key it touches gets the TTL.
///
/// A Redis at its `maxmemory` (with `noeviction`) refuses a new job whole
/// (`.full`) but still takes the transitions of jobs it holds: see `Scripts`.
public final class RedisJobStore: JobStore {
    let pool: RedisConnectionPool
    let ttlSeconds: Int
    /// Where `pruneIndexes` continues in each index: an SSCAN cursor.
    private let pruneCursors = Mutex<[JobStatus: String]>([:])
    /// How many members one `pruneIndexes` call asks SSCAN for, per index.
    static let pruneBatch = 1000

    /// Connects lazily: the first call that needs Redis opens a connection.
    public init(configuration: RedisConfiguration) {
        pool = RedisConnectionPool(configuration: configuration)
        ttlSeconds = configuration.jobTTLSeconds
    }

    /// Round trip to Redis, for health checks.
    /// - Throws: `.unavailable` naming the address and the cause.
    public func ping() throws(JobStoreError) {
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["PING"])
        }
        try check(reply, doing: "PING")
    }

    public func create(_ job: CompilationJob) throws(JobStoreError) {
        let id = job.id
        let fields = JobHash.fields(of: job)
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(
                Scripts.create,
                keys: [bytes(JobKeys.job(id)), bytes(JobKeys.statusIndex(job.status))],
                arguments: [bytes(String(ttlSeconds)), bytes(id.description)] + fields)
        }
        try check(reply, doing: "create \(id)")
        if reply == .integer(0) { throw .duplicate(id) }
    }

    public func job(_ id: JobID) throws(JobStoreError) -> CompilationJob? {
        let key = JobKeys.job(id)
        guard let hash = try hashAll(key) else { return nil }
        return try JobHash.job(from: hash, key: key, withSource: true)
    }

    public func transition(
        _ id: JobID, to status: JobStatus, at date: Date, result: CompilationResult?
    ) throws(JobStoreError) -> TransitionOutcome {
        try checkResultFits(status, result, id: id)
        let arguments = Self.transitionArguments(id, to: status, at: date, result: result, ttlSeconds: ttlSeconds)
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(
                Scripts.transition, keys: [bytes(JobKeys.job(id)), bytes(JobKeys.result(id))],
                arguments: arguments)
        }
        return try transitionOutcome(of: reply, id: id, status: status)
    }

    /// The arguments of `Scripts.transitionFunction`.
    static func transitionArguments(
        _ id: JobID, to status: JobStatus, at date: Date, result: CompilationResult?, ttlSeconds: Int,
        extraJobFields: [[UInt8]] = [], from predecessors: [JobStatus]? = nil
    ) -> [[UInt8]] {
        var jobFields = [bytes("status"), bytes(status.rawValue)] + extraJobFields
        if status == .processing { jobFields += [bytes("started_at"), bytes(Timestamp.format(date))] }
        if status.isTerminal { jobFields += [bytes("completed_at"), bytes(Timestamp.format(date))] }
        let resultFields = result.map(ResultHash.fields(of:)) ?? []
        let predecessors = (predecessors ?? status.allowedPredecessors).map(\.rawValue).joined(separator: ",")
        return [
            bytes(String(ttlSeconds)), bytes(id.description), bytes(status.rawValue),
            bytes(JobKeys.statusIndexPrefix), bytes(predecessors), bytes(JobKeys.verdictChannel(id)),
            bytes(String(jobFields.count / 2)),
        ] + jobFields + resultFields
    }

    /// What a script ending in `transition(…)` answered.
    func transitionOutcome(of reply: RedisValue, id: JobID, status: JobStatus) throws(JobStoreError) -> TransitionOutcome {
        try check(reply, doing: "transition \(id) to \(status.rawValue)")
        guard case let .array(items) = reply else {
            throw .rejected("unexpected reply to transition of \(id): \(reply)")
        }
        switch items.map(\.text) {
        case ["applied"]:
            return .applied
        case ["missing"]:
            throw .notFound(id)
        case let texts where texts.count == 2 && texts[0] == "unreadable":
            throw .corrupt(key: JobKeys.job(id), reason: "it holds a \(texts[1] ?? "value") instead of a job hash (WRONGTYPE)")
        case let texts where texts.count == 2 && texts[0] == "refused":
            guard let current = texts[1].flatMap(JobStatus.init(rawValue:)) else {
                throw .corrupt(key: JobKeys.job(id), reason: "unknown status \(texts[1] ?? "")")
            }
            return .refused(current: current)
        default:
            throw .rejected("unexpected reply to transition of \(id): \(reply)")
        }
    }

    public func cacheVerdict(_ result: CompilationResult, status: JobStatus, under key: VerdictKey) throws(JobStoreError) {
        try checkCacheable(status)
        let name = JobKeys.verdict(key)
        var compiled = result
        compiled.cached = false
        let fields = ResultHash.fields(of: compiled) + [bytes("status"), bytes(status.rawValue)]
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(Scripts.cacheVerdict, keys: [bytes(name)], arguments: [bytes(String(ttlSeconds))] + fields)
        }
        try check(reply, doing: "cache the verdict \(key)", on: name)
    }

    /// Counted in no host's counters: in Redis mode a submission is answered by the queue's
    /// script (`RedisWorkQueue.submit`) or a responder's (`SubmissionGate`), which count it.
    public func answerFromCache(_ job: CompilationJob, key: VerdictKey, at date: Date) throws(JobStoreError) -> (JobStatus, CompilationResult)? {
        var jobFields = JobHash.fields(of: job.finished(job.status, at: date))
        // The script sets the status: the cached verdict's.
        if let status = stride(from: 0, to: jobFields.count, by: 2).first(where: { jobFields[$0] == bytes("status") }) {
            jobFields.removeSubrange(status...(status + 1))
        }
        let id = job.id
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(
                Scripts.answerFromCache,
                keys: [bytes(JobKeys.verdict(key)), bytes(JobKeys.job(id)), bytes(JobKeys.result(id))],
                arguments: [bytes(String(ttlSeconds)), bytes(id.description), bytes(JobKeys.statusIndexPrefix),
                            bytes(""), bytes(JobKeys.verdictChannel(id))] + jobFields)
        }
        try check(reply, doing: "answer \(id) from the verdict cache")
        switch reply {
        case .integer(0):
            return nil
        case .integer(-1):
            throw .duplicate(id)
        case .array:
            return try cachedAnswer(reply, of: id, key: JobKeys.verdict(key))
        default:
            throw .rejected("unexpected reply to answering \(id) from the verdict cache: \(reply)")
        }
    }

    /// A job's answer from the verdict cache, as the scripts return it: {status, the result's field/value pairs}.
    func cachedAnswer(_ reply: RedisValue, of id: JobID, key: String) throws(JobStoreError) -> (JobStatus, CompilationResult) {
        guard case let .array(items) = reply, items.count == 2 else {
            throw .rejected("unexpected reply to answering \(id) from the verdict cache: \(reply)")
        }
        guard let status = items[0].text.flatMap(JobStatus.init(rawValue:)) else {
            throw .corrupt(key: key, reason: "unknown status \(items[0])")
        }
        guard let hash = try hash(from: items[1], key: JobKeys.result(id)) else {
            throw .corrupt(key: key, reason: "empty verdict")
        }
        return (status, try ResultHash.result(from: hash, key: JobKeys.result(id)))
    }

    public func createMatrix(
        _ matrix: CompilationMatrix, cells: [MatrixCellJob], at date: Date
    ) throws(JobStoreError) -> [(JobStatus, CompilationResult)?] {
        let arguments = try matrixArguments(matrix, cells: cells, at: date, counters: nil)
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(Scripts.createMatrix, keys: [], arguments: arguments)
        }
        try check(reply, doing: "store the matrix \(matrix.id)")
        guard case let .array(items) = reply, items.count == 2, let outcome = items[0].text else {
            throw .rejected("unexpected reply to storing the matrix \(matrix.id): \(reply)")
        }
        return try matrixOutcome(outcome, items[1], of: matrix, cells: cells)
    }

    /// The arguments `matrixCells` (`Scripts.matrixFunctions`) reads: ttl, index prefix,
    /// counters hash (or ''), the time, the matrix key and its JSON, the cell count, then
    /// per cell its id, offer, verdict key (or '') and its job's field count and fields.
    func matrixArguments(
        _ matrix: CompilationMatrix, cells: [MatrixCellJob], at date: Date, counters: String?
    ) throws(JobStoreError) -> [[UInt8]] {
        var arguments = [
            bytes(String(ttlSeconds)), bytes(JobKeys.statusIndexPrefix), bytes(counters ?? ""), bytes(Timestamp.format(date)),
            bytes(JobKeys.matrix(matrix.id)), matrix.storedJSON, bytes(String(cells.count)),
        ]
        for cell in cells {
            let fields = JobHash.fields(of: cell.job)
            arguments += [bytes(cell.job.id.description), bytes(RedisWorkQueue.offer(of: cell.job.request)),
                          bytes(cell.cacheKey.map(JobKeys.verdict) ?? ""), bytes(String(fields.count))] + fields
        }
        return arguments
    }

    /// What a matrix script's `{'stored' | 'accepted', answers}` or `{'duplicate', key}` means.
    func matrixOutcome(
        _ outcome: String, _ detail: RedisValue, of matrix: CompilationMatrix, cells: [MatrixCellJob]
    ) throws(JobStoreError) -> [(JobStatus, CompilationResult)?] {
        if outcome == "duplicate" {
            throw .duplicate(detail.text.flatMap { JobID(String($0.drop { $0 != ":" }.dropFirst())) } ?? matrix.id)
        }
        guard case let .array(answers) = detail, answers.count == cells.count else {
            throw .rejected("unexpected reply to storing the matrix \(matrix.id): \(outcome) \(detail)")
        }
        var stored: [(JobStatus, CompilationResult)?] = []
        for (cell, answer) in zip(cells, answers) {
            if case let .array(items) = answer, items.isEmpty {
                stored.append(nil)
            } else {
                stored.append(try cachedAnswer(answer, of: cell.job.id, key: cell.cacheKey.map(JobKeys.verdict) ?? ""))
            }
        }
        return stored
    }

    public func matrix(_ id: JobID) throws(JobStoreError) -> CompilationMatrix? {
        let key = JobKeys.matrix(id)
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["GET", key])
        }
        try check(reply, doing: "GET \(key)", on: key)
        switch reply {
        case .null: return nil
        case let .bulk(json):
            do {
                return try CompilationMatrix(storedJSON: json)
            } catch {
                throw .corrupt(key: key, reason: "\(error)")
            }
        default: throw .corrupt(key: key, reason: "not a string")
        }
    }

    /// Both hashes in one pipelined round trip.
    public func jobWithResult(_ id: JobID) throws(JobStoreError) -> (CompilationJob, CompilationResult?)? {
        let jobKey = JobKeys.job(id), resultKey = JobKeys.result(id)
        let replies = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.pipeline([[bytes("HGETALL"), bytes(jobKey)], [bytes("HGETALL"), bytes(resultKey)]])
        }
        for (reply, key) in zip(replies, [jobKey, resultKey]) { try check(reply, doing: "HGETALL \(key)", on: key) }
        guard let jobHash = try hash(from: replies[0], key: jobKey) else { return nil }
        let job = try JobHash.job(from: jobHash, key: jobKey, withSource: false)
        guard job.status.isTerminal, let resultHash = try hash(from: replies[1], key: resultKey) else { return (job, nil) }
        return (job, try ResultHash.result(from: resultHash, key: resultKey))
    }

    /// Every job's two hashes in one pipelined round trip.
    public func jobsWithResults(_ ids: [JobID]) throws(JobStoreError) -> [JobID: (CompilationJob, CompilationResult?)] {
        guard !ids.isEmpty else { return [:] }
        let keys = ids.flatMap { [JobKeys.job($0), JobKeys.result($0)] }
        let replies = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.pipeline(keys.map { [bytes("HGETALL"), bytes($0)] })
        }
        var found: [JobID: (CompilationJob, CompilationResult?)] = [:]
        for (index, id) in ids.enumerated() {
            let (jobKey, resultKey) = (keys[2 * index], keys[2 * index + 1])
            let (jobReply, resultReply) = (replies[2 * index], replies[2 * index + 1])
            try check(jobReply, doing: "HGETALL \(jobKey)", on: jobKey)
            try check(resultReply, doing: "HGETALL \(resultKey)", on: resultKey)
            guard let jobHash = try hash(from: jobReply, key: jobKey) else { continue }
            let job = try JobHash.job(from: jobHash, key: jobKey, withSource: false)
            guard job.status.isTerminal, let resultHash = try hash(from: resultReply, key: resultKey) else {
                found[id] = (job, nil)
                continue
            }
            found[id] = (job, try ResultHash.result(from: resultHash, key: resultKey))
        }
        return found
    }

    /// Both hashes in one pipelined round trip, the body written from hiredis's reply
    /// (`StoredStatusBody`). Data that is not as this store writes it (an error reply,
    /// another type, a field it does not know how to show) goes the model path, which
    /// reads it again and answers or refuses it as it always has.
    public func statusJSON(_ id: JobID) throws(JobStoreError) -> StatusJSON {
        let commands = [[bytes("HGETALL"), bytes(JobKeys.job(id))], [bytes("HGETALL"), bytes(JobKeys.result(id))]]
        return try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.pipelineReadingHashes(commands) { replies in
                guard case let .hash(job) = replies[0], case let .hash(result) = replies[1] else { return .useModel }
                guard !job.isEmpty else { return .notFound }
                return StoredStatusBody.write(job: job, result: result).map(StatusJSON.body) ?? .useModel
            }
        }
    }

    /// Subscribes to the job's verdict channel on a connection of its own (a
    /// subscribed connection can do nothing else), reads again to close the race
    /// with a verdict stored before the subscription, then waits for the message.
    public func jobWithResult(
        _ id: JobID, waitingUpTo timeout: Duration
    ) throws(JobStoreError) -> (CompilationJob, CompilationResult?)? {
        let deadline = ContinuousClock.now + timeout
        let first = try jobWithResult(id)
        guard let (job, _) = first, !job.status.isTerminal, timeout > .zero else { return first }
        let address = pool.configuration.address
        let channel = JobKeys.verdictChannel(id)
        let subscriber = try pool.dedicatedConnection()
        let reply: RedisValue
        do throws(RedisConnectionError) {
            reply = try subscriber.command(["SUBSCRIBE", channel])
        } catch {
            throw error.storeError(address: address)
        }
        try check(reply, doing: "SUBSCRIBE \(channel)")
        let second = try jobWithResult(id)
        guard let (job, _) = second, !job.status.isTerminal else { return second }
        do throws(RedisConnectionError) {
            _ = try subscriber.nextMessage(timeout: deadline - ContinuousClock.now)
        } catch {
            throw error.storeError(address: address)
        }
        return try jobWithResult(id)
    }

    public func result(_ id: JobID) throws(JobStoreError) -> CompilationResult? {
        let key = JobKeys.result(id)
        guard let hash = try hashAll(key) else { return nil }
        return try ResultHash.result(from: hash, key: key)
    }

    public func jobIDs(withStatus status: JobStatus) throws(JobStoreError) -> Set<JobID> {
        let key = JobKeys.statusIndex(status)
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["SMEMBERS", key])
        }
        try check(reply, doing: "SMEMBERS \(key)", on: key)
        guard case let .array(members) = reply else {
            throw .corrupt(key: key, reason: "not a set")
        }
        return Set(members.compactMap { $0.text.flatMap(JobID.init) })
    }

    public func pruneIndexes() throws(JobStoreError) -> Int {
        var removed = 0
        for status in JobStatus.allCases {
            let key = JobKeys.statusIndex(status)
            let cursor = pruneCursors.withLock { $0[status] ?? "0" }
            let reply = try pool.withConnection { connection throws(RedisConnectionError) in
                try connection.evaluate(
                    Scripts.pruneIndex, keys: [bytes(key)],
                    arguments: [bytes(cursor), bytes(String(Self.pruneBatch)), bytes(JobKeys.jobPrefix)])
            }
            try check(reply, doing: "prune \(key)", on: key)
            guard case let .array(items) = reply, items.count == 2, let next = items[0].text,
                  case let .integer(count) = items[1] else {
                throw .rejected("unexpected reply to pruning \(key): \(reply)")
            }
            pruneCursors.withLock { $0[status] = next }
            removed += Int(count)
        }
        return removed
    }

    public func lifetime(ofKey key: String) throws(JobStoreError) -> KeyLifetime {
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["PTTL", key])
        }
        try check(reply, doing: "PTTL \(key)")
        switch reply {
        case .integer(-2): return .missing
        case .integer(-1): return .persistent
        case let .integer(milliseconds): return .expires(in: .milliseconds(milliseconds))
        default: throw .rejected("unexpected reply to PTTL \(key): \(reply)")
        }
    }

    public func close() {
        pool.close()
    }

    /// HGETALL as a dictionary; nil when the key does not exist.
    private func hashAll(_ key: String) throws(JobStoreError) -> RedisHash? {
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["HGETALL", key])
        }
        try check(reply, doing: "HGETALL \(key)", on: key)
        return try hash(from: reply, key: key)
    }

    /// An HGETALL reply as a hash; nil when the key does not exist.
    func hash(from reply: RedisValue, key: String) throws(JobStoreError) -> RedisHash? {
        guard case let .array(items) = reply, items.count % 2 == 0 else {
            throw .corrupt(key: key, reason: "not a hash")
        }
        guard !items.isEmpty else { return nil }
        var pairs: [(field: [UInt8], value: [UInt8])] = []
        pairs.reserveCapacity(items.count / 2)
        for pair in stride(from: 0, to: items.count, by: 2) {
            guard case let .bulk(field) = items[pair], case let .bulk(value) = items[pair + 1] else {
                throw .corrupt(key: key, reason: "not a hash")
            }
            pairs.append((field, value))
        }
        return RedisHash(pairs: pairs)
    }

    /// Turns an error reply into the error it means. Redis answered, so it is no
    /// outage (`.rejected`: the same command would be refused again), except for
    /// the replies Redis gives while it cannot serve for a while, listed in
    /// `transientErrorReplies` (`.unavailable`).
    /// An OOM reply is `.full`: Redis is at its `maxmemory` and refused the write whole.
    /// A WRONGTYPE reply about `key` means the key holds something else (`.corrupt`).
    func check(_ reply: RedisValue, doing operation: String, on key: String? = nil) throws(JobStoreError) {
        if case let .error(message) = reply {
            let address = pool.configuration.address
            if message.hasPrefix("OOM") {
                throw .full("Redis at \(address) is at its maxmemory and refused \(operation): \(message)")
            }
            if let key, message.hasPrefix("WRONGTYPE") {
                throw .corrupt(key: key, reason: "it holds another type of value than \(operation) reads (\(message))")
            }
            let code = message.prefix { $0 != " " }
            if Self.transientErrorReplies.contains(String(code)) {
                throw .unavailable("Redis at \(address) cannot serve \(operation) yet: \(message)")
            }
            throw .rejected("Redis at \(address) refused \(operation): \(message)")
        }
    }

    /// Error codes with which Redis says it cannot serve now, a state that ends by
    /// itself: loading its data after a restart, a script running too long, a
    /// replica without its master, a cluster slot being moved.
    static let transientErrorReplies: Set<String> = ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"]
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The Lua scripts behind each atomic operation.
///
/// Index keys are built inside the transition script from a prefix, because
/// which index a job leaves is only known there. (This is not Redis Cluster
/// safe; the service uses one Redis, as the architecture says.)
///
/// Each script starts with a shebang (Redis 7), which makes Redis decide about
/// memory once, before the script runs. Without one, Redis refuses only the first
/// write that needs memory once `maxmemory` is reached, and a script could stop
/// half way. `create` has no flags: a full Redis refuses it whole (OOM), so a new
/// job is either stored entirely or not at all. `transition` and `pruneIndex`
/// have `allow-oom`: a job already accepted always gets its verdict, and pruning
/// frees memory, so both must work on a full Redis. What may go over `maxmemory`
/// is then bounded by the verdicts of the jobs in hand.
enum Scripts {
    /// KEYS: job, index of its status. ARGV: ttl, id, then the job's field/value pairs.
    /// Returns 1 when stored, 0 when the id already exists.
    static let create = """
        #!lua
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], unpack(ARGV, 3))
        redis.call('EXPIRE', KEYS[1], ARGV[1])
        redis.call('SADD', KEYS[2], ARGV[2])
        redis.call('EXPIRE', KEYS[2], ARGV[1])
        return 1
        """

    /// KEYS: job, result. ARGV: ttl, id, new status, index prefix, allowed
    /// previous statuses (comma-separated), verdict channel, n, n job field/value
    /// pairs, then the result's field/value pairs (none for a non-terminal status).
    /// A terminal status is published on the verdict channel, for long polls.
    /// Returns {'applied'}, {'missing'}, {'unreadable', type of the job key} or {'refused', current status}.
    static let transition = """
        #!lua flags=allow-oom
        \(transitionFunction)
        return transition(KEYS[1], KEYS[2], ARGV)
        """

    /// `transition(jobKey, resultKey, argv)`, the body of `transition`, for scripts that
    /// move a job along with other writes of their own.
    static let transitionFunction = """
        local function transition(jobKey, resultKey, argv)
            local kind = redis.call('TYPE', jobKey)['ok']
            if kind == 'none' then return {'missing'} end
            if kind ~= 'hash' then return {'unreadable', kind} end
            local current = redis.call('HGET', jobKey, 'status')
            if not current then return {'missing'} end
            local allowed = false
            for status in string.gmatch(argv[5], '[^,]+') do
                if status == current then allowed = true end
            end
            if not allowed then return {'refused', current} end
            local ttl, id, prefix = argv[1], argv[2], argv[4]
            local lastJobField = 7 + 2 * tonumber(argv[7])
            redis.call('HSET', jobKey, unpack(argv, 8, lastJobField))
            redis.call('EXPIRE', jobKey, ttl)
            redis.call('SREM', prefix .. current, id)
            redis.call('SADD', prefix .. argv[3], id)
            redis.call('EXPIRE', prefix .. argv[3], ttl)
            if #argv > lastJobField then
                redis.call('DEL', resultKey)
                redis.call('HSET', resultKey, unpack(argv, lastJobField + 1))
                redis.call('EXPIRE', resultKey, ttl)
                redis.call('PUBLISH', argv[6], argv[3])
            end
            return {'applied'}
        end
        """

    /// KEYS: the verdict. ARGV: ttl, then the verdict's field/value pairs.
    /// No flags: a full Redis refuses it whole, as it refuses a new job.
    static let cacheVerdict = """
        #!lua
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], unpack(ARGV, 2))
        redis.call('EXPIRE', KEYS[1], ARGV[1])
        return 1
        """

    /// KEYS: the verdict, the new job, its result. ARGV: ttl, id, index prefix, counters
    /// hash (or ''), verdict channel, then the job's field/value pairs but its status.
    /// `answerFromCache` when the verdict exists, returning {status, the result's field/value
    /// pairs}. Returns 0 when there is no verdict and -1 when the job exists already; then
    /// nothing is written.
    /// No flags: a full Redis refuses it whole, as it refuses `create`.
    static let answerFromCache = """
        #!lua
        \(answerFromCacheFunction)
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
        return answerFromCache(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[1], ARGV[3], ARGV[4], ARGV[5], {unpack(ARGV, 6)}, nil) or 0
        """

    /// `answerFromCache(verdictKey, jobKey, resultKey, id, ttl, prefix, counters, channel, jobFields, finishedAt)`:
    /// when the verdict exists, stores the job (`jobFields`, then `started_at` and
    /// `completed_at` at `finishedAt` unless nil) in the verdict's status with the verdict as
    /// its result (its own id, `cached` 1), counts it in `counters` (unless ''), publishes it
    /// for long polls, and returns {status, the result's field/value pairs}; else nil.
    static let answerFromCacheFunction = """
        local function answerFromCache(verdictKey, jobKey, resultKey, id, ttl, prefix, counters, channel, jobFields, finishedAt)
            local verdict = redis.call('HGETALL', verdictKey)
            if #verdict == 0 then return nil end
            local status = nil
            local result = {}
            for i = 1, #verdict, 2 do
                local field, value = verdict[i], verdict[i + 1]
                if field == 'status' then
                    status = value
                elseif field ~= 'cached' then
                    if field == 'job_id' then value = id end
                    result[#result + 1] = field
                    result[#result + 1] = value
                end
            end
            if status ~= 'completed' and status ~= 'failed' then return nil end
            result[#result + 1] = 'cached'
            result[#result + 1] = '1'
            redis.call('HSET', jobKey, unpack(jobFields))
            redis.call('HSET', jobKey, 'status', status)
            if finishedAt then redis.call('HSET', jobKey, 'started_at', finishedAt, 'completed_at', finishedAt) end
            redis.call('EXPIRE', jobKey, ttl)
            redis.call('DEL', resultKey)
            redis.call('HSET', resultKey, unpack(result))
            redis.call('EXPIRE', resultKey, ttl)
            redis.call('SADD', prefix .. status, id)
            redis.call('EXPIRE', prefix .. status, ttl)
            if counters ~= '' then redis.call('HINCRBY', counters, 'cached', 1) end
            redis.call('PUBLISH', channel, status)
            return {status, result}
        end
        """

    /// `matrixCells(argv, first)` reads a matrix's cells from `argv` (from `first`, as
    /// `RedisJobStore.matrixArguments` writes them) without writing anything; then
    /// `storeMatrix(argv, first, cells)` stores the matrix and every cell: answered from its
    /// verdict (`cell.answer`, as `answerFromCache`) or as it is, in its status's index. It
    /// returns the key of a matrix or job that exists already, with nothing written, else nil.
    /// Needs `answerFromCacheFunction` before it.
    static let matrixFunctions = """
        local function matrixCells(argv, first)
            local cells = {}
            local i = first + 7
            for c = 1, tonumber(argv[first + 6]) do
                local count = tonumber(argv[i + 3])
                local cell = {id = argv[i], offer = argv[i + 1], verdict = argv[i + 2], fields = {unpack(argv, i + 4, i + 3 + count)}}
                for f = 1, #cell.fields, 2 do
                    if cell.fields[f] == 'status' then cell.status = cell.fields[f + 1] end
                end
                cells[c] = cell
                i = i + 4 + count
            end
            return cells
        end
        local function storeMatrix(argv, first, cells)
            local ttl, prefix, counters, date, matrixKey = argv[first], argv[first + 1], argv[first + 2], argv[first + 3], argv[first + 4]
            if redis.call('EXISTS', matrixKey) == 1 then return matrixKey end
            for _, cell in ipairs(cells) do
                if redis.call('EXISTS', '\(JobKeys.jobPrefix)' .. cell.id) == 1 then return '\(JobKeys.jobPrefix)' .. cell.id end
            end
            for _, cell in ipairs(cells) do
                local jobKey = '\(JobKeys.jobPrefix)' .. cell.id
                if cell.verdict ~= '' then
                    cell.answer = answerFromCache(cell.verdict, jobKey, 'result:' .. cell.id, cell.id, ttl, prefix, counters,
                        'job:verdict:' .. cell.id, cell.fields, date)
                end
                if not cell.answer then
                    redis.call('HSET', jobKey, unpack(cell.fields))
                    redis.call('EXPIRE', jobKey, ttl)
                    redis.call('SADD', prefix .. cell.status, cell.id)
                    redis.call('EXPIRE', prefix .. cell.status, ttl)
                end
            end
            redis.call('SET', matrixKey, argv[first + 5], 'EX', ttl)
            return nil
        end
        local function matrixAnswers(cells)
            local answers = {}
            for c, cell in ipairs(cells) do answers[c] = cell.answer or {} end
            return answers
        end
        """

    /// ARGV: as `matrixCells` reads them, from 1. `storeMatrix`; returns {'stored', per cell
    /// {} or its cached {status, result}} or {'duplicate', key}.
    /// No flags: a full Redis refuses it whole, as it refuses `create`.
    static let createMatrix = """
        #!lua
        \(answerFromCacheFunction)
        \(matrixFunctions)
        local cells = matrixCells(ARGV, 1)
        local duplicate = storeMatrix(ARGV, 1, cells)
        if duplicate then return {'duplicate', duplicate} end
        return {'stored', matrixAnswers(cells)}
        """

    /// KEYS: a status index. ARGV: SSCAN cursor, COUNT, job key prefix.
    /// Removes the scanned ids whose job key is gone. Returns {next cursor, ids removed}.
    static let pruneIndex = """
        #!lua flags=allow-oom
        local scan = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
        local removed = 0
        for _, id in ipairs(scan[2]) do
            if redis.call('EXISTS', ARGV[3] .. id) == 0 then
                removed = removed + redis.call('SREM', KEYS[1], id)
            end
        end
        return {scan[1], removed}
        """
}

/// `job:{id}` fields, as the predecessor wrote them with go-redis.
enum JobHash {
    /// The request's JSON is the one the job arrived with, when it did (a submission's).
    static func fields(of job: CompilationJob) -> [[UInt8]] {
        var fields: [[UInt8]] = [
            bytes("id"), bytes(job.id.description),
            bytes("request"), job.storedRequestJSON ?? job.request.storedJSON,
            bytes("status"), bytes(job.status.rawValue),
            bytes("created_at"), bytes(Timestamp.format(job.createdAt)),
        ]
        if let startedAt = job.startedAt {
            fields += [bytes("started_at"), bytes(Timestamp.format(startedAt))]
        }
        if let completedAt = job.completedAt {
            fields += [bytes("completed_at"), bytes(Timestamp.format(completedAt))]
        }
        if let host = job.host {
            fields += [bytes("host"), bytes(host)]
        }
        // Ours, beside the predecessor's: the host that compiles the job logs it.
        if let requestID = job.requestID {
            fields += [bytes("request_id"), bytes(requestID)]
        }
        return fields
    }

    static func job(from hash: RedisHash, key: String, withSource: Bool) throws(JobStoreError) -> CompilationJob {
        let reader = HashReader(hash: hash, key: key)
        let id = try reader.required("id", JobID.init)
        guard let requestJSON = hash["request"] else { throw .corrupt(key: key, reason: "field request is missing") }
        let request: CompilationRequest
        do {
            request = try CompilationRequest(storedJSON: requestJSON, withSource: withSource)
        } catch {
            throw .corrupt(key: key, reason: "field request: \(error)")
        }
        var job = CompilationJob(
            id: id, request: request,
            status: try reader.required("status") { JobStatus(rawValue: $0) },
            createdAt: try reader.required("created_at", Timestamp.parse),
            startedAt: reader.optional("started_at", Timestamp.parse),
            completedAt: reader.optional("completed_at", Timestamp.parse),
            host: reader.optional("host") { $0 })
        job.requestID = reader.optional("request_id") { $0 }
        return job
    }
}

/// `result:{id}` fields. Booleans are "1"/"0" and durations integer
/// nanoseconds, as go-redis writes `bool` and `time.Duration`.
enum ResultHash {
    static func fields(of result: CompilationResult) -> [[UInt8]] {
        [
            bytes("job_id"), bytes(result.jobID.description),
            bytes("success"), bytes(result.success ? "1" : "0"),
            bytes("compiled"), bytes(result.compiled ? "1" : "0"),
            bytes("stdout"), bytes(result.stdout),
            bytes("stderr"), bytes(result.stderr),
            bytes("exit_code"), bytes(String(result.exitCode)),
            bytes("duration"), bytes(String(result.durationNanoseconds)),
            bytes("error"), bytes(result.error),
            bytes("artifact"), bytes(result.artifact),
            bytes("diagnostics"), Diagnostic.json(result.diagnostics),
            bytes("error_count"), bytes(String(result.errorCount)),
            bytes("warning_count"), bytes(String(result.warningCount)),
        ] + (result.cached ? [bytes("cached"), bytes("1")] : [])
    }

    static func result(from hash: RedisHash, key: String) throws(JobStoreError) -> CompilationResult {
        let reader = HashReader(hash: hash, key: key)
        return CompilationResult(
            jobID: try reader.required("job_id", JobID.init),
            success: try reader.required("success", parseBool),
            compiled: try reader.required("compiled", parseBool),
            stdout: reader.optional("stdout") { $0 } ?? "",
            stderr: reader.optional("stderr") { $0 } ?? "",
            exitCode: try reader.required("exit_code") { Int($0) },
            durationNanoseconds: try reader.required("duration") { Int64($0) },
            error: reader.optional("error") { $0 } ?? "",
            artifact: reader.optional("artifact") { $0 } ?? "",
            diagnostics: DiagnosticSummary(
                diagnostics: hash["diagnostics"].flatMap(Diagnostic.list(fromJSON:)) ?? [],
                errorCount: reader.optional("error_count") { Int($0) } ?? 0,
                warningCount: reader.optional("warning_count") { Int($0) } ?? 0),
            cached: reader.optional("cached", parseBool) ?? false)
    }

    /// Accepts what Go's `strconv.ParseBool` accepts.
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": true
        case "0", "f", "F", "false", "FALSE", "False": false
        default: nil
        }
    }
}

/// The field/value pairs of an HGETALL reply. A job hash has under ten fields,
/// so a linear search beats building a dictionary on every status read.
struct RedisHash {
    let pairs: [(field: [UInt8], value: [UInt8])]

    subscript(field: String) -> [UInt8]? {
        pairs.first { $0.field.elementsEqual(field.utf8) }?.value
    }
}

/// Typed access to hash fields; a missing or unparsable required field is `.corrupt`.
private struct HashReader {
    let hash: RedisHash
    let key: String

    func optional<T>(_ field: String, _ parse: (String) -> T?) -> T? {
        hash[field].flatMap { parse(String(decoding: $0, as: UTF8.self)) }
    }

    func required<T>(_ field: String, _ parse: (String) -> T?) throws(JobStoreError) -> T {
        guard let raw = hash[field] else {
            throw .corrupt(key: key, reason: "field \(field) is missing")
        }
        let text = String(decoding: raw, as: UTF8.self)
        guard let value = parse(text) else {
            throw .corrupt(key: key, reason: "field \(field) has an unreadable value \"\(text.prefix(80))\"")
        }
        return value
    }
}
