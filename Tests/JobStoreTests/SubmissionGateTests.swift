import Foundation
@testable import JobStore
import TestSupport
import Testing
import WillItCompile

/// A responder's one script against a real redis-server of each test's own: the client's
/// limit, then the verdict cache, answered exactly as the worker's submission would answer.
@Suite struct SubmissionGateTests {
    let redis: PrivateRedis
    let configuration: RedisConfiguration
    let store: RedisJobStore

    init() throws {
        redis = try PrivateRedis()
        configuration = RedisConfiguration(enabled: true, address: .unix(path: redis.socketPath))
        store = RedisJobStore(configuration: configuration)
    }

    static let terms = VerdictCacheTerms(limits: CompileLimits(sandbox: SandboxConfiguration(), timeout: .seconds(30)), hostID: "host-a")
    static let verdict = CompilationResult(jobID: JobID(), success: true, compiled: false, stderr: "main.c:1:1: error: x\n", exitCode: 1,
                                           durationNanoseconds: 7_000_000)

    func gate(rate: Int? = nil, burst: Int = 1) -> SubmissionGate {
        SubmissionGate(store: store, rateLimiter: rate.map { ClientRateLimiter(configuration: configuration, submitsPerSecond: $0, burst: burst) })
    }

    func job() -> CompilationJob {
        var request = CompilationRequest(source: Array("int main(){}".utf8), language: .c)
        request.compiler = "gcc-12"
        request.standard = "c17"
        var job = CompilationJob(request: request, createdAt: Date(timeIntervalSince1970: 1_800_000_000.25))
        job.requestID = "0123456789abcdef0123456789abcdef"
        return job
    }

    /// The worker's publication of its terms, as its heartbeat makes it.
    func publish(_ terms: VerdictCacheTerms = terms) throws {
        try RedisWorkQueue(store: store, consumer: terms.hostID, leaseSeconds: 15).publishVerdictCacheTerms(terms)
    }

    func hash(_ key: String) throws -> [String: String] {
        let reply = try RedisConnection(configuration: configuration).command(["HGETALL", key])
        guard case let .array(items) = reply else { throw MissingTestDependency(description: "HGETALL \(key): \(reply)") }
        let texts = items.compactMap(\.text)
        return Dictionary(uniqueKeysWithValues: stride(from: 0, to: texts.count, by: 2).map { (texts[$0], texts[$0 + 1]) })
    }

    @Test func aHitIsStoredAndCountedExactlyAsTheWorkersSubmissionStoresIt() throws {
        let key = freshVerdictKey()
        try store.cacheVerdict(Self.verdict, status: .failed, under: key)
        try publish()
        let date = Date(timeIntervalSince1970: 1_800_000_001.5)

        let byGate = job()
        guard case let .answered(status, result) = try gate().admit(nil, answering: byGate, key: key, terms: Self.terms, at: date) else {
            Issue.record("a verdict the cache holds was not answered")
            return
        }
        #expect(status == .failed && result.cached && result.jobID == byGate.id && result.stderr == Self.verdict.stderr)
        var byWorker = job()
        byWorker.id = JobID()
        let queue = RedisWorkQueue(store: store, consumer: Self.terms.hostID, leaseSeconds: 15)
        let lookup = VerdictLookup(key: key, counters: RedisWorkQueue.countersKey(host: Self.terms.hostID), host: Self.terms.hostID, date: date)
        #expect(try queue.submit(byWorker, client: nil, perClientLimit: 10, capacity: 0, answeringFrom: lookup) == .answered(.failed, {
            var same = result
            same.jobID = byWorker.id
            return same
        }()))

        // Field for field the same job and result, but for the ids.
        func withoutIDs(_ hash: [String: String], _ id: JobID) -> [String: String] {
            hash.mapValues { $0 == id.description ? "(id)" : $0 }
        }
        #expect(withoutIDs(try hash(JobKeys.job(byGate.id)), byGate.id) == withoutIDs(try hash(JobKeys.job(byWorker.id)), byWorker.id))
        #expect(withoutIDs(try hash(JobKeys.result(byGate.id)), byGate.id) == withoutIDs(try hash(JobKeys.result(byWorker.id)), byWorker.id))
        #expect(try hash(JobKeys.job(byGate.id))["host"] == "host-a")
        #expect(try store.jobIDs(withStatus: .failed) == [byGate.id, byWorker.id])
        #expect(try queue.counters(of: "host-a").cached == 2, "each answer counted in the answering host's counters")
    }

    @Test func withoutAVerdictOrWithTermsTheWorkerNoLongerPublishesNothingIsStored() throws {
        let key = freshVerdictKey()
        let gate = gate()
        #expect(try gate.admit(nil, answering: job(), key: key, terms: Self.terms, at: Date()) == .termsOutdated, "nothing published")
        try publish()
        #expect(try gate.admit(nil, answering: job(), key: key, terms: Self.terms, at: Date()) == .admitted, "nothing cached")
        try store.cacheVerdict(Self.verdict, status: .completed, under: key)
        let unpublished = job()
        try RedisConnection(configuration: configuration).command(["DEL", RedisWorkQueue.verdictCacheTermsKey(host: Self.terms.hostID)])
        #expect(try gate.admit(nil, answering: unpublished, key: key, terms: Self.terms, at: Date()) == .termsOutdated,
                "a worker that publishes no terms (stopped for longer than they last) is not answered for")
        // The worker restarted with another timeout: responders that still know the old terms miss.
        var shorterTimeout = Self.terms.limits
        shorterTimeout.timeoutMilliseconds = 10_000
        try publish(VerdictCacheTerms(limits: shorterTimeout, hostID: Self.terms.hostID))
        #expect(try gate.admit(nil, answering: unpublished, key: key, terms: Self.terms, at: Date()) == .termsOutdated)
        #expect(try store.job(unpublished.id) == nil && store.result(unpublished.id) == nil)
        #expect(try RedisWorkQueue(store: store, consumer: "host-a", leaseSeconds: 15).counters(of: "host-a").cached == 0)
        try publish()
        #expect(try gate.admit(nil, answering: unpublished, key: key, terms: Self.terms, at: Date()) != .admitted)
        // The same job id again is not answered over the stored job: the worker reports the duplicate.
        #expect(try gate.admit(nil, answering: unpublished, key: key, terms: Self.terms, at: Date()) == .admitted)
    }

    @Test func aHitCountsAgainstTheClientsLimitAndOneOverItIsNotAnswered() throws {
        let key = freshVerdictKey()
        try store.cacheVerdict(Self.verdict, status: .completed, under: key)
        try publish()
        let gate = gate(rate: 1, burst: 2)
        let client = ClientIdentity("10.1.2.3")
        for _ in 1...2 {
            guard case .answered = try gate.admit(client, answering: job(), key: key, terms: Self.terms, at: Date()) else {
                Issue.record("a hit within the burst was not answered")
                return
            }
        }
        let over = job()
        guard case let .limited(retryAfter) = try gate.admit(client, answering: over, key: key, terms: Self.terms, at: Date()) else {
            Issue.record("a third hit of a burst of 2 was allowed")
            return
        }
        #expect(retryAfter > .zero && retryAfter <= .seconds(1))
        #expect(try store.job(over.id) == nil, "a refused submission stores nothing")
        // The limit holds for submissions the cache cannot answer, in the same budget.
        #expect(try gate.admit(client, answering: job(), key: freshVerdictKey(), terms: Self.terms, at: Date()) != .admitted)
        #expect(try gate.admit(ClientIdentity("10.1.2.4"), answering: job(), key: freshVerdictKey(), terms: Self.terms, at: Date()) == .admitted)
    }

    /// A full Redis refuses the script whole (it writes a job); the submission then goes on as
    /// without the gate, its limit still checked, to the worker whose store says it is full.
    @Test(.runningTimeLimit(minutes: 1))
    func aFullRedisStillChecksTheLimitAndLeavesTheAnswerToTheStore() throws {
        let full = try PrivateRedis(arguments: ["--maxmemory-policy", "noeviction"])
        let fullConfiguration = RedisConfiguration(enabled: true, address: .unix(path: full.socketPath))
        let fullStore = RedisJobStore(configuration: fullConfiguration)
        let key = freshVerdictKey()
        try fullStore.cacheVerdict(Self.verdict, status: .completed, under: key)
        try RedisWorkQueue(store: fullStore, consumer: "host-a", leaseSeconds: 15).publishVerdictCacheTerms(Self.terms)
        // Over its bound for certain: 3 MB held, then a bound of 1 MB.
        let connection = try RedisConnection(configuration: fullConfiguration)
        for index in 0..<30 {
            _ = try connection.command([Array("SET".utf8), Array("filler:\(index)".utf8), [UInt8](repeating: 0x61, count: 100_000)])
        }
        #expect(try connection.command(["CONFIG", "SET", "maxmemory", "1mb"]) == .status("OK"))
        guard case let .error(refusal) = try connection.command(["SET", "probe", "x"]), refusal.hasPrefix("OOM") else {
            Issue.record("Redis is not over its bound")
            return
        }
        let gate = SubmissionGate(store: fullStore, rateLimiter: ClientRateLimiter(configuration: fullConfiguration, submitsPerSecond: 1, burst: 1))
        let client = ClientIdentity("10.9.9.9")
        let first = job()
        #expect(try gate.admit(client, answering: first, key: key, terms: Self.terms, at: Date()) == .admitted)
        #expect(try fullStore.job(first.id) == nil)
        guard case .limited = try gate.admit(client, answering: job(), key: key, terms: Self.terms, at: Date()) else {
            Issue.record("the limit did not hold on a full Redis")
            return
        }
    }
}
