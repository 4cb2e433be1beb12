import Foundation
import Testing
@testable import WillItCompile

@Suite struct WorkerCodecTests {
    static let job = CompilationJob(
        request: CompilationRequest(source: [0, 0xFF, 0x41], language: .cpp, compiler: "gcc-12", standard: "c++20"),
        createdAt: Date(timeIntervalSince1970: 1_800_000_000.25), host: "h1")

    static let requests: [WorkerRequest] = [
        .ping, .submit(job), .submit(job, client: ClientIdentity("2001:db8::7")!), .stats, .toolchains, .readJob(JobID()),
    ]

    static let replies: [WorkerReply] = [
        .pong, .accepted(JobID()), .queueFull(capacity: 100, retryAfterSeconds: 3),
        .tooManyJobs(ClientShare(jobs: 20, waiting: 18, limit: 20), retryAfterSeconds: 4),
        .stats(WorkerStats(maxWorkers: 2, activeWorkers: 1, queuedJobs: 0, totalProcessed: 5, totalSuccessful: 3,
                           totalFailed: 1, totalTimeout: 1, totalErrors: 0, startTime: Date(timeIntervalSince1970: 0),
                           now: Date(timeIntervalSince1970: 3723.5))),
        .job(job, CompilationResult(jobID: job.id, success: true, compiled: false, stderr: "e\u{0}", exitCode: 1, durationNanoseconds: 9)),
        .job(nil, nil),
        .failure(WorkerFailure(.storeUnavailable, "redis down")),
        .failure(WorkerFailure(.storeFull, "redis at its maxmemory")),
    ]

    @Test(arguments: requests)
    func everyRequestSurvivesAFrameRoundTrip(_ request: WorkerRequest) throws {
        var decoder = WorkerFrameDecoder()
        decoder.append(WorkerCodec.frame(request))
        let payload = try #require(try decoder.next())
        #expect(try WorkerCodec.decodeRequest(payload) == request)
        #expect(decoder.pendingByteCount == 0)
    }

    @Test(arguments: replies)
    func everyReplySurvivesAFrameRoundTrip(_ reply: WorkerReply) throws {
        var decoder = WorkerFrameDecoder()
        decoder.append(WorkerCodec.frame(reply))
        #expect(try WorkerCodec.decodeReply(try #require(try decoder.next())) == reply)
    }

    @Test func framesSplitAtEveryByteAndBackToBackDecodeInOrder() throws {
        let stream = WorkerCodec.frame(.ping) + WorkerCodec.frame(.submit(Self.job)) + WorkerCodec.frame(.stats)
        var decoder = WorkerFrameDecoder()
        var decoded: [WorkerRequest] = []
        for byte in stream {
            decoder.append([byte])
            while let payload = try decoder.next() { decoded.append(try WorkerCodec.decodeRequest(payload)) }
        }
        #expect(decoded == [.ping, .submit(Self.job), .stats])
    }

    /// A peer whose frames always overlap the buffer's end never lets it drain.
    @Test func aStreamThatNeverDrainsKeepsTheBufferSmall() throws {
        var decoder = WorkerFrameDecoder()
        let frame = WorkerCodec.frame(.ping)
        decoder.append(frame.prefix(2))
        for _ in 0..<50_000 {
            decoder.append(frame.dropFirst(2) + frame.prefix(2))
            #expect(try decoder.next().map { try WorkerCodec.decodeRequest($0) } == .ping)
        }
        #expect(decoder.pendingByteCount == 2)
        #expect(decoder.bufferedByteCount < 1 << 18, "\(decoder.bufferedByteCount) bytes kept")
    }

    @Test func aTruncatedFrameYieldsNothingYet() throws {
        var decoder = WorkerFrameDecoder()
        decoder.append(WorkerCodec.frame(.stats).dropLast())
        #expect(try decoder.next() == nil)
    }

    @Test func anOversizedHeaderIsRefusedBeforeItsPayloadArrives() {
        var decoder = WorkerFrameDecoder(maxPayloadSize: 1024)
        decoder.append([0x40, 0, 0, 0])
        #expect(throws: WorkerFrameDecoder.Failure.frameTooLarge(0x4000_0000)) { try decoder.next() }
    }

    @Test(arguments: [Array("not json".utf8), Array(#"{"type":"launch_missiles"}"#.utf8), Array(#"{"type":"submit"}"#.utf8), []])
    func garbageIsAMalformedRequest(_ payload: [UInt8]) {
        #expect(throws: WorkerFailure.self) { try WorkerCodec.decodeRequest(payload) }
    }

    /// A submit from a responder that names no client (an older one, or an operator's tool) still decodes.
    @Test func aSubmitWithoutAClientDecodesAsOneWithoutIdentity() throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(WorkerCodec.frame(.submit(Self.job)).dropFirst(4))) as? [String: Any])
        #expect(object["client"] == nil)
        object["client"] = "10.0.0.1"
        let named = try WorkerCodec.decodeRequest(Array(try JSONSerialization.data(withJSONObject: object)))
        #expect(named == .submit(Self.job, client: ClientIdentity("10.0.0.1")))
    }

    @Test(arguments: ["", "10.0.0.1 ", "a/b", "x\u{0}", "ünicode", String(repeating: "a", count: 65), "key\nline"])
    func aClientThatIsNoIdentityIsAMalformedRequestSayingWhatIsAccepted(_ client: String) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(WorkerCodec.frame(.submit(Self.job)).dropFirst(4))) as? [String: Any])
        object["client"] = client
        let payload = Array(try JSONSerialization.data(withJSONObject: object))
        do throws(WorkerFailure) {
            _ = try WorkerCodec.decodeRequest(payload)
            Issue.record("accepted client \(client.debugDescription)")
        } catch {
            #expect(error.code == .malformedRequest)
            #expect(error.message.contains("1 to 64 characters of A-Z a-z 0-9 . : _ -"), "\(error.message)")
        }
    }

    @Test(arguments: ["127.0.0.1", "::1", "2001:db8:85a3::8a2e:370:7334", "::ffff:192.0.2.128", "key-Ab_3.x", String(repeating: "a", count: 64)])
    func addressesAndKeyIdsAreIdentities(_ text: String) {
        #expect(ClientIdentity(text)?.rawValue == text)
    }

    @Test func statsUseThePredecessorsNamesAndGoDurations() throws {
        guard case let .stats(stats) = Self.replies[4] else {
            Issue.record("fixture 4 must be stats")
            return
        }
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(stats)) as? [String: Any]
        #expect(Set(json?.keys ?? [:].keys) == ["max_workers", "active_workers", "available_slots", "queued_jobs",
                                             "total_processed", "total_successful", "total_failed", "total_timeout",
                                             "total_errors", "uptime", "uptime_seconds", "start_time"])
        #expect(stats.uptime == "1h2m3.5s" && stats.availableSlots == 1)
    }
}

@Suite struct CompilerOutputTests {
    @Test func removesColourAndTitleSequences() {
        let raw = Array("\u{1B}[01;31m\u{1B}[Kerror:\u{1B}[m\u{1B}[K x\u{1B}]0;title\u{07} y\u{1B}]8;;http://x\u{1B}\\link".utf8)
        #expect(CompilerOutput.text(from: raw, omittedByteCount: 0) == "error: x ylink")
    }

    @Test func replacesInvalidUTF8AndKeepsValidText() {
        #expect(CompilerOutput.text(from: [0x61, 0xFF, 0xC3, 0xA9], omittedByteCount: 0) == "a\u{FFFD}é")
    }

    @Test func marksWhereOutputWasCut() {
        let text = CompilerOutput.text(from: Array("abc".utf8), omittedByteCount: 12345)
        #expect(text == "abc\n[output truncated: 12345 more bytes were cut]\n")
    }
}

@Suite struct ToolchainResolutionTests {
    static let gcc = ToolchainSpec.fixture(id: "gcc-12", language: .c, standards: ["c99", "c11"], priority: 2)
    static let clang = ToolchainSpec.fixture(id: "clang-14", language: .c, standards: ["c11"], priority: 1)
    let installed = [Toolchain(spec: gcc, version: "12", isDefault: true), Toolchain(spec: clang, version: "14", isDefault: false)]

    @Test func anOmittedCompilerMeansTheLanguagesDefault() throws {
        #expect(try installed.resolve(CompilationRequest(source: [1], language: .c)).spec.id == "gcc-12")
    }

    @Test func aMissingCompilerIsRefusedListingTheInstalledOnes() {
        #expect(throws: RequestValidationError.self) {
            try installed.resolve(CompilationRequest(source: [1], language: .c, compiler: "gcc-13"))
        }
        do {
            _ = try installed.resolve(CompilationRequest(source: [1], language: .c, compiler: "gcc-13"))
        } catch {
            #expect(error.problems.first?.message == "Compiler `gcc-13` is not available for c (installed: gcc-12, clang-14).")
        }
    }

    @Test func aStandardTheCompilerLacksIsRefusedWithItsList() {
        do {
            _ = try installed.resolve(CompilationRequest(source: [1], language: .c, compiler: "clang-14", standard: "c99"))
            Issue.record("expected a refusal")
        } catch {
            #expect(error.problems.map(\.field) == ["standard"])
            #expect(error.problems.first?.message.contains("accepted: c11") == true)
        }
    }

    @Test func theCommandTemplateExpandsStandardSourceAndOutput() {
        #expect(Self.gcc.commandLine(standard: nil, source: "/w/main.c", output: "/w/out")
                == ["/usr/bin/x", "-std=c99", "-o", "/w/out", "/w/main.c"])
        #expect(Self.gcc.commandLine(standard: "c11", source: "s", output: "o") == ["/usr/bin/x", "-std=c11", "-o", "o", "s"])
    }
}

extension ToolchainSpec {
    static func fixture(id: String, language: Language, standards: [String], priority: Int) -> ToolchainSpec {
        let json = """
            {"id": "\(id)", "language": "\(language.rawValue)", "executable": "/usr/bin/x", "version_arguments": [],
             "standards": \(standards), "default_standard": "\(standards[0])", "standard_arguments": ["-std={standard}"],
             "command": ["{executable}", "{standard_arguments}", "-o", "{output}", "{source}"],
             "source_file": "main.c", "binds": [], "environment": {}, "priority": \(priority)}
            """
        return try! JSONDecoder().decode(ToolchainSpec.self, from: Data(json.utf8))
    }
}
