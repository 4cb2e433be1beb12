import Foundation
import POSIXSupport
import WillItCompile

/// Whose share a job counts against: its client; nil is every job submitted without
/// an identity, one share together.
typealias JobOwner = ClientIdentity?

/// The bounded set of jobs waiting for a compile slot, shared fairly among their owners.
///
/// `reserve` never blocks: a full queue, or an owner holding `perOwnerLimit` jobs
/// (waiting, being stored, or being compiled), is refused at once (the responder answers 429).
/// `take` blocks a slot thread until a job arrives or the queue is shut down, and hands
/// out the next job of the owner compiling the fewest jobs right now, the one served
/// longest ago among equals: one owner's flood waits behind everyone else's first job.
/// Each owner's own jobs go in the order they came.
final class JobQueue: @unchecked Sendable {
    enum Reservation: Equatable {
        case granted
        case queueFull
        /// The owner holds its share already.
        case ownerLimit(ClientShare)
    }

    private struct Share {
        var waiting: [(arrival: Int, job: CompilationJob)] = []
        var head = 0
        var running = 0
        var reserved = 0
        /// When `take` last handed out one of its jobs (0: not since it was idle).
        var lastServed = 0

        var waitingCount: Int { waiting.count - head }
        var held: Int { waitingCount + running + reserved }
    }

    // @unchecked: all state is guarded by `condition`.
    private let condition = Condition()
    /// Owners with a job waiting, reserved or compiling; an owner holding none is dropped.
    private var shares: [JobOwner: Share] = [:]
    /// Jobs handed out by `take` that still count against their owner.
    private var running: [JobID: JobOwner] = [:]
    private var waitingCount = 0
    private var reservedCount = 0
    private var arrivals = 0
    private var servings = 0
    private var isShutDown = false
    let capacity: Int
    let perOwnerLimit: Int

    init(capacity: Int, perOwnerLimit: Int) {
        self.capacity = capacity
        self.perOwnerLimit = perOwnerLimit
    }

    /// Jobs waiting for a slot.
    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return waitingCount
    }

    /// Holds `count` places for `owner`'s jobs about to be stored (a matrix's cells), all or
    /// none. They must fit in the owner's share and in the queue, except that an empty share
    /// or queue takes a batch larger than it whole: a matrix is never refused for good.
    func reserve(for owner: JobOwner, count: Int = 1) -> Reservation {
        condition.lock()
        defer { condition.unlock() }
        let share = shares[owner] ?? Share()
        if share.held > 0, share.held + count > perOwnerLimit {
            return .ownerLimit(ClientShare(jobs: share.held, waiting: share.waitingCount, limit: perOwnerLimit))
        }
        let holding = waitingCount + reservedCount
        guard !isShutDown, holding == 0 || holding + count <= capacity else { return .queueFull }
        shares[owner, default: Share()].reserved += count
        reservedCount += count
        return .granted
    }

    func cancelReservation(for owner: JobOwner, count: Int = 1) {
        condition.lock()
        defer { condition.unlock() }
        reservedCount -= count
        update(owner) { $0.reserved -= count }
    }

    /// Fills a place `reserve` granted to `owner`.
    func push(reserved job: CompilationJob, for owner: JobOwner) {
        condition.lock()
        defer { condition.unlock() }
        reservedCount -= 1
        update(owner) { $0.reserved -= 1 }
        // Shut down meanwhile: the job stays queued in the store.
        guard !isShutDown else { return }
        append(job, for: owner)
    }

    /// The job `take` handed out no longer counts against its owner: its verdict is in.
    /// Releasing it again does nothing.
    func release(_ id: JobID) {
        condition.lock()
        defer { condition.unlock() }
        releaseLocked(id)
    }

    /// The next job, of the owner that deserves a slot most; nil once the queue is shut down.
    func take() -> CompilationJob? {
        condition.lock()
        defer { condition.unlock() }
        while waitingCount == 0, !isShutDown { condition.wait() }
        guard !isShutDown else { return nil }
        var chosen: (owner: JobOwner, rank: (Int, Int, Int))?
        for (owner, share) in shares where share.waitingCount > 0 {
            let rank = (share.running, share.lastServed, share.waiting[share.head].arrival)
            if chosen == nil || rank < chosen!.rank { chosen = (owner, rank) }
        }
        let owner = chosen!.owner  // some share has a job waiting: waitingCount > 0
        servings += 1
        waitingCount -= 1
        var job: CompilationJob!
        update(owner) { share in
            job = share.waiting[share.head].job
            share.head += 1
            if share.head == share.waiting.count {
                share.waiting.removeAll(keepingCapacity: true)
                share.head = 0
            } else if share.head > 64, share.head * 2 > share.waiting.count {
                share.waiting.removeFirst(share.head)
                share.head = 0
            }
            share.running += 1
            share.lastServed = servings
        }
        running[job.id] = owner
        return job
    }

    /// Wakes every `take` with nil and returns the jobs that were still waiting, in the order they came.
    func shutDown() -> [CompilationJob] {
        condition.lock()
        defer { condition.unlock() }
        isShutDown = true
        let left = shares.values.flatMap { $0.waiting[$0.head...] }.sorted { $0.arrival < $1.arrival }.map(\.job)
        shares = [:]
        running = [:]
        waitingCount = 0
        reservedCount = 0
        condition.broadcast()
        return left
    }

    // MARK: - Under the lock

    private func append(_ job: CompilationJob, for owner: JobOwner) {
        arrivals += 1
        shares[owner, default: Share()].waiting.append((arrivals, job))
        waitingCount += 1
        condition.signal()
    }

    private func releaseLocked(_ id: JobID) {
        guard let owner = running.removeValue(forKey: id) else { return }
        update(owner) { $0.running -= 1 }
    }

    /// Changes `owner`'s share, and forgets it once it holds nothing.
    private func update(_ owner: JobOwner, _ change: (inout Share) -> Void) {
        guard shares[owner] != nil else { return }
        change(&shares[owner]!)  // in place: no copy of the waiting jobs
        if shares[owner]!.held == 0 { shares[owner] = nil }
    }
}
