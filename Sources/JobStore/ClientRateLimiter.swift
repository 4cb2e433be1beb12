public import WillItCompile

/// What the cluster-wide submission limit says about one submission.
public enum RateDecision: Sendable, Equatable {
    case allowed
    /// Over the limit: the next submission of this client is allowed after `retryAfter`.
    case limited(retryAfter: Duration)
}

/// The per-client submission limit that holds across every host sharing one Redis
/// (`CLUSTER_RATE_LIMIT_PER_SECOND`, `CLUSTER_RATE_LIMIT_BURST`).
///
/// One Lua script runs GCRA (the generic cell rate algorithm) on one key per client,
/// `wic:rate:{client}`, holding the client's theoretical arrival time: when its
/// budget would be whole again if it sent nothing more. A quiet client may make
/// `burst` submissions at once, then one every `1/rate` s. A refused submission
/// changes nothing, so a client that keeps hammering gets in again as soon as its
/// rate allows. Time is Redis's own (`TIME`): hosts whose clocks disagree share one
/// budget all the same. The key lives only as long as it says anything (until the
/// arrival time), so an idle client costs no memory.
public final class ClientRateLimiter: Sendable {
    private let pool: RedisConnectionPool
    /// Microseconds between two submissions at the steady rate.
    private let emissionIntervalMicroseconds: Int
    public let submitsPerSecond: Int
    public let burst: Int

    public static let keyPrefix = "wic:rate:"
    /// The one key all submissions without a usable address share. No identity
    /// holds parentheses, so no client's key can be this one.
    public static let unidentifiedKey = keyPrefix + "(unidentified)"

    public static func key(for client: ClientIdentity?) -> String {
        client.map { keyPrefix + $0.rawValue } ?? unidentifiedKey
    }

    /// - Parameters:
    ///   - submitsPerSecond: the steady rate, at least 1.
    ///   - burst: submissions a quiet client may make at once, at least 1.
    public init(configuration: RedisConfiguration, submitsPerSecond: Int, burst: Int) {
        precondition(submitsPerSecond >= 1 && burst >= 1, "a rate limit needs a rate and a burst of at least 1")
        pool = RedisConnectionPool(configuration: configuration)
        self.submitsPerSecond = submitsPerSecond
        self.burst = burst
        emissionIntervalMicroseconds = max(1, 1_000_000 / submitsPerSecond)
    }

    /// Counts `count` submissions of `client` (one job, or a matrix's cells) against its
    /// budget, all at once if the budget allows them, else none. More than a burst at once
    /// needs the whole budget (a client quiet for a burst's time) and leaves it that many
    /// submissions in debt: a large matrix waits for a quiet moment, and then holds the
    /// client back as long as its cells one by one would.
    /// - Throws: `.unavailable` when Redis cannot be asked: the caller refuses the
    ///   submission (the limit is never skipped silently); `.rejected` for an error reply.
    public func admit(_ client: ClientIdentity?, count: Int = 1) throws(JobStoreError) -> RateDecision {
        let key = Self.key(for: client)
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in
            try connection.evaluate(Self.gcra, keys: [Array(key.utf8)], arguments: arguments(count: count))
        }
        return try decision(from: reply, key: key)
    }

    /// What a reply of {1, 0} or {0, µs to wait} says; an error reply of Redis as what it means.
    func decision(from reply: RedisValue, key: String) throws(JobStoreError) -> RateDecision {
        if case let .array(items) = reply, items.count == 2, case let .integer(allowed) = items[0],
           case let .integer(waitMicroseconds) = items[1] {
            return allowed == 1 ? .allowed : .limited(retryAfter: .microseconds(waitMicroseconds))
        }
        switch reply {
        case let .error(message):
            let address = pool.configuration.address
            if RedisJobStore.transientErrorReplies.contains(String(message.prefix { $0 != " " })) {
                throw .unavailable("Redis at \(address) cannot check the submission rate of \(key) yet: \(message)")
            }
            throw .rejected("Redis at \(address) refused to check the submission rate of \(key): \(message)")
        default:
            throw .rejected("unexpected reply to the submission rate check of \(key): \(reply)")
        }
    }

    public func close() {
        pool.close()
    }

    /// KEYS: the client's key. ARGV: emission interval T (µs), burst B, submissions N.
    /// Returns {1, 0} when allowed, else {0, µs to wait} (`gcraFunction`).
    /// `allow-oom`: on a Redis at its maxmemory the check still runs, so the submission
    /// goes on to the store, which refuses it with the answer a full store gives (503
    /// `store_full`). What it may write over the bound is one short key per client
    /// that submitted within the last burst's time.
    static let gcra = """
        #!lua flags=allow-oom
        \(gcraFunction)
        local wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
        if wait > 0 then return {0, wait} end
        return {1, 0}
        """

    /// `gcra(key, interval, burst, count)`: the microseconds to wait before `count`
    /// submissions are allowed, or 0 when they are, which then counts them. The stored value
    /// is the theoretical arrival time (µs, Redis's clock). N submissions at `now` are allowed
    /// when `max(tat, now) + min(N, B)*T - B*T <= now`; they then move the arrival time on by N*T.
    static let gcraFunction = """
        local function gcra(key, interval, burst, count)
            local time = redis.call('TIME')
            local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
            local tat = tonumber(redis.call('GET', key) or now)
            if tat < now then tat = now end
            local nextTat = tat + count * interval
            local allowedAt = tat + math.min(count, burst) * interval - burst * interval
            if allowedAt > now then return allowedAt - now end
            redis.call('SET', key, string.format('%d', nextTat), 'PX', string.format('%d', math.ceil((nextTat - now) / 1000)))
            return 0
        end
        """

    /// The arguments `gcraFunction` takes after the key, as script arguments.
    func arguments(count: Int) -> [[UInt8]] {
        [Array(String(emissionIntervalMicroseconds).utf8), Array(String(burst).utf8), Array(String(max(1, count)).utf8)]
    }
}
