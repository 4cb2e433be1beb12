import Foundation
import JobStore
import POSIXSupport
import Synchronization
import WillItCompile

/// Redis mode: the cluster's shared work queue (`RedisWorkQueue`). A slot that is free
/// takes the next job of what this host offers, wherever it was submitted; while it
/// compiles, the lease is renewed; a host that stops renewing loses its jobs to the
/// others. Beside the slots run three threads: the doorbell (wakes idle slots the moment
/// any host submits), the lease renewal, and the registry heartbeat (this host's record,
/// and the cluster's, read back for capacity and for what the cluster offers).
final class ClusterWorkSource: WorkSource {
    private let queue: RedisWorkQueue
    private let registry: WorkerRegistry
    private let store: RedisJobStore
    private let configuration: WorkerConfiguration
    private let offers: [String]
    private let offerSet: Set<String>
    private let started = ContinuousClock.now
    /// Jobs held by this host's slots, whose leases it renews.
    private let inHand = Mutex<[JobID: WorkTicket]>([:])
    private let bell = Bell()
    /// One take at a time on this host: a job's `started_at` then follows the order in
    /// which its slots took the jobs (each take stamps the time it read just before).
    private let taking = NSLock()
    private let lastClaimCheck = Mutex<ContinuousClock.Instant?>(nil)
    private let shuttingDown = Atomic<Bool>(false)
    /// Closed when the host stops: no heartbeat may publish its record after it withdrew it.
    private let heartbeatOpen = Mutex(true)
    /// The live hosts' records, as last read (this host's own included once it published).
    private let cluster = Mutex<[HostRecord]>([])
    /// What they offer together, worked out at each heartbeat rather than for each submission.
    private let offered: Mutex<[Toolchain]>
    /// This host's record now, for the heartbeat and for `stats`.
    private let localRecord: @Sendable () -> HostRecord
    /// Given this host's counters as Redis holds them, before each heartbeat: a responder that
    /// answers from the verdict cache counts the answer there, and nowhere else.
    private let storedCountersRead: @Sendable (HostCounters) -> Void
    /// Published with each heartbeat, for the responders that answer from the verdict cache.
    private let verdictCacheTerms: VerdictCacheTerms

    /// How often a free slot looks for leases that ran out, and the heartbeat runs.
    static let claimInterval = Duration.seconds(1)

    init(
        store: RedisJobStore, configuration: WorkerConfiguration, toolchains: [Toolchain], verdictCacheTerms: VerdictCacheTerms,
        localRecord: @escaping @Sendable () -> HostRecord, storedCounters: @escaping @Sendable (HostCounters) -> Void
    ) {
        self.store = store
        self.configuration = configuration
        self.localRecord = localRecord
        storedCountersRead = storedCounters
        self.verdictCacheTerms = verdictCacheTerms
        queue = RedisWorkQueue(store: store, consumer: configuration.hostID, leaseSeconds: configuration.leaseSeconds)
        registry = WorkerRegistry(store: store)
        offers = RedisWorkQueue.offers(of: toolchains)
        offerSet = Set(offers)
        offered = Mutex(Self.union(of: [(configuration.hostID, toolchains)]))
    }

    /// Starts the doorbell, the lease renewal and the heartbeat.
    func startBackgroundWork() {
        for (name, body) in [("doorbell", listenForSubmissions), ("leases", renewLeases),
                             ("heartbeat", heartbeatUntilShutDown)] as [(String, @Sendable () -> Void)] {
            let thread = Thread(block: body)
            thread.name = name
            thread.start()
        }
    }

    /// The counters this host kept in Redis before it started.
    func storedCounters() throws(JobStoreError) -> HostCounters {
        try queue.counters(of: configuration.hostID)
    }

    /// Counts this start of the worker in Redis; returns how many starts this host has had.
    func countStart() throws(JobStoreError) -> Int {
        try queue.countStart()
    }

    // MARK: - WorkSource

    /// One script looks for the verdict and, without one, queues the job. An answer never enters
    /// the stream; this host's `cached` counter in Redis counts it in the same step.
    func submit(_ job: CompilationJob, cacheKey: VerdictKey?, from client: ClientIdentity?, at date: Date) throws(JobStoreError) -> Submission {
        let lookup = cacheKey.map {
            VerdictLookup(key: $0, counters: RedisWorkQueue.countersKey(host: configuration.hostID), host: configuration.hostID, date: date)
        }
        switch try queue.submit(job, client: client, perClientLimit: configuration.maxJobsPerClient, capacity: capacity(), answeringFrom: lookup) {
        case let .answered(status, result):
            var answered = job
            answered.host = configuration.hostID
            return .answered(answered.finished(status, at: date), result)
        case let .queued(admission):
            // This host's own idle slots need not wait for the doorbell's round trip.
            if admission == .accepted { bell.ring() }
            return .queued(admission)
        }
    }

    func submitMatrix(
        _ matrix: CompilationMatrix, cells: [MatrixCellJob], from client: ClientIdentity?, at date: Date
    ) throws(JobStoreError) -> (QueueAdmission, answered: Int) {
        let (admission, answers) = try queue.submitMatrix(
            matrix, cells: cells, client: client, perClientLimit: configuration.maxJobsPerClient, capacity: capacity(),
            countingIn: RedisWorkQueue.countersKey(host: configuration.hostID), at: date)
        if admission == .accepted { bell.ring() }
        return (admission, answers.count { $0 != nil })
    }

    func take() -> TakenJob? {
        var failing = false
        while !shuttingDown.load(ordering: .relaxed) {
            let rung = bell.rings
            do {
                taking.lock()
                let taken = Result { () throws(JobStoreError) in
                    try queue.take(
                        offers: offers, claiming: claimCheckDue(), ownIdle: ContinuousClock.now - started,
                        maxTakes: configuration.maxClaims, at: Date())
                }
                taking.unlock()
                if let (ticket, found) = try taken.get() {
                    failing = false
                    if let job = compilable(ticket, found) {
                        inHand.withLock { $0[ticket.jobID] = ticket }
                        return TakenJob(job: job, ticket: ticket)
                    }
                    continue
                }
                failing = false
            } catch {
                if !failing { log("taking a job from the cluster's queue failed (retrying every second): \(error)", level: .warning) }
                failing = true
            }
            bell.wait(after: rung, atMost: Self.claimInterval)
        }
        return nil
    }

    /// The take marked it `processing` already, in the same step.
    func start(_ taken: TakenJob) throws(JobStoreError) -> TransitionOutcome {
        .applied
    }

    /// The finish script releases the client's share with the verdict, atomically.
    func release(_ taken: TakenJob) {}

    func finish(_ taken: TakenJob, with verdict: CompileVerdict) throws(JobStoreError) -> TransitionOutcome {
        try queue.finish(taken.ticket!, status: verdict.status, result: verdict.result, at: Date())
    }

    func done(_ taken: TakenJob) {
        inHand.withLock { _ = $0.removeValue(forKey: taken.job.id) }
    }

    func shutDown() -> Int {
        shuttingDown.store(true, ordering: .relaxed)
        bell.ring(everyone: true)
        heartbeatOpen.withLock { $0 = false }
        do {
            try registry.withdraw(host: configuration.hostID)
        } catch {
            log("could not withdraw this host from the registry (it drops out within \(registry.recordLifetime)): \(error)", level: .warning)
        }
        return 0
    }

    /// Jobs waiting in the whole cluster's queue (this host holds none waiting).
    var waitingCount: Int { (try? queue.waitingCount()) ?? 0 }

    // MARK: - The cluster, for the worker's answers

    /// What the live hosts offer together: each toolchain once, with every target any
    /// host builds for and the hosts that have it; each language's default is the
    /// toolchain of highest priority among them.
    func offeredToolchains() -> [Toolchain] {
        offered.withLock { $0 }
    }

    static func union(of hosts: [(hostID: String, toolchains: [Toolchain])]) -> [Toolchain] {
        var merged: [Toolchain] = []
        for host in hosts {
            for toolchain in host.toolchains {
                if let index = merged.firstIndex(where: { $0.spec.language == toolchain.spec.language && $0.spec.id == toolchain.spec.id }) {
                    merged[index].hosts!.append(host.hostID)
                    for target in toolchain.targets where !merged[index].targets.contains(where: { $0.name == target.name }) {
                        merged[index].targets.append(target)
                    }
                } else {
                    var entry = toolchain
                    entry.hosts = [host.hostID]
                    merged.append(entry)
                }
            }
        }
        for language in Set(merged.map(\.spec.language)) {
            let best = merged.indices.filter { merged[$0].spec.language == language }
                .max { merged[$0].spec.priority < merged[$1].spec.priority }
            for index in merged.indices where merged[index].spec.language == language { merged[index].isDefault = index == best }
        }
        return merged
    }

    /// How many jobs may wait in the cluster: `CLUSTER_QUEUE_SIZE`, or the live hosts' `QUEUE_SIZE` added up.
    func capacity() -> Int {
        if configuration.clusterQueueSize > 0 { return configuration.clusterQueueSize }
        return liveHosts().map(\.queueSize).reduce(0, +)
    }

    /// Seconds until a slot somewhere in the cluster frees, at the measured pace: each live
    /// host frees its slots once per average compile (1 s before it has compiled anything).
    func secondsUntilASlotFrees() -> Int {
        Self.secondsUntilASlotFrees(in: liveHosts())
    }

    static func secondsUntilASlotFrees(in hosts: [HostRecord]) -> Int {
        let slotsPerSecond = hosts.map { host -> Double in
            let average = host.counters.processed > 0 ? Double(host.counters.compileNanoseconds) / 1e9 / Double(host.counters.processed) : 1
            return Double(host.maxWorkers) / max(average, 0.001)
        }.reduce(0, +)
        return min(60, max(1, Int((1 / max(slotsPerSecond, 1.0 / 60)).rounded(.up))))
    }

    /// The live hosts' records by host id: this host's own as it is now, the others' as of
    /// the last heartbeat's reading (each at most two seconds old).
    func liveHosts() -> [HostRecord] {
        let own = localRecord()
        return ([own] + cluster.withLock { $0 }.filter { $0.hostID != own.hostID }).sorted { $0.hostID < $1.hostID }
    }

    // MARK: - Threads

    /// True once a second, for the one take that then also claims expired leases (and
    /// this host's own from before a restart: the first take of all does).
    private func claimCheckDue() -> Bool {
        let now = ContinuousClock.now
        return lastClaimCheck.withLock { last in
            guard last.map({ now - $0 >= Self.claimInterval }) ?? true else { return false }
            last = now
            return true
        }
    }

    /// The job a take found, if it is one to compile; otherwise (it has its verdict already,
    /// it is gone, it is unreadable) its entry leaves the queue here and nil is returned.
    private func compilable(_ ticket: WorkTicket, _ found: RedisWorkQueue.TakenJob) -> CompilationJob? {
        switch found {
        case let .started(job), let .exhausted(job):
            return job
        case let .finished(status):
            end(ticket, why: "it is \(status.rawValue) already")
        case .missing:
            end(ticket, why: "it is gone from the store (expired?)")
        case let .unreadable(key, reason):
            end(ticket, why: "\(key) is unreadable (\(reason))", verdict: CompilationResult(
                jobID: ticket.jobID, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0,
                error: "the job could not be compiled: \(key) is unreadable (\(reason))"))
        }
        return nil
    }

    /// Takes a ticket out of the queue without compiling its job, storing `verdict`
    /// as an error if given (the lifecycle keeps a verdict that exists).
    private func end(_ ticket: WorkTicket, why: String, verdict: CompilationResult? = nil) {
        let result = verdict ?? CompilationResult(jobID: ticket.jobID, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0)
        do {
            _ = try queue.finish(ticket, status: .error, result: result, at: Date(), counted: false)
        } catch .notFound {
            // Acknowledged all the same: the script ends the entry before it looks for the job.
        } catch .corrupt {
            // Likewise: the entry is ended, and an unreadable job cannot take a verdict.
        } catch {
            log("job \(ticket.jobID) (\(why)): could not take it out of the queue; it comes back after its lease: \(error)", level: .warning)
            return
        }
        log("job \(ticket.jobID) taken and not compiled: \(why)")
    }

    /// Jobs wait for an offer (toolchain and target) that no live host has had for a whole
    /// lease (the only hosts with it died or left): nothing would ever compile them. They
    /// end as error, a bounded batch per heartbeat, so that their clients hear of it and
    /// their places in the queue and in their clients' shares come back.
    private func endJobsNoLiveHostOffers(
        live: [HostRecord], unofferedSince: inout [String: ContinuousClock.Instant]
    ) throws(JobStoreError) {
        let now = ContinuousClock.now
        let unoffered = try queue.knownOffers().subtracting(live.flatMap { RedisWorkQueue.offers(of: $0.toolchains) })
        unofferedSince = unofferedSince.filter { unoffered.contains($0.key) }
        for offer in unoffered where unofferedSince[offer] == nil { unofferedSince[offer] = now }
        let lease = Duration.seconds(configuration.leaseSeconds)
        let due = unoffered.filter { now - unofferedSince[$0]! >= lease }.sorted()
        guard !due.isEmpty else { return }
        for _ in 0..<100 {
            guard let (ticket, found) = try queue.take(
                offers: due, claiming: true, ownIdle: ContinuousClock.now - started, maxTakes: 1_000_000, at: Date()) else { return }
            guard compilable(ticket, found) != nil else { continue }
            end(ticket, why: "no live host has offered \(ticket.offer) for \(configuration.leaseSeconds) s", verdict: CompilationResult(
                jobID: ticket.jobID, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0,
                error: "no host of the cluster can compile this job: the hosts that offered \(ticket.offer) are gone (none for JOB_LEASE_SECONDS=\(configuration.leaseSeconds) s)"))
        }
    }

    private func listenForSubmissions() {
        var failing = false
        while !shuttingDown.load(ordering: .relaxed) {
            do {
                let doorbell = try queue.doorbell()
                failing = false
                // Subscribed now: whatever was submitted while it was not is looked for at once.
                bell.ring(everyone: true)
                while let offer = doorbell.next(timeout: .seconds(30)) {
                    // Another host's toolchain is none of this host's business.
                    if offer.isEmpty || offerSet.contains(offer) { bell.ring() }
                }
            } catch {
                if !failing { log("the cluster's doorbell is unavailable (idle slots look for work every second): \(error)", level: .warning) }
                failing = true
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    /// Runs until the process ends: compiles still running while it shuts down keep their
    /// leases. After a failure (Redis unreachable) it tries again four times a second, so
    /// the leases are renewed the moment Redis is back.
    private func renewLeases() {
        let interval = Double(configuration.leaseSeconds) / 4
        var failing = false
        while true {
            Thread.sleep(forTimeInterval: failing ? min(interval, 0.25) : interval)
            let tickets = inHand.withLock { Array($0.values) }
            do {
                for lost in try queue.renew(tickets) {
                    // Finished meanwhile (its entry gone with its verdict) is no loss.
                    guard inHand.withLock({ $0.removeValue(forKey: lost.jobID) }) != nil else { continue }
                    log("job \(lost.jobID): its lease ran out and another host took it; the first verdict stored stands")
                }
                failing = false
            } catch {
                if !failing { log("renewing the leases failed (retrying): \(error)", level: .warning) }
                failing = true
            }
        }
    }

    private func heartbeatUntilShutDown() {
        var failing = false
        var unofferedSince: [String: ContinuousClock.Instant] = [:]
        while !shuttingDown.load(ordering: .relaxed) {
            do {
                storedCountersRead(try storedCounters())
                try queue.publishVerdictCacheTerms(verdictCacheTerms)
                try heartbeatOpen.withLock { open throws(JobStoreError) in
                    if open { try registry.publish(localRecord()) }
                }
                let hosts = try registry.liveHosts()
                cluster.withLock { $0 = hosts }
                let live = liveHosts()
                let union = Self.union(of: live.map { ($0.hostID, $0.toolchains) })
                offered.withLock { $0 = union }
                try endJobsNoLiveHostOffers(live: live, unofferedSince: &unofferedSince)
                failing = false
            } catch {
                if !failing { log("the registry heartbeat failed (retrying every second): \(error)", level: .warning) }
                failing = true
            }
            Thread.sleep(forTimeInterval: Self.claimInterval.timeInterval)
        }
    }
}

/// Wakes threads waiting for work: `rings` counts rings, and a waiter that read it
/// before looking for work misses none that came after.
final class Bell: @unchecked Sendable {
    // @unchecked: `count` is guarded by `condition`.
    private let condition = Condition()
    private var count = 0

    var rings: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Wakes one waiter (a submission is one job), or all of them.
    func ring(everyone: Bool = false) {
        condition.lock()
        count += 1
        if everyone { condition.broadcast() } else { condition.signal() }
        condition.unlock()
    }

    /// Returns once `rings` has passed `seen`, or after `limit`.
    func wait(after seen: Int, atMost limit: Duration) {
        let deadline = ContinuousClock.now + limit
        condition.lock()
        while count == seen, condition.wait(until: deadline) {}
        condition.unlock()
    }
}
