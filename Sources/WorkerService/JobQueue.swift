import Foundation
import WillItCompile

/// A bounded FIFO of jobs waiting for a compile slot.
///
/// `offer` never blocks: a full queue refuses at once (the responder answers 429).
/// `take` blocks a slot thread until a job arrives or the queue is shut down.
final class JobQueue: @unchecked Sendable {
    // @unchecked: all state is guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [CompilationJob] = []
    /// Ids of the jobs waiting here or being compiled, so a recovered job already
    /// in hand (submitted while recovery listed the store) is not queued twice.
    private var present: Set<JobID> = []
    private var head = 0
    private var reserved = 0
    private var isShutDown = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    /// Holds a place for a job about to be stored; false when the queue is full.
    func reserve() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isShutDown, jobs.count - head + reserved < capacity else { return false }
        reserved += 1
        return true
    }

    func cancelReservation() {
        condition.lock()
        reserved -= 1
        condition.unlock()
    }

    /// Fills a reserved place.
    func push(reserved job: CompilationJob) {
        condition.lock()
        reserved -= 1
        jobs.append(job)
        present.insert(job.id)
        condition.signal()
        condition.unlock()
    }

    /// Adds a job whatever the capacity (recovered jobs were accepted once already),
    /// unless it is here or in hand already; false then.
    func pushRecovered(_ job: CompilationJob) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard present.insert(job.id).inserted else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// A job `take` handed out is finished.
    func done(_ id: JobID) {
        condition.lock()
        present.remove(id)
        condition.unlock()
    }

    /// The next job; nil once the queue is shut down.
    func take() -> CompilationJob? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count, !isShutDown { condition.wait() }
        guard !isShutDown else { return nil }
        let job = jobs[head]
        head += 1
        if head > 1024, head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    /// Wakes every `take` with nil and returns the jobs that were still waiting.
    func shutDown() -> [CompilationJob] {
        condition.lock()
        defer { condition.unlock() }
        isShutDown = true
        let left = Array(jobs[head...])
        jobs = []
        present = []
        head = 0
        condition.broadcast()
        return left
    }
}
