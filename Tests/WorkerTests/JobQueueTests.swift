import Foundation
import Testing
import WillItCompile
@testable import WorkerService

@Suite struct JobQueueTests {
    /// Recovery lists the store while submissions already arrive: a job both
    /// submitted and listed must be compiled once.
    @Test func aRecoveredJobAlreadyQueuedOrInHandIsNotQueuedTwice() throws {
        let queue = JobQueue(capacity: 4)
        let job = CompilationJob(request: CompilationRequest(source: Array("int main(){}".utf8), language: .c), createdAt: Date())
        #expect(queue.reserve())
        queue.push(reserved: job)
        #expect(!queue.pushRecovered(job), "waiting in the queue")
        #expect(queue.count == 1)
        let taken = try #require(queue.take())
        #expect(!queue.pushRecovered(job), "being compiled")
        queue.done(taken.id)
        #expect(queue.pushRecovered(job), "finished here, so a later recovery may queue it")
        #expect(queue.count == 1)
    }
}
