/// Measurements a responder made since it last handed them to the worker, which keeps
/// the whole host's metrics (`docs/WORKER_PROTOCOL.md`, `record_metrics`).
public struct MetricsBatch: Sendable, Equatable, Codable {
    /// One metric with its dimensions, e.g. `will_it_compile_http_requests_total`
    /// with `route` and `status`.
    public struct Series: Sendable, Hashable, Codable {
        public var label: String
        /// Name and value pairs, in the order the code that measures names them.
        public var dimensions: [[String]]

        public init(label: String, dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.map { [$0.0, $0.1] }
        }

        /// The pairs back; nil when one is not a pair.
        public var pairs: [(String, String)]? {
            var pairs: [(String, String)] = []
            for pair in dimensions {
                guard pair.count == 2 else { return nil }
                pairs.append((pair[0], pair[1]))
            }
            return pairs
        }
    }

    /// What a counter went up by.
    public struct Increment: Sendable, Equatable, Codable {
        public var series: Series
        public var by: Int64
    }

    /// Durations a timer measured, in nanoseconds.
    public struct Durations: Sendable, Equatable, Codable {
        public var series: Series
        public var nanoseconds: [Int64]
    }

    public var increments: [Increment] = []
    public var durations: [Durations] = []

    public init() {}

    public var isEmpty: Bool { increments.isEmpty && durations.isEmpty }

    public mutating func add(_ amount: Int64, to series: Series) {
        if let index = increments.firstIndex(where: { $0.series == series }) {
            increments[index].by += amount
        } else {
            increments.append(Increment(series: series, by: amount))
        }
    }

    /// Everything `other` holds, added to what this batch holds.
    public mutating func add(_ other: MetricsBatch) {
        for increment in other.increments { add(increment.by, to: increment.series) }
        for durations in other.durations {
            if let index = self.durations.firstIndex(where: { $0.series == durations.series }) {
                self.durations[index].nanoseconds += durations.nanoseconds
            } else {
                self.durations.append(durations)
            }
        }
    }

    public mutating func add(nanoseconds: Int64, to series: Series) {
        if let index = durations.firstIndex(where: { $0.series == series }) {
            durations[index].nanoseconds.append(nanoseconds)
        } else {
            durations.append(Durations(series: series, nanoseconds: [nanoseconds]))
        }
    }
}
