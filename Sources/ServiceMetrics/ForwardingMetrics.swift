public import CoreMetrics
import Glibc
import Synchronization
public import WillItCompile

/// A responder's metrics backend. The responders are a pool of processes that
/// multiwatch restarts at any time, so none keeps metrics of its own: each measurement
/// waits here until `flush` hands it to the worker, the one long-lived process per host,
/// which adds it to the host's metrics (the responder flushes periodically, and once more
/// when it stops). Counters and timers only: a gauge is one
/// process's value and cannot be added up over the pool (the responders record none).
public final class ForwardingMetrics: MetricsFactory {
    /// What waits for the next flush, in shards chosen by the measuring thread: every
    /// request thread counts and times each request, and with one lock they queued on it.
    private let pending = (0..<16).map { _ in PendingShard() }
    /// Held while a batch is on its way: see `flush`.
    private let sending = Mutex(())

    public init() {}

    private final class PendingShard: Sendable {
        let batch = Mutex(MetricsBatch())
    }

    /// The calling thread's shard: its thread id, hashed (ids are addresses, far apart and aligned).
    private var shard: PendingShard {
        let hash = UInt64(pthread_self()) &* 0x9E37_79B9_7F4A_7C15
        return pending[Int(hash >> 60)]
    }

    /// Hands what was measured so far to `send`. Flushes are one at a time, so once
    /// `flush` returns, every measurement made before it was called has reached `send`
    /// (the flush of another thread that took it finished first). A batch `send` fails
    /// to deliver is dropped: the worker is gone, and with it the sums it belonged to.
    public func flush(_ send: (MetricsBatch) -> Void) {
        sending.withLock { _ in
            var batch = MetricsBatch()
            for shard in pending {
                let taken = shard.batch.withLock { taken in
                    defer { taken = MetricsBatch() }
                    return taken
                }
                batch.add(taken)
            }
            if !batch.isEmpty { send(batch) }
        }
    }

    fileprivate func add(_ amount: Int64, to series: MetricsBatch.Series) {
        shard.batch.withLock { $0.add(amount, to: series) }
    }

    fileprivate func add(nanoseconds: Int64, to series: MetricsBatch.Series) {
        shard.batch.withLock { $0.add(nanoseconds: nanoseconds, to: series) }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        ForwardedMetric(MetricsBatch.Series(label: label, dimensions: dimensions), to: self)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        ForwardedMetric(MetricsBatch.Series(label: label, dimensions: dimensions), to: self)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        NOOPMetricsHandler.instance
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
}

/// A counter or a timer whose measurements wait in `ForwardingMetrics`.
private final class ForwardedMetric: CounterHandler, TimerHandler {
    let series: MetricsBatch.Series
    let metrics: ForwardingMetrics

    init(_ series: MetricsBatch.Series, to metrics: ForwardingMetrics) {
        self.series = series
        self.metrics = metrics
    }

    func increment(by amount: Int64) { metrics.add(amount, to: series) }
    /// The sum lives in the worker; a responder cannot reset it.
    func reset() {}
    func recordNanoseconds(_ duration: Int64) { metrics.add(nanoseconds: duration, to: series) }
}
