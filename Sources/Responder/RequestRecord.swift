import CoreMetrics
import Glibc
import HTTPAPI
import Logging
import ServiceLog
import ServiceMetrics
import WillItCompile
import WorkerClient

/// What a responder records of each answered request: its metrics, which wait in
/// `forwarding` until the next flush hands them to the worker (which keeps the host's
/// metrics), and its log line.
struct RequestRecord: Sendable {
    let forwarding: ForwardingMetrics
    /// Short: a worker that does not take the measurements in time loses them.
    let worker: WorkerClient
    let log: EventLog

    /// How often the measurements go to the worker. Not with each answer: a round trip to
    /// the worker per request cost a status read two thirds of its throughput.
    static let flushIntervalMicroseconds: UInt32 = 100_000

    /// - Parameters:
    ///   - route: the route table's pattern (`APIHandler.routeName`), never the path itself.
    ///   - meters: the calling thread's own.
    func record(requestID: String, method: String, route: String, response: HTTPResponse, duration: Duration, meters: inout RequestMeters) {
        meters.counter(route: route, status: response.status).increment()
        meters.timer(route: route).recordNanoseconds(duration.nanoseconds)
        let level: Logger.Level = response.status >= 500 ? .warning : .info
        guard log.writes(level) else { return }
        log.log(level, "request", Self.fields(requestID: requestID, method: method, route: route, response: response, duration: duration))
        if let answered = response.answeredFromCache {
            log.log(.info, "compile", Self.compileFields(of: answered.job, result: answered.result))
        }
    }

    /// The `compile` line of a job this responder answered from the verdict cache, with the
    /// fields of the line the worker writes for every job it compiles or answers, in key order.
    static func compileFields(of job: CompilationJob, result: CompilationResult) -> [LogField] {
        var fields = [
            LogField("cached", String(describing: result.cached)),
            LogField("duration_ms", String(describing: Double(result.durationNanoseconds / 1000) / 1000)),
            LogField("exit_code", String(result.exitCode)),
            LogField("job_id", String(describing: job.id)),
        ]
        if let requestID = job.requestID { fields.append(LogField("request_id", requestID)) }
        fields.append(LogField("toolchain", job.request.compiler ?? "none"))
        fields.append(LogField("verdict", job.status.rawValue))
        return fields
    }

    /// The request line's fields, in key order.
    static func fields(requestID: String, method: String, route: String, response: HTTPResponse, duration: Duration) -> [LogField] {
        var fields: [LogField] = []
        fields.reserveCapacity(6)
        fields.append(LogField("duration_ms", String(describing: Double(duration.nanoseconds / 1000) / 1000)))
        if let job = response.jobID { fields.append(LogField("job_id", String(describing: job))) }
        fields.append(LogField("method", method))
        fields.append(LogField("request_id", requestID))
        fields.append(LogField("route", route))
        fields.append(LogField("status", String(response.status)))
        return fields
    }

    /// Hands what was measured so far to the worker. A batch the worker does not take (it
    /// is down or stuck) is dropped: the sums it belonged to went with the worker.
    func flush() {
        forwarding.flush { batch in
            _ = try? worker.send(.recordMetrics(batch))
        }
    }

    /// Flushes every `flushIntervalMicroseconds`, for as long as the process runs.
    func flushPeriodically() {
        while true {
            usleep(Self.flushIntervalMicroseconds)
            flush()
        }
    }
}

/// One request thread's request counters and timers, each made once per route and status:
/// made per request, each went through the metrics factory, building its series every time.
struct RequestMeters {
    private struct CounterKey: Hashable {
        let route: String
        let status: Int
    }

    private var counters: [CounterKey: Counter] = [:]
    private var timers: [String: Timer] = [:]

    mutating func counter(route: String, status: Int) -> Counter {
        let key = CounterKey(route: route, status: status)
        if let counter = counters[key] { return counter }
        let counter = Counter(label: MetricName.httpRequests, dimensions: [("route", route), ("status", String(status))])
        counters[key] = counter
        return counter
    }

    mutating func timer(route: String) -> Timer {
        if let timer = timers[route] { return timer }
        let timer = Timer(label: MetricName.httpRequestDuration, dimensions: [("route", route)])
        timers[route] = timer
        return timer
    }
}
