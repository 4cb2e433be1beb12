import WillItCompile
import WorkerClient

extension APIHandler {
    /// `GET /metrics`: the host's metrics, which the worker keeps (the responders hand it
    /// theirs), in Prometheus' text format. nginx lets only METRICS_ALLOW reach it.
    func metrics() -> HTTPResponse {
        do {
            guard case let .metrics(text) = try workers.requests.send(.metrics) else {
                throw WorkerUnreachable(description: "the worker did not answer with metrics")
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                body: Array(text.utf8))
        } catch {
            return workerUnavailable(error)
        }
    }
}
