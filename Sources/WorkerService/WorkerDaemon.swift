import Foundation
public import JobStore
import Synchronization
public import WillItCompile

/// The worker's logic, without the socket: takes requests, keeps the bounded
/// queue with each client's share, runs `maxWorkers` compile slots, writes every
/// transition to the store, and counts what happened.
public final class WorkerDaemon: Sendable {
    private struct Counters {
        var active = 0
        var processed = 0
        var successful = 0
        var failed = 0
        var timeout = 0
        var errors = 0
        var compileSeconds = 0.0
    }

    private let configuration: ServiceConfiguration
    private let store: any JobStore
    public let toolchains: [Toolchain]
    private let sandbox: Sandbox
    private let queue: JobQueue
    private let counters = Mutex(Counters())
    private let shuttingDown = Atomic<Bool>(false)
    private let slotsFinished = DispatchGroup()
    private let startTime = Date()

    public init(configuration: ServiceConfiguration, store: any JobStore, toolchains: [Toolchain], sandbox: Sandbox) {
        self.configuration = configuration
        self.store = store
        self.toolchains = toolchains
        self.sandbox = sandbox
        self.queue = JobQueue(capacity: configuration.worker.queueSize, perOwnerLimit: configuration.worker.maxJobsPerClient)
    }

    /// Starts the compile slots, and recovery of this host's unfinished jobs in the background.
    public func start() {
        for slot in 0..<configuration.worker.maxWorkers {
            slotsFinished.enter()
            let thread = Thread { [self] in
                while let job = queue.take() { process(job) }
                slotsFinished.leave()
            }
            thread.name = "compile-slot-\(slot)"
            thread.start()
        }
        let recovery = Thread { [self] in recoverUntilDone() }
        recovery.name = "recovery"
        recovery.start()
        let pruning = Thread { [self] in pruneIndexesUntilShutDown() }
        pruning.name = "index-pruning"
        pruning.start()
    }

    /// Refuses new work, lets running compiles finish (at most `limit`), and
    /// leaves jobs that never started `queued` in the store for the next start.
    public func shutDown(waitingAtMost limit: Duration) {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        let left = queue.shutDown()
        if !left.isEmpty {
            log("shutting down: \(left.count) queued job(s) stay queued for the next start")
        }
        if slotsFinished.wait(timeout: .now() + limit.timeInterval) == .timedOut {
            log("shutting down: compiles still running after \(limit); they end with the process")
        }
    }

    public func handle(_ request: WorkerRequest) -> WorkerReply {
        switch request {
        case .ping:
            return .pong
        case let .submit(job, client):
            return submit(job, from: client)
        case .stats:
            return .stats(stats())
        case .toolchains:
            return .toolchains(toolchains)
        case let .readJob(id, wait):
            do {
                // Bounded here too: the socket is not the HTTP API's only possible client.
                let found = try store.jobWithResult(id, waitingUpTo: .milliseconds(min(wait, 60_000)))
                return .job(found?.0, found?.1)
            } catch {
                return .failure(WorkerFailure(.storeUnavailable, error.description))
            }
        }
    }

    public func stats() -> WorkerStats {
        let queued = queue.count
        return counters.withLock { counters in
            WorkerStats(
                maxWorkers: configuration.worker.maxWorkers, activeWorkers: counters.active, queuedJobs: queued,
                totalProcessed: counters.processed, totalSuccessful: counters.successful,
                totalFailed: counters.failed, totalTimeout: counters.timeout, totalErrors: counters.errors,
                startTime: startTime, now: Date())
        }
    }

    private func submit(_ submitted: CompilationJob, from client: ClientIdentity?) -> WorkerReply {
        guard !shuttingDown.load(ordering: .sequentiallyConsistent) else {
            return .failure(WorkerFailure(.shuttingDown, "the worker is shutting down and takes no new jobs"))
        }
        do {
            _ = try toolchains.resolve(submitted.request)
        } catch {
            return .failure(WorkerFailure(.unsupportedJob, error.description))
        }
        var job = submitted
        job.status = .queued
        job.startedAt = nil
        job.completedAt = nil
        job.host = configuration.worker.hostID
        let owner = JobOwner.client(client)
        switch queue.reserve(for: owner) {
        case .granted:
            break
        case .queueFull:
            return .queueFull(retryAfterSeconds: retryAfterSeconds(compiles: Double(queue.count) / Double(configuration.worker.maxWorkers)))
        case let .ownerLimit(share):
            // A place frees when one of its jobs ends, and the fair share brings its first one to a slot soon.
            return .tooManyJobs(share, retryAfterSeconds: retryAfterSeconds(compiles: 1))
        }
        do {
            try store.create(job)
        } catch {
            queue.cancelReservation(for: owner)
            if case .duplicate = error {
                return .failure(WorkerFailure(.duplicateJob, error.description))
            }
            if case .full = error {
                return .failure(WorkerFailure(.storeFull, error.description))
            }
            return .failure(WorkerFailure(.storeUnavailable, error.description))
        }
        queue.push(reserved: job, for: owner)
        return .accepted(job.id)
    }

    /// Roughly how long `compiles` compiles take, at the average so far; at least 1 s, at most 60 s.
    /// A full queue frees a place after its jobs divided among the slots.
    private func retryAfterSeconds(compiles: Double) -> Int {
        let average = counters.withLock { counters in
            counters.processed > 0 ? counters.compileSeconds / Double(counters.processed) : 1.0
        }
        return min(60, max(1, Int((average * compiles).rounded(.up))))
    }

    private func process(_ job: CompilationJob) {
        counters.withLock { $0.active += 1 }
        var counted = false
        defer {
            if !counted { counters.withLock { $0.active -= 1 } }
            queue.done(job.id)
        }
        do {
            if case let .refused(current) = try store.transition(job.id, to: .processing, at: Date(), result: nil),
               current.isTerminal {
                return  // Finished already (a recovered job that had completed meanwhile).
            }
        } catch .notFound {
            log("job \(job.id) vanished from the store before it started (expired?); skipped")
            return
        } catch {
            // Compile anyway; the verdict write below retries, and recovery covers a longer outage.
            log("job \(job.id): could not mark processing: \(error)")
        }
        let verdict: CompileVerdict
        do {
            let toolchain = try toolchains.resolve(job.request)
            verdict = sandbox.compile(job, with: toolchain)
        } catch {
            verdict = CompileVerdict(status: .error, result: CompilationResult(
                jobID: job.id, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0,
                error: "the requested toolchain is not available on this worker: \(error)"))
        }
        // Counted, the slot freed and the job no longer held against its client, before
        // anyone can read the verdict: a client that has its verdict never sees stats that
        // still show the compile running, nor is refused for holding that job.
        record(verdict)
        queue.release(job.id)
        counted = true
        writeVerdict(verdict, of: job)
    }

    private func record(_ verdict: CompileVerdict) {
        counters.withLock { counters in
            counters.active -= 1
            counters.processed += 1
            counters.compileSeconds += Double(verdict.result.durationNanoseconds) / 1e9
            switch verdict.status {
            case .completed: counters.successful += 1
            case .failed: counters.failed += 1
            case .timeout: counters.timeout += 1
            case .error, .queued, .processing: counters.errors += 1
            }
        }
    }

    /// Writes the verdict, retrying for as long as the store is unreachable (every
    /// 2 s at most): an accepted job must get its verdict, and a worker that gave up
    /// would leave it `processing` until some later restart. Once the worker is
    /// shutting down it stops trying; the next start's recovery compiles the job again.
    /// Any other error would come again on every attempt (the store refused the write,
    /// or the job's stored data is unreadable): it is logged and the slot moves on,
    /// or a few such jobs would hold every slot for ever.
    private func writeVerdict(_ verdict: CompileVerdict, of job: CompilationJob) {
        var delay = 0.1
        var attempt = 1
        while true {
            do {
                if case let .refused(current) = try store.transition(
                    job.id, to: verdict.status, at: Date(), result: verdict.result) {
                    log("job \(job.id): verdict \(verdict.status.rawValue) refused, job is already \(current.rawValue)")
                }
                return
            } catch .notFound {
                log("job \(job.id) vanished from the store before its verdict (expired?)")
                return
            } catch .unavailable(let reason) {
                if attempt == 1 || attempt.isMultiple(of: 10) {
                    log("job \(job.id): writing the verdict failed (attempt \(attempt)), retrying until the store is back: \(reason)")
                }
                if shuttingDown.load(ordering: .sequentiallyConsistent) {
                    log("job \(job.id): shutting down with its verdict unwritten; the next start compiles it again")
                    return
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 2)
                attempt += 1
            } catch {
                log("job \(job.id): its verdict \(verdict.status.rawValue) cannot be stored, and retrying would not change that: \(error)")
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
                if !failing { log("pruning the status indexes failed (retrying): \(error)") }
                failing = true
            }
            Thread.sleep(forTimeInterval: Self.indexPruneInterval)
        }
    }

    static let indexPruneInterval: TimeInterval = 1

    /// Puts this host's `queued` and `processing` jobs back in the queue; retries
    /// every 2 s while the store is unreachable (or refuses to list the jobs).
    private func recoverUntilDone() {
        while !shuttingDown.load(ordering: .sequentiallyConsistent) {
            do {
                try recover()
                return
            } catch {
                log("recovery waits for the store: \(error)")
                Thread.sleep(forTimeInterval: 2)
            }
        }
    }

    private func recover() throws(JobStoreError) {
        var recovered = 0
        for status in [JobStatus.processing, .queued] {
            for id in try store.jobIDs(withStatus: status) {
                do {
                    guard let job = try store.job(id), job.host == configuration.worker.hostID,
                          !job.status.isTerminal else { continue }
                    if queue.pushRecovered(job) { recovered += 1 }
                } catch .corrupt(let key, let reason) {
                    let result = CompilationResult(
                        jobID: id, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0,
                        error: "the job could not be recovered after a worker restart: \(key) is unreadable (\(reason))")
                    do {
                        _ = try store.transition(id, to: .error, at: Date(), result: result)
                        log("job \(id) ended as error: unreadable after restart (\(reason))")
                    } catch .unavailable(let outage) {
                        throw .unavailable(outage)
                    } catch {
                        // Waiting would not help, and the other jobs must still be recovered.
                        log("job \(id) is unreadable (\(reason)) and cannot be ended as error either, skipped: \(error)")
                    }
                }
            }
        }
        if recovered > 0 { log("recovered \(recovered) unfinished job(s) of host \(configuration.worker.hostID)") }
    }
}
