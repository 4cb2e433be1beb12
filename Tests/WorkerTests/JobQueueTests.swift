import Foundation
import Testing
import WillItCompile
@testable import WorkerService

@Suite struct JobQueueTests {
    static let flooder: JobOwner = ClientIdentity("127.0.0.2")!
    static let other: JobOwner = ClientIdentity("127.0.0.1")!
    static let third: JobOwner = ClientIdentity("2001:db8::3")!

    func job(_ name: String) -> CompilationJob {
        CompilationJob(request: CompilationRequest(source: Array("int main(){} // \(name)\n".utf8), language: .c), createdAt: Date())
    }

    /// Reserves and pushes; fails the test when the place is refused.
    @discardableResult
    func submit(_ job: CompilationJob, to queue: JobQueue, as owner: JobOwner, sourceLocation: SourceLocation = #_sourceLocation) -> CompilationJob {
        #expect(queue.reserve(for: owner) == .granted, sourceLocation: sourceLocation)
        queue.push(reserved: job, for: owner)
        return job
    }

    func takeNow(_ queue: JobQueue, sourceLocation: SourceLocation = #_sourceLocation) throws -> CompilationJob {
        #expect(queue.count > 0, "take would block", sourceLocation: sourceLocation)
        return try #require(queue.take(), sourceLocation: sourceLocation)
    }

    /// One client's flood waits behind another client's job: the slot that frees
    /// next goes to the client compiling the fewest jobs, whatever came first.
    @Test func theNextSlotGoesToTheClientCompilingFewestJobs() throws {
        let queue = JobQueue(capacity: 100, perOwnerLimit: 100)
        let flood = (0..<6).map { submit(job("flood \($0)"), to: queue, as: Self.flooder) }
        // Two slots: the flooder's first two jobs run, everything else waits.
        #expect(try takeNow(queue).id == flood[0].id)
        #expect(try takeNow(queue).id == flood[1].id)
        let quick = submit(job("quick"), to: queue, as: Self.other)
        queue.release(flood[0].id)
        #expect(try takeNow(queue).id == quick.id, "taken before the flooder's four waiting jobs")
        queue.release(flood[1].id)
        #expect(try takeNow(queue).id == flood[2].id, "each client's own jobs keep their order")
    }

    /// Among clients compiling equally many, the one served longest ago goes first.
    @Test func clientsWithEqualSlotsTakeTurns() throws {
        let queue = JobQueue(capacity: 100, perOwnerLimit: 100)
        let a = (0..<3).map { submit(job("a\($0)"), to: queue, as: Self.flooder) }
        let b = (0..<3).map { submit(job("b\($0)"), to: queue, as: Self.other) }
        let c = (0..<3).map { submit(job("c\($0)"), to: queue, as: Self.third) }
        var order: [JobID] = []
        for _ in 0..<9 {
            let taken = try takeNow(queue)
            order.append(taken.id)
            queue.release(taken.id)  // one slot: each compile ends before the next starts
        }
        #expect(order == [a[0], b[0], c[0], a[1], b[1], c[1], a[2], b[2], c[2]].map(\.id))
    }

    /// Without identities and with a single client, the queue is the plain FIFO it was.
    @Test func oneClientsJobsComeInOrder() throws {
        let queue = JobQueue(capacity: 10, perOwnerLimit: 10)
        let jobs = (0..<5).map { submit(job("\($0)"), to: queue, as: JobOwner.none) }
        #expect(try (0..<5).map { _ in try takeNow(queue).id } == jobs.map(\.id))
    }

    /// A matrix's cells take their places all or none; a share or a queue takes a matrix
    /// larger than it only when it is empty, so no matrix is refused for good.
    @Test func manyPlacesAreReservedAllOrNoneAndOnlyAnEmptyShareOrQueueTakesMoreThanItHolds() throws {
        let queue = JobQueue(capacity: 6, perOwnerLimit: 4)
        #expect(queue.reserve(for: Self.flooder, count: 3) == .granted)
        #expect(queue.reserve(for: Self.flooder, count: 2) == .ownerLimit(ClientShare(jobs: 3, waiting: 0, limit: 4)))
        #expect(queue.reserve(for: Self.other, count: 4) == .queueFull, "3 of 6 places are held: 4 more do not fit")
        #expect(queue.reserve(for: Self.other, count: 3) == .granted)
        queue.cancelReservation(for: Self.other, count: 3)
        queue.cancelReservation(for: Self.flooder, count: 3)
        #expect(queue.reserve(for: Self.other, count: 9) == .granted, "an empty queue and share take a matrix larger than both")
        #expect(queue.reserve(for: Self.flooder) == .queueFull)
        for number in 0..<9 { queue.push(reserved: job("cell \(number)"), for: Self.other) }
        #expect(queue.count == 9)
    }

    /// A client holds at most its limit, counting waiting, reserved and compiling
    /// jobs; each way a job ends gives its place back.
    @Test func aClientHoldsAtMostItsLimitAndEveryEndReleasesAPlace() throws {
        let queue = JobQueue(capacity: 100, perOwnerLimit: 3)
        let first = submit(job("1"), to: queue, as: Self.flooder)
        submit(job("2"), to: queue, as: Self.flooder)
        #expect(queue.reserve(for: Self.flooder) == .granted, "a place being stored counts too")
        #expect(queue.reserve(for: Self.flooder) == .ownerLimit(ClientShare(jobs: 3, waiting: 2, limit: 3)))
        #expect(queue.reserve(for: Self.other) == .granted, "another client has its own share")
        queue.cancelReservation(for: Self.other)

        queue.cancelReservation(for: Self.flooder)  // the store refused the job
        #expect(queue.reserve(for: Self.flooder) == .granted)
        queue.push(reserved: job("3"), for: Self.flooder)

        #expect(try takeNow(queue).id == first.id)
        #expect(queue.reserve(for: Self.flooder) == .ownerLimit(ClientShare(jobs: 3, waiting: 2, limit: 3)), "a compiling job counts")
        queue.release(first.id)  // its verdict is in
        #expect(queue.reserve(for: Self.flooder) == .granted)
        queue.cancelReservation(for: Self.flooder)

        let second = try takeNow(queue)
        queue.release(second.id)  // ended without a verdict of its own (already finished, or vanished)
        queue.release(second.id)
        #expect(queue.reserve(for: Self.flooder) == .granted, "released twice releases once")
        #expect(queue.reserve(for: Self.flooder) == .granted)
        #expect(queue.reserve(for: Self.flooder) == .ownerLimit(ClientShare(jobs: 3, waiting: 1, limit: 3)))
    }

    /// Jobs without an identity share one place among them.
    @Test func jobsWithoutAnIdentityShareOneLimit() throws {
        let queue = JobQueue(capacity: 100, perOwnerLimit: 2)
        submit(job("n1"), to: queue, as: JobOwner.none)
        submit(job("n2"), to: queue, as: JobOwner.none)
        #expect(queue.reserve(for: JobOwner.none) == .ownerLimit(ClientShare(jobs: 2, waiting: 2, limit: 2)))
        #expect(queue.reserve(for: Self.other) == .granted)
    }

    /// The queue stays bounded whoever fills it.
    @Test func theQueueStaysBoundedAcrossClients() throws {
        let queue = JobQueue(capacity: 3, perOwnerLimit: 2)
        submit(job("a1"), to: queue, as: Self.flooder)
        submit(job("a2"), to: queue, as: Self.flooder)
        #expect(queue.reserve(for: Self.other) == .granted)
        #expect(queue.reserve(for: Self.third) == .queueFull, "a reserved place counts against the bound")
        queue.cancelReservation(for: Self.other)
        submit(job("b1"), to: queue, as: Self.other)
        #expect(queue.reserve(for: Self.third) == .queueFull)
        #expect(queue.count == 3)
        _ = try takeNow(queue)
        #expect(queue.reserve(for: Self.third) == .granted, "a compiling job leaves the bound")
    }

    /// Shutting down returns every waiting job of every client, in the order they
    /// came, and refuses new places; a job pushed later is not queued.
    @Test func shutDownReturnsEveryWaitingJob() throws {
        let queue = JobQueue(capacity: 10, perOwnerLimit: 10)
        let a1 = submit(job("a1"), to: queue, as: Self.flooder)
        let b1 = submit(job("b1"), to: queue, as: Self.other)
        let a2 = submit(job("a2"), to: queue, as: Self.flooder)
        let a3 = submit(job("a3"), to: queue, as: Self.flooder)
        let running = try takeNow(queue)
        #expect(running.id == a1.id)
        #expect(queue.reserve(for: Self.third) == .granted)
        #expect(queue.shutDown().map(\.id) == [b1, a2, a3].map(\.id))
        #expect(queue.take() == nil)
        queue.push(reserved: job("late"), for: Self.third)
        #expect(queue.count == 0, "a job pushed after the shut down stays queued in the store")
        #expect(queue.reserve(for: Self.third) == .queueFull)
        queue.release(running.id)
    }

    /// A slot thread waiting for work is woken with nil by the shut down.
    @Test func shutDownWakesAWaitingTake() {
        let queue = JobQueue(capacity: 10, perOwnerLimit: 10)
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            #expect(queue.take() == nil)
            finished.signal()
        }
        thread.start()
        _ = queue.shutDown()
        #expect(finished.wait(timeout: .now() + 30) == .success)
    }
}
