import CoreMetrics
import Foundation
public import JobStore
import Logging
public import ServiceMetrics
import Synchronization
public import WillItCompile

/// The worker's logic, without the socket: takes requests, hands jobs to its work
/// source (the local queue in memory mode, the cluster's queue in Redis mode), runs
/// `maxWorkers` compile slots, writes every transition to the store, and counts what happened.
public final class WorkerDaemon: Sendable {
    /// Shared with the cluster source's heartbeat, which reads them for this host's record.
    private final class Counters: Sendable {
        struct Values {
            var active = 0
            var stored = HostCounters()
        }

        private let values = Mutex(Values())

        func withLock<Result: Sendable>(_ body: (inout Values) -> Result) -> Result {
            values.withLock { body(&$0) }
        }
    }

    private let configuration: ServiceConfiguration
    private let store: any JobStore
    public let toolchains: [Toolchain]
    private let sandbox: Sandbox
    private let work: any WorkSource
    /// The same source in Redis mode, for what the cluster offers and holds.
    private let cluster: ClusterWorkSource?
    /// What responders need to answer from the verdict cache in this worker's name.
    private let verdictCacheTerms: VerdictCacheTerms
    private let counters = Counters()
    private let shuttingDown = Atomic<Bool>(false)
    private let slotsFinished = DispatchGroup()
    private let startTime = Date()
    /// The host's metrics: this worker's and the responders'.
    private let metrics: HostMetrics

    public init(
        configuration: ServiceConfiguration, store: any JobStore, toolchains: [Toolchain], sandbox: Sandbox, metrics: HostMetrics
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.store = store
        self.toolchains = toolchains
        self.sandbox = sandbox
        verdictCacheTerms = VerdictCacheTerms(limits: sandbox.limits, hostID: configuration.worker.hostID)
        if let redis = store as? RedisJobStore {
            // A slot takes a job from the cluster only when it is free: none waits on this host.
            let cluster = ClusterWorkSource(
                store: redis, configuration: configuration.worker, toolchains: toolchains, verdictCacheTerms: verdictCacheTerms, localRecord: { [counters, startTime] in
                    Self.record(configuration.worker, startTime: startTime, counters: counters, queued: 0, toolchains: toolchains)
                }, storedCounters: { [counters] stored in
                    counters.withLock { $0.stored.cached = stored.cached }
                })
            self.cluster = cluster
            work = cluster
        } else {
            cluster = nil
            work = LocalWorkSource(store: store, capacity: configuration.worker.queueSize, perClientLimit: configuration.worker.maxJobsPerClient)
        }
    }

    /// This host as it is now: what the registry and the stats show of it.
    private static func record(
        _ configuration: WorkerConfiguration, startTime: Date, counters: Counters, queued: Int, toolchains: [Toolchain]
    ) -> HostRecord {
        let (active, stored) = counters.withLock { ($0.active, $0.stored) }
        return HostRecord(
            hostID: configuration.hostID, startTime: startTime, maxWorkers: configuration.maxWorkers,
            queueSize: configuration.queueSize, activeWorkers: active, queuedJobs: queued, counters: stored, toolchains: toolchains)
    }

    /// Starts the compile slots (in Redis mode once this host's counters are read back,
    /// and with the cluster's doorbell, lease renewal and heartbeat), and index pruning.
    public func start() {
        Gauge(label: MetricName.workerStartTime).record(startTime.timeIntervalSince1970)
        if let cluster {
            loadStoredCounters(from: cluster)
            cluster.startBackgroundWork()
        } else {
            Counter(label: MetricName.workerStarts).increment()
        }
        for slot in 0..<configuration.worker.maxWorkers {
            slotsFinished.enter()
            let thread = Thread { [self] in
                // The next job's cgroup is prepared while the slot waits for that job.
                let sandboxSlot = sandbox.makeSlot(named: "slot\(slot)")
                sandboxSlot?.prepare()
                while let taken = work.take() {
                    process(taken, in: sandboxSlot)
                    // After the verdict is stored: nothing of this job is left when the next starts.
                    sandboxSlot?.removeFinished()
                    sandboxSlot?.prepare()
                }
                sandboxSlot?.discard()
                slotsFinished.leave()
            }
            thread.name = "compile-slot-\(slot)"
            thread.start()
        }
        let pruning = Thread { [self] in pruneIndexesUntilShutDown() }
        pruning.name = "index-pruning"
        pruning.start()
    }

    /// This host's counters survive a restart: they continue from what Redis holds,
    /// which also counts this start. Waits while Redis is unreachable, as every other
    /// part of the worker would.
    private func loadStoredCounters(from cluster: ClusterWorkSource) {
        var attempt = 0
        while !shuttingDown.load(ordering: .sequentiallyConsistent) {
            do {
                let stored = try cluster.storedCounters()
                Counter(label: MetricName.workerStarts).increment(by: Int64(try cluster.countStart()))
                counters.withLock { $0.stored = stored }
                return
            } catch {
                if attempt == 0 { log("reading this host's counters waits for Redis: \(error)", level: .warning) }
                attempt += 1
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    /// Refuses new work, lets running compiles finish (at most `limit`), and leaves
    /// jobs that never started queued (in the store, and in Redis mode in the cluster's queue).
    public func shutDown(waitingAtMost limit: Duration) {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        let left = work.shutDown()
        if left > 0 {
            log("shutting down: \(left) queued job(s) are left queued")
        }
        if slotsFinished.wait(timeout: .now() + limit.timeInterval) == .timedOut {
            log("shutting down: compiles still running after \(limit); they end with the process", level: .warning)
        }
    }

    public func handle(_ request: WorkerRequest) -> WorkerReply {
        switch request {
        case .ping:
            return .pong
        case let .submit(job, client):
            return submit(job, from: client)
        case let .submitMatrix(matrix, cells, client):
            return submitMatrix(matrix, cells: cells, from: client)
        case let .readMatrix(id):
            do {
                return .matrix(try store.matrix(id))
            } catch {
                return .failure(WorkerFailure(.storeUnavailable, error.description))
            }
        case .stats:
            return .stats(stats())
        case .toolchains:
            guard let cluster else { return .toolchains(toolchains, nil) }
            return .toolchains(cluster.offeredToolchains(), verdictCacheTerms)
        case let .readJob(id, wait):
            do {
                // Bounded here too: the socket is not the HTTP API's only possible client.
                let found = try store.jobWithResult(id, waitingUpTo: .milliseconds(min(wait, 60_000)))
                return .job(found?.0, found?.1)
            } catch {
                return .failure(WorkerFailure(.storeUnavailable, error.description))
            }
        case let .recordMetrics(batch):
            do {
                try metrics.add(batch)
                return .recorded
            } catch {
                return .failure(error)
            }
        case .metrics:
            let busy = counters.withLock { $0.active }
            Gauge(label: MetricName.queueDepth).record(work.waitingCount)
            Gauge(label: MetricName.busySlots).record(busy)
            Gauge(label: MetricName.slots).record(configuration.worker.maxWorkers)
            return .metrics(metrics.exposition())
        }
    }

    /// This host's counters; in Redis mode the live hosts' totals, with a row per host.
    public func stats() -> WorkerStats {
        let now = Date()
        guard let cluster else {
            return Self.record(configuration.worker, startTime: startTime, counters: counters, queued: work.waitingCount, toolchains: toolchains)
                .stats(now: now)
        }
        // Responders answer from the verdict cache too, counting in Redis: the count is read from there.
        if let stored = try? cluster.storedCounters() { counters.withLock { $0.stored.cached = stored.cached } }
        let hosts = cluster.liveHosts()
        var total = WorkerStats(
            maxWorkers: hosts.map(\.maxWorkers).reduce(0, +), activeWorkers: hosts.map(\.activeWorkers).reduce(0, +),
            queuedJobs: work.waitingCount, totalProcessed: hosts.map(\.counters.processed).reduce(0, +),
            totalSuccessful: hosts.map(\.counters.successful).reduce(0, +), totalFailed: hosts.map(\.counters.failed).reduce(0, +),
            totalTimeout: hosts.map(\.counters.timeout).reduce(0, +), totalErrors: hosts.map(\.counters.errors).reduce(0, +),
            totalCached: hosts.map(\.counters.cached).reduce(0, +),
            startTime: hosts.map(\.startTime).min() ?? startTime, now: now)
        total.hosts = hosts.map { HostStats(hostID: $0.hostID, stats: $0.stats(now: now)) }
        return total
    }

    private func submit(_ submitted: CompilationJob, from client: ClientIdentity?) -> WorkerReply {
        guard !shuttingDown.load(ordering: .sequentiallyConsistent) else {
            return .failure(WorkerFailure(.shuttingDown, "the worker is shutting down and takes no new jobs"))
        }
        let (job, toolchain): (CompilationJob, Toolchain)
        do {
            (job, toolchain) = try queued(submitted, offered: cluster?.offeredToolchains() ?? toolchains)
        } catch {
            return .failure(WorkerFailure(.unsupportedJob, error.description))
        }
        do {
            // Answered at once, before the queue: it takes no slot and no place in the client's share.
            let cacheKey = job.request.useCache ? sandbox.verdictKey(for: job.request, with: toolchain) : nil
            switch try work.submit(job, cacheKey: cacheKey, from: client, at: Date()) {
            case let .answered(answered, result):
                countCachedAnswers(1)
                Counter(label: MetricName.verdictCacheHits).increment()
                logVerdict(of: answered, status: answered.status, result: result)
                var shown = answered
                shown.request = answered.request.withoutSources  // the responder has it; no answer shows it
                return .answered(shown, result)
            case let .queued(admission):
                return reply(to: admission, accepting: job.id)
            }
        } catch {
            return reply(to: error)
        }
    }

    /// A matrix's cells, each checked and named as `submit` checks and names a job, stored
    /// and queued all or nothing; the cells the verdict cache answers are counted as cached.
    private func submitMatrix(_ matrix: CompilationMatrix, cells submitted: [CompilationJob], from client: ClientIdentity?) -> WorkerReply {
        guard !shuttingDown.load(ordering: .sequentiallyConsistent) else {
            return .failure(WorkerFailure(.shuttingDown, "the worker is shutting down and takes no new jobs"))
        }
        let offered = cluster?.offeredToolchains() ?? toolchains
        var cells: [MatrixCellJob] = []
        for submittedJob in submitted {
            do {
                let (job, toolchain) = try queued(submittedJob, offered: offered)
                cells.append(MatrixCellJob(job: job, cacheKey: job.request.useCache ? sandbox.verdictKey(for: job.request, with: toolchain) : nil))
            } catch {
                return .failure(WorkerFailure(.unsupportedJob, "cell \(MatrixCell(of: submittedJob)): \(error.description)"))
            }
        }
        var record = matrix
        record.cells = cells.map { MatrixCell(of: $0.job) }
        do {
            let (admission, answered) = try work.submitMatrix(record, cells: cells, from: client, at: Date())
            if answered > 0 {
                countCachedAnswers(answered)
                Counter(label: MetricName.verdictCacheHits).increment(by: answered)
            }
            return reply(to: admission, accepting: matrix.id)
        } catch {
            return reply(to: error)
        }
    }

    /// The job as it is stored and queued: queued, with no times or host of its own yet, and its
    /// compiler and standard named (as the responder names them: it waits for exactly this
    /// compiler); in a cluster, a job for a toolchain only other hosts offer is theirs to compile.
    private func queued(_ submitted: CompilationJob, offered: [Toolchain]) throws(RequestValidationError) -> (CompilationJob, Toolchain) {
        let toolchain = try offered.resolve(submitted.request)
        var job = submitted
        job.request.compiler = toolchain.spec.id
        job.request.standard = job.request.standard ?? toolchain.spec.defaultStandard
        job.status = .queued
        job.startedAt = nil
        job.completedAt = nil
        job.host = nil
        return (job, toolchain)
    }

    /// The reply to a submission the queue took or refused.
    private func reply(to admission: QueueAdmission, accepting id: JobID) -> WorkerReply {
        switch admission {
        case .accepted:
            return .accepted(id)
        case let .queueFull(waiting, capacity):
            let seconds = cluster?.secondsUntilASlotFrees()
                ?? retryAfterSeconds(compiles: Double(waiting) / Double(configuration.worker.maxWorkers))
            return .queueFull(capacity: capacity, retryAfterSeconds: seconds)
        case let .clientLimit(share):
            // A place frees when one of its jobs ends, and the fair share brings its first one to a slot soon.
            return .tooManyJobs(share, retryAfterSeconds: retryAfterSeconds(compiles: 1))
        }
    }

    /// The reply to a submission the store did not take.
    private func reply(to error: JobStoreError) -> WorkerReply {
        switch error {
        case .duplicate: .failure(WorkerFailure(.duplicateJob, error.description))
        case .full: .failure(WorkerFailure(.storeFull, error.description))
        default: .failure(WorkerFailure(.storeUnavailable, error.description))
        }
    }

    /// Roughly how long `compiles` compiles take, at the average so far; at least 1 s, at most 60 s.
    /// A full queue frees a place after its jobs divided among the slots.
    private func retryAfterSeconds(compiles: Double) -> Int {
        let average = counters.withLock { counters in
            counters.stored.processed > 0 ? Double(counters.stored.compileNanoseconds) / 1e9 / Double(counters.stored.processed) : 1.0
        }
        return min(60, max(1, Int((average * compiles).rounded(.up))))
    }

    private func process(_ taken: TakenJob, in slot: SandboxSlot?) {
        let job = taken.job
        counters.withLock { $0.active += 1 }
        var counted = false
        defer {
            if !counted { counters.withLock { $0.active -= 1 } }
            work.done(taken)
        }
        switch taken.ticket?.origin {
        case .beforeRestart?: log("job \(job.id): taken back from before this worker restarted (take \(taken.takes))")
        case .expiredLease?: log("job \(job.id): its host's lease ran out; taken over (take \(taken.takes))")
        case .new?, nil: break
        }
        if taken.takes > configuration.worker.maxClaims {
            // Each host that took it stopped before its verdict: compiling it again could take down another.
            let result = CompilationResult(
                jobID: job.id, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0,
                error: "the job was taken \(taken.takes - 1) times and each host compiling it stopped before its verdict; it is not compiled again (JOB_MAX_CLAIMS=\(configuration.worker.maxClaims))")
            log("job \(job.id): taken \(taken.takes - 1) times without a verdict; ended as error", level: .warning)
            finish(taken, with: CompileVerdict(status: .error, result: result), counted: &counted)
            return
        }
        do {
            if case let .refused(current) = try work.start(taken), current.isTerminal {
                return  // Finished already (by another host whose lease ran out, say).
            }
        } catch .notFound {
            log("job \(job.id) vanished from the store before it started (expired?); skipped")
            return
        } catch {
            // Compile anyway; the verdict write below retries.
            log("job \(job.id): could not mark processing: \(error)", level: .warning)
        }
        let verdict: CompileVerdict
        do {
            let toolchain = try toolchains.resolve(job.request)
            verdict = sandbox.compile(job, with: toolchain, in: slot)
            Timer(label: MetricName.compileDuration, dimensions: [("toolchain", toolchain.spec.id), ("verdict", verdict.status.rawValue)])
                .recordNanoseconds(verdict.result.durationNanoseconds)
        } catch {
            verdict = CompileVerdict(status: .error, result: CompilationResult(
                jobID: job.id, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0,
                error: "the requested toolchain is not available on this worker: \(error)"))
        }
        finish(taken, with: verdict, counted: &counted)
    }

    /// Counts the verdict, frees the slot and the client's place (before anyone can read
    /// the verdict: a client that has its verdict never sees stats that still show the
    /// compile running, nor is refused for holding that job), then stores it.
    private func finish(_ taken: TakenJob, with verdict: CompileVerdict, counted: inout Bool) {
        logVerdict(of: taken.job, status: verdict.status, result: verdict.result)
        record(verdict)
        work.release(taken)
        counted = true
        // Cached before the job's verdict is readable: a client that has it and asks again is answered from the cache.
        cache(verdict, of: taken.job)
        writeVerdict(verdict, of: taken)
    }

    /// In memory mode this worker's own count; in Redis mode the script that answered counted it
    /// in Redis, which `stats` and the heartbeat read.
    private func countCachedAnswers(_ count: Int) {
        if cluster == nil { counters.withLock { $0.stored.cached += count } }
    }

    /// The job's one log line: its verdict, compiled here or answered from the verdict cache.
    /// Ids, the toolchain and the outcome only: never the source, the flags or the output.
    private func logVerdict(of job: CompilationJob, status: JobStatus, result: CompilationResult) {
        var metadata: Logger.Metadata = [
            "job_id": "\(job.id)", "toolchain": "\(job.request.compiler ?? "none")", "verdict": "\(status.rawValue)",
            "exit_code": "\(result.exitCode)", "duration_ms": "\(Double(result.durationNanoseconds / 1000) / 1000)",
            "cached": "\(result.cached)",
        ]
        if let requestID = job.requestID { metadata["request_id"] = "\(requestID)" }
        workerLog.log(level: status == .error ? .warning : .info, "compile", metadata: metadata)
    }

    /// Keeps a verdict about the code (`completed`, `failed`) for identical requests, also
    /// when this one bypassed the cache (and also should another host's verdict stand for
    /// this job: this one is as true); a `timeout` or `error` may go otherwise next time.
    /// A verdict that cannot be cached is only logged: the job gets it all the same.
    private func cache(_ verdict: CompileVerdict, of job: CompilationJob) {
        guard verdict.status == .completed || verdict.status == .failed,
              let toolchain = try? toolchains.resolve(job.request) else { return }
        do {
            try store.cacheVerdict(verdict.result, status: verdict.status, under: sandbox.verdictKey(for: job.request, with: toolchain))
        } catch {
            log("job \(job.id): its verdict could not be cached: \(error)", level: .warning)
        }
    }

    /// Counts a verdict (`counting` 1, freeing its slot too) or takes a refused one back (-1).
    private func record(_ verdict: CompileVerdict, counting change: Int = 1) {
        counters.withLock { counters in
            if change > 0 { counters.active -= 1 }
            counters.stored.processed += change
            counters.stored.compileNanoseconds += Int64(change) * verdict.result.durationNanoseconds
            switch verdict.status {
            case .completed: counters.stored.successful += change
            case .failed: counters.stored.failed += change
            case .timeout: counters.stored.timeout += change
            case .error, .queued, .processing: counters.stored.errors += change
            }
        }
    }

    /// Writes the verdict, retrying for as long as the store is unreachable (every
    /// 2 s at most): an accepted job must get its verdict. Once the worker is shutting
    /// down it stops trying; in Redis mode the job's lease then runs out and a host
    /// takes it again (a restart of this one at once); in memory mode it is lost with
    /// the store anyway. Any other error would come again on every attempt (the store
    /// refused the write, or the job's stored data is unreadable): it is logged and the
    /// slot moves on, or a few such jobs would hold every slot for ever.
    private func writeVerdict(_ verdict: CompileVerdict, of taken: TakenJob) {
        let job = taken.job
        var delay = 0.1
        var attempt = 1
        while true {
            do {
                if case let .refused(current) = try work.finish(taken, with: verdict) {
                    // Another compile's verdict stands (a host whose lease ran out, say): this one is not counted.
                    record(verdict, counting: -1)
                    log("job \(job.id): verdict \(verdict.status.rawValue) refused, job is already \(current.rawValue)")
                }
                return
            } catch .notFound {
                log("job \(job.id) vanished from the store before its verdict (expired?)")
                return
            } catch .unavailable(let reason) {
                if attempt == 1 || attempt.isMultiple(of: 10) {
                    log("job \(job.id): writing the verdict failed (attempt \(attempt)), retrying until the store is back: \(reason)", level: .warning)
                }
                if shuttingDown.load(ordering: .sequentiallyConsistent) {
                    log("job \(job.id): shutting down with its verdict unwritten; it is compiled again", level: .warning)
                    return
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 2)
                attempt += 1
            } catch {
                log("job \(job.id): its verdict \(verdict.status.rawValue) cannot be stored, and retrying would not change that: \(error)", level: .error)
                return
            }
        }
    }

    /// Keeps the status indexes to live jobs: a bounded batch every `indexPruneInterval`.
    /// A failure is logged once until pruning works again (the store may be down for a while).
    private func pruneIndexesUntilShutDown() {
        var failing = false
        while !shuttingDown.load(ordering: .sequentiallyConsistent) {
            do {
                _ = try store.pruneIndexes()
                failing = false
            } catch {
                if !failing { log("pruning the status indexes failed (retrying): \(error)", level: .warning) }
                failing = true
            }
            Thread.sleep(forTimeInterval: Self.indexPruneInterval)
        }
    }

    static let indexPruneInterval: TimeInterval = 1
}
