import Foundation
import JobStore
import WillItCompile

/// A job a compile slot holds: taken from the local queue, or leased from the cluster's.
struct TakenJob: Sendable {
    var job: CompilationJob
    /// The cluster queue's lease; nil for the local queue.
    var ticket: WorkTicket?
    /// How many times the job has been taken, this time included.
    var takes: Int { ticket?.takes ?? 1 }
}

/// Where a worker's jobs wait until a slot takes them, and how they leave: the local
/// queue of one host (memory mode) or the cluster's queue in Redis.
protocol WorkSource: Sendable {
    /// Answers the job from the verdict cache under `cacheKey` when that holds its verdict
    /// (stored finished at `date`, counted for this host; it takes no place in the queue and
    /// no queue or share limit refuses it), else stores it as queued and enqueues it, unless
    /// the queue or the client's share is full.
    func submit(_ job: CompilationJob, cacheKey: VerdictKey?, from client: ClientIdentity?, at date: Date) throws(JobStoreError) -> Submission
    /// Stores the matrix and its cells (`JobStore.createMatrix`) and enqueues every cell the
    /// verdict cache did not answer, all or nothing, unless those do not fit in the queue or
    /// the client's share (each of which takes a matrix larger than it only when empty).
    /// - Returns: the admission and, when accepted, how many cells the cache answered.
    func submitMatrix(
        _ matrix: CompilationMatrix, cells: [MatrixCellJob], from client: ClientIdentity?, at date: Date
    ) throws(JobStoreError) -> (QueueAdmission, answered: Int)
    /// Blocks until a job for one of this host's slots comes; nil once shut down.
    func take() -> TakenJob?
    /// Marks the job `processing` by this host.
    func start(_ taken: TakenJob) throws(JobStoreError) -> TransitionOutcome
    /// The compile is over: the job no longer counts against its client (before its
    /// verdict is readable, so a client holding its verdict is never refused for that job).
    func release(_ taken: TakenJob)
    /// Stores the verdict, and with it ends the job's place in the queue.
    func finish(_ taken: TakenJob, with verdict: CompileVerdict) throws(JobStoreError) -> TransitionOutcome
    /// The slot is done with the job, whatever became of its verdict.
    func done(_ taken: TakenJob)
    /// Wakes every `take` with nil; returns how many jobs still wait here.
    func shutDown() -> Int
    /// Jobs waiting for a slot, in this queue.
    var waitingCount: Int { get }
}

/// What became of a submission.
enum Submission {
    /// Answered from the verdict cache: the job as stored, finished, and its result.
    case answered(CompilationJob, CompilationResult)
    /// Taken into the queue, or refused.
    case queued(QueueAdmission)
}

/// Memory mode: one host's bounded queue, with each client's fair share, in front of its store.
final class LocalWorkSource: WorkSource {
    private let store: any JobStore
    private let queue: JobQueue

    init(store: any JobStore, capacity: Int, perClientLimit: Int) {
        self.store = store
        queue = JobQueue(capacity: capacity, perOwnerLimit: perClientLimit)
    }

    func submit(_ job: CompilationJob, cacheKey: VerdictKey?, from client: ClientIdentity?, at date: Date) throws(JobStoreError) -> Submission {
        if let cacheKey, let (status, result) = try store.answerFromCache(job, key: cacheKey, at: date) {
            return .answered(job.finished(status, at: date), result)
        }
        return .queued(try enqueue(job, from: client))
    }

    private func enqueue(_ job: CompilationJob, from client: ClientIdentity?) throws(JobStoreError) -> QueueAdmission {
        switch queue.reserve(for: client) {
        case .granted:
            break
        case .queueFull:
            return .queueFull(waiting: queue.count, capacity: queue.capacity)
        case let .ownerLimit(share):
            return .clientLimit(share)
        }
        do {
            try store.create(job)
        } catch {
            queue.cancelReservation(for: client)
            throw error
        }
        queue.push(reserved: job, for: client)
        return .accepted
    }

    /// Every cell takes a place until the store says which the cache answered: a matrix
    /// that fits only thanks to its cached cells is refused here, where the cluster takes it.
    func submitMatrix(
        _ matrix: CompilationMatrix, cells: [MatrixCellJob], from client: ClientIdentity?, at date: Date
    ) throws(JobStoreError) -> (QueueAdmission, answered: Int) {
        switch queue.reserve(for: client, count: cells.count) {
        case .granted:
            break
        case .queueFull:
            return (.queueFull(waiting: queue.count, capacity: queue.capacity), 0)
        case let .ownerLimit(share):
            return (.clientLimit(share), 0)
        }
        let answers: [(JobStatus, CompilationResult)?]
        do {
            answers = try store.createMatrix(matrix, cells: cells, at: date)
        } catch {
            queue.cancelReservation(for: client, count: cells.count)
            throw error
        }
        for (cell, answer) in zip(cells, answers) {
            if answer == nil { queue.push(reserved: cell.job, for: client) } else { queue.cancelReservation(for: client) }
        }
        return (.accepted, answers.count { $0 != nil })
    }

    func take() -> TakenJob? {
        queue.take().map { TakenJob(job: $0) }
    }

    func start(_ taken: TakenJob) throws(JobStoreError) -> TransitionOutcome {
        try store.transition(taken.job.id, to: .processing, at: Date(), result: nil)
    }

    func release(_ taken: TakenJob) {
        queue.release(taken.job.id)
    }

    func finish(_ taken: TakenJob, with verdict: CompileVerdict) throws(JobStoreError) -> TransitionOutcome {
        try store.transition(taken.job.id, to: verdict.status, at: Date(), result: verdict.result)
    }

    func done(_ taken: TakenJob) {
        queue.release(taken.job.id)
    }

    func shutDown() -> Int {
        queue.shutDown().count
    }

    var waitingCount: Int { queue.count }
}
