public import Foundation

/// A job as stored: the request, where it is in its lifecycle, and when things happened.
public struct CompilationJob: Sendable, Equatable {
    public var id: JobID
    public var request: CompilationRequest
    public var status: JobStatus
    public var createdAt: Date
    /// Set when the job enters `processing`.
    public var startedAt: Date?
    /// Set when the job reaches a terminal status.
    public var completedAt: Date?

    public init(
        id: JobID = JobID(), request: CompilationRequest, status: JobStatus = .queued,
        createdAt: Date, startedAt: Date? = nil, completedAt: Date? = nil
    ) {
        self.id = id
        self.request = request
        self.status = status
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
    }

    /// The job after moving to `next` at `date`, stamping `started_at` or
    /// `completed_at`; nil when the lifecycle forbids the move.
    public func transitioned(to next: JobStatus, at date: Date) -> CompilationJob? {
        guard status.canTransition(to: next) else { return nil }
        var job = self
        job.status = next
        if next == .processing { job.startedAt = date }
        if next.isTerminal { job.completedAt = date }
        return job
    }
}
