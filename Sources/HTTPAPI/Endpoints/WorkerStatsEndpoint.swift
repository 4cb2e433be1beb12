import WillItCompile
import WorkerClient

extension APIHandler {
    /// `GET /api/v1/workers/stats`: the predecessor's counters; in a cluster the live
    /// hosts' totals, with one row per host.
    func workerStats() -> HTTPResponse {
        do {
            guard case let .stats(stats) = try workers.requests.send(.stats) else {
                throw WorkerUnreachable(description: "the worker did not answer with statistics")
            }
            return .json(200, stats)
        } catch {
            return workerUnavailable(error)
        }
    }
}
