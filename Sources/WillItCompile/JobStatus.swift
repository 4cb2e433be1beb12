/// Where a compilation job is in its life.
///
/// The lifecycle only moves forward:
///
///     queued ──▶ processing ──▶ completed | failed | timeout | error
///        └──────────────────────▶ (any terminal status)
///
/// A terminal status is final: the first verdict written wins, and a late
/// write (for example a "processing" that arrives after "completed") is refused.
public enum JobStatus: String, CaseIterable, Codable, Sendable {
    case queued
    case processing
    /// The code compiled.
    case completed
    /// The code did not compile: the user's code is at fault.
    case failed
    /// The compile hit the time limit.
    case timeout
    /// The service failed (sandbox, missing toolchain, …): not the user's fault.
    case error

    /// True for statuses no transition ever leaves.
    public var isTerminal: Bool {
        switch self {
        case .queued, .processing: false
        case .completed, .failed, .timeout, .error: true
        }
    }

    /// Whether a job in this status may move to `next`.
    ///
    /// Staying in the same status is not a transition: it is refused too,
    /// so a repeated write is reported rather than silently re-stamping times.
    public func canTransition(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.queued, .processing): true
        case (.queued, _), (.processing, _): next.isTerminal
        case (.completed, _), (.failed, _), (.timeout, _), (.error, _): false
        }
    }

    /// Every status from which `self` may be reached, in declaration order.
    /// Stores that decide transitions server-side (a Redis script) receive this list,
    /// so the rule lives only in `canTransition(to:)`.
    public var allowedPredecessors: [JobStatus] {
        JobStatus.allCases.filter { $0.canTransition(to: self) }
    }
}
