import CoreMetrics
import HTTPAPI
import Logging
import ServiceMetrics
import WillItCompile
import WorkerClient

/// What a responder records of each answered request: its metrics, handed to the worker
/// (which keeps the host's metrics) before the answer leaves, so that a scrape after the
/// answer counts the request; and its log line.
struct RequestRecord: Sendable {
    let forwarding: ForwardingMetrics
    /// Short: a worker that does not take the measurements in time loses them, the client waits no longer.
    let worker: WorkerClient
    let log = Logger(label: "will-it-compile-responder")

    /// - Parameter route: the route table's pattern (`APIHandler.routeName`), never the path itself.
    func record(requestID: String, method: String, route: String, response: HTTPResponse, duration: Duration) {
        Counter(label: MetricName.httpRequests, dimensions: [("route", route), ("status", String(response.status))]).increment()
        Timer(label: MetricName.httpRequestDuration, dimensions: [("route", route)]).recordNanoseconds(duration.nanoseconds)
        forwarding.flush { batch in
            do {
                _ = try worker.send(.recordMetrics(batch))
            } catch {
                // The worker is down or stuck: the host's metrics go with it; the answer does not wait.
            }
        }
        var metadata: Logger.Metadata = [
            "request_id": "\(requestID)", "method": "\(method)", "route": "\(route)", "status": "\(response.status)",
            "duration_ms": "\(Double(duration.nanoseconds / 1000) / 1000)",
        ]
        if let job = response.jobID { metadata["job_id"] = "\(job)" }
        log.log(level: response.status >= 500 ? .warning : .info, "request", metadata: metadata)
    }
}
