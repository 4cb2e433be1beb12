import FoundationEssentials

/// What a responder (or an operator's tool) asks the worker over its Unix socket.
/// The wire format is described in `docs/WORKER_PROTOCOL.md`.
public enum WorkerRequest: Sendable, Equatable {
    /// Is the worker alive, and can it reach its job store?
    case ping
    /// Store the job as queued and compile it, counted against `client`'s share
    /// (nil: the one share of every job submitted without an identity).
    /// Replies `accepted`, `answered` (from the verdict cache), `queueFull`, `tooManyJobs` or `failure`.
    case submit(CompilationJob, client: ClientIdentity? = nil)
    /// Store the matrix and its cells' jobs and compile them, all or nothing: each cell as
    /// `submit` would take it, but either every one is accepted or none is stored. Replies
    /// `accepted` (with the matrix's id), `queueFull`, `tooManyJobs` or `failure`.
    case submitMatrix(CompilationMatrix, cells: [CompilationJob], client: ClientIdentity? = nil)
    /// The matrix from the worker's own store (memory mode).
    case readMatrix(JobID)
    /// Counters, as `/api/v1/workers/stats`.
    case stats
    /// The toolchains the worker probed at start-up (in a cluster, every live host's), and
    /// in Redis mode what a responder needs to answer from the verdict cache itself.
    case toolchains
    /// A job and its result from the worker's own store (memory mode), once the
    /// job is terminal or after `waitMilliseconds`, whichever comes first.
    case readJob(JobID, waitMilliseconds: Int = 0)
    /// A responder's measurements, added to the host's metrics. Replies `recorded`.
    case recordMetrics(MetricsBatch)
    /// The host's metrics in Prometheus' text format. Replies `metrics`.
    case metrics
}

public enum WorkerReply: Sendable, Equatable {
    case pong
    case accepted(JobID)
    /// Accepted and answered from the verdict cache: the job as stored, finished already
    /// (its request without the source), and its result.
    case answered(CompilationJob, CompilationResult)
    /// The queue is full; try again after this many seconds (HTTP 429 with `Retry-After`).
    /// `capacity`: how many jobs may wait (the cluster's, in Redis mode).
    case queueFull(capacity: Int, retryAfterSeconds: Int)
    /// The client holds its share of queued and running jobs already (HTTP 429 with `Retry-After`).
    case tooManyJobs(ClientShare, retryAfterSeconds: Int)
    case stats(WorkerStats)
    /// nil terms: the worker keeps no shared verdict cache (memory mode).
    case toolchains([Toolchain], VerdictCacheTerms?)
    /// nil job: unknown or expired id.
    case job(CompilationJob?, CompilationResult?)
    /// nil: unknown or expired id.
    case matrix(CompilationMatrix?)
    case recorded
    /// Prometheus' text exposition format 0.0.4.
    case metrics(String)
    case failure(WorkerFailure)
}

/// How many of a client's jobs the worker holds, and how many it may hold.
public struct ClientShare: Sendable, Equatable, Codable {
    /// Queued (waiting or being stored) or compiling.
    public var jobs: Int
    /// Of those, still waiting for a compile slot.
    public var waiting: Int
    /// `MAX_JOBS_PER_CLIENT`.
    public var limit: Int

    public init(jobs: Int, waiting: Int, limit: Int) {
        self.jobs = jobs
        self.waiting = waiting
        self.limit = limit
    }
}

/// A request the worker could not serve, with a reason for humans.
public struct WorkerFailure: Sendable, Equatable, Codable, Error, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        /// The frame was not a request this protocol knows.
        case malformedRequest = "malformed_request"
        /// The job names a toolchain, standard or target the worker cannot compile.
        case unsupportedJob = "unsupported_job"
        /// The job store did not answer (HTTP 503).
        case storeUnavailable = "store_unavailable"
        /// The job store is at its memory bound and took nothing of the job (HTTP 503 `store_full`).
        case storeFull = "store_full"
        /// The job id exists already.
        case duplicateJob = "duplicate_job"
        /// The worker is shutting down and takes no new work (HTTP 503).
        case shuttingDown = "shutting_down"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Turns requests and replies into frames and back: a 4-byte big-endian payload
/// length, then that many bytes of JSON.
public enum WorkerCodec {
    /// Largest payload either side accepts. `ServiceConfiguration` bounds
    /// MAX_SOURCE_SIZE (8 MiB, 10.7 MiB in Base64) and SANDBOX_OUTPUT_LIMIT_BYTES
    /// (1 MiB per stream, at most 12 MiB escaped), and `DiagnosticSummary` a result's
    /// diagnostics (under 5 MiB escaped), so that every job and result fits.
    public static let maxPayloadSize = 24 << 20

    /// A `submit` and its replies are written and read by `SubmitCodec`, the
    /// rest through the `Codable` envelopes below: the same JSON either way.
    public static func frame(_ request: WorkerRequest) -> [UInt8] {
        if case let .submit(job, client) = request { return frame(payload: SubmitCodec.payload(submitting: job, client: client)) }
        return frame(payload: encode(RequestEnvelope(request)))
    }

    public static func frame(_ reply: WorkerReply) -> [UInt8] {
        frame(payload: SubmitCodec.payload(of: reply) ?? encode(ReplyEnvelope(reply)))
    }

    public static func decodeRequest(_ payload: [UInt8]) throws(WorkerFailure) -> WorkerRequest {
        let frame = try FrameObject(frame: payload)
        if try frame.string("type") == "submit" { return try SubmitCodec.submit(from: frame) }
        return try decode(RequestEnvelope.self, payload).request()
    }

    public static func decodeReply(_ payload: [UInt8]) throws(WorkerFailure) -> WorkerReply {
        if let reply = try SubmitCodec.reply(from: try FrameObject(frame: payload)) { return reply }
        return try decode(ReplyEnvelope.self, payload).reply()
    }

    /// The frames as the `Codable` envelopes write and read them, for tests that compare them with `SubmitCodec`.
    static func modelFrame(_ request: WorkerRequest) -> [UInt8] {
        frame(payload: encode(RequestEnvelope(request)))
    }

    static func modelFrame(_ reply: WorkerReply) -> [UInt8] {
        frame(payload: encode(ReplyEnvelope(reply)))
    }

    static func modelDecodeRequest(_ payload: [UInt8]) throws(WorkerFailure) -> WorkerRequest {
        try decode(RequestEnvelope.self, payload).request()
    }

    static func modelDecodeReply(_ payload: [UInt8]) throws(WorkerFailure) -> WorkerReply {
        try decode(ReplyEnvelope.self, payload).reply()
    }

    static func frame(payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload
    }

    private static func encode(_ value: some Encodable) -> [UInt8] {
        // The envelopes hold only strings, numbers and nested Codable values: encoding cannot fail.
        Array(try! JSONEncoder().encode(value))
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ payload: [UInt8]) throws(WorkerFailure) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(payload))
        } catch {
            throw WorkerFailure(.malformedRequest, "undecodable frame: \(error)")
        }
    }
}

/// Splits a byte stream into frame payloads. Feed it bytes as they arrive, in any pieces.
public struct WorkerFrameDecoder: Sendable {
    public enum Failure: Error, Equatable {
        case frameTooLarge(Int)
    }

    private var buffer: [UInt8] = []
    private var start = 0
    private let maxPayloadSize: Int

    public init(maxPayloadSize: Int = WorkerCodec.maxPayloadSize) {
        self.maxPayloadSize = maxPayloadSize
    }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete payload, or nil until more bytes arrive.
    /// - Throws: `.frameTooLarge` as soon as a header announces more than the limit,
    ///   before its payload is read.
    public mutating func next() throws(Failure) -> [UInt8]? {
        guard buffer.count - start >= 4 else { return nil }
        let length = buffer[start..<start + 4].reduce(0) { $0 << 8 | Int($1) }
        guard length <= maxPayloadSize else { throw .frameTooLarge(length) }
        guard buffer.count - start - 4 >= length else { return nil }
        let payload = Array(buffer[start + 4..<start + 4 + length])
        start += 4 + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 16, start > buffer.count / 2 {
            // A peer that keeps frames coming never drains the buffer: drop what was read.
            buffer.removeFirst(start)
            start = 0
        }
        return payload
    }

    /// Bytes held, including those already returned but not yet dropped.
    var bufferedByteCount: Int { buffer.count }

    /// Bytes received but not yet returned as a frame.
    public var pendingByteCount: Int { buffer.count - start }
}

/// The JSON object on the wire: `{"type": "...", ...fields of that type}`.
private struct RequestEnvelope: Codable {
    var type: String
    var job: CompilationJob?
    /// A `ClientIdentity`, checked when the request is built from the envelope.
    var client: String?
    var id: JobID?
    var waitMilliseconds: Int?
    var matrix: CompilationMatrix?
    var cells: [CompilationJob]?
    /// The matrix cells' one source, in Base64.
    var source: String?
    /// The matrix cells' one project: each file's content in Base64, in the order of the
    /// cells' `files` (which travel with their names only).
    var fileContents: [String]?
    var metrics: MetricsBatch?

    private enum CodingKeys: String, CodingKey {
        case type, job, client, id, matrix, cells, source, fileContents = "file_contents", waitMilliseconds = "wait_ms", metrics
    }

    init(_ request: WorkerRequest) {
        switch request {
        case .ping: type = "ping"
        case let .submit(job, client): type = "submit"; self.job = job; self.client = client?.rawValue
        case let .submitMatrix(matrix, cells, client):
            // The cells share one source or project: it travels once, so the frame stays the
            // size of one job.
            type = "submit_matrix"; self.matrix = matrix; self.client = client?.rawValue
            source = cells.first.map { Data($0.request.source).base64EncodedString() }
            fileContents = cells.first.map { $0.request.files.map { Data($0.content).base64EncodedString() } }
            self.cells = cells.map { cell in
                var sourceless = cell
                sourceless.request = cell.request.withoutSources
                return sourceless
            }
        case let .readMatrix(id): type = "read_matrix"; self.id = id
        case .stats: type = "stats"
        case .toolchains: type = "toolchains"
        case let .readJob(id, wait): type = "read_job"; self.id = id; waitMilliseconds = wait > 0 ? wait : nil
        case let .recordMetrics(batch): type = "record_metrics"; metrics = batch
        case .metrics: type = "metrics"
        }
    }

    func request() throws(WorkerFailure) -> WorkerRequest {
        switch (type, job, id) {
        case ("ping", _, _): return .ping
        case let ("submit", job?, _):
            return .submit(job, client: try identity())
        case ("submit_matrix", _, _):
            guard let matrix, let cells, let source = source.flatMap({ Data(base64Encoded: $0) }) else { break }
            let contents = (fileContents ?? []).compactMap { Data(base64Encoded: $0) }
            guard contents.count == (fileContents ?? []).count,
                  cells.allSatisfy({ $0.request.files.count == contents.count }) else { break }
            return .submitMatrix(matrix, cells: cells.map { cell in
                var sourced = cell
                sourced.request.source = Array(source)
                for index in sourced.request.files.indices { sourced.request.files[index].content = Array(contents[index]) }
                return sourced
            }, client: try identity())
        case let ("read_matrix", _, id?): return .readMatrix(id)
        case ("stats", _, _): return .stats
        case ("toolchains", _, _): return .toolchains
        case let ("read_job", _, id?): return .readJob(id, waitMilliseconds: max(0, waitMilliseconds ?? 0))
        case ("record_metrics", _, _): if let metrics { return .recordMetrics(metrics) }
        case ("metrics", _, _): return .metrics
        default: break
        }
        throw WorkerFailure(.malformedRequest, "unknown request type \(type) or missing field")
    }

    /// The submitting client, checked: nil when none was named.
    private func identity() throws(WorkerFailure) -> ClientIdentity? {
        guard let client else { return nil }
        guard let identity = ClientIdentity(client) else {
            throw WorkerFailure(.malformedRequest, "client `\(client.prefix(80))` is not a client identity; expected \(ClientIdentity.accepted)")
        }
        return identity
    }
}

private struct ReplyEnvelope: Codable {
    var type: String
    var id: JobID?
    var retryAfterSeconds: Int?
    var capacity: Int?
    var share: ClientShare?
    var stats: WorkerStats?
    var toolchains: [Toolchain]?
    var verdictCacheTerms: VerdictCacheTerms?
    var job: CompilationJob?
    var result: CompilationResult?
    var failure: WorkerFailure?
    var matrix: CompilationMatrix?
    var text: String?

    private enum CodingKeys: String, CodingKey {
        case type, id, capacity, share, stats, toolchains, job, result, failure, matrix, text
        case retryAfterSeconds = "retry_after_seconds", verdictCacheTerms = "verdict_cache_terms"
    }

    init(_ reply: WorkerReply) {
        switch reply {
        case .pong: type = "pong"
        case let .accepted(id): type = "accepted"; self.id = id
        case let .answered(job, result): type = "answered"; self.job = job; self.result = result
        case let .queueFull(capacity, seconds): type = "queue_full"; self.capacity = capacity; retryAfterSeconds = seconds
        case let .tooManyJobs(share, seconds): type = "too_many_jobs"; self.share = share; retryAfterSeconds = seconds
        case let .stats(stats): type = "stats"; self.stats = stats
        case let .toolchains(list, terms): type = "toolchains"; toolchains = list; verdictCacheTerms = terms
        case let .job(job, result): type = "job"; self.job = job; self.result = result
        case let .matrix(matrix): type = "matrix"; self.matrix = matrix
        case .recorded: type = "recorded"
        case let .metrics(text): type = "metrics"; self.text = text
        case let .failure(failure): type = "failure"; self.failure = failure
        }
    }

    func reply() throws(WorkerFailure) -> WorkerReply {
        switch type {
        case "pong": return .pong
        case "accepted": if let id { return .accepted(id) }
        case "answered": if let job, let result { return .answered(job, result) }
        case "queue_full":
            if let capacity, let retryAfterSeconds { return .queueFull(capacity: capacity, retryAfterSeconds: retryAfterSeconds) }
        case "too_many_jobs":
            if let share, let retryAfterSeconds { return .tooManyJobs(share, retryAfterSeconds: retryAfterSeconds) }
        case "stats": if let stats { return .stats(stats) }
        case "toolchains": if let toolchains { return .toolchains(toolchains, verdictCacheTerms) }
        case "job": return .job(job, result)
        case "matrix": return .matrix(matrix)
        case "recorded": return .recorded
        case "metrics": if let text { return .metrics(text) }
        case "failure": if let failure { return .failure(failure) }
        default: break
        }
        throw WorkerFailure(.malformedRequest, "unknown reply type \(type) or missing field")
    }
}
