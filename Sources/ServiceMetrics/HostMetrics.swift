public import CoreMetrics
import Prometheus
public import WillItCompile

/// The host's metrics, kept by the worker: its own measurements (swift-metrics, with
/// this as the process's backend) and the responders' (`add`), in Prometheus' text format.
public final class HostMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    public let factory: any MetricsFactory

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            // From a cached answer's fraction of a millisecond to the 30 s long poll.
            MetricName.httpRequestDuration: [
                .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
            ],
            // From a syntax check to COMPILE_TIMEOUT's largest values.
            MetricName.compileDuration: [
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .seconds(2), .seconds(5), .seconds(10), .seconds(20), .seconds(30), .seconds(60), .seconds(120),
            ],
        ]
        self.factory = factory
    }

    /// Adds a responder's measurements.
    /// - Throws: `WorkerFailure.malformedRequest` naming a metric responders do not measure,
    ///   or one with other dimensions than it has (nothing of such a batch is added).
    public func add(_ batch: MetricsBatch) throws(WorkerFailure) {
        let names = batch.increments.map(\.series) + batch.durations.map(\.series)
        for series in names {
            guard let dimensions = MetricName.measuredByResponders[series.label] else {
                throw WorkerFailure(.malformedRequest, "metric `\(series.label.prefix(80))` is not one the responders measure; accepted: \(MetricName.measuredByResponders.keys.sorted().joined(separator: ", "))")
            }
            guard let pairs = series.pairs, pairs.map(\.0) == dimensions else {
                throw WorkerFailure(.malformedRequest, "metric `\(series.label)` takes the dimensions \(dimensions) as name and value pairs, in that order")
            }
        }
        for increment in batch.increments where increment.by > 0 {
            factory.makeCounter(label: increment.series.label, dimensions: increment.series.pairs!).increment(by: increment.by)
        }
        for durations in batch.durations {
            let timer = factory.makeTimer(label: durations.series.label, dimensions: durations.series.pairs!)
            for nanoseconds in durations.nanoseconds { timer.recordNanoseconds(nanoseconds) }
        }
    }

    /// Every metric in Prometheus' text exposition format 0.0.4.
    public func exposition() -> String {
        registry.emitToString()
    }
}
