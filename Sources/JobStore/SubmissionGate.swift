public import FoundationEssentials
public import WillItCompile

/// What a responder's first step in Redis says of a submission.
public enum GateDecision: Sendable, Equatable {
    /// Over the client's submission limit (`ClientRateLimiter`); nothing was stored.
    case limited(retryAfter: Duration)
    /// Within the limit, and not answered: the worker gets the submission.
    case admitted
    /// Within the limit, and not answered because the answering worker does not publish the
    /// terms given (it restarted with other limits, or stopped): the worker gets the
    /// submission, and the caller asks it for its terms again.
    case termsOutdated
    /// Within the limit, and stored finished with the verdict the cache held: its status and result.
    case answered(JobStatus, CompilationResult)
}

/// A submission's first step in Redis mode, in one script and one round trip: the client's
/// submission limit when it is on, then, for a submission that may use it, the verdict cache.
/// A submission the cache answers is stored finished exactly as the worker would store it
/// (`RedisWorkQueue.submit`), counted in the answering host's `cached` counter, and never
/// reaches the worker: a status read's one round trip plus the rate check, instead of the
/// worker's hop and a second script.
///
/// A Redis at its maxmemory refuses the script whole (it writes a new job); the submission
/// then takes the path it took without the gate: the limit alone (`ClientRateLimiter`, which
/// still runs), then the worker, whose store answers that it is full.
public final class SubmissionGate: Sendable {
    private let store: RedisJobStore
    /// nil: the limit is off (`CLUSTER_RATE_LIMIT_PER_SECOND=0`).
    private let rateLimiter: ClientRateLimiter?

    public init(store: RedisJobStore, rateLimiter: ClientRateLimiter?) {
        self.store = store
        self.rateLimiter = rateLimiter
    }

    /// Counts `job`'s submission against `client`'s limit and, when it is allowed and the cache
    /// holds the verdict under `key`, stores `job` answered with it as the worker of `terms`
    /// would (its host, its counters, finished at `date`) while that worker still publishes
    /// those terms.
    /// - Throws: `.unavailable` when Redis cannot be asked (the submission is refused: the
    ///   limit is never skipped silently), `.rejected` for an error reply.
    public func admit(
        _ client: ClientIdentity?, answering job: CompilationJob, key: VerdictKey, terms: VerdictCacheTerms, at date: Date
    ) throws(JobStoreError) -> GateDecision {
        let rateKey = rateLimiter == nil ? "" : ClientRateLimiter.key(for: client)
        var stored = job
        stored.host = terms.hostID
        // Its status `queued` as the worker's submission stores it; the script then sets the verdict's.
        let arguments = (rateLimiter?.arguments(count: 1) ?? [[], [], []]) + [
            bytes(String(store.ttlSeconds)), bytes(job.id.description), bytes(JobKeys.statusIndexPrefix),
            bytes(RedisWorkQueue.countersKey(host: terms.hostID)),
            bytes(JobKeys.verdictChannel(job.id)), bytes(Timestamp.format(date)), bytes(terms.digest),
        ] + JobHash.fields(of: stored)
        let verdictKey = JobKeys.verdict(key)
        let reply = try store.pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(
                Self.admitOrAnswer,
                keys: [bytes(rateKey), bytes(verdictKey), bytes(JobKeys.job(job.id)), bytes(JobKeys.result(job.id)),
                       bytes(RedisWorkQueue.verdictCacheTermsKey(host: terms.hostID))],
                arguments: arguments)
        }
        if case let .error(message) = reply, message.hasPrefix("OOM") {
            guard let rateLimiter else { return .admitted }
            return GateDecision(try rateLimiter.admit(client))
        }
        if case let .array(items) = reply, items.count == 2, case .integer(2) = items[0] {
            let (status, result) = try store.cachedAnswer(items[1], of: job.id, key: verdictKey)
            return .answered(status, result)
        }
        if reply == .array([.integer(1), .integer(1)]) { return .termsOutdated }
        guard let rateLimiter else {
            try store.check(reply, doing: "look up the verdict of \(job.id)")
            return .admitted
        }
        return try GateDecision(rateLimiter.decision(from: reply, key: rateKey))
    }

    /// KEYS: the client's rate key ('' when the limit is off), verdict, job, result, the
    /// answering host's published terms. ARGV: `gcra`'s interval, burst and count, then ttl,
    /// id, status index prefix, counters hash, verdict channel, answering time, the terms'
    /// digest, then the job's field/value pairs.
    /// Returns {0, µs to wait}, {1, 0} (allowed, not answered), {1, 1} (allowed, not answered:
    /// the host does not publish these terms, having restarted with other limits or stopped)
    /// or {2, {status, the result's field/value pairs}}. A job key that exists already is not
    /// answered over (the worker's submission then reports the duplicate). No flags: a full
    /// Redis refuses it whole.
    static let admitOrAnswer = """
        #!lua
        \(ClientRateLimiter.gcraFunction)
        \(Scripts.answerFromCacheFunction)
        if KEYS[1] ~= '' then
            local wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
            if wait > 0 then return {0, wait} end
        end
        if redis.call('GET', KEYS[5]) ~= ARGV[10] then return {1, 1} end
        if redis.call('EXISTS', KEYS[3]) == 0 then
            local answer = answerFromCache(KEYS[2], KEYS[3], KEYS[4], ARGV[5], ARGV[4], ARGV[6], ARGV[7], ARGV[8], {unpack(ARGV, 11)}, ARGV[9])
            if answer then return {2, answer} end
        end
        return {1, 0}
        """
}

extension GateDecision {
    init(_ decision: RateDecision) {
        switch decision {
        case .allowed: self = .admitted
        case let .limited(retryAfter): self = .limited(retryAfter: retryAfter)
        }
    }
}
