public import FoundationEssentials
public import WillItCompile

/// A job taken from the cluster's work queue: leased to this host until it is
/// finished, or until the host stops renewing the lease and another host claims it.
public struct WorkTicket: Sendable, Hashable {
    public let jobID: JobID
    /// The stream it waited in, and its entry there.
    public let stream: String
    public let entryID: String
    /// The key of the client's share (`wic:client:…`).
    public let clientKey: String
    /// How many times the job has been taken, this time included: more than one means
    /// the hosts that took it before stopped before its verdict.
    public let takes: Int
    public let origin: Origin

    /// The offer (toolchain and target) it waited for: its stream's name without prefix and tier.
    public var offer: String {
        let name = stream.dropFirst("wic:queue:".count)
        return String(name[..<(name.lastIndex(of: ":") ?? name.endIndex)])
    }

    public enum Origin: String, Sendable {
        /// Waiting in the queue until now.
        case new
        /// Another host's lease on it ran out.
        case expiredLease = "claimed"
        /// This host held it before its worker restarted.
        case beforeRestart = "own"
    }
}

/// What became of a submission.
public enum QueueAdmission: Sendable, Equatable {
    case accepted
    /// The cluster's waiting jobs reached its capacity.
    case queueFull(waiting: Int, capacity: Int)
    /// The client holds its share of the cluster already.
    case clientLimit(ClientShare)
}

/// What became of a submission that the verdict cache may answer.
public enum QueueSubmission: Sendable, Equatable {
    /// Not answered: taken into the queue, or refused.
    case queued(QueueAdmission)
    /// Stored finished with the cached verdict: its status and its result.
    case answered(JobStatus, CompilationResult)
}

/// Where a submission looks for its verdict first, and how a job it answers is stored.
public struct VerdictLookup: Sendable {
    public var key: VerdictKey
    /// The hash whose field `cached` counts the answer (a host's counters).
    public var counters: String
    /// The host that answers, stored as the job's `host`.
    public var host: String
    /// When the job is answered: its `started_at` and `completed_at`.
    public var date: Date

    public init(key: VerdictKey, counters: String, host: String, date: Date) {
        self.key = key
        self.counters = counters
        self.host = host
        self.date = date
    }
}

/// The cluster's shared work queue in Redis: Streams with one consumer group.
///
/// - One stream per toolchain offer (language, toolchain id, target) and fairness
///   tier: `wic:queue:{c/gcc-12/x86_64-linux}:{tier}`. A host reads only the streams
///   of what it offers, so a job never goes to a host that cannot compile it. The tier
///   is how many jobs the client held in the cluster when it submitted (0, 1, 2 and
///   more): every client's first job is taken before anyone's second.
/// - `wic:queue:waiting`: entries not yet taken, per stream: the cluster's queue length.
/// - `wic:client:{identity}`: the client's jobs that are waiting or compiling, so the
///   per-client share holds across hosts.
/// - A taken entry stays pending under this host's name (its consumer) until its
///   verdict: that is the lease. `renew` keeps it; an entry idle longer than the
///   lease is claimed by the next host that takes work.
/// - `wic:host:{id}:counters`: each host's verdict counters.
///
/// Every operation is one Lua script. Streams are created with the group on the first
/// submission and never expire; their entries are deleted once acknowledged. (Keys are
/// built inside the scripts: like the transition script, not Redis Cluster safe.)
public final class RedisWorkQueue: Sendable {
    private let store: RedisJobStore
    /// This host's consumer name: its `WORKER_HOST_ID`.
    public let consumer: String
    private let leaseMilliseconds: Int

    public static let group = "workers"
    public static let doorbellChannel = "wic:queue:doorbell"
    static let waitingKey = "wic:queue:waiting"
    /// Every offer a job was ever submitted for: where jobs may wait that no live host offers.
    static let offersKey = "wic:queue:offers"
    static let tiers = 3

    public init(store: RedisJobStore, consumer: String, leaseSeconds: Int) {
        self.store = store
        self.consumer = consumer
        self.leaseMilliseconds = leaseSeconds * 1000
    }

    /// The queue name of one thing a host can compile: `c/gcc-12/x86_64-linux`.
    public static func offer(language: Language, toolchain: String, architecture: String, os: String) -> String {
        "\(language.rawValue)/\(toolchain)/\(architecture)-\(os)"
    }

    /// The queue name a request goes to; `compiler` is resolved already.
    public static func offer(of request: CompilationRequest) -> String {
        offer(language: request.language, toolchain: request.compiler ?? "", architecture: request.architecture ?? "x86_64",
              os: request.os ?? "linux")
    }

    /// Every queue name of these toolchains, each target of each.
    public static func offers(of toolchains: [Toolchain]) -> [String] {
        toolchains.flatMap { toolchain in
            toolchain.targets.map {
                offer(language: toolchain.spec.language, toolchain: toolchain.spec.id, architecture: $0.architecture, os: $0.os)
            }
        }
    }

    public static func countersKey(host: String) -> String { "wic:host:\(host):counters" }
    /// The digest of the host's `VerdictCacheTerms` while its worker runs (`publishVerdictCacheTerms`).
    public static func verdictCacheTermsKey(host: String) -> String { "wic:host:\(host):verdict-terms" }
    /// How long a host's published terms outlive its last heartbeat.
    static let verdictCacheTermsSeconds = 10
    static func clientKey(_ client: ClientIdentity?) -> String { "wic:client:\(client?.rawValue ?? "-")" }

    /// Stores the job as queued and puts it in its stream, all or nothing, unless the
    /// cluster's queue is full (`capacity` waiting jobs; 0: no bound) or the client
    /// holds `perClientLimit` jobs already.
    /// - Throws: `.duplicate`, `.full` (Redis at its memory bound), `.unavailable`.
    public func submit(
        _ job: CompilationJob, client: ClientIdentity?, perClientLimit: Int, capacity: Int
    ) throws(JobStoreError) -> QueueAdmission {
        guard case let .queued(admission) = try submit(job, client: client, perClientLimit: perClientLimit, capacity: capacity, answeringFrom: nil) else {
            throw .rejected("submitting \(job.id) without a verdict lookup was answered from the verdict cache")
        }
        return admission
    }

    /// `submit`, but first, in the same script, the verdict cache under `lookup`: a job whose
    /// verdict it holds is stored finished with it (as `RedisJobStore.answerFromCache` stores
    /// it) and never queued, whatever the queue and the client's share hold. One round trip
    /// for both, where a lookup and then a submission took two.
    public func submit(
        _ job: CompilationJob, client: ClientIdentity?, perClientLimit: Int, capacity: Int, answeringFrom lookup: VerdictLookup?
    ) throws(JobStoreError) -> QueueSubmission {
        let fields = JobHash.fields(of: job)
        let arguments = [
            bytes(String(store.ttlSeconds)), bytes(job.id.description), bytes(Self.clientKey(client)),
            bytes(String(perClientLimit)), bytes(String(capacity)), bytes(Self.offer(of: job.request)),
            bytes(lookup?.counters ?? ""), bytes(JobKeys.verdictChannel(job.id)), bytes(lookup?.host ?? ""),
            bytes(lookup.map { Timestamp.format($0.date) } ?? ""), bytes(JobKeys.statusIndexPrefix),
        ] + fields
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(
                Scripts.submit,
                keys: [bytes(JobKeys.job(job.id)), bytes(JobKeys.statusIndex(job.status)),
                       bytes(lookup.map { JobKeys.verdict($0.key) } ?? ""), bytes(JobKeys.result(job.id))],
                arguments: arguments)
        }
        try store.check(reply, doing: "submit \(job.id)")
        guard case let .array(items) = reply, let outcome = items.first?.text else {
            throw .rejected("unexpected reply to submitting \(job.id): \(reply)")
        }
        if outcome == "answered", items.count == 2, let lookup {
            let (status, result) = try store.cachedAnswer(items[1], of: job.id, key: JobKeys.verdict(lookup.key))
            return .answered(status, result)
        }
        let numbers = Self.integers(in: items.dropFirst())
        switch (outcome, numbers.count) {
        case ("accepted", 0): return .queued(.accepted)
        case ("duplicate", 0): throw .duplicate(job.id)
        case ("queue_full", 1): return .queued(.queueFull(waiting: numbers[0], capacity: capacity))
        case ("client_limit", 2): return .queued(.clientLimit(ClientShare(jobs: numbers[0], waiting: numbers[1], limit: perClientLimit)))
        default: throw .rejected("unexpected reply to submitting \(job.id): \(reply)")
        }
    }

    /// Stores the matrix and its cells as `RedisJobStore.createMatrix` does and puts every
    /// cell the verdict cache did not answer in its stream, all or nothing, unless those cells
    /// do not fit in the cluster's queue or the client's share (see `Scripts.submitMatrix`).
    /// - Returns: the admission and, when accepted, each cell's cached answer or nil.
    /// - Throws: `.duplicate`, `.full` (Redis at its memory bound), `.unavailable`.
    public func submitMatrix(
        _ matrix: CompilationMatrix, cells: [MatrixCellJob], client: ClientIdentity?, perClientLimit: Int, capacity: Int,
        countingIn counters: String, at date: Date
    ) throws(JobStoreError) -> (QueueAdmission, [(JobStatus, CompilationResult)?]) {
        let arguments = [bytes(Self.clientKey(client)), bytes(String(perClientLimit)), bytes(String(capacity))]
            + (try store.matrixArguments(matrix, cells: cells, at: date, counters: counters))
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(Scripts.submitMatrix, keys: [], arguments: arguments)
        }
        try store.check(reply, doing: "submit the matrix \(matrix.id)")
        guard case let .array(items) = reply, let outcome = items.first?.text else {
            throw .rejected("unexpected reply to submitting the matrix \(matrix.id): \(reply)")
        }
        let numbers = Self.integers(in: items.dropFirst())
        switch (outcome, numbers.count) {
        case ("queue_full", 1): return (.queueFull(waiting: numbers[0], capacity: capacity), [])
        case ("client_limit", 2): return (.clientLimit(ClientShare(jobs: numbers[0], waiting: numbers[1], limit: perClientLimit)), [])
        case ("accepted", 0) where items.count == 2, ("duplicate", 0) where items.count == 2:
            return (.accepted, try store.matrixOutcome(outcome, items[1], of: matrix, cells: cells))
        default: throw .rejected("unexpected reply to submitting the matrix \(matrix.id): \(reply)")
        }
    }

    /// The integers of a script's reply, in order.
    private static func integers(in items: ArraySlice<RedisValue>) -> [Int] {
        items.compactMap { item -> Int? in
            if case let .integer(value) = item { return Int(value) }
            return nil
        }
    }

    /// What a take found in the job it took.
    public enum TakenJob: Sendable {
        /// Marked `processing` by this host, in the same step as the take.
        case started(CompilationJob)
        /// Taken more than `maxTakes` times: not started, for the caller to end as error.
        case exhausted(CompilationJob)
        /// It has its verdict already.
        case finished(JobStatus)
        /// Gone from the store (expired).
        case missing
        /// Its stored data cannot be read.
        case unreadable(key: String, reason: String)
    }

    /// Takes the next job for this host among `offers` and, in the same script, marks it
    /// `processing` by this host (`host`, `started_at` = `date`, also over an earlier
    /// host's start); nil when none waits.
    ///
    /// With `claiming`, first a job whose lease ran out, then one this host's consumer
    /// held before it started (`ownIdle`: how long this process has run; the entries it
    /// took itself were touched since). Otherwise, or when there is none, the oldest
    /// entry of the lowest tier.
    public func take(
        offers: [String], claiming: Bool, ownIdle: Duration, maxTakes: Int, at date: Date
    ) throws(JobStoreError) -> (WorkTicket, TakenJob)? {
        let arguments = [
            bytes(consumer), bytes(String(leaseMilliseconds)), bytes(claiming ? "1" : "0"),
            bytes(String(max(1, ownIdle.roundedUpMilliseconds))), bytes(String(maxTakes)),
            bytes(String(store.ttlSeconds)), bytes(JobKeys.statusIndexPrefix), bytes(Timestamp.format(date)),
        ] + offers.map(bytes)
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(Scripts.take, keys: [], arguments: arguments)
        }
        try store.check(reply, doing: "take a job")
        guard case let .array(items) = reply, let outcome = items.first?.text else {
            throw .rejected("unexpected reply to taking a job: \(reply)")
        }
        if outcome == "none" { return nil }
        guard items.count == 8, let origin = WorkTicket.Origin(rawValue: outcome), let stream = items[1].text,
              let entryID = items[2].text, let jobID = items[3].text.flatMap(JobID.init), let clientKey = items[4].text,
              case let .integer(takes) = items[5], let state = items[6].text else {
            throw .rejected("unexpected reply to taking a job: \(reply)")
        }
        let ticket = WorkTicket(jobID: jobID, stream: stream, entryID: entryID, clientKey: clientKey, takes: Int(takes), origin: origin)
        let key = JobKeys.job(jobID)
        switch state {
        case "missing":
            return (ticket, .missing)
        case "unreadable":
            return (ticket, .unreadable(key: key, reason: "it holds a \(items[7].text ?? "value") instead of a job hash"))
        case "finished":
            guard let status = items[7].text.flatMap(JobStatus.init(rawValue:)) else {
                return (ticket, .unreadable(key: key, reason: "unknown status \(items[7].text ?? "")"))
            }
            return (ticket, .finished(status))
        case "started", "exhausted":
            do {
                guard let hash = try store.hash(from: items[7], key: key) else { return (ticket, .missing) }
                let job = try JobHash.job(from: hash, key: key, withSource: true)
                return (ticket, state == "started" ? .started(job) : .exhausted(job))
            } catch .corrupt(let key, let reason) {
                return (ticket, .unreadable(key: key, reason: reason))
            }
        default:
            throw .rejected("unexpected reply to taking a job: \(reply)")
        }
    }

    /// Renews the leases of the jobs this host holds. Returns those it no longer holds
    /// (another host claimed them after this one failed to renew in time).
    public func renew(_ tickets: [WorkTicket]) throws(JobStoreError) -> [WorkTicket] {
        guard !tickets.isEmpty else { return [] }
        let arguments = [bytes(consumer)] + tickets.flatMap { [bytes($0.stream), bytes($0.entryID)] }
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(Scripts.renew, keys: [], arguments: arguments)
        }
        try store.check(reply, doing: "renew leases")
        guard case let .array(lost) = reply else { throw .rejected("unexpected reply to renewing leases: \(reply)") }
        let lostIDs = Set(lost.compactMap(\.text))
        return tickets.filter { lostIDs.contains($0.entryID) }
    }

    /// Stores the verdict, and in the same script acknowledges and deletes the entry,
    /// releases the client's share and counts the verdict for this host. A job that is
    /// terminal already (another host's compile of it finished first) keeps its verdict,
    /// and the refused one is not counted.
    /// - Parameter counted: false for a job taken and not compiled (gone, or finished already).
    public func finish(
        _ ticket: WorkTicket, status: JobStatus, result: CompilationResult, at date: Date, counted: Bool = true
    ) throws(JobStoreError) -> TransitionOutcome {
        try store.checkResultFits(status, result, id: ticket.jobID)
        let arguments = [
            bytes(ticket.stream), bytes(ticket.entryID), bytes(ticket.clientKey),
            bytes(Self.countersKey(host: consumer)), bytes(counted ? HostCounters.field(of: status) : ""),
            bytes(String(result.durationNanoseconds)),
        ] + RedisJobStore.transitionArguments(ticket.jobID, to: status, at: date, result: result, ttlSeconds: store.ttlSeconds)
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(
                Scripts.finish, keys: [bytes(JobKeys.job(ticket.jobID)), bytes(JobKeys.result(ticket.jobID))],
                arguments: arguments)
        }
        return try store.transitionOutcome(of: reply, id: ticket.jobID, status: status)
    }

    /// Jobs waiting in the whole cluster's queue.
    public func waitingCount() throws(JobStoreError) -> Int {
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["HVALS", Self.waitingKey])
        }
        try store.check(reply, doing: "HVALS \(Self.waitingKey)", on: Self.waitingKey)
        guard case let .array(values) = reply else { throw .corrupt(key: Self.waitingKey, reason: "not a hash") }
        return values.compactMap { $0.text.flatMap(Int.init) }.reduce(0, +)
    }

    /// Every offer a job was ever submitted for.
    public func knownOffers() throws(JobStoreError) -> Set<String> {
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["SMEMBERS", Self.offersKey])
        }
        try store.check(reply, doing: "SMEMBERS \(Self.offersKey)", on: Self.offersKey)
        guard case let .array(members) = reply else { throw .corrupt(key: Self.offersKey, reason: "not a set") }
        return Set(members.compactMap(\.text))
    }

    /// A host's counters as Redis holds them (zero for a host never seen).
    public func counters(of host: String) throws(JobStoreError) -> HostCounters {
        let key = Self.countersKey(host: host)
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["HGETALL", key])
        }
        try store.check(reply, doing: "HGETALL \(key)", on: key)
        guard case let .array(items) = reply, items.count % 2 == 0 else { throw .corrupt(key: key, reason: "not a hash") }
        var counters = HostCounters()
        for pair in stride(from: 0, to: items.count, by: 2) {
            guard let field = items[pair].text, let value = items[pair + 1].text.flatMap(Int64.init) else { continue }
            switch field {
            case "processed": counters.processed = Int(value)
            case "successful": counters.successful = Int(value)
            case "failed": counters.failed = Int(value)
            case "timeout": counters.timeout = Int(value)
            case "errors": counters.errors = Int(value)
            case "compile_nanoseconds": counters.compileNanoseconds = value
            case "cached": counters.cached = Int(value)
            default: continue
            }
        }
        return counters
    }

    /// Says in Redis, for `verdictCacheTermsSeconds`, under which terms this host's verdicts
    /// are keyed: responders answer from the verdict cache in its name only while these hold.
    public func publishVerdictCacheTerms(_ terms: VerdictCacheTerms) throws(JobStoreError) {
        let key = Self.verdictCacheTermsKey(host: consumer)
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["SET", key, terms.digest, "EX", String(Self.verdictCacheTermsSeconds)])
        }
        try store.check(reply, doing: "SET \(key)", on: key)
    }

    /// Counts one more start of this host's worker (`starts` beside its counters);
    /// returns how many starts that makes.
    public func countStart() throws(JobStoreError) -> Int {
        let key = Self.countersKey(host: consumer)
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.command(["HINCRBY", key, "starts", "1"])
        }
        try store.check(reply, doing: "HINCRBY \(key) starts", on: key)
        guard case let .integer(starts) = reply else { throw .corrupt(key: key, reason: "starts is not a number") }
        return Int(starts)
    }

    /// Waits for submissions anywhere in the cluster: a subscription to the doorbell
    /// channel on a connection of its own. Blocks until a message comes (true), or the
    /// connection fails or is silent for `timeout` (false: subscribe again).
    public func doorbell() throws(JobStoreError) -> Doorbell {
        let connection = try store.pool.dedicatedConnection()
        let address = store.pool.configuration.address
        let reply: RedisValue
        do throws(RedisConnectionError) {
            reply = try connection.command(["SUBSCRIBE", Self.doorbellChannel])
        } catch {
            throw error.storeError(address: address)
        }
        try store.check(reply, doing: "SUBSCRIBE \(Self.doorbellChannel)")
        return Doorbell(connection: connection)
    }

    /// A subscription to the doorbell; used by one thread.
    public final class Doorbell {
        private let connection: RedisConnection

        init(connection: RedisConnection) {
            self.connection = connection
        }

        /// The offer of the next submission; nil when none came within `timeout` or the
        /// connection failed: the subscription is then over.
        public func next(timeout: Duration) -> String? {
            guard let message = try? connection.nextMessage(timeout: timeout) else { return nil }
            guard case let .array(parts) = message, parts.count == 3 else { return "" }
            return parts[2].text ?? ""
        }
    }
}

extension Scripts {
    /// KEYS: job, queued index, verdict ('': no lookup), result. ARGV: ttl, id, client key,
    /// per-client limit, capacity (0: none), offer, counters hash, verdict channel, answering
    /// host, answering time, status index prefix, then the job's field/value pairs. With a
    /// verdict key whose verdict exists, the job is stored answered (`answerFromCache`) and
    /// not queued. No flags: a full Redis refuses it whole.
    /// Returns {'answered', {status, the result's field/value pairs}}, {'accepted'},
    /// {'duplicate'}, {'queue_full', waiting} or {'client_limit', held, waiting}.
    static let submit = """
        #!lua
        \(queueFunctions)
        \(answerFromCacheFunction)
        local ttl, id, clientKey, offer = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
        local limit, capacity = tonumber(ARGV[4]), tonumber(ARGV[5])
        if KEYS[3] ~= '' then
            if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate'} end
            local answered = {unpack(ARGV, 12)}
            answered[#answered + 1] = 'host'
            answered[#answered + 1] = ARGV[9]
            local answer = answerFromCache(KEYS[3], KEYS[1], KEYS[4], id, ttl, ARGV[11], ARGV[7], ARGV[8], answered, ARGV[10])
            if answer then return {'answered', answer} end
        end
        local waiting = waitingJobs()
        if capacity > 0 and waiting >= capacity then return {'queue_full', waiting} end
        local held, clientWaiting = clientJobs(clientKey)
        if held >= limit then return {'client_limit', held, clientWaiting} end
        if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate'} end
        redis.call('HSET', KEYS[1], unpack(ARGV, 12))
        redis.call('EXPIRE', KEYS[1], ttl)
        redis.call('SADD', KEYS[2], id)
        redis.call('EXPIRE', KEYS[2], ttl)
        enqueue(id, offer, clientKey, held, ttl)
        return {'accepted'}
        """

    /// `waitingJobs()`: the cluster's queue length. `clientJobs(clientKey)`: how many jobs
    /// the client holds, and how many of them wait. `enqueue(id, offer, clientKey, held, ttl)`:
    /// puts a stored job in its offer's stream, in the tier of a client holding `held` jobs,
    /// counts it in the client's share and rings the doorbell.
    static let queueFunctions = """
        local function waitingJobs()
            local waiting = 0
            for _, count in ipairs(redis.call('HVALS', '\(RedisWorkQueue.waitingKey)')) do
                waiting = waiting + tonumber(count)
            end
            return waiting
        end
        local function clientJobs(clientKey)
            local clientWaiting = 0
            for _, state in ipairs(redis.call('HVALS', clientKey)) do
                if state == 'waiting' then clientWaiting = clientWaiting + 1 end
            end
            return redis.call('HLEN', clientKey), clientWaiting
        end
        local function enqueue(id, offer, clientKey, held, ttl)
            local stream = 'wic:queue:' .. offer .. ':' .. math.min(held, \(RedisWorkQueue.tiers - 1))
            if redis.call('EXISTS', stream) == 0 then
                redis.call('XGROUP', 'CREATE', stream, '\(RedisWorkQueue.group)', '0', 'MKSTREAM')
            end
            redis.call('XADD', stream, '*', 'id', id, 'client', clientKey)
            redis.call('HINCRBY', '\(RedisWorkQueue.waitingKey)', stream, 1)
            redis.call('SADD', '\(RedisWorkQueue.offersKey)', offer)
            redis.call('HSET', clientKey, id, 'waiting')
            redis.call('EXPIRE', clientKey, ttl)
            redis.call('PUBLISH', '\(RedisWorkQueue.doorbellChannel)', offer)
        end
        """

    /// ARGV: client key, per-client limit, capacity (0: none), then from 4 a matrix's
    /// cells as `matrixCells` reads them. The cells the verdict cache cannot answer must fit:
    /// in the queue (`capacity` waiting jobs) and in the client's share (`limit` jobs), each
    /// unless that is empty: a matrix larger than a whole share or queue is taken only by an
    /// empty one. Then `storeMatrix`, and every cell not answered goes in its stream, each one
    /// tier further, as one job after another would. No flags: a full Redis refuses it whole.
    /// Returns {'accepted', per cell {} or its cached {status, result}}, {'duplicate', key},
    /// {'queue_full', waiting} or {'client_limit', held, waiting}.
    static let submitMatrix = """
        #!lua
        \(queueFunctions)
        \(Scripts.answerFromCacheFunction)
        \(Scripts.matrixFunctions)
        local clientKey, limit, capacity = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
        local cells = matrixCells(ARGV, 4)
        local compiles = 0
        for _, cell in ipairs(cells) do
            if cell.verdict == '' or redis.call('EXISTS', cell.verdict) == 0 then compiles = compiles + 1 end
        end
        local waiting = waitingJobs()
        if compiles > 0 and capacity > 0 and waiting > 0 and waiting + compiles > capacity then return {'queue_full', waiting} end
        local held, clientWaiting = clientJobs(clientKey)
        if compiles > 0 and held > 0 and held + compiles > limit then return {'client_limit', held, clientWaiting} end
        local duplicate = storeMatrix(ARGV, 4, cells)
        if duplicate then return {'duplicate', duplicate} end
        for _, cell in ipairs(cells) do
            if not cell.answer then
                enqueue(cell.id, cell.offer, clientKey, held, ARGV[4])
                held = held + 1
            end
        end
        return {'accepted', matrixAnswers(cells)}
        """

    /// ARGV: consumer, lease in ms, claim expired leases ('1') or not, this process's
    /// age in ms, most takes, ttl, status index prefix, the time, then the offers.
    /// allow-oom: a full Redis must still drain its queue.
    /// Returns {'none'} or {how, stream, entry id, job id, client key, takes, state, detail}:
    /// state 'started' or 'exhausted' with the job's HGETALL, 'finished' with its status,
    /// 'missing', or 'unreadable' with the key's type.
    static let take = """
        #!lua flags=allow-oom
        \(transitionFunction)
        local group, consumer, lease, ownIdle = '\(RedisWorkQueue.group)', ARGV[1], ARGV[2], ARGV[4]
        local maxTakes, ttl, prefix, now = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
        local firstOffer = 9
        local function taken(how, stream, entry)
            local id, client = '', ''
            local fields = entry[2]
            for i = 1, #fields, 2 do
                if fields[i] == 'id' then id = fields[i + 1] elseif fields[i] == 'client' then client = fields[i + 1] end
            end
            local pending = redis.call('XPENDING', stream, group, entry[1], entry[1], 1)
            local takes = pending[1] and pending[1][4] or 1
            local head = {how, stream, entry[1], id, client, takes}
            local jobKey = 'job:' .. id
            local kind = redis.call('TYPE', jobKey)['ok']
            if kind == 'none' then return head, 'missing', '' end
            if kind ~= 'hash' then return head, 'unreadable', kind end
            local status = redis.call('HGET', jobKey, 'status')
            if status == 'completed' or status == 'failed' or status == 'timeout' or status == 'error' then
                return head, 'finished', status
            end
            if takes > maxTakes then return head, 'exhausted', redis.call('HGETALL', jobKey) end
            local outcome = transition(jobKey, 'result:' .. id, {ttl, id, 'processing', prefix, 'queued,processing',
                'job:verdict:' .. id, '3', 'status', 'processing', 'started_at', now, 'host', consumer})
            if outcome[1] ~= 'applied' then return head, 'finished', outcome[2] or '' end
            if client ~= '' and redis.call('HEXISTS', client, id) == 1 then redis.call('HSET', client, id, 'compiling') end
            return head, 'started', redis.call('HGETALL', jobKey)
        end
        local function reply(head, state, detail)
            table.insert(head, state)
            table.insert(head, detail)
            return head
        end
        local function streamOf(offer, tier) return 'wic:queue:' .. offer .. ':' .. tier end
        -- After a restart Redis counts the time it was down as idle time: no lease runs out
        -- until the hosts have had one lease's time to renew theirs. (This host's own entries
        -- from before it started are idle for longer than it has run, whatever Redis did.)
        local uptime = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
        local leasesMayExpire = uptime * 1000 >= tonumber(lease)
        if ARGV[3] == '1' then
            for i = firstOffer, #ARGV do
                for tier = 0, \(RedisWorkQueue.tiers - 1) do
                    local stream = streamOf(ARGV[i], tier)
                    if redis.call('EXISTS', stream) == 1 then
                        local own = redis.call('XPENDING', stream, group, 'IDLE', ownIdle, '-', '+', 1, consumer)
                        if own[1] then
                            local claimed = redis.call('XCLAIM', stream, group, consumer, 0, own[1][1])
                            if claimed[1] then return reply(taken('own', stream, claimed[1])) end
                        end
                        -- COUNT 1 looks at ten pending entries at most: go on from where it stopped.
                        local cursor = leasesMayExpire and '0-0' or nil
                        while cursor do
                            local expired = redis.call('XAUTOCLAIM', stream, group, consumer, lease, cursor, 'COUNT', 1)
                            if expired[2][1] then return reply(taken('claimed', stream, expired[2][1])) end
                            cursor = expired[1] ~= '0-0' and expired[1] or nil
                        end
                    end
                end
            end
        end
        local function order(entryID)
            local ms, seq = string.match(entryID, '^(%d+)-(%d+)$')
            return tonumber(ms), tonumber(seq)
        end
        for tier = 0, \(RedisWorkQueue.tiers - 1) do
            local best, bestMs, bestSeq
            for i = firstOffer, #ARGV do
                local stream = streamOf(ARGV[i], tier)
                local waiting = tonumber(redis.call('HGET', '\(RedisWorkQueue.waitingKey)', stream) or '0')
                if waiting > 0 and redis.call('EXISTS', stream) == 0 then
                    -- A count left for a stream someone deleted: nothing waits there.
                    redis.call('HDEL', '\(RedisWorkQueue.waitingKey)', stream)
                elseif waiting > 0 then
                    local last = '0-0'
                    for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
                        for j = 1, #info, 2 do
                            if info[j] == 'name' and info[j + 1] ~= group then break end
                            if info[j] == 'last-delivered-id' then last = info[j + 1] end
                        end
                    end
                    local following = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)
                    if following[1] then
                        local ms, seq = order(following[1][1])
                        if not best or ms < bestMs or (ms == bestMs and seq < bestSeq) then
                            best, bestMs, bestSeq = stream, ms, seq
                        end
                    end
                end
            end
            if best then
                local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', best, '>')
                if redis.call('HINCRBY', '\(RedisWorkQueue.waitingKey)', best, -1) <= 0 then
                    redis.call('HDEL', '\(RedisWorkQueue.waitingKey)', best)
                end
                return reply(taken('new', best, read[1][2][1]))
            end
        end
        return {'none'}
        """

    /// ARGV: consumer, then stream/entry pairs. Resets the idle time of each entry this
    /// consumer still holds. Returns the entry ids it no longer holds.
    static let renew = """
        #!lua flags=allow-oom
        local lost = {}
        for i = 2, #ARGV, 2 do
            local stream, entry = ARGV[i], ARGV[i + 1]
            local pending = redis.call('EXISTS', stream) == 1
                and redis.call('XPENDING', stream, '\(RedisWorkQueue.group)', entry, entry, 1) or {}
            if pending[1] and pending[1][2] == ARGV[1] then
                redis.call('XCLAIM', stream, '\(RedisWorkQueue.group)', ARGV[1], 0, entry, 'JUSTID')
            else
                table.insert(lost, entry)
            end
        end
        return lost
        """

    /// KEYS: job, result. ARGV: stream, entry id, client key, counters key, counter
    /// ('' counts nothing), compile nanoseconds, then `transition`'s arguments. Only a
    /// verdict that is stored is counted: a second compile's, refused, is not.
    static let finish = """
        #!lua flags=allow-oom
        \(transitionFunction)
        local stream, entry = ARGV[1], ARGV[2]
        if redis.call('EXISTS', stream) == 1 then
            redis.call('XACK', stream, '\(RedisWorkQueue.group)', entry)
            redis.call('XDEL', stream, entry)
        end
        if ARGV[3] ~= '' then redis.call('HDEL', ARGV[3], ARGV[8]) end
        local outcome = transition(KEYS[1], KEYS[2], {unpack(ARGV, 7)})
        if outcome[1] == 'applied' and ARGV[5] ~= '' then
            redis.call('HINCRBY', ARGV[4], 'processed', 1)
            redis.call('HINCRBY', ARGV[4], ARGV[5], 1)
            redis.call('HINCRBY', ARGV[4], 'compile_nanoseconds', ARGV[6])
        end
        return outcome
        """
}
