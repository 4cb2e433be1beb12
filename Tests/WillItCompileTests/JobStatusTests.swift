import Foundation
import Testing
import WillItCompile

@Suite struct JobStatusTests {
    /// The whole lifecycle, written out by hand: every pair not listed is forbidden.
    static let allowed: Set<[JobStatus]> = [
        [.queued, .processing],
        [.queued, .completed], [.queued, .failed], [.queued, .timeout], [.queued, .error],
        [.processing, .completed], [.processing, .failed], [.processing, .timeout], [.processing, .error],
    ]

    @Test(arguments: JobStatus.allCases, JobStatus.allCases)
    func transitionIsAllowedOnlyWhenTheLifecycleSaysSo(from: JobStatus, to: JobStatus) {
        #expect(from.canTransition(to: to) == Self.allowed.contains([from, to]))
    }

    @Test func terminalStatusesAreExactlyTheVerdicts() {
        #expect(JobStatus.allCases.filter(\.isTerminal) == [.completed, .failed, .timeout, .error])
    }

    @Test func predecessorsMirrorTheTransitionRule() {
        #expect(JobStatus.processing.allowedPredecessors == [.queued])
        #expect(JobStatus.completed.allowedPredecessors == [.queued, .processing])
        #expect(JobStatus.queued.allowedPredecessors == [])
    }

    @Test func jobTransitionStampsStartAndCompletionTimes() throws {
        let created = Timestamp.parse("2026-01-01T00:00:00Z")!
        let job = CompilationJob(request: CompilationRequest(source: [0x41], language: .c), createdAt: created)
        let started = created + 1
        let processing = try #require(job.transitioned(to: .processing, at: started))
        #expect(processing.status == .processing && processing.startedAt == started && processing.completedAt == nil)
        let done = try #require(processing.transitioned(to: .failed, at: started + 2))
        #expect(done.startedAt == started && done.completedAt == started + 2)
        #expect(done.transitioned(to: .processing, at: started + 3) == nil)
    }
}
