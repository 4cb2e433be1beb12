public import FoundationEssentials

/// A job as stored: the request, where it is in its lifecycle, and when things happened.
public struct CompilationJob: Sendable, Equatable {
    public var id: JobID
    public var request: CompilationRequest {
        get { submittedRequest }
        set {
            if newValue != submittedRequest { storedRequestJSON = nil }
            submittedRequest = newValue
        }
    }
    private var submittedRequest: CompilationRequest
    /// `request.storedJSON` as it arrived with the job (a `submit` frame carries it), so that
    /// the store writes those bytes instead of encoding the request again; nil once `request`
    /// changes, and for jobs made any other way.
    public internal(set) var storedRequestJSON: [UInt8]?
    public var status: JobStatus
    public var createdAt: Date
    /// Set when the job enters `processing`.
    public var startedAt: Date?
    /// Set when the job reaches a terminal status.
    public var completedAt: Date?
    /// The worker host that owns the job, so a restarted worker recovers only its own jobs.
    public var host: String?
    /// The id of the request that submitted it (`X-Request-ID`), which the compile's log line names.
    public var requestID: String?

    public init(
        id: JobID = JobID(), request: CompilationRequest, status: JobStatus = .queued,
        createdAt: Date, startedAt: Date? = nil, completedAt: Date? = nil, host: String? = nil
    ) {
        self.id = id
        submittedRequest = request
        self.status = status
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.host = host
    }

    /// Equal when everything but `storedRequestJSON` is: those bytes are `request`'s.
    public static func == (lhs: CompilationJob, rhs: CompilationJob) -> Bool {
        lhs.id == rhs.id && lhs.submittedRequest == rhs.submittedRequest && lhs.status == rhs.status
            && lhs.createdAt == rhs.createdAt && lhs.startedAt == rhs.startedAt && lhs.completedAt == rhs.completedAt
            && lhs.host == rhs.host && lhs.requestID == rhs.requestID
    }

    /// The job as the verdict cache stores it: finished in `status` at `date`, started then too.
    public func finished(_ status: JobStatus, at date: Date) -> CompilationJob {
        var job = self
        job.status = status
        job.startedAt = date
        job.completedAt = date
        return job
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

/// JSON with the predecessor's snake_case names and RFC 3339 timestamps.
extension CompilationJob: Codable {
    private enum CodingKeys: String, CodingKey {
        case id, request, status, host, requestID = "request_id"
        case createdAt = "created_at", startedAt = "started_at", completedAt = "completed_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func date(_ key: CodingKeys) throws -> Date? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not RFC 3339: \(text)")
            }
            return date
        }
        guard let createdAt = try date(.createdAt) else {
            throw DecodingError.keyNotFound(CodingKeys.createdAt, .init(codingPath: decoder.codingPath, debugDescription: "created_at is required"))
        }
        self.init(
            id: try container.decode(JobID.self, forKey: .id),
            request: try container.decode(CompilationRequest.self, forKey: .request),
            status: try container.decode(JobStatus.self, forKey: .status),
            createdAt: createdAt, startedAt: try date(.startedAt), completedAt: try date(.completedAt),
            host: try container.decodeIfPresent(String.self, forKey: .host))
        requestID = try container.decodeIfPresent(String.self, forKey: .requestID)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(request, forKey: .request)
        try container.encode(status, forKey: .status)
        try container.encode(Timestamp.format(createdAt), forKey: .createdAt)
        try container.encodeIfPresent(startedAt.map(Timestamp.format), forKey: .startedAt)
        try container.encodeIfPresent(completedAt.map(Timestamp.format), forKey: .completedAt)
        try container.encodeIfPresent(host, forKey: .host)
        try container.encodeIfPresent(requestID, forKey: .requestID)
    }
}
