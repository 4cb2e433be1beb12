/// The worker protocol's `submit` and the replies to it, written and read by hand: the
/// same JSON as the `Codable` envelopes of `WorkerCodec`, without `JSONEncoder` and
/// `JSONDecoder`, whose generic machinery was the largest single cost of a submission in the
/// worker and among the largest in the responder.
/// The job's request is the stored JSON (`CompilationRequest.storedJSON`), written once by
/// the responder; the worker keeps those bytes (`CompilationJob.storedRequestJSON`) and
/// stores them as they are.
enum SubmitCodec {
    static func payload(submitting job: CompilationJob, client: ClientIdentity?) -> [UInt8] {
        let fields = jobJSON(job)
        var envelope = JSONObjectWriter(reservingCapacity: fields.count + 128, escapingSlashes: true)
        envelope.member("type", "submit")
        envelope.member("job", json: fields)
        if let client { envelope.member("client", client.rawValue) }
        return envelope.finish()
    }

    /// A job as `CompilationJob`'s `Codable` writes it, its request as stored.
    private static func jobJSON(_ job: CompilationJob) -> [UInt8] {
        let request = job.storedRequestJSON ?? job.request.storedJSON
        var fields = JSONObjectWriter(reservingCapacity: request.count + 256, escapingSlashes: true)
        fields.member("id", job.id.description)
        fields.member("request", json: request)
        fields.member("status", job.status.rawValue)
        fields.member("created_at", Timestamp.format(job.createdAt))
        for (name, date) in [("started_at", job.startedAt), ("completed_at", job.completedAt)] {
            if let date { fields.member(name, Timestamp.format(date)) }
        }
        if let host = job.host { fields.member("host", host) }
        if let requestID = job.requestID { fields.member("request_id", requestID) }
        return fields.finish()
    }

    /// A result as `CompilationResult`'s `Codable` reads it.
    private static func resultJSON(_ result: CompilationResult) -> [UInt8] {
        var fields = JSONObjectWriter(reservingCapacity: 512 + result.stdout.utf8.count + result.stderr.utf8.count, escapingSlashes: true)
        fields.member("job_id", result.jobID.description)
        fields.member("success", result.success)
        fields.member("compiled", result.compiled)
        fields.member("stdout", result.stdout)
        fields.member("stderr", result.stderr)
        fields.member("exit_code", result.exitCode)
        fields.member("duration", result.durationNanoseconds)
        fields.member("error", result.error)
        fields.member("artifact", result.artifact)
        fields.member("diagnostics", json: Diagnostic.json(result.diagnostics))
        fields.member("error_count", result.errorCount)
        fields.member("warning_count", result.warningCount)
        fields.member("cached", result.cached)
        return fields.finish()
    }

    /// The replies a `submit` gets; nil for the others.
    static func payload(of reply: WorkerReply) -> [UInt8]? {
        var envelope = JSONObjectWriter(reservingCapacity: 128, escapingSlashes: true)
        switch reply {
        case let .answered(job, result):
            let (jobFields, resultFields) = (jobJSON(job), resultJSON(result))
            envelope = JSONObjectWriter(reservingCapacity: jobFields.count + resultFields.count + 64, escapingSlashes: true)
            envelope.member("type", "answered")
            envelope.member("job", json: jobFields)
            envelope.member("result", json: resultFields)
        case let .accepted(id):
            envelope.member("type", "accepted")
            envelope.member("id", id.description)
        case let .queueFull(capacity, seconds):
            envelope.member("type", "queue_full")
            envelope.member("capacity", capacity)
            envelope.member("retry_after_seconds", seconds)
        case let .tooManyJobs(share, seconds):
            envelope.member("type", "too_many_jobs")
            var fields = JSONObjectWriter(reservingCapacity: 64)
            fields.member("jobs", share.jobs)
            fields.member("waiting", share.waiting)
            fields.member("limit", share.limit)
            envelope.member("share", json: fields.finish())
            envelope.member("retry_after_seconds", seconds)
        case let .failure(failure):
            envelope.member("type", "failure")
            var fields = JSONObjectWriter(reservingCapacity: failure.message.utf8.count + 64, escapingSlashes: true)
            fields.member("code", failure.code.rawValue)
            fields.member("message", failure.message)
            envelope.member("failure", json: fields.finish())
        default:
            return nil
        }
        return envelope.finish()
    }

    /// A `submit` frame's request; `frame` holds its members.
    static func submit(from frame: FrameObject) throws(WorkerFailure) -> WorkerRequest {
        let job = try job(from: frame.requiredObject("job"))
        return .submit(job, client: try frame.optional("client", { ClientIdentity($0) }, ClientIdentity.accepted))
    }

    /// A job `jobJSON` wrote (or `CompilationJob`'s `Codable`), keeping its request's bytes.
    private static func job(from fields: FrameObject) throws(WorkerFailure) -> CompilationJob {
        let id = try fields.required("id", { JobID($0) }, jobIDForm)
        let requestJSON = Array(fields.bytes[try fields.requiredRange("request")])
        let request: CompilationRequest
        do {
            request = try CompilationRequest(storedJSON: requestJSON, withSource: true)
        } catch {
            throw fields.failure("job.request is not a stored request: \(error.description)")
        }
        let status = try fields.required("status", JobStatus.init(rawValue:), "one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        let time = "an RFC 3339 time such as 2025-01-19T10:04:05.123456789Z"
        var job = CompilationJob(
            id: id, request: request, status: status,
            createdAt: try fields.required("created_at", Timestamp.parse, time),
            startedAt: try fields.optional("started_at", Timestamp.parse, time),
            completedAt: try fields.optional("completed_at", Timestamp.parse, time),
            host: try fields.string("host"))
        job.requestID = try fields.string("request_id")
        job.storedRequestJSON = requestJSON
        return job
    }

    /// A result `resultJSON` wrote (or `CompilationResult`'s `Codable`).
    private static func result(from fields: FrameObject) throws(WorkerFailure) -> CompilationResult {
        var diagnostics: [Diagnostic] = []
        if let range = fields.range("diagnostics") {
            guard let list = Diagnostic.list(fromJSON: Array(fields.bytes[range])) else {
                throw fields.failure("result.diagnostics is not a list of diagnostics ({severity, message, file?, line?, column?, option?})")
            }
            diagnostics = list
        }
        return CompilationResult(
            jobID: try fields.required("job_id", { JobID($0) }, jobIDForm), success: try fields.boolean("success"),
            compiled: try fields.boolean("compiled"), stdout: try fields.string("stdout") ?? "", stderr: try fields.string("stderr") ?? "",
            exitCode: try fields.integer("exit_code"), durationNanoseconds: Int64(try fields.integer("duration")),
            error: try fields.string("error") ?? "", artifact: try fields.string("artifact") ?? "",
            diagnostics: DiagnosticSummary(diagnostics: diagnostics, errorCount: try fields.optionalInteger("error_count") ?? 0,
                                           warningCount: try fields.optionalInteger("warning_count") ?? 0),
            cached: try fields.range("cached") == nil ? false : fields.boolean("cached"))
    }

    private static let jobIDForm = "a job id (a UUID in 8-4-4-4-12 hexadecimal)"

    /// One of the replies `payload(of:)` writes; nil for a reply of another type.
    static func reply(from frame: FrameObject) throws(WorkerFailure) -> WorkerReply? {
        switch try frame.string("type") {
        case "accepted":
            return .accepted(try frame.required("id", { JobID($0) }, jobIDForm))
        case "answered":
            return .answered(try job(from: frame.requiredObject("job")), try result(from: frame.requiredObject("result")))
        case "queue_full":
            return .queueFull(capacity: try frame.integer("capacity"), retryAfterSeconds: try frame.integer("retry_after_seconds"))
        case "too_many_jobs":
            let share = try frame.requiredObject("share")
            return .tooManyJobs(
                ClientShare(jobs: try share.integer("jobs"), waiting: try share.integer("waiting"), limit: try share.integer("limit")),
                retryAfterSeconds: try frame.integer("retry_after_seconds"))
        case "failure":
            let failure = try frame.requiredObject("failure")
            let codes = [WorkerFailure.Code.malformedRequest, .unsupportedJob, .storeUnavailable, .storeFull, .duplicateJob, .shuttingDown]
            return .failure(WorkerFailure(
                try failure.required("code", WorkerFailure.Code.init(rawValue:), "one of \(codes.map(\.rawValue).joined(separator: ", "))"),
                try failure.required("message", { $0 }, "a string")))
        default:
            return nil
        }
    }
}

/// One JSON object of a frame: its members, each value's bytes left in the frame until read.
/// Every failure names the frame's type and the member (`submit frame: job.created_at …`)
/// and what it accepts.
struct FrameObject {
    let bytes: [UInt8]
    private let members: [(name: String, value: Range<Int>)]
    /// Where the object sits in the frame: "" for the frame itself, "job." for its job.
    private let path: String
    /// What failures call the frame: "submit frame".
    private var label: String

    /// The frame's top-level object.
    init(frame bytes: [UInt8]) throws(WorkerFailure) {
        do {
            self.init(bytes: bytes, members: try JSONValue.memberRanges(of: bytes), path: "", label: "frame")
        } catch {
            throw WorkerFailure(.malformedRequest, "undecodable frame: \(error.description); expected a JSON object")
        }
        if let type = try? string("type") { label = "\(type.prefix(40)) frame" }
    }

    private init(bytes: [UInt8], members: [(name: String, value: Range<Int>)], path: String, label: String) {
        self.bytes = bytes
        self.members = members
        self.path = path
        self.label = label
    }

    func failure(_ message: String) -> WorkerFailure {
        WorkerFailure(.malformedRequest, "\(label): \(message)")
    }

    /// Where the value of `name` is; nil when it is absent or null (as `decodeIfPresent` reads
    /// them). With duplicate names, the last one counts, as `JSONDecoder` does.
    func range(_ name: String) -> Range<Int>? {
        guard let range = members.last(where: { $0.name == name })?.value else { return nil }
        return bytes[range].elementsEqual("null".utf8) ? nil : range
    }

    func requiredRange(_ name: String) throws(WorkerFailure) -> Range<Int> {
        guard let range = range(name) else { throw failure("\(path)\(name) is missing") }
        return range
    }

    /// A string member; nil when absent or null.
    func string(_ name: String) throws(WorkerFailure) -> String? {
        guard let range = range(name) else { return nil }
        guard case let .string(text)? = try? JSONValue(parsing: Array(bytes[range])) else {
            throw failure("\(path)\(name) is not a string")
        }
        return text
    }

    /// A string member read by `read`; nil when absent or null. `accepted` says what `read` takes.
    func optional<Value>(_ name: String, _ read: (String) -> Value?, _ accepted: String) throws(WorkerFailure) -> Value? {
        guard let text = try string(name) else { return nil }
        guard let value = read(text) else { throw failure("\(path)\(name) `\(text.prefix(80))` is not \(accepted)") }
        return value
    }

    func required<Value>(_ name: String, _ read: (String) -> Value?, _ accepted: String) throws(WorkerFailure) -> Value {
        guard let value = try optional(name, read, accepted) else { throw failure("\(path)\(name) is missing; expected \(accepted)") }
        return value
    }

    /// A whole number that fits an `Int`.
    func integer(_ name: String) throws(WorkerFailure) -> Int {
        guard let value = try optionalInteger(name) else { throw failure("\(path)\(name) is missing; expected a whole number") }
        return value
    }

    /// A whole number that fits an `Int`; nil when absent or null.
    func optionalInteger(_ name: String) throws(WorkerFailure) -> Int? {
        guard let range = range(name) else { return nil }
        guard case let .number(text)? = try? JSONValue(parsing: Array(bytes[range])), let value = Int(text) else {
            throw failure("\(path)\(name) is not a whole number")
        }
        return value
    }

    func boolean(_ name: String) throws(WorkerFailure) -> Bool {
        let range = try requiredRange(name)
        guard case let .bool(value)? = try? JSONValue(parsing: Array(bytes[range])) else { throw failure("\(path)\(name) is not true or false") }
        return value
    }

    func requiredObject(_ name: String) throws(WorkerFailure) -> FrameObject {
        let range = try requiredRange(name)
        guard let members = try? JSONValue.memberRanges(of: bytes, in: range) else { throw failure("\(path)\(name) is not an object") }
        return FrameObject(bytes: bytes, members: members, path: "\(path)\(name).", label: label)
    }
}
