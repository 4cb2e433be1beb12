import FoundationEssentials
import Synchronization
import WillItCompile
import WorkerClient

/// The worker's probed toolchains and its verdict cache terms, asked for again at most every
/// 30 s (a worker restarted with other compilers or limits is noticed) or after the worker
/// refused a job.
final class ToolchainCache: Sendable {
    /// What the worker's `toolchains` reply says.
    struct Offer: Sendable {
        var toolchains: [Toolchain]
        /// nil: the worker keeps no shared verdict cache (memory mode).
        var verdictCacheTerms: VerdictCacheTerms?
    }

    private let worker: any WorkerChannel
    private let cached = Mutex<(offer: Offer, fetched: Date)?>(nil)

    init(worker: any WorkerChannel) {
        self.worker = worker
    }

    func current() throws -> [Toolchain] {
        try currentOffer().toolchains
    }

    func currentOffer() throws -> Offer {
        if let cached = cached.withLock({ $0 }), Date().timeIntervalSince(cached.fetched) < 30 {
            return cached.offer
        }
        return try refresh()
    }

    /// Asks the worker now and keeps the answer.
    func refresh() throws -> Offer {
        guard case let .toolchains(list, terms) = try worker.send(.toolchains) else {
            throw WorkerUnreachable(description: "the worker did not list its toolchains")
        }
        let offer = Offer(toolchains: list, verdictCacheTerms: terms)
        cached.withLock { $0 = (offer, Date()) }
        return offer
    }

    func invalidate() {
        cached.withLock { $0 = nil }
    }
}
