import Foundation
import JobStore
import TestSupport
import Testing
import WillItCompile

/// The cluster's work queue and registry against a real redis-server, one of each test's own.
@Suite struct RedisWorkQueueTests {
    let redis: PrivateRedis
    let store: RedisJobStore

    init() throws {
        redis = try PrivateRedis()
        store = RedisJobStore(configuration: RedisConfiguration(enabled: true, address: .unix(path: redis.socketPath)))
    }

    static let gcc = RedisWorkQueue.offer(language: .c, toolchain: "gcc-12", architecture: "x86_64", os: "linux")
    static let clang = RedisWorkQueue.offer(language: .c, toolchain: "clang-16", architecture: "x86_64", os: "linux")

    func host(_ name: String, leaseSeconds: Int = 15) -> RedisWorkQueue {
        RedisWorkQueue(store: store, consumer: name, leaseSeconds: leaseSeconds)
    }

    func job(_ compiler: String = "gcc-12") -> CompilationJob {
        var request = CompilationRequest(source: Array("int main(){}".utf8), language: .c)
        request.compiler = compiler
        return CompilationJob(request: request, createdAt: Date())
    }

    func submit(_ job: CompilationJob, to queue: RedisWorkQueue, as client: String? = nil, limit: Int = 10, capacity: Int = 0) throws {
        #expect(try queue.submit(job, client: client.flatMap { ClientIdentity($0) }, perClientLimit: limit, capacity: capacity) == .accepted)
    }

    func take(_ queue: RedisWorkQueue, offers: [String] = [gcc], claiming: Bool = false, age: Duration = .seconds(3600)) throws -> WorkTicket? {
        try takeJob(queue, offers: offers, claiming: claiming, age: age)?.0
    }

    func takeJob(
        _ queue: RedisWorkQueue, offers: [String] = [gcc], claiming: Bool = false, age: Duration = .seconds(3600), maxTakes: Int = 10
    ) throws -> (WorkTicket, RedisWorkQueue.TakenJob)? {
        try queue.take(offers: offers, claiming: claiming, ownIdle: age, maxTakes: maxTakes, at: Date())
    }

    func result(of id: JobID) -> CompilationResult {
        CompilationResult(jobID: id, success: true, compiled: true, exitCode: 0, durationNanoseconds: 5_000_000)
    }

    /// A matrix's cells fit in the queue and the client's share together or not at all;
    /// each accepted cell waits one tier further, as one job after another would.
    @Test func aMatrixIsQueuedWholeOrRefusedWithNothingStored() throws {
        let a = host("a")
        func submitMatrix(_ cells: [CompilationJob], as client: String, limit: Int, capacity: Int) throws -> (CompilationMatrix, QueueAdmission) {
            let matrix = CompilationMatrix(language: .c, createdAt: Date(), cells: cells.map(MatrixCell.init(of:)))
            let (admission, answers) = try a.submitMatrix(
                matrix, cells: cells.map { MatrixCellJob(job: $0, cacheKey: nil) }, client: ClientIdentity(client), perClientLimit: limit,
                capacity: capacity, countingIn: RedisWorkQueue.countersKey(host: "a"), at: Date())
            #expect(answers.allSatisfy { $0 == nil })
            return (matrix, admission)
        }
        try submit(job(), to: a, as: "10.0.0.1")
        let refused = [job(), job(), job()]
        let (unstored, admission) = try submitMatrix(refused, as: "10.0.0.1", limit: 3, capacity: 0)
        #expect(admission == .clientLimit(ClientShare(jobs: 1, waiting: 1, limit: 3)))
        let (_, full) = try submitMatrix(refused, as: "10.0.0.2", limit: 10, capacity: 3)
        #expect(full == .queueFull(waiting: 1, capacity: 3))
        #expect(try store.matrix(unstored.id) == nil)
        for cell in refused { #expect(try store.job(cell.id) == nil) }
        #expect(try a.waitingCount() == 1)

        // A client holding nothing, in a queue holding one job, gets a matrix larger than its share.
        let (matrix, accepted) = try submitMatrix(refused, as: "10.0.0.3", limit: 2, capacity: 0)
        #expect(accepted == .accepted)
        #expect(try store.matrix(matrix.id)?.cells == matrix.cells)
        #expect(try a.waitingCount() == 4)
        for cell in refused { #expect(try store.job(cell.id)?.status == .queued) }
        // The first job's client's job is taken first: the matrix's cells wait in tiers 0, 1, 2.
        #expect(try take(a)?.clientKey == "wic:client:10.0.0.1")
        #expect(try take(a)?.jobID == refused[0].id)
    }

    /// Cells the verdict cache answers are stored finished and take no place: a matrix that
    /// fits only without them is accepted, and only its other cells wait.
    @Test func aMatrixsCachedCellsAreAnsweredAndTakeNoPlace() throws {
        let a = host("a")
        let key = freshVerdictKey()
        try store.cacheVerdict(result(of: JobID()), status: .completed, under: key)
        try submit(job(), to: a, as: "10.0.0.1")
        let cells = [job(), job(), job(), job()]
        let matrix = CompilationMatrix(language: .c, createdAt: Date(), cells: cells.map(MatrixCell.init(of:)))
        let (admission, answers) = try a.submitMatrix(
            matrix, cells: cells.enumerated().map { MatrixCellJob(job: $1, cacheKey: $0 < 2 ? key : nil) }, client: ClientIdentity("10.0.0.1"),
            perClientLimit: 3, capacity: 0, countingIn: RedisWorkQueue.countersKey(host: "a"), at: Date())
        #expect(admission == .accepted, "1 held and 2 to compile fit a share of 3")
        #expect(answers.map { $0?.0 } == [JobStatus.completed, .completed, nil, nil])
        #expect(try store.job(cells[0].id)?.status == .completed && store.result(cells[1].id)?.cached == true)
        #expect(try a.waitingCount() == 3)
        #expect(try a.counters(of: "a").cached == 2)
    }

    /// One script answers a submission from the verdict cache or queues it: an answered job is
    /// stored finished by the answering host, counted, published, and takes no place, so no
    /// full queue or share refuses it; without a verdict, or without a lookup, it is queued.
    @Test func aSubmissionIsAnsweredFromTheVerdictCacheOrQueuedInOneScript() throws {
        let a = host("a")
        let key = freshVerdictKey()
        let cached = CompilationResult(jobID: JobID(), success: true, compiled: false, stderr: "main.c:1:1: error: x\n", exitCode: 1,
                                       durationNanoseconds: 7_000_000)
        try store.cacheVerdict(cached, status: .failed, under: key)
        try submit(job(), to: a, as: "10.0.0.1", limit: 1, capacity: 1)
        let now = Date(timeIntervalSince1970: 1_800_000_000.5)
        let lookup = VerdictLookup(key: key, counters: RedisWorkQueue.countersKey(host: "a"), host: "a", date: now)
        let hit = job()
        let answer = try a.submit(hit, client: ClientIdentity("10.0.0.1"), perClientLimit: 1, capacity: 1, answeringFrom: lookup)
        guard case let .answered(status, result) = answer else {
            Issue.record("not answered from the cache: \(answer)")
            return
        }
        #expect(status == .failed && result.cached && result.jobID == hit.id && result.stderr == cached.stderr)
        let stored = try #require(try store.job(hit.id))
        #expect(stored.status == .failed && stored.host == "a" && stored.startedAt == now && stored.completedAt == now)
        #expect(stored.request == hit.request)
        #expect(try store.result(hit.id) == result)
        #expect(try a.waitingCount() == 1, "the answer took no place")
        #expect(try a.counters(of: "a").cached == 1)
        #expect(throws: JobStoreError.duplicate(hit.id)) {
            try a.submit(hit, client: nil, perClientLimit: 10, capacity: 0, answeringFrom: lookup)
        }
        let miss = VerdictLookup(key: freshVerdictKey(), counters: RedisWorkQueue.countersKey(host: "a"), host: "a", date: now)
        #expect(try a.submit(job(), client: ClientIdentity("10.0.0.1"), perClientLimit: 1, capacity: 0, answeringFrom: miss)
            == .queued(.clientLimit(ClientShare(jobs: 1, waiting: 1, limit: 1))))
        let queued = job()
        #expect(try a.submit(queued, client: ClientIdentity("10.0.0.2"), perClientLimit: 1, capacity: 0, answeringFrom: miss) == .queued(.accepted))
        #expect(try store.job(queued.id)?.status == .queued && store.job(queued.id)?.host == nil)
        let bypassing = job()
        #expect(try a.submit(bypassing, client: ClientIdentity("10.0.0.3"), perClientLimit: 1, capacity: 0, answeringFrom: nil) == .queued(.accepted))
        #expect(try a.waitingCount() == 3)
        #expect(try a.counters(of: "a").cached == 1)
    }

    @Test func aJobIsStoredQueuedAndTakenOnlyByAHostThatOffersItsToolchain() throws {
        let a = host("a"), b = host("b")
        let job = job("gcc-12")
        try submit(job, to: a)
        #expect(try store.job(job.id)?.status == .queued)
        #expect(try a.waitingCount() == 1)
        #expect(try take(b, offers: [Self.clang]) == nil, "b offers clang only")
        let ticket = try #require(try take(b, offers: [Self.clang, Self.gcc]))
        #expect(ticket.jobID == job.id && ticket.takes == 1 && ticket.origin == .new)
        #expect(try a.waitingCount() == 0)
        #expect(try take(a) == nil, "taken once")
        let stored = try #require(try store.job(job.id))
        #expect(stored.status == .processing && stored.host == "b", "started by the take, naming the host compiling it")
    }

    /// The take starts the job in the same step and hands it over whole; what it cannot
    /// start (finished, gone, taken too often) it says.
    @Test func theTakeStartsTheJobOrSaysWhyNot() throws {
        let a = host("a")
        let started = job()
        try submit(started, to: a)
        guard case let (_, .started(taken))? = try takeJob(a) else { Issue.record("not started"); return }
        #expect(taken.id == started.id && taken.status == .processing && taken.request.source == started.request.source)

        let finished = job()
        try submit(finished, to: a)
        _ = try store.transition(finished.id, to: .failed, at: Date(), result: CompilationResult(
            jobID: finished.id, success: false, compiled: false, exitCode: 1, durationNanoseconds: 1))
        guard case (_, .finished(.failed))? = try takeJob(a) else { Issue.record("a finished job was not reported finished"); return }

        let gone = job()
        try submit(gone, to: a)
        _ = try redis.command(["DEL", JobKeys.job(gone.id)])
        guard case (_, .missing)? = try takeJob(a) else { Issue.record("a gone job was not reported missing"); return }

        let often = job()
        try submit(often, to: a)
        guard case let (ticket, .exhausted(taken))? = try takeJob(a, maxTakes: 0) else { Issue.record("not exhausted"); return }
        #expect(ticket.takes == 1 && taken.status == .queued, "not started")
    }

    /// Every client's first job goes before any client's second, whatever came first.
    @Test func firstJobsOfEveryClientGoBeforeSecondOnes() throws {
        let a = host("a")
        let flood = (0..<3).map { _ in job() }
        for job in flood { try submit(job, to: a, as: "10.0.0.1") }
        let other = job()
        try submit(other, to: a, as: "10.0.0.2")
        let order = try (0..<4).map { _ in try #require(try take(a)).jobID }
        #expect(order == [flood[0].id, other.id, flood[1].id, flood[2].id])
    }

    @Test func theClusterQueueAndEachClientsShareAreBounded() throws {
        let a = host("a"), b = host("b")
        try submit(job(), to: a, as: "10.0.0.1", limit: 2)
        try submit(job(), to: b, as: "10.0.0.1", limit: 2)
        #expect(try a.submit(job(), client: ClientIdentity("10.0.0.1"), perClientLimit: 2, capacity: 0)
                == .clientLimit(ClientShare(jobs: 2, waiting: 2, limit: 2)), "the share counts the jobs of every host")
        #expect(try a.submit(job(), client: ClientIdentity("10.0.0.2"), perClientLimit: 2, capacity: 2) == .queueFull(waiting: 2, capacity: 2))
        let ticket = try #require(try take(a))
        #expect(try a.finish(ticket, status: .completed, result: result(of: ticket.jobID), at: Date()) == .applied)
        try submit(job(), to: b, as: "10.0.0.1", limit: 2, capacity: 2)
    }

    /// A host that stops renewing loses the job to the next host that claims; the
    /// first verdict stored stands, and the entry leaves the queue with it.
    @Test(.runningTimeLimit(minutes: 1))
    func anExpiredLeaseIsClaimedByAnotherHostAndOneVerdictStands() throws {
        let a = host("a", leaseSeconds: 2), b = host("b", leaseSeconds: 2)
        let job = job()
        try submit(job, to: a)
        let first = try #require(try take(a))
        #expect(try take(b, claiming: true) == nil, "a's lease is fresh")
        // a renews for longer than the lease: still a's.
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: 1)
            #expect(try a.renew([first]).isEmpty)
        }
        #expect(try take(b, claiming: true) == nil, "renewed leases are not claimed")
        var claimed: WorkTicket?
        try waitUntil("a's lease runs out", within: 10) { claimed = try take(b, claiming: true); return claimed != nil }
        let second = try #require(claimed)
        #expect(second.entryID == first.entryID && second.takes == 2 && second.origin == .expiredLease)
        #expect(try a.renew([first]) == [first], "a learns it lost the job")
        // Both compiled it: the first verdict stored stands.
        #expect(try b.finish(second, status: .completed, result: result(of: job.id), at: Date()) == .applied)
        var failed = result(of: job.id)
        failed.success = false
        #expect(try a.finish(first, status: .failed, result: failed, at: Date()) == .refused(current: .completed))
        #expect(try store.job(job.id)?.status == .completed)
        #expect(try redis.command(["XLEN", first.stream]) == "0", "the entry is deleted")
        #expect(try redis.command(["XPENDING", first.stream, RedisWorkQueue.group]).hasPrefix("0"), "and acknowledged")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aClaimedJobCountsItsTakes() throws {
        let a = host("a", leaseSeconds: 1), b = host("b", leaseSeconds: 1), c = host("c", leaseSeconds: 1)
        try submit(job(), to: a)
        #expect(try take(a)?.takes == 1)
        var ticket: WorkTicket?
        try waitUntil("b claims it", within: 10) { ticket = try take(b, claiming: true); return ticket != nil }
        #expect(ticket?.takes == 2 && ticket?.origin == .expiredLease)
        try waitUntil("c claims it", within: 10) { ticket = try take(c, claiming: true); return ticket != nil }
        #expect(ticket?.takes == 3)
    }

    /// A restarted worker (same consumer) takes back what it held at once, without
    /// waiting for the lease; what it took since it started is not taken again.
    @Test func aRestartedHostTakesBackItsOwnJobsAtOnce() throws {
        let before = host("a")
        try submit(job(), to: before)
        let held = try #require(try take(before))
        Thread.sleep(forTimeInterval: 0.2)
        let after = host("a")
        #expect(try take(after, claiming: true, age: .seconds(5)) == nil, "held by a process younger than 5 s: this one")
        let back = try #require(try take(after, claiming: true, age: .milliseconds(100)))
        #expect(back.jobID == held.jobID && back.origin == .beforeRestart && back.takes == 2)
        #expect(try take(after, claiming: true, age: .milliseconds(100)) == nil, "taken back once")
    }

    @Test func verdictsCountForTheHostAndReleaseTheClientsShare() throws {
        let a = host("a")
        try submit(job(), to: a, as: "10.0.0.1", limit: 1)
        let ticket = try #require(try take(a))
        var failed = result(of: ticket.jobID)
        failed.success = false
        #expect(try a.finish(ticket, status: .failed, result: failed, at: Date()) == .applied)
        let counters = try a.counters(of: "a")
        #expect(counters.processed == 1 && counters.failed == 1 && counters.compileNanoseconds == 5_000_000)
        try submit(job(), to: a, as: "10.0.0.1", limit: 1)
    }

    @Test(.runningTimeLimit(minutes: 1))
    func theRegistryListsLiveHostsOnly() throws {
        let registry = WorkerRegistry(store: store, recordLifetime: .milliseconds(500))
        func record(_ id: String) -> HostRecord {
            HostRecord(hostID: id, startTime: Date(), maxWorkers: 2, queueSize: 10, activeWorkers: 1, queuedJobs: 0,
                       counters: HostCounters(), toolchains: [])
        }
        try registry.publish(record("b"))
        try registry.publish(record("a"))
        #expect(try registry.liveHosts().map(\.hostID) == ["a", "b"])
        try registry.withdraw(host: "b")
        #expect(try registry.liveHosts().map(\.hostID) == ["a"])
        try waitUntil("a's record expires", within: 5) { try registry.liveHosts().isEmpty }
        #expect(try redis.command(["SCARD", "wic:hosts"]) == "0", "an expired host leaves the set")
    }

    /// A verdict is counted once, for the host whose verdict is stored: not for a second
    /// compile's refused one, nor again when a host stores its own twice.
    @Test(.runningTimeLimit(minutes: 1))
    func onlyTheStoredVerdictIsCounted() throws {
        let a = host("a", leaseSeconds: 1), b = host("b", leaseSeconds: 1)
        let job = job()
        try submit(job, to: a)
        let first = try #require(try take(a))
        var claimed: WorkTicket?
        try waitUntil("b claims it", within: 10) { claimed = try take(b, claiming: true); return claimed != nil }
        let second = try #require(claimed)
        #expect(try b.finish(second, status: .completed, result: result(of: job.id), at: Date()) == .applied)
        var failed = result(of: job.id)
        failed.success = false
        #expect(try a.finish(first, status: .failed, result: failed, at: Date()) == .refused(current: .completed))
        #expect(try b.finish(second, status: .completed, result: result(of: job.id), at: Date()) == .refused(current: .completed))
        #expect(try a.counters(of: "a").processed == 0 && a.counters(of: "a").failed == 0)
        #expect(try a.counters(of: "b").processed == 1 && a.counters(of: "b").successful == 1)
    }

    /// One XAUTOCLAIM looks at ten pending entries at most: a dead host's entry behind
    /// more live leases than that is still claimed when its lease runs out.
    @Test(.runningTimeLimit(minutes: 1))
    func anExpiredLeaseBehindManyLiveOnesIsClaimed() throws {
        let live = host("live", leaseSeconds: 1), dead = host("dead", leaseSeconds: 1), other = host("other", leaseSeconds: 1)
        for n in 0..<13 { try submit(job(), to: live, as: "10.0.0.\(n)") }
        let held = try (0..<12).map { _ in try #require(try take(live)) }
        let lost = try #require(try take(dead))
        var claimed: WorkTicket?
        try waitUntil("the dead host's job is claimed", within: 10) {
            #expect(try live.renew(held).isEmpty)
            claimed = try take(other, claiming: true)
            return claimed != nil
        }
        #expect(claimed?.entryID == lost.entryID, "only the entry whose lease ran out")
    }

    /// Redis counts the time it was down as idle time. No lease is claimed until the hosts
    /// have had a lease's time to renew theirs, so a restart hands no running compile over.
    @Test(.runningTimeLimit(minutes: 1))
    func aRedisRestartLongerThanTheLeaseHandsNoLiveJobOver() throws {
        let a = host("a", leaseSeconds: 2), b = host("b", leaseSeconds: 2)
        try submit(job(), to: a)
        let held = try #require(try take(a))
        try redis.restart(downFor: 2.5)
        #expect(try redis.command(["XPENDING", held.stream, RedisWorkQueue.group, "IDLE", "2000", "-", "+", "10"]).contains(held.entryID),
                "the restart made the lease look expired")
        #expect(try take(b, claiming: true) == nil, "claimed right after Redis came back")
        #expect(try a.renew([held]).isEmpty, "a renews as soon as Redis is back, and keeps its job")
    }

    /// A record this version cannot read (another version's, say) hides no other host.
    @Test func anUnreadableRecordHidesNoOtherHost() throws {
        let registry = WorkerRegistry(store: store)
        try registry.publish(HostRecord(hostID: "a", startTime: Date(), maxWorkers: 2, queueSize: 10, activeWorkers: 0,
                                        queuedJobs: 0, counters: HostCounters(), toolchains: []))
        _ = try redis.command(["SET", "wic:host:b", #"{"host_id":"b"}"#, "PX", "5000"])
        _ = try redis.command(["SADD", "wic:hosts", "b"])
        #expect(try registry.liveHosts().map(\.hostID) == ["a"])
    }
}
