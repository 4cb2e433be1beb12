import Foundation
import HTTPAPI
import JobStore
import Synchronization
import WillItCompile
import WorkerClient

/// A worker for driving `APIHandler` in-process: it keeps jobs in a `MemoryJobStore`
/// as the memory-mode worker does, and when `compiles` is on gives each job its
/// verdict at once instead of compiling (a source with `int main` compiles; any
/// other fails). It records what it was asked, and can be made unreachable.
final class FakeWorker: WorkerChannel {
    let jobs = MemoryJobStore(ttlHours: 1)
    let toolchains: [Toolchain]
    let compiles: Bool
    let reachable = Atomic<Bool>(true)
    private let received = Mutex<[WorkerRequest]>([])

    init(toolchains: [Toolchain], compiles: Bool = true) {
        self.toolchains = toolchains
        self.compiles = compiles
    }

    var requests: [WorkerRequest] { received.withLock { $0 } }

    var submissions: [CompilationJob] {
        requests.compactMap { if case let .submit(job, _) = $0 { job } else { nil } }
    }

    var reads: Int {
        requests.filter { if case .readJob = $0 { true } else { false } }.count
    }

    func send(_ request: WorkerRequest) throws(WorkerUnreachable) -> WorkerReply {
        guard reachable.load(ordering: .relaxed) else { throw WorkerUnreachable(description: "worker at /fake unreachable: refused") }
        received.withLock { $0.append(request) }
        do {
            switch request {
            case .ping:
                return .pong
            case .toolchains:
                return .toolchains(toolchains, nil)
            case .stats:
                let start = Date(timeIntervalSince1970: 1_800_000_000)
                return .stats(WorkerStats(maxWorkers: 2, activeWorkers: 0, queuedJobs: 0, totalProcessed: submissions.count,
                                          totalSuccessful: 0, totalFailed: 0, totalTimeout: 0, totalErrors: 0, startTime: start, now: start + 90))
            case let .submit(job, _):
                try jobs.create(job)
                if compiles { try finish(job) }
                return .accepted(job.id)
            case let .submitMatrix(matrix, cells, _):
                _ = try jobs.createMatrix(matrix, cells: cells.map { MatrixCellJob(job: $0, cacheKey: nil) }, at: Date())
                if compiles { for cell in cells { try finish(cell) } }
                return .accepted(matrix.id)
            case let .readMatrix(id):
                return .matrix(try jobs.matrix(id))
            case let .readJob(id, waitMilliseconds):
                let found = waitMilliseconds > 0
                    ? try jobs.jobWithResult(id, waitingUpTo: .milliseconds(waitMilliseconds)) : try jobs.jobWithResult(id)
                return .job(found?.0, found?.1)
            case .recordMetrics:
                return .recorded
            case .metrics:
                return .metrics("")
            }
        } catch {
            return .failure(WorkerFailure(.storeUnavailable, "\(error)"))
        }
    }

    private func finish(_ job: CompilationJob) throws(JobStoreError) {
        let compiled = String(decoding: job.request.source, as: UTF8.self).contains("int main")
        let result = CompilationResult(
            jobID: job.id, success: true, compiled: compiled, stderr: compiled ? "" : "main.c:1:1: error: expected a main\n",
            exitCode: compiled ? 0 : 1, durationNanoseconds: 42_000_000)
        _ = try jobs.transition(job.id, to: .processing, at: Date(), result: nil)
        _ = try jobs.transition(job.id, to: compiled ? .completed : .failed, at: Date(), result: result)
    }
}
