extension Duration {
    /// The duration in seconds, for Foundation's `Date` and `TimeInterval` APIs.
    public var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole milliseconds, rounded up: a positive wait never becomes zero.
    public var roundedUpMilliseconds: Int {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int(attoseconds % 1_000_000_000_000_000 > 0 ? milliseconds + 1 : milliseconds)
    }

    /// Whole nanoseconds, for swift-metrics' timers.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
