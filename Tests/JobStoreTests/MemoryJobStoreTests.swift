import Foundation
import JobStore
import Testing
import WillItCompile

@Suite struct MemoryJobStoreTests {
    /// A job stored and moved to `failed` with its result, now.
    func failedJob(in store: MemoryJobStore, at clock: ManualClock) throws -> JobID {
        let job = CompilationJob(request: CompilationRequest(source: [0x41], language: .c), createdAt: clock.now)
        try store.create(job)
        _ = try store.transition(job.id, to: .failed, at: clock.now, result: makeResult(for: job.id, status: .failed))
        return job.id
    }

    @Test func everyKeyExpiresWhenItsTTLHasPassed() throws {
        let clock = ManualClock()
        let store = MemoryJobStore(ttlHours: 1) { clock.now }
        let id = try failedJob(in: store, at: clock)

        clock.advance(by: 3599)
        #expect(try store.job(id) != nil)
        #expect(try store.lifetime(ofKey: JobKeys.result(id)) == .expires(in: .seconds(1)))

        clock.advance(by: 1)
        #expect(try store.job(id) == nil)
        #expect(try store.result(id) == nil)
        #expect(try store.jobIDs(withStatus: .failed).isEmpty)
        #expect(try store.lifetime(ofKey: JobKeys.job(id)) == .missing)
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

    /// Each new verdict renews the index's TTL, so an expired job must leave it on its
    /// own: the moment it expires, and without any prune (pruning a million-job index
    /// would hold the store's lock for most of a second).
    @Test func anExpiredJobLeavesItsIndexWithoutAPrune() throws {
        let clock = ManualClock()
        let store = MemoryJobStore(ttlHours: 1) { clock.now }
        let old = try failedJob(in: store, at: clock)
        clock.advance(by: 3599.5)
        // A busy index: the store is written right up to the expiry, which renews the index.
        let recent = try failedJob(in: store, at: clock)
        clock.advance(by: 0.5)

        #expect(try store.jobIDs(withStatus: .failed) == [recent])
        #expect(try store.job(old) == nil)
        #expect(try store.pruneIndexes() == 1, "it reports the id that left, and finds nothing more to do")
        #expect(try store.pruneIndexes() == 0)
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

    /// A result's diagnostics count against the bound as its output does.
    @Test func aResultsDiagnosticsTakeRoomInTheStore() throws {
        let clock = ManualClock()
        let store = MemoryJobStore(ttlHours: 1, maxBytes: 200_000) { clock.now }
        let job = CompilationJob(request: CompilationRequest(source: Array("int".utf8), language: .c), createdAt: clock.now)
        try store.create(job)
        var result = makeResult(for: job.id, status: .failed)
        result.diagnostics = (1...200).map {
            Diagnostic(file: "main.c", line: $0, column: 1, severity: .error, message: String(repeating: "m", count: 1000))
        }
        result.errorCount = 200
        #expect(try store.transition(job.id, to: .failed, at: clock.now, result: result) == .applied)
        let next = CompilationJob(request: CompilationRequest(source: Array("int".utf8), language: .c), createdAt: clock.now)
        #expect {
            try store.create(next)
        } throws: { error in
            if case .full? = error as? JobStoreError { true } else { false }
        }
    }

    @Test func aClosedStoreSaysSo() throws {
        let store = MemoryJobStore(ttlHours: 1)
        store.close()
        #expect(throws: JobStoreError.closed) { try store.job(JobID()) }
    }
}
