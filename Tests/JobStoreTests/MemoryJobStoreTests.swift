import Foundation
import JobStore
import Testing
import WillItCompile

@Suite struct MemoryJobStoreTests {
    @Test func everyKeyExpiresWhenItsTTLHasPassed() throws {
        let clock = ManualClock()
        let store = MemoryJobStore(ttlHours: 1) { clock.now }
        let job = CompilationJob(request: CompilationRequest(source: [0x41], language: .c), createdAt: clock.now)
        try store.create(job)
        _ = try store.transition(job.id, to: .failed, at: clock.now, result: makeResult(for: job.id, status: .failed))

        clock.advance(by: 3599)
        #expect(try store.job(job.id) != nil)
        #expect(try store.lifetime(ofKey: JobKeys.result(job.id)) == .expires(in: .seconds(1)))

        clock.advance(by: 1)
        #expect(try store.job(job.id) == nil)
        #expect(try store.result(job.id) == nil)
        #expect(try store.jobIDs(withStatus: .failed).isEmpty)
        #expect(try store.lifetime(ofKey: JobKeys.job(job.id)) == .missing)
    }

    @Test func aTransitionRenewsTheTTL() throws {
        let clock = ManualClock()
        let store = MemoryJobStore(ttlHours: 1) { clock.now }
        let job = CompilationJob(request: CompilationRequest(source: [0x41], language: .c), createdAt: clock.now)
        try store.create(job)
        clock.advance(by: 1800)
        _ = try store.transition(job.id, to: .processing, at: clock.now, result: nil)
        clock.advance(by: 1800)
        #expect(try store.job(job.id)?.status == .processing)
    }

    /// Each new verdict renews the index's TTL, so only pruning keeps expired jobs out of it.
    @Test func aBusyIndexForgetsJobsThatExpired() throws {
        let clock = ManualClock()
        let store = MemoryJobStore(ttlHours: 1) { clock.now }
        func finishedJob() throws -> JobID {
            let job = CompilationJob(request: CompilationRequest(source: [0x41], language: .c), createdAt: clock.now)
            try store.create(job)
            _ = try store.transition(job.id, to: .failed, at: clock.now, result: makeResult(for: job.id, status: .failed))
            return job.id
        }
        let old = try finishedJob()
        clock.advance(by: 3000)
        let recent = try finishedJob()
        clock.advance(by: 1000)
        _ = try store.job(recent)  // any call after the old job expired sweeps
        #expect(try store.jobIDs(withStatus: .failed) == [recent])
        #expect(try store.job(old) == nil)
    }

    /// At its bound the store refuses a new job whole and still takes every
    /// transition of the jobs it holds; once those expire there is room again.
    @Test func aFullStoreRefusesNewJobsUntilOldOnesExpireAndStillStoresVerdicts() throws {
        let clock = ManualClock()
        let store = MemoryJobStore(ttlHours: 1, maxBytes: 200_000) { clock.now }
        let source = [UInt8](repeating: 0x61, count: 30_000)
        var accepted: [JobID] = []
        var refused: JobID?
        var reason = ""
        for _ in 0..<20 where refused == nil {
            let job = CompilationJob(request: CompilationRequest(source: source, language: .c), createdAt: clock.now)
            do {
                try store.create(job)
                accepted.append(job.id)
            } catch {
                guard case let .full(message) = error else { throw error }
                refused = job.id
                reason = message
            }
        }
        let id = try #require(refused, "20 jobs of 30 kB fit in 200 kB?")
        #expect(accepted.count == 7, "\(accepted.count) accepted")
        #expect(reason.contains("MEMORY_STORE_MAX_MB"), "\(reason)")
        #expect(try store.job(id) == nil && store.jobIDs(withStatus: .queued) == Set(accepted), "nothing of a refused job is stored")

        let stderr = String(repeating: "e", count: 50_000)
        for id in accepted {
            #expect(try store.transition(id, to: .failed, at: clock.now, result: makeResult(for: id, status: .failed, stderr: stderr)) == .applied)
        }
        #expect(try store.result(accepted[0])?.stderr == stderr)

        clock.advance(by: 3600)
        try store.create(CompilationJob(request: CompilationRequest(source: source, language: .c), createdAt: clock.now))
    }

    @Test func aClosedStoreSaysSo() throws {
        let store = MemoryJobStore(ttlHours: 1)
        store.close()
        #expect(throws: JobStoreError.closed) { try store.job(JobID()) }
    }
}
