import Foundation
import Testing
@testable import WillItCompile

/// The hand-written `submit` codec against the `Codable` models it replaces: the same
/// stored request bytes, the same frames' meaning both ways, and a clear failure for
/// every malformed frame.
@Suite struct SubmitCodecTests {
    /// Strings that JSON must escape, or that an escaper gets wrong.
    static let hostile = [
        "", "plain", "quote \" and backslash \\ and \\\"", "slash / and \\/", "line\nfeed\rreturn\ttab",
        String((0..<32).map { Character(Unicode.Scalar($0)) }), "\u{7F}del", "ünïcödé ✓ 𝄞 😀", "\u{2028}\u{2029}",
        "</script>", String(repeating: "\\\"/", count: 1000), "\u{FEFF}bom", "-std=c++20", "-DNAME=\"value\"",
    ]

    /// Many requests: single sources of every byte, projects of Base64 files, every optional field
    /// present and absent, matrix cells' forms, and hostile strings wherever a string goes.
    static let requests: [CompilationRequest] = {
        var random = SplitMix(seed: 15)
        var requests = [
            CompilationRequest(source: [], language: .c),
            CompilationRequest(source: Array(0...255), language: .cpp, compiler: "gcc-12", standard: "c++20"),
            CompilationRequest(source: [0xC3, 0x28, 0xFF, 0xFE, 0x00], language: .rust, architecture: "aarch64", os: "linux",
                               flags: ["-O2"], link: false, useCache: false),
            CompilationRequest(source: Array(repeating: 0x2F, count: 3 << 20), language: .go),
            CompilationRequest(source: [], language: .cpp, compiler: "clang-16",
                               files: [ProjectFile(name: "src/main.cpp", content: Array(0...255)), ProjectFile(name: "include/util.h", content: [])],
                               translationUnits: ["src/main.cpp"]),
            CompilationRequest(source: [], language: .go, files: [ProjectFile(name: "a.go", content: [0xFF])], translationUnits: []),
        ]
        let languages = Language.allCases
        for index in 0..<300 {
            // An empty compiler, standard, architecture or OS is stored as the predecessor's "not given".
            func maybe(_ text: String) -> String? { random.next() % 3 == 0 || text.isEmpty ? nil : text }
            func anyString() -> String { random.next() % 2 == 0 ? hostile[Int(random.next() % UInt64(hostile.count))] : "x\(random.next() % 1000)" }
            let bytes = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var request = CompilationRequest(
                source: bytes, language: languages[index % languages.count], compiler: maybe(anyString()), standard: maybe(anyString()),
                architecture: maybe(anyString()), os: maybe(anyString()), flags: (0..<Int(random.next() % 4)).map { _ in anyString() },
                link: random.next() % 2 == 0, useCache: random.next() % 2 == 0)
            if index % 3 == 0 {
                request.source = []
                request.files = (0..<Int(1 + random.next() % 4)).map { file in
                    ProjectFile(name: file == 0 ? anyString() : "dir/f\(file).h", content: (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
                }
                request.translationUnits = request.files.prefix(Int(random.next() % 3)).map(\.name)
            }
            requests.append(request)
        }
        return requests
    }()

    static let jobs: [(CompilationJob, ClientIdentity?)] = requests.enumerated().map { index, request in
        // Times in quarter seconds: what a stored nanosecond timestamp reads back as exactly.
        var job = CompilationJob(request: request, createdAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(index) * 0.25))
        if index % 2 == 1 { job.requestID = hostile[index % hostile.count] }
        if index % 5 == 1 {
            job.status = .completed
            job.startedAt = job.createdAt.addingTimeInterval(0.5)
            job.completedAt = job.createdAt.addingTimeInterval(1.25)
            job.host = hostile[(index + 3) % hostile.count]
        }
        return (job, index % 3 == 2 ? ClientIdentity("2001:db8::\(index % 100)") : nil)
    }

    /// `JSONEncoder` orders members by a hash seeded per process (two runs store one request
    /// in different orders), so its bytes are compared member by member: the same members,
    /// each value's bytes the same (every escape included), and the same document once parsed.
    /// `files`, whose entries' members the encoder orders its own way too, is compared parsed.
    @Test func theStoredRequestHasTheMembersAndValueBytesJSONEncoderWrites() throws {
        for request in Self.requests {
            let ours = request.storedJSON
            let model = Array(try JSONEncoder().encode(request))
            let ourMembers = try JSONValue.memberRanges(of: ours)
            let modelMembers = try JSONValue.memberRanges(of: model)
            #expect(Set(ourMembers.map(\.name)) == Set(modelMembers.map(\.name)) && ourMembers.count == modelMembers.count)
            for (name, range) in modelMembers where name != "files" {
                let mine = try #require(ourMembers.first { $0.name == name }).value
                #expect(ours[mine] == model[range], "\(name): \(String(decoding: ours[mine].prefix(200), as: UTF8.self)) is not \(String(decoding: model[range].prefix(200), as: UTF8.self))")
            }
            #expect(try JSONValue(parsing: ours).sortingMembers() == JSONValue(parsing: model).sortingMembers())
        }
    }

    /// One request is stored in one order: the members as `CompilationRequest.encode(to:)` lists them.
    @Test func theStoredRequestsMembersComeInTheModelsOrder() throws {
        let request = CompilationRequest(source: [1], language: .c, compiler: "gcc-12", standard: "c11", architecture: "x86_64", os: "linux",
                                         flags: ["-O2"], link: false, useCache: false)
        #expect(String(decoding: request.storedJSON, as: UTF8.self)
            == #"{"code":"AQ==","language":"c","compiler":"gcc-12","standard":"c11","architecture":"x86_64","os":"linux","flags":["-O2"],"link":false,"cache":false}"#)
        let project = CompilationRequest(source: [], language: .cpp, files: [ProjectFile(name: "src/a.cpp", content: [0xFF])], translationUnits: ["src/a.cpp"])
        #expect(String(decoding: project.storedJSON, as: UTF8.self)
            == #"{"files":[{"name":"src\/a.cpp","content":"\/w=="}],"translation_units":["src\/a.cpp"],"language":"cpp"}"#)
    }

    @Test func aSubmitFrameReadsAsTheModelsFrameAndTheModelsFrameAsIt() throws {
        for (job, client) in Self.jobs {
            let request = WorkerRequest.submit(job, client: client)
            let handWritten = Array(WorkerCodec.frame(request).dropFirst(4))
            let model = Array(WorkerCodec.modelFrame(request).dropFirst(4))
            #expect(try WorkerCodec.modelDecodeRequest(handWritten) == request)
            #expect(try WorkerCodec.decodeRequest(model) == request)
            #expect(try WorkerCodec.decodeRequest(handWritten) == request)
        }
    }

    /// The worker keeps the request's bytes as they came, for the store: never encoded again.
    @Test func theWorkerKeepsTheRequestBytesItReceived() throws {
        for (job, client) in Self.jobs.prefix(60) {
            guard case let .submit(decoded, _) = try WorkerCodec.decodeRequest(Array(WorkerCodec.frame(.submit(job, client: client)).dropFirst(4))) else {
                Issue.record("not a submit")
                return
            }
            #expect(decoded.storedRequestJSON == job.request.storedJSON)
        }
        let reordered = #"{"language":"c" , "code":"aW50IG1haW4oKXt9","flags":[]}"#
        let frame = #"{"type":"submit","job":{"request":\#(reordered),"id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","status":"queued","created_at":"2026-11-28T01:02:03.000000001Z"}}"#
        guard case let .submit(decoded, nil) = try WorkerCodec.decodeRequest(Array(frame.utf8)) else {
            Issue.record("not a submit without a client")
            return
        }
        #expect(decoded.storedRequestJSON == Array(reordered.utf8))
        #expect(decoded.request == CompilationRequest(source: Array("int main(){}".utf8), language: .c))
    }

    @Test func changingTheRequestDropsItsCarriedBytes() throws {
        guard case var .submit(job, _) = try WorkerCodec.decodeRequest(Array(WorkerCodec.frame(.submit(Self.jobs[1].0)).dropFirst(4))) else {
            Issue.record("not a submit")
            return
        }
        job.request.compiler = job.request.compiler
        #expect(job.storedRequestJSON != nil, "an unchanged request keeps them")
        job.request.compiler = "another"
        #expect(job.storedRequestJSON == nil)
    }

    static let replies: [WorkerReply] = [
        .accepted(JobID()), .queueFull(capacity: 0, retryAfterSeconds: 60), .queueFull(capacity: Int.max, retryAfterSeconds: 1),
        .tooManyJobs(ClientShare(jobs: 20, waiting: 0, limit: 20), retryAfterSeconds: 4),
    ] + hostile.map { .failure(WorkerFailure(.unsupportedJob, $0)) } + [
        .failure(WorkerFailure(.malformedRequest, "m")), .failure(WorkerFailure(.storeUnavailable, "s")),
        .failure(WorkerFailure(.storeFull, "f")), .failure(WorkerFailure(.duplicateJob, "d")), .failure(WorkerFailure(.shuttingDown, "x")),
    ] + jobs.prefix(40).enumerated().map { index, pair in
        // As the worker answers from the verdict cache: finished, without the sources, with a result of hostile text.
        var job = pair.0.finished(index % 2 == 0 ? .completed : .failed, at: pair.0.createdAt.addingTimeInterval(0.5))
        job.request = job.request.withoutSources
        job.host = "host-\(index)"
        let text = hostile[index % hostile.count]
        return .answered(job, CompilationResult(
            jobID: JobID(), success: true, compiled: index % 2 == 0, stdout: text, stderr: text + "\n" + hostile[(index + 1) % hostile.count],
            exitCode: index % 2 == 0 ? 0 : 1, durationNanoseconds: Int64(index) * 1_000_003, error: index % 7 == 0 ? text : "",
            artifact: index % 3 == 0 ? "ELF 64-bit LSB pie executable, x86-64" : "",
            diagnostics: DiagnosticSummary(Array([
                Diagnostic(file: "src/main.c", line: index, column: 5, severity: .error, message: text, option: index % 2 == 0 ? "-Wfoo" : nil),
                Diagnostic(file: nil, line: nil, column: nil, severity: .note, message: "in \(text)"),
            ].prefix(index % 3))),
            cached: true))
    }

    @Test(arguments: replies)
    func aReplyReadsAsTheModelsReplyAndTheModelsReplyAsIt(_ reply: WorkerReply) throws {
        let handWritten = Array(WorkerCodec.frame(reply).dropFirst(4))
        let model = Array(WorkerCodec.modelFrame(reply).dropFirst(4))
        #expect(try WorkerCodec.modelDecodeReply(handWritten) == reply)
        #expect(try WorkerCodec.decodeReply(model) == reply)
        #expect(try WorkerCodec.decodeReply(handWritten) == reply)
    }

    /// Cut anywhere, a submit frame is refused with a reason, never read as something else.
    @Test func everyTruncationOfASubmitFrameIsAMalformedRequest() {
        let payload = Array(WorkerCodec.frame(.submit(Self.jobs[4].0, client: ClientIdentity("10.0.0.1"))).dropFirst(4))
        for length in 0..<payload.count {
            #expect(throws: WorkerFailure.self) { try WorkerCodec.decodeRequest(Array(payload.prefix(length))) }
        }
        let reply = Array(WorkerCodec.frame(.tooManyJobs(ClientShare(jobs: 1, waiting: 1, limit: 1), retryAfterSeconds: 1)).dropFirst(4))
        for length in 0..<reply.count {
            #expect(throws: WorkerFailure.self) { try WorkerCodec.decodeReply(Array(reply.prefix(length))) }
        }
    }

    static let job = #""id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","status":"queued","created_at":"2026-11-28T01:02:03Z""#
    static let request = #""request":{"code":"aW50","language":"c"}"#

    /// Each malformed frame, and a part of what its failure must say.
    static let malformed: [(frame: [UInt8], says: String)] = [
        (Array(#"{"type":"submit"}"#.utf8), "submit frame: job is missing"),
        (Array(#"{"type":"submit","job":[]}"#.utf8), "job is not an object"),
        (Array(#"{"type":"submit","job":{\#(job)}}"#.utf8), "job.request is missing"),
        (Array(#"{"type":"submit","job":{\#(job),"request":"code"}}"#.utf8), "job.request is not a stored request: not a JSON object"),
        (Array(#"{"type":"submit","job":{\#(job),"request":{"language":"c"}}}"#.utf8), "code is missing"),
        (Array(#"{"type":"submit","job":{\#(job),"request":{"code":"***","language":"c"}}}"#.utf8), "code is not Base64"),
        (Array(#"{"type":"submit","job":{\#(job),"request":{"code":"","language":"cobol"}}}"#.utf8), "unknown language cobol"),
        (Array(#"{"type":"submit","job":{\#(request),"id":7,"status":"queued","created_at":"2026-11-28T01:02:03Z"}}"#.utf8), "job.id is not a string"),
        (Array(#"{"type":"submit","job":{\#(request),"id":"7","status":"queued","created_at":"2026-11-28T01:02:03Z"}}"#.utf8), "job.id `7` is not a job id"),
        (Array(#"{"type":"submit","job":{\#(request),"id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","status":"lost","created_at":"2026-11-28T01:02:03Z"}}"#.utf8),
         "job.status `lost` is not one of queued, processing"),
        (Array(#"{"type":"submit","job":{\#(request),"id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","status":"queued","created_at":"yesterday"}}"#.utf8),
         "job.created_at `yesterday` is not an RFC 3339 time"),
        (Array(#"{"type":"submit","job":{\#(request),"id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","status":"queued"}}"#.utf8), "job.created_at is missing"),
        (Array(#"{"type":"submit","job":{\#(job),\#(request),"request_id":false}}"#.utf8), "job.request_id is not a string"),
        (Array(#"{"type":"submit","job":{\#(job),\#(request)},"client":"a b"}"#.utf8), "client `a b` is not 1 to 64 characters"),
        (Array(#"{"type":"submit","job":{\#(job),\#(request)},"client":"#.utf8) + [0x22, 0xC3, 0x28, 0x22, 0x7D], "not valid UTF-8"),
        (Array(#"{"type":"submit","job":{\#(job),"request":{"code":""#.utf8) + [0xFF] + Array(#"","language":"c"}}}"#.utf8), "not valid UTF-8"),
        (Array(#"{"type":"submit","job":{\#(job),\#(request)}} trailing"#.utf8), "unexpected data after the document"),
        (Array(#"["submit"]"#.utf8), "expected a JSON object"),
        (Array(#"{"type":"submit","job":{\#(job),\#(request)},"client":"#.utf8) + Array(repeating: UInt8(ascii: "["), count: 10_000), "nested deeper than"),
    ]

    @Test func aMalformedSubmitFrameGetsAFailureThatSaysWhatIsWrong() {
        for (frame, says) in Self.malformed {
            do throws(WorkerFailure) {
                let request = try WorkerCodec.decodeRequest(frame)
                Issue.record("accepted \(String(decoding: frame.prefix(200), as: UTF8.self)) as \(request)")
            } catch {
                #expect(error.code == .malformedRequest)
                #expect(error.message.contains(says), "\(error.message) should say \(says)")
            }
        }
    }

    static let malformedReplies: [(frame: String, says: String)] = [
        (#"{"type":"accepted"}"#, "accepted frame: id is missing"),
        (#"{"type":"accepted","id":"x"}"#, "id `x` is not a job id"),
        (#"{"type":"queue_full","capacity":"1","retry_after_seconds":1}"#, "capacity is not a whole number"),
        (#"{"type":"queue_full","capacity":1.5,"retry_after_seconds":1}"#, "capacity is not a whole number"),
        (#"{"type":"queue_full","capacity":1e999,"retry_after_seconds":1}"#, "capacity is not a whole number"),
        (#"{"type":"queue_full","capacity":99999999999999999999999,"retry_after_seconds":1}"#, "capacity is not a whole number"),
        (#"{"type":"too_many_jobs","share":{"jobs":1,"waiting":1},"retry_after_seconds":1}"#, "share.limit is missing"),
        (#"{"type":"failure","failure":{"code":"oops","message":"m"}}"#, "failure.code `oops` is not one of malformed_request"),
        (#"{"type":"failure","failure":{"code":"store_full"}}"#, "failure.message is missing"),
        (#"{"type":"answered","job":{\#(job),\#(request)}}"#, "answered frame: result is missing"),
        (#"{"type":"answered","job":{\#(job),\#(request)},"result":{"job_id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","success":1}}"#,
         "result.success is not true or false"),
        (#"{"type":"answered","job":{\#(job),\#(request)},"result":{"job_id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","success":true,"compiled":true,"exit_code":0,"duration":5,"diagnostics":[{"message":"m"}]}}"#,
         "result.diagnostics is not a list of diagnostics"),
        (#"{"type":"answered","job":{\#(job),\#(request)},"result":{"job_id":"6f1c3b1e-4a8e-4a57-9a2f-1f2d3c4b5a69","success":true,"compiled":true,"exit_code":0}}"#,
         "result.duration is missing"),
    ]

    @Test func aMalformedReplyGetsAFailureThatSaysWhatIsWrong() {
        for (frame, says) in Self.malformedReplies {
            do throws(WorkerFailure) {
                let reply = try WorkerCodec.decodeReply(Array(frame.utf8))
                Issue.record("accepted \(frame) as \(reply)")
            } catch {
                #expect(error.message.contains(says), "\(error.message) should say \(says)")
            }
        }
    }

    /// A source at the protocol's bound travels and comes back whole.
    @Test func aSourceOfEightMebibytesRoundTrips() throws {
        let job = CompilationJob(request: CompilationRequest(source: (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }, language: .c),
                                 createdAt: Date(timeIntervalSince1970: 1_800_000_000))
        let frame = WorkerCodec.frame(.submit(job))
        #expect(frame.count - 4 <= WorkerCodec.maxPayloadSize)
        #expect(try WorkerCodec.decodeRequest(Array(frame.dropFirst(4))) == .submit(job))
    }
}

extension JSONValue {
    /// The same value with every object's members sorted by name, for comparing documents
    /// whose writers order members differently.
    func sortingMembers() -> JSONValue {
        switch self {
        case let .object(members): .object(members.map { JSONMember($0.name, $0.value.sortingMembers()) }.sorted { $0.name < $1.name })
        case let .array(values): .array(values.map { $0.sortingMembers() })
        default: self
        }
    }
}

/// A small deterministic generator, so that a failing input can be found again.
struct SplitMix {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
