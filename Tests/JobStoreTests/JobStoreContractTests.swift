import Foundation
@testable import JobStore
import Synchronization
import TestSupport
import Testing
import WillItCompile

/// One suite, run against every `JobStore` implementation.
@Suite struct JobStoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func storesAJobAndReadsItBackUnchanged(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        // Sources may hold any bytes: NUL, invalid UTF-8, CR LF.
        var job = makeJob(source: [0x69, 0x6E, 0x74, 0x00, 0xFF, 0xC3, 0x28, 0x0D, 0x0A])
        job.requestID = "0123456789abcdef0123456789abcdef"
        try store.create(job)
        let read = try #require(try store.job(job.id))
        #expect(read.id == job.id && read.request == job.request && read.status == .queued)
        #expect(read.requestID == job.requestID, "the host that compiles it logs the request that submitted it")
        #expect(abs(read.createdAt.timeIntervalSince(job.createdAt)) < 1e-6)
        #expect(read.startedAt == nil && read.completedAt == nil)
        #expect(try store.jobIDs(withStatus: .queued).contains(job.id))
        #expect(try store.result(job.id) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func storesAProjectsFilesAndTranslationUnitsAndAStatusReadLeavesTheirContentOut(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        var job = makeJob()
        job.request.source = []
        job.request.files = [ProjectFile(name: "src/main.c", content: [0x00, 0xFF, 0x0A]), ProjectFile(name: "include/a.h", content: [])]
        job.request.translationUnits = ["src/main.c"]
        try store.create(job)
        #expect(try store.job(job.id)?.request == job.request)
        let (read, _) = try #require(try store.jobWithResult(job.id))
        #expect(read.request.files.map(\.name) == ["src/main.c", "include/a.h"] && read.request.files.allSatisfy(\.content.isEmpty))
        #expect(read.request.translationUnits == ["src/main.c"])
    }

    @Test(arguments: StoreKind.allCases)
    func aStatusReadGetsTheResultOnlyOnceTheJobIsTerminal(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        #expect(try store.jobWithResult(job.id) == nil)
        try store.create(job)
        let pending = try #require(try store.jobWithResult(job.id))
        #expect(pending.0.status == .queued && pending.1 == nil)
        let result = makeResult(for: job.id, status: .failed, stderr: "e")
        _ = try store.transition(job.id, to: .failed, at: Date(), result: result)
        let done = try #require(try store.jobWithResult(job.id))
        #expect(done.0.status == .failed && done.1 == result)
    }

    /// Many jobs read at once (a matrix's cells) read as each one alone does; one that does not
    /// exist is left out.
    @Test(arguments: StoreKind.allCases)
    func manyJobsReadAtOnceReadAsEachAlone(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let jobs = (0..<5).map { _ in makeJob() }
        for job in jobs { try store.create(job) }
        _ = try store.transition(jobs[1].id, to: .processing, at: Date(), result: nil)
        _ = try store.transition(jobs[2].id, to: .failed, at: Date(), result: makeResult(for: jobs[2].id, status: .failed, stderr: "e"))
        _ = try store.transition(jobs[3].id, to: .completed, at: Date(), result: makeResult(for: jobs[3].id, status: .completed))
        let missing = JobID()
        let read = try store.jobsWithResults(jobs.map(\.id) + [missing])
        #expect(read.count == jobs.count && read[missing] == nil)
        for job in jobs {
            let (alone, aloneResult) = try #require(try store.jobWithResult(job.id))
            let (together, togetherResult) = try #require(read[job.id])
            #expect(together == alone && togetherResult == aloneResult, "\(job.id)")
        }
        #expect(read[jobs[2].id]?.1?.stderr == "e" && read[jobs[0].id]?.1 == nil && read[jobs[1].id]?.0.status == .processing)
        #expect(try store.jobsWithResults([]).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func refusesASecondJobWithTheSameId(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        #expect(throws: JobStoreError.duplicate(job.id)) { try store.create(job) }
    }

    @Test(arguments: StoreKind.allCases)
    func unknownIdsReadAsNothingAndCannotTransition(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let id = JobID()
        #expect(try store.job(id) == nil)
        #expect(try store.result(id) == nil)
        #expect(throws: JobStoreError.notFound(id)) {
            try store.transition(id, to: .processing, at: Date(), result: nil)
        }
    }

    @Test(arguments: StoreKind.allCases, [JobStatus.completed, .failed, .timeout, .error])
    func walksQueuedProcessingToEachVerdictKeepingTheIndexInStep(kind: StoreKind, verdict: JobStatus) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        try expectIndexed(job.id, only: .queued, in: store)

        let started = Date()
        #expect(try store.transition(job.id, to: .processing, at: started, result: nil) == .applied)
        let processing = try #require(try store.job(job.id))
        #expect(processing.status == .processing)
        #expect(abs(try #require(processing.startedAt).timeIntervalSince(started)) < 1e-6)
        try expectIndexed(job.id, only: .processing, in: store)

        let finished = started + 0.25
        let result = makeResult(for: job.id, status: verdict, stderr: "main.c:1: warning")
        #expect(try store.transition(job.id, to: verdict, at: finished, result: result) == .applied)
        let done = try #require(try store.job(job.id))
        #expect(done.status == verdict)
        #expect(abs(try #require(done.completedAt).timeIntervalSince(finished)) < 1e-6)
        #expect(abs(try #require(done.startedAt).timeIntervalSince(started)) < 1e-6)
        #expect(try store.result(job.id) == result)
        try expectIndexed(job.id, only: verdict, in: store)
    }

    @Test(arguments: StoreKind.allCases)
    func aJobMayFailStraightFromTheQueue(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        let result = makeResult(for: job.id, status: .error)
        #expect(try store.transition(job.id, to: .error, at: Date(), result: result) == .applied)
        let done = try #require(try store.job(job.id))
        #expect(done.status == .error && done.startedAt == nil && done.completedAt != nil)
        try expectIndexed(job.id, only: .error, in: store)
    }

    @Test(arguments: StoreKind.allCases)
    func aLateProcessingWriteAfterCompletedLeavesTheJobCompleted(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        _ = try store.transition(job.id, to: .processing, at: Date(), result: nil)
        let result = makeResult(for: job.id, status: .completed, stdout: "ok")
        _ = try store.transition(job.id, to: .completed, at: Date(), result: result)

        #expect(try store.transition(job.id, to: .processing, at: Date(), result: nil) == .refused(current: .completed))
        #expect(try store.transition(job.id, to: .queued, at: Date(), result: nil) == .refused(current: .completed))
        let otherVerdict = makeResult(for: job.id, status: .failed, stderr: "late")
        #expect(try store.transition(job.id, to: .failed, at: Date(), result: otherVerdict) == .refused(current: .completed))

        #expect(try store.job(job.id)?.status == .completed)
        #expect(try store.result(job.id) == result)
        try expectIndexed(job.id, only: .completed, in: store)
    }

    @Test(arguments: StoreKind.allCases)
    func aResultMustMatchTheStatusAndTheJob(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        #expect(throws: JobStoreError.invalidArgument("terminal status completed needs a result")) {
            try store.transition(job.id, to: .completed, at: Date(), result: nil)
        }
        #expect(throws: JobStoreError.invalidArgument("status processing takes no result")) {
            try store.transition(job.id, to: .processing, at: Date(), result: makeResult(for: job.id, status: .completed))
        }
        let other = JobID()
        #expect(throws: JobStoreError.invalidArgument("result for job \(other) given for job \(job.id)")) {
            try store.transition(job.id, to: .failed, at: Date(), result: makeResult(for: other, status: .failed))
        }
        #expect(try store.job(job.id)?.status == .queued)
    }

    @Test(arguments: StoreKind.allCases)
    func resultsKeepControlBytesUnicodeAndMultiMegabyteOutputs(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        let stdout = "NUL\u{0}inside, CR\r\n, ESC\u{1B}[31m, e\u{301}, 日本語, 🦀\u{0}"
        let stderr = String(repeating: "main.c:1:1: error: expected ‘;’ before ‘}’ token\n", count: 80_000)
        #expect(stderr.utf8.count > 4_000_000)
        let result = makeResult(for: job.id, status: .failed, stdout: stdout, stderr: stderr)
        _ = try store.transition(job.id, to: .failed, at: Date(), result: result)
        let read = try #require(try store.result(job.id))
        #expect(read.stdout == stdout)
        #expect(read.stderr.utf8.count == stderr.utf8.count && read.stderr == stderr)
    }

    @Test(arguments: StoreKind.allCases)
    func everyKeyOfAJobCarriesTheConfiguredTTL(kind: StoreKind) throws {
        let hours = 2
        let store = try kind.makeStore(ttlHours: hours)
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        _ = try store.transition(job.id, to: .processing, at: Date(), result: nil)
        _ = try store.transition(job.id, to: .timeout, at: Date(), result: makeResult(for: job.id, status: .timeout))
        let limit = Duration.seconds(hours * 3600)
        for key in [JobKeys.job(job.id), JobKeys.result(job.id), JobKeys.statusIndex(.timeout)] {
            let lifetime = try store.lifetime(ofKey: key)
            guard case let .expires(remaining) = lifetime else {
                Issue.record("\(key): expected a TTL, found \(lifetime)")
                continue
            }
            #expect(remaining <= limit && remaining > limit - .seconds(60), "\(key) expires in \(remaining)")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentWritersFromManyThreadsLoseNothing(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let threads = 8, jobsPerThread = 40
        let failures = ConcurrentFailures()
        let ids = (0..<threads).map { _ in (0..<jobsPerThread).map { _ in makeJob() } }
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for job in ids[thread] {
                do {
                    try store.create(job)
                    _ = try store.transition(job.id, to: .processing, at: Date(), result: nil)
                    _ = try store.transition(job.id, to: .completed, at: Date(), result: makeResult(for: job.id, status: .completed))
                } catch {
                    failures.record("\(job.id): \(error)")
                }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
        let completed = try store.jobIDs(withStatus: .completed)
        for job in ids.joined() {
            #expect(try store.job(job.id)?.status == .completed)
            #expect(completed.contains(job.id))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func racingVerdictsOnOneJobLetExactlyOneWin(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        for _ in 0..<20 {
            let job = makeJob()
            try store.create(job)
            let verdicts: [JobStatus] = [.completed, .failed, .timeout, .error, .processing, .processing]
            let outcomes = ConcurrentFailures()
            DispatchQueue.concurrentPerform(iterations: verdicts.count) { index in
                let status = verdicts[index]
                let result = status.isTerminal ? makeResult(for: job.id, status: status) : nil
                let outcome = try? store.transition(job.id, to: status, at: Date(), result: result)
                if status.isTerminal, outcome == .applied { outcomes.record(status.rawValue) }
            }
            #expect(outcomes.all.count == 1, "winners: \(outcomes.all)")
            let final = try #require(try store.job(job.id)).status
            #expect(outcomes.all == [final.rawValue])
            try expectIndexed(job.id, only: final, in: store)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aLongPollAnswersAtOnceForUnknownAndFinishedJobs(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let started = ContinuousClock.now
        #expect(try store.jobWithResult(JobID(), waitingUpTo: .seconds(20)) == nil)
        let job = makeJob()
        try store.create(job)
        _ = try store.transition(job.id, to: .failed, at: Date(), result: makeResult(for: job.id, status: .failed))
        #expect(try store.jobWithResult(job.id, waitingUpTo: .seconds(20))?.0.status == .failed)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test(arguments: StoreKind.allCases)
    func aLongPollOnAnUnfinishedJobEndsAtItsTimeoutWithTheJobAsItIs(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        let started = ContinuousClock.now
        let found = try #require(try store.jobWithResult(job.id, waitingUpTo: .milliseconds(300)))
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        #expect(found.0.status == .queued && found.1 == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func aLongPollWakesWhenTheVerdictIsStoredNotAtItsTimeout(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        let result = makeResult(for: job.id, status: .completed)
        let failures = ConcurrentFailures()
        let verdictStoredAt = Mutex<ContinuousClock.Instant?>(nil)
        let verdict = Thread {
            do {
                // Stored only once the poll waits, so the wake-up is what is tested.
                let deadline = ContinuousClock.now + .seconds(10)
                while try !kind.hasLongPollWaiting(in: store, on: job.id) {
                    guard ContinuousClock.now < deadline else { throw MissingTestDependency(description: "the poll never waited") }
                    Thread.sleep(forTimeInterval: 0.005)
                }
                _ = try store.transition(job.id, to: .processing, at: Date(), result: nil)
                verdictStoredAt.withLock { $0 = ContinuousClock.now }
                _ = try store.transition(job.id, to: .completed, at: Date(), result: result)
            } catch {
                failures.record("storing the verdict: \(error)")
            }
        }
        verdict.start()
        let found = try #require(try store.jobWithResult(job.id, waitingUpTo: .seconds(20)))
        let answered = ContinuousClock.now
        #expect(failures.all.isEmpty, "\(failures.all)")
        let stored = try #require(verdictStoredAt.withLock { $0 })
        #expect(answered - stored < .seconds(2), "woken by the verdict, not by the 20 s timeout")
        #expect(found.0.status == .completed && found.1 == result)
    }

    /// The job is in the index of `status` and in no other.
    private func expectIndexed(_ id: JobID, only status: JobStatus, in store: any JobStore,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        for candidate in JobStatus.allCases {
            let member = try store.jobIDs(withStatus: candidate).contains(id)
            #expect(member == (candidate == status), "index \(candidate.rawValue)", sourceLocation: sourceLocation)
        }
    }
}

/// Collects strings from many threads.
final class ConcurrentFailures: @unchecked Sendable {
    // @unchecked: `items` is only touched while `lock` is held.
    private let lock = NSLock()
    private var items: [String] = []

    func record(_ item: String) {
        lock.lock()
        items.append(item)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}

/// The verdict cache, against every store.
@Suite struct VerdictCacheContractTests {
    func freshKey() -> VerdictKey { freshVerdictKey() }

    @Test(arguments: StoreKind.allCases, [JobStatus.completed, .failed])
    func aCachedVerdictAnswersANewJobFinishedWithItsOwnId(kind: StoreKind, status: JobStatus) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let key = freshKey()
        let compiled = makeJob()
        let verdict = makeResult(for: compiled.id, status: status, stdout: "out", stderr: "warning: x")
        #expect(try store.answerFromCache(makeJob(), key: key, at: Date()) == nil)
        try store.cacheVerdict(verdict, status: status, under: key)

        let job = makeJob()
        let now = Date()
        let answer = try #require(try store.answerFromCache(job, key: key, at: now))
        var expected = verdict
        expected.jobID = job.id
        expected.cached = true
        #expect(answer.0 == status && answer.1 == expected)
        let (read, result) = try #require(try store.jobWithResult(job.id))
        #expect(read.status == status && result == expected)
        #expect(read.startedAt != nil && read.completedAt != nil)
        #expect(try store.jobIDs(withStatus: status).contains(job.id))
        #expect(try store.lifetime(ofKey: JobKeys.verdict(key)) != .persistent)
        #expect(try store.lifetime(ofKey: JobKeys.verdict(key)) != .missing)
    }

    @Test(arguments: StoreKind.allCases)
    func anAnsweredIdThatExistsIsRefusedAndNothingChanges(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let key = freshKey()
        let job = makeJob()
        try store.create(job)
        try store.cacheVerdict(makeResult(for: JobID(), status: .completed), status: .completed, under: key)
        #expect(throws: JobStoreError.duplicate(job.id)) { try store.answerFromCache(job, key: key, at: Date()) }
        #expect(try store.job(job.id)?.status == .queued)
        #expect(try store.result(job.id) == nil)
    }

    @Test(arguments: StoreKind.allCases, [JobStatus.timeout, .error, .queued, .processing])
    func onlyVerdictsAboutTheCodeAreCached(kind: StoreKind, status: JobStatus) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let key = freshKey()
        let result = makeResult(for: JobID(), status: status)
        #expect(throws: JobStoreError.self) { try store.cacheVerdict(result, status: status, under: key) }
        #expect(try store.answerFromCache(makeJob(), key: key, at: Date()) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func aCachedVerdictExpiresWithTheJobsTTL(kind: StoreKind) throws {
        let store = try kind.makeStore(ttlHours: 2)
        defer { store.close() }
        let key = freshKey()
        try store.cacheVerdict(makeResult(for: JobID(), status: .failed), status: .failed, under: key)
        guard case let .expires(left) = try store.lifetime(ofKey: JobKeys.verdict(key)) else {
            Issue.record("the verdict has no expiry")
            return
        }
        #expect(left > .seconds(7200 - 60) && left <= .seconds(7200))
    }

}

/// A compile matrix and its cells' jobs, against every store.
@Suite struct MatrixContractTests {
    func freshKey() -> VerdictKey { freshVerdictKey() }

    func makeMatrix(of jobs: [CompilationJob]) -> CompilationMatrix {
        CompilationMatrix(language: .c, createdAt: Date(), cells: jobs.map(MatrixCell.init(of:)))
    }

    @Test(arguments: StoreKind.allCases)
    func aMatrixIsStoredWithItsCellsQueuedOrAnsweredFromTheCacheAndReadBack(kind: StoreKind) throws {
        let store = try kind.makeStore(ttlHours: 2)
        defer { store.close() }
        let key = freshKey()
        let verdict = makeResult(for: JobID(), status: .failed, stderr: "main.c:1:1: error: x")
        try store.cacheVerdict(verdict, status: .failed, under: key)
        let jobs = [makeJob(), makeJob(), makeJob()]
        let matrix = makeMatrix(of: jobs)
        #expect(try store.matrix(matrix.id) == nil)
        let now = Date()
        let answers = try store.createMatrix(
            matrix, cells: [MatrixCellJob(job: jobs[0], cacheKey: freshKey()), MatrixCellJob(job: jobs[1], cacheKey: key),
                            MatrixCellJob(job: jobs[2], cacheKey: nil)], at: now)
        var expected = verdict
        expected.jobID = jobs[1].id
        expected.cached = true
        #expect(answers.count == 3 && answers[0] == nil && answers[2] == nil)
        #expect(answers[1]?.0 == .failed && answers[1]?.1 == expected)
        let read = try #require(try store.matrix(matrix.id))
        #expect(read.id == matrix.id && read.cells == matrix.cells && read.language == .c)
        #expect(abs(read.createdAt.timeIntervalSince(matrix.createdAt)) < 1e-6)
        #expect(try store.job(jobs[0].id)?.status == .queued && store.job(jobs[2].id)?.status == .queued)
        #expect(try store.jobIDs(withStatus: .queued).isSuperset(of: [jobs[0].id, jobs[2].id]))
        let (answered, result) = try #require(try store.jobWithResult(jobs[1].id))
        #expect(answered.status == .failed && answered.completedAt != nil && result == expected)
        guard case let .expires(left) = try store.lifetime(ofKey: JobKeys.matrix(matrix.id)) else {
            Issue.record("the matrix has no expiry")
            return
        }
        #expect(left > .seconds(7200 - 60) && left <= .seconds(7200))
    }

    @Test(arguments: StoreKind.allCases)
    func aMatrixWithACellThatExistsIsRefusedWholeAndNothingIsWritten(kind: StoreKind) throws {
        let store = try kind.makeStore()
        defer { store.close() }
        let existing = makeJob()
        try store.create(existing)
        let fresh = makeJob()
        let matrix = makeMatrix(of: [fresh, existing])
        #expect(throws: JobStoreError.duplicate(existing.id)) {
            try store.createMatrix(matrix, cells: [MatrixCellJob(job: fresh, cacheKey: nil), MatrixCellJob(job: existing, cacheKey: nil)], at: Date())
        }
        #expect(try store.matrix(matrix.id) == nil)
        #expect(try store.job(fresh.id) == nil)
        // The refused matrix's id was never taken: it can be stored now, and only once.
        let first = makeJob(), second = makeJob()
        var reused = makeMatrix(of: [first])
        reused.id = matrix.id
        _ = try store.createMatrix(reused, cells: [MatrixCellJob(job: first, cacheKey: nil)], at: Date())
        #expect(throws: JobStoreError.duplicate(matrix.id)) {
            try store.createMatrix(reused, cells: [MatrixCellJob(job: second, cacheKey: nil)], at: Date())
        }
        #expect(try store.job(second.id) == nil)
    }
}
