import FoundationEssentials
import Synchronization
import WillItCompile
import WorkerClient

/// The worker's probed toolchains, asked for again at most every 30 s (a worker
/// restarted with other compilers is noticed) or after the worker refused a job.
final class ToolchainCache: Sendable {
    private let worker: any WorkerChannel
    private let cached = Mutex<(toolchains: [Toolchain], fetched: Date)?>(nil)

    init(worker: any WorkerChannel) {
        self.worker = worker
    }

    func current() throws -> [Toolchain] {
        if let cached = cached.withLock({ $0 }), Date().timeIntervalSince(cached.fetched) < 30 {
            return cached.toolchains
        }
        return try refresh()
    }

    /// Asks the worker now and keeps the answer.
    func refresh() throws -> [Toolchain] {
        guard case let .toolchains(list) = try worker.send(.toolchains) else {
            throw WorkerUnreachable(description: "the worker did not list its toolchains")
        }
        cached.withLock { $0 = (list, Date()) }
        return list
    }

    func invalidate() {
        cached.withLock { $0 = nil }
    }
}
