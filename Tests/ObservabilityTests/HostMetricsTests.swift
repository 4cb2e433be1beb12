import CoreMetrics
import Dispatch
import ServiceMetrics
import Synchronization
import TestSupport
import Testing
import WillItCompile

@Suite struct HostMetricsTests {
    func batch(_ label: String, route: String = "/health") -> MetricsBatch {
        var batch = MetricsBatch()
        batch.add(2, to: MetricsBatch.Series(label: label, dimensions: [("route", route), ("status", "200")]))
        return batch
    }

    @Test func aRespondersMeasurementsAreAddedUp() throws {
        let metrics = HostMetrics()
        try metrics.add(batch(MetricName.httpRequests))
        try metrics.add(batch(MetricName.httpRequests))
        var durations = MetricsBatch()
        durations.add(nanoseconds: 3_000_000, to: MetricsBatch.Series(label: MetricName.httpRequestDuration, dimensions: [("route", "/health")]))
        try metrics.add(durations)
        let text = metrics.exposition()
        #expect(text.contains(#"will_it_compile_http_requests_total{route="/health",status="200"} 4"#), "\(text)")
        #expect(text.contains(#"will_it_compile_http_request_duration_seconds_bucket{route="/health",le="0.005"} 1"#), "\(text)")
        #expect(text.contains(#"will_it_compile_http_request_duration_seconds_count{route="/health"} 1"#), "\(text)")
    }

    /// The worker's socket is the service user's; still, only what responders measure gets in.
    @Test func aMetricRespondersDoNotMeasureRefusesTheWholeBatch() {
        let metrics = HostMetrics()
        var mixed = batch(MetricName.httpRequests)
        mixed.add(1, to: MetricsBatch.Series(label: MetricName.workerStarts, dimensions: []))
        #expect(throws: WorkerFailure.self) { try metrics.add(mixed) }
        #expect(!metrics.exposition().contains("will_it_compile"), "nothing of it was added")
    }

    /// A known metric with other dimensions would stop the worker in Prometheus' registry,
    /// which takes one set of label names per metric.
    @Test func aMetricWithOtherDimensionsThanItsOwnIsRefused() throws {
        let metrics = HostMetrics()
        try metrics.add(batch(MetricName.httpRequests))
        var relabelled = MetricsBatch()
        relabelled.add(1, to: MetricsBatch.Series(label: MetricName.httpRequests, dimensions: [("path", "/x"), ("status", "200")]))
        #expect(throws: WorkerFailure.self) { try metrics.add(relabelled) }
        #expect(!metrics.exposition().contains("path="))
    }
}

@Suite struct ForwardingMetricsTests {
    /// Threads measure into shards of their own; a flush hands on the sum of all of them.
    @Test(.runningTimeLimit(minutes: 1))
    func aFlushHandsOnWhatEveryThreadMeasured() {
        let forwarding = ForwardingMetrics()
        let threads = 24, each = 500
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let counter = forwarding.makeCounter(label: MetricName.httpRequests, dimensions: [("route", "/r")])
            let timer = forwarding.makeTimer(label: MetricName.httpRequestDuration, dimensions: [("route", "/r")])
            for index in 0..<each {
                counter.increment(by: 1)
                timer.recordNanoseconds(Int64(thread * each + index))
                // A series of the thread's own, beside the shared one.
                forwarding.makeCounter(label: MetricName.httpRequests, dimensions: [("thread", String(thread))]).increment(by: 2)
            }
        }
        var batches: [MetricsBatch] = []
        forwarding.flush { batches.append($0) }
        #expect(batches.count == 1)
        let batch = batches.first ?? MetricsBatch()
        let shared = MetricsBatch.Series(label: MetricName.httpRequests, dimensions: [("route", "/r")])
        #expect(batch.increments.first { $0.series == shared }?.by == Int64(threads * each))
        #expect(batch.increments.count == threads + 1, "each series once")
        #expect(batch.increments.filter { $0.series != shared }.allSatisfy { $0.by == Int64(2 * each) })
        #expect(batch.durations.count == 1 && batch.durations.first?.nanoseconds.count == threads * each)
        #expect(batch.durations.first.map { Set($0.nanoseconds) } == Set((0..<threads * each).map(Int64.init)))
        var after: [MetricsBatch] = []
        forwarding.flush { after.append($0) }
        #expect(after.isEmpty, "a flush takes what it hands on")
    }

    /// Once a flush returns, every measurement made before it has been handed on, also when
    /// another thread's flush took it and is still sending: the responder's last flush as it
    /// stops loses nothing to a periodic one in flight.
    @Test(.runningTimeLimit(minutes: 1))
    func aFlushReturnsOnlyOnceWhatWasMeasuredBeforeItHasBeenHandedOn() {
        let forwarding = ForwardingMetrics()
        let delivered = Mutex<Set<String>>([])
        let sending = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), returned = DispatchSemaphore(value: 0)
        let deliveredWhenReturned = Mutex<Bool?>(nil)

        // B measures; A's flush takes B's measurement with its own and is slow to send it.
        forwarding.makeCounter(label: MetricName.httpRequests, dimensions: [("request", "B")]).increment(by: 1)
        DispatchQueue.global().async {
            forwarding.makeCounter(label: MetricName.httpRequests, dimensions: [("request", "A")]).increment(by: 1)
            forwarding.flush { batch in
                sending.signal()
                release.wait()
                delivered.withLock { $0.formUnion(batch.increments.map { $0.series.dimensions[0][1] }) }
            }
        }
        sending.wait()
        DispatchQueue.global().async {
            forwarding.flush { batch in delivered.withLock { $0.formUnion(batch.increments.map { $0.series.dimensions[0][1] }) } }
            deliveredWhenReturned.withLock { $0 = delivered.withLock { $0.contains("B") } }
            returned.signal()
        }
        // B's flush must wait for A's send; were it to return first, it would be seen here.
        let returnedFirst = returned.wait(timeout: .now() + 1) == .success
        release.signal()
        if !returnedFirst { returned.wait() }
        #expect(!returnedFirst, "B's flush returned while A was still sending")
        #expect(deliveredWhenReturned.withLock { $0 } == true)
        #expect(delivered.withLock { $0 } == ["A", "B"])
    }
}
