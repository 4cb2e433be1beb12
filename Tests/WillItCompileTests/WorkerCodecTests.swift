import Foundation
import Testing
@testable import WillItCompile

@Suite struct WorkerCodecTests {
    static let job = CompilationJob(
        request: CompilationRequest(source: [0, 0xFF, 0x41], language: .cpp, compiler: "gcc-12", standard: "c++20"),
        createdAt: Date(timeIntervalSince1970: 1_800_000_000.25), host: "h1")

    static let cells = ["c++17", "c++20"].map { standard in
        var cell = job
        cell.id = JobID()
        cell.request.standard = standard
        return cell
    }
    static let matrix = CompilationMatrix(language: .cpp, createdAt: Date(timeIntervalSince1970: 1_800_000_000.5), cells: cells.map(MatrixCell.init(of:)))

    static let requests: [WorkerRequest] = [
        .ping, .submit(job), .submit(job, client: ClientIdentity("2001:db8::7")!), .stats, .toolchains, .readJob(JobID()),
        .submitMatrix(matrix, cells: cells, client: ClientIdentity("192.0.2.1")!), .readMatrix(matrix.id),
        .submit(requested), .recordMetrics(measured), .metrics,
    ]

    /// A job with the id of the request that submitted it, which the compiling host logs.
    static let requested = {
        var requested = job
        requested.requestID = "0123456789abcdef0123456789abcdef"
        return requested
    }()

    static let measured = {
        var batch = MetricsBatch()
        batch.add(3, to: MetricsBatch.Series(label: MetricName.httpRequests, dimensions: [("route", "/health"), ("status", "200")]))
        batch.add(nanoseconds: 1_500_000, to: MetricsBatch.Series(label: MetricName.httpRequestDuration, dimensions: [("route", "/health")]))
        return batch
    }()

    static let replies: [WorkerReply] = [
        .pong, .accepted(JobID()), .queueFull(capacity: 100, retryAfterSeconds: 3),
        .tooManyJobs(ClientShare(jobs: 20, waiting: 18, limit: 20), retryAfterSeconds: 4),
        .stats(WorkerStats(maxWorkers: 2, activeWorkers: 1, queuedJobs: 0, totalProcessed: 5, totalSuccessful: 3,
                           totalFailed: 1, totalTimeout: 1, totalErrors: 0, startTime: Date(timeIntervalSince1970: 0),
                           now: Date(timeIntervalSince1970: 3723.5))),
        .job(job, CompilationResult(jobID: job.id, success: true, compiled: false, stderr: "e\u{0}", exitCode: 1, durationNanoseconds: 9)),
        .job(job, CompilationResult(
            jobID: job.id, success: true, compiled: false, stderr: "main.c:1:5: error: x\n", exitCode: 1, durationNanoseconds: 9,
            diagnostics: DiagnosticSummary([
                Diagnostic(file: "main.c", line: 1, column: 5, severity: .error, message: "x"),
                Diagnostic(file: nil, line: nil, column: nil, severity: .warning, message: "w", option: "-Wfoo"),
            ]))),
        .job(nil, nil),
        .toolchains([], nil),
        .toolchains([], VerdictCacheTerms(limits: CompileLimits(sandbox: SandboxConfiguration(cpuSeconds: 7, cgroups: false), timeout: .milliseconds(2500)),
                                          hostID: "host-a")),
        .matrix(matrix), .matrix(nil),
        .recorded, .metrics("# TYPE will_it_compile_slots gauge\nwill_it_compile_slots 2.0\n"),
        .failure(WorkerFailure(.storeUnavailable, "redis down")),
        .failure(WorkerFailure(.storeFull, "redis at its maxmemory")),
        .answered(
            CompilationJob(request: CompilationRequest(source: [], language: .c, compiler: "gcc-12", standard: "gnu17"), status: .failed,
                           createdAt: Date(timeIntervalSince1970: 1_800_000_000), startedAt: Date(timeIntervalSince1970: 1_800_000_001),
                           completedAt: Date(timeIntervalSince1970: 1_800_000_001), host: "a"),
            CompilationResult(jobID: JobID(), success: true, compiled: false, stderr: "e", exitCode: 1, durationNanoseconds: 5, cached: true)),
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

    /// The terms' digest is the responder's and the worker's proof that both key verdicts alike:
    /// it comes back the same from the wire, and any limit or the host changes it.
    @Test func verdictCacheTermsKeepTheirDigestAndEveryLimitChangesIt() throws {
        let terms = VerdictCacheTerms(limits: CompileLimits(sandbox: SandboxConfiguration(), timeout: .seconds(30)), hostID: "host-a")
        let decoded = try JSONDecoder().decode(VerdictCacheTerms.self, from: JSONEncoder().encode(terms))
        #expect(decoded == terms && decoded.digest == terms.digest && terms.digest.count == 64)
        let changes: [(inout CompileLimits) -> Void] = [
            { $0.timeoutMilliseconds += 1 }, { $0.cpuSeconds += 1 }, { $0.addressSpaceMegabytes += 1 }, { $0.fileSizeMegabytes += 1 },
            { $0.processes += 1 }, { $0.cgroups.toggle() }, { $0.cgroupMemoryMegabytes += 1 }, { $0.pids += 1 },
            { $0.workspaceMegabytes += 1 }, { $0.outputLimitBytes += 1 },
        ]
        var digests = [terms.digest, VerdictCacheTerms(limits: terms.limits, hostID: "host-b").digest]
        for change in changes {
            var limits = terms.limits
            change(&limits)
            digests.append(VerdictCacheTerms(limits: limits, hostID: "host-a").digest)
        }
        #expect(Set(digests).count == digests.count)
    }

    @Test func aMatrixCarriesItsSourceOnceWhateverTheNumberOfCells() throws {
        var big = Self.job
        big.request.source = Array(repeating: 0x41, count: 100_000)
        let many = (0..<100).map { _ in
            var cell = big
            cell.id = JobID()
            return cell
        }
        let frame = WorkerCodec.frame(.submitMatrix(Self.matrix, cells: many))
        #expect(frame.count < 200_000, "\(frame.count) bytes")
        guard case let .submitMatrix(_, cells, _) = try WorkerCodec.decodeRequest(Array(frame.dropFirst(4))) else {
            Issue.record("not a matrix")
            return
        }
        #expect(cells == many)
    }

    @Test func aMatrixCarriesItsProjectOnceWhateverTheNumberOfCells() throws {
        var project = Self.job
        project.request.source = []
        project.request.files = [
            ProjectFile(name: "src/main.cpp", content: Array(repeating: 0x41, count: 60_000)),
            ProjectFile(name: "include/util.h", content: Array(repeating: 0x42, count: 40_000) + [0, 0xFF]),
        ]
        project.request.translationUnits = ["src/main.cpp"]
        let many = (0..<100).map { _ in
            var cell = project
            cell.id = JobID()
            return cell
        }
        let frame = WorkerCodec.frame(.submitMatrix(Self.matrix, cells: many))
        #expect(frame.count < 200_000, "\(frame.count) bytes")
        guard case let .submitMatrix(_, cells, _) = try WorkerCodec.decodeRequest(Array(frame.dropFirst(4))) else {
            Issue.record("not a matrix")
            return
        }
        #expect(cells == many)
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
                                             "total_errors", "uptime", "uptime_seconds", "start_time", "total_cached"])
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

    // MARK: - Names only the catalog knows

    static let arm64 = TargetSpec(architecture: "arm64", os: "linux", executable: nil, arguments: [], binds: [], requires: [])
    static let windows = TargetSpec(architecture: "x86_64", os: "windows", executable: nil, arguments: [], binds: [], requires: [])
    let crossing = [
        Toolchain(spec: gcc, version: "12", isDefault: true, targets: [.host, arm64, windows]),
        Toolchain(spec: clang, version: "14", isDefault: false, targets: [.host, arm64]),
        Toolchain(spec: .fixture(id: "gcc-12", language: .cpp, standards: ["c++17"], priority: 1), version: "12", isDefault: true,
                  targets: [.host, TargetSpec(architecture: "riscv64", os: "linux", executable: nil, arguments: [], binds: [], requires: [])]),
    ]

    func problems(_ installed: [Toolchain], _ request: CompilationRequest) -> [ValidationProblem] {
        do {
            _ = try installed.resolve(request)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func aStandardNoCompilerOfTheLanguageHasIsUnknownListingWhatTheyHaveTogether() {
        let found = problems(installed, CompilationRequest(source: [1], language: .c, standard: "c++17"))
        #expect(found.map(\.field) == ["standard"])
        #expect(found.first?.kind == .unsupported(accepted: ["c99", "c11"]))
        #expect(found.first?.message == "Unknown standard `c++17` (accepted for c: c99, c11).")
    }

    @Test func aLanguageWhoseCompilersHaveNoStandardsSaysSo() {
        let go = [Toolchain(spec: .fixture(id: "go-1.19", language: .go, standards: [], priority: 1), version: "1.19", isDefault: true)]
        let found = problems(go, CompilationRequest(source: [1], language: .go, standard: "1.19"))
        #expect(found.first?.message == "Unknown standard `1.19` (go takes no standard; omit the field).")
    }

    /// What `RequestValidator.acceptedArchitectures` used to list by hand comes from the toolchains:
    /// riscv64 is C++'s (gcc-12 for cpp builds for it), not C's, here.
    @Test func anArchitectureOrOSNoCompilerOfTheLanguageBuildsForIsUnknownListingTheirs() {
        let found = problems(crossing, CompilationRequest(source: [1], language: .c, architecture: "riscv64", os: "plan9"))
        #expect(found.map(\.field) == ["architecture", "os"])
        #expect(found.first?.message == "Unknown architecture `riscv64` (accepted for c: x86_64, arm64).")
        #expect(found.last?.message == "Unknown os `plan9` (accepted for c: linux, windows).")
        #expect(problems(crossing, CompilationRequest(source: [1], language: .cpp, architecture: "riscv64")).isEmpty)
    }

    @Test func aKnownTargetTheChosenCompilerLacksNamesWhatItBuildsFor() {
        let found = problems(crossing, CompilationRequest(source: [1], language: .c, compiler: "clang-14", os: "windows"))
        #expect(found.map(\.field) == ["os"])
        #expect(found.first?.message == "clang-14 cannot build c for x86_64/windows on this host (it builds for: x86_64/linux, arm64/linux).")
    }

    @Test func aNewStandardOrTargetInTheCatalogIsAcceptedAsItIs() throws {
        var spec = ToolchainSpec.fixture(id: "gcc-99", language: .c, standards: ["c99", "c3x"], priority: 1)
        spec.targets = [TargetSpec(architecture: "loongarch64", os: "linux", executable: nil, arguments: [], binds: [], requires: [])]
        let future = [Toolchain(spec: spec, version: "99", isDefault: true, targets: [.host] + spec.targets!)]
        let chosen = try future.resolve(CompilationRequest(source: [1], language: .c, standard: "c3x", architecture: "loongarch64"))
        #expect(chosen.spec.id == "gcc-99")
    }

    @Test func anUnknownCompilerAndAnUnknownStandardAreReportedTogether() {
        let found = problems(installed, CompilationRequest(source: [1], language: .c, compiler: "gcc-13", standard: "c3x"))
        #expect(found.map(\.field) == ["compiler", "standard"])
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
             "standards": \(standards), "default_standard": \(standards.first.map { "\"\($0)\"" } ?? "null"), "standard_arguments": ["-std={standard}"],
             "command": ["{executable}", "{standard_arguments}", "-o", "{output}", "{source}"],
             "source_file": "main.c", "binds": [], "environment": {}, "priority": \(priority)}
            """
        return try! JSONDecoder().decode(ToolchainSpec.self, from: Data(json.utf8))
    }
}
