import Foundation
@testable import HTTPAPI
@testable import JobStore
import Testing
import WillItCompile

/// The status read's body written straight from Redis (`RedisJobStore.statusJSON`) against
/// the model path (`jobWithResult`, then `JobResponse`): the same bytes for every job the
/// store writes, and for hostile stored data either the same bytes or the model path.
/// Runs against the private redis-server `scripts/test` starts (`WIC_TEST_REDIS_ADDR`).
@Suite struct StatusJSONTests {
    let store: RedisJobStore
    let redis: RedisConnection

    init() throws {
        guard let text = ProcessInfo.processInfo.environment["WIC_TEST_REDIS_ADDR"], let address = RedisAddress(text) else {
            throw MissingRedis()
        }
        let configuration = RedisConfiguration(enabled: true, address: address, jobTTLHours: 1)
        store = RedisJobStore(configuration: configuration)
        redis = try RedisConnection(configuration: configuration)
    }

    struct MissingRedis: Error, CustomStringConvertible {
        var description: String { "WIC_TEST_REDIS_ADDR is not set: run the tests with scripts/test, which starts a private redis-server" }
    }

    /// What both paths answered for one job.
    private enum Outcome {
        case written([UInt8])
        case modelPath
    }

    /// Reads `id` both ways and compares; returns which way the new path went.
    @discardableResult
    private func compare(_ id: JobID, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let model: Result<(CompilationJob, CompilationResult?)?, JobStoreError> = Result { () throws(JobStoreError) in try store.jobWithResult(id) }
        let direct = try store.statusJSON(id)
        switch (model, direct) {
        case (.success(nil), .notFound):
            return .modelPath
        case let (.success((job, result)?), .body(body)):
            let expected = JobResponse(job: job, result: job.status.isTerminal ? result : nil).body
            #expect(body == expected, "\(comment): \(String(decoding: body, as: UTF8.self)) instead of \(String(decoding: expected, as: UTF8.self))",
                    sourceLocation: sourceLocation)
            #expect((try? JSONSerialization.jsonObject(with: Data(body))) != nil, "\(comment): not JSON", sourceLocation: sourceLocation)
            return .written(body)
        case (.success(_?), .useModel), (.failure, .useModel):
            return .modelPath
        default:
            Issue.record("\(comment): the model path read \(model), the direct path \(direct)", sourceLocation: sourceLocation)
            return .modelPath
        }
    }

    /// Every job the store itself writes takes the direct path, with the model's bytes.
    private func expectWritten(_ id: JobID, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard case .written = try compare(id, comment, sourceLocation: sourceLocation) else {
            Issue.record("\(comment): a job as the store writes it went the model path", sourceLocation: sourceLocation)
            return
        }
    }

    private func hset(_ key: String, _ fields: [(String, [UInt8])]) throws {
        _ = try redis.command([Array("DEL".utf8), Array(key.utf8)])
        guard !fields.isEmpty else { return }
        let reply = try redis.command([Array("HSET".utf8), Array(key.utf8)] + fields.flatMap { [Array($0.0.utf8), $0.1] })
        // A field given twice is set once, to its last value.
        #expect(reply == .integer(Int64(Set(fields.map(\.0)).count)))
    }

    /// Strings that JSON must escape or that a careless writer gets wrong.
    static let hostileText = "quote \" backslash \\ slash / </script> tab \t newline \n cr \r nul \u{0} bell \u{7} esc \u{1B} del \u{7F} "
        + (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined() + " é 中文 🦀 \u{2028}\u{2029} \u{FEFF}"

    static let diagnostics = DiagnosticSummary([
        Diagnostic(file: "main.c", line: 3, column: 5, severity: .error, message: "expected ';' before \"}\" token \\ \u{1}", option: nil),
        Diagnostic(file: nil, line: nil, column: nil, severity: .warning, message: hostileText, option: "-Wunused"),
        Diagnostic(file: "/usr/include/stdio.h", line: 1, column: nil, severity: .note, message: "included from here"),
    ])

    private func newJob(_ request: CompilationRequest) throws -> CompilationJob {
        var job = CompilationJob(request: request, createdAt: Date())
        job.host = "host-a"
        job.requestID = "req-\"1\""
        try store.create(job)
        return job
    }

    private func finish(_ job: CompilationJob, _ status: JobStatus, _ result: CompilationResult) throws {
        #expect(try store.transition(job.id, to: .processing, at: Date(), result: nil) == .applied)
        #expect(try store.transition(job.id, to: status, at: Date(), result: result) == .applied)
    }

    @Test func everyJobTheStoreWritesIsWrittenDirectlyWithTheModelsBytes() throws {
        let requests: [CompilationRequest] = [
            CompilationRequest(source: Array("int main(void){return 0;}".utf8), language: .c),
            CompilationRequest(source: [0xFF, 0x00, 0x22], language: .cpp, compiler: "clang-16", standard: "c++20",
                               architecture: "arm64", os: "linux", flags: ["-O2", "-Wall", "-DX=\"a b\""], link: false, useCache: false),
            CompilationRequest(source: [], language: .c, files: [ProjectFile(name: "main.c", content: Array("#include \"a.h\"".utf8)),
                                                                   ProjectFile(name: "lib/a.h", content: [])],
                               translationUnits: ["main.c"]),
            CompilationRequest(source: Array(repeating: 0x41, count: 200_000), language: .rust, compiler: "rustc-1.63", standard: "2021"),
            CompilationRequest(source: Array("package main".utf8), language: .go),
        ]
        for request in requests {
            let queued = try newJob(request)
            try expectWritten(queued.id, "queued \(request.language)")
            #expect(try store.transition(queued.id, to: .processing, at: Date(), result: nil) == .applied)
            try expectWritten(queued.id, "processing")
        }
        let results: [(JobStatus, (JobID) -> CompilationResult)] = [
            (.completed, { CompilationResult(jobID: $0, success: true, compiled: true, exitCode: 0, durationNanoseconds: 41_000_000,
                                             artifact: "ELF 64-bit LSB pie executable, x86-64") }),
            (.failed, { CompilationResult(jobID: $0, success: true, compiled: false, stdout: Self.hostileText, stderr: Self.hostileText,
                                          exitCode: 1, durationNanoseconds: 1, diagnostics: Self.diagnostics) }),
            (.timeout, { CompilationResult(jobID: $0, success: false, compiled: false, stderr: String(repeating: "x\"\\\n", count: 300_000),
                                           exitCode: -1, durationNanoseconds: Int64.max) }),
            (.error, { CompilationResult(jobID: $0, success: false, compiled: false, exitCode: -1, durationNanoseconds: 0,
                                         error: "sandbox failed: \(Self.hostileText)") }),
        ]
        for request in requests {
            for (status, result) in results {
                let job = try newJob(request)
                try finish(job, status, result(job.id))
                try expectWritten(job.id, "\(status) \(request.language)")
            }
        }
    }

    @Test func cachedAnswersAndMatrixCellsAreWrittenDirectly() throws {
        let key = freshKey()
        let compiled = try newJob(CompilationRequest(source: Array("int x;".utf8), language: .c, compiler: "gcc-12"))
        let verdict = CompilationResult(jobID: compiled.id, success: true, compiled: false, stderr: Self.hostileText, exitCode: 1,
                                        durationNanoseconds: 5, diagnostics: Self.diagnostics)
        try finish(compiled, .failed, verdict)
        try store.cacheVerdict(verdict, status: .failed, under: key)
        let hit = CompilationJob(request: compiled.request, createdAt: Date())
        #expect(try store.answerFromCache(hit, key: key, at: Date()) != nil)
        try expectWritten(hit.id, "a cache hit")

        let cells = ["gcc-12", "clang-16"].map { compiler in
            MatrixCellJob(job: CompilationJob(request: CompilationRequest(source: Array("int y;".utf8), language: .c, compiler: compiler,
                                                                           standard: "c17", flags: ["-O1"]), createdAt: Date()),
                          cacheKey: compiler == "gcc-12" ? key : nil)
        }
        let matrix = CompilationMatrix(language: .c, createdAt: Date(), cells: cells.map { MatrixCell(of: $0.job) })
        _ = try store.createMatrix(matrix, cells: cells, at: Date())
        for cell in cells { try expectWritten(cell.job.id, "matrix cell \(cell.job.request.compiler ?? "")") }
    }

    private func freshKey() -> VerdictKey {
        let request = CompilationRequest(source: Array(UUID().uuidString.utf8), language: .c, compiler: "gcc-12", standard: "c11")
        return VerdictKey(request: request, toolchain: Toolchain(spec: try! Self.gccSpec(), version: "12", isDefault: true),
                          limits: CompileLimits(sandbox: SandboxConfiguration(), timeout: .seconds(30)))
    }

    private static func gccSpec() throws -> ToolchainSpec {
        let catalog = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("toolchains/catalog").path
        return try ToolchainCatalog.load(at: catalog)[0]
    }

    // MARK: - Stored data the store's writer did not write

    /// A job hash as the Go predecessor (or something else) may have left it.
    static func storedJob(_ id: JobID, status: String = "completed", request: String = #"{"code":"aW50IG1haW47","language":"c"}"#,
                          extra: [(String, [UInt8])] = []) -> [(String, [UInt8])] {
        [("id", Array(id.description.utf8)), ("request", Array(request.utf8)), ("status", Array(status.utf8)),
         ("created_at", Array("2025-01-19T10:04:05.123456789Z".utf8))] + extra
    }

    static func storedResult(_ id: JobID, extra: [(String, [UInt8])] = []) -> [(String, [UInt8])] {
        [("job_id", Array(id.description.utf8)), ("success", Array("1".utf8)), ("compiled", Array("0".utf8)),
         ("stdout", []), ("stderr", Array("main.c:1: error".utf8)), ("exit_code", Array("1".utf8)),
         ("duration", Array("1234".utf8)), ("error", [])] + extra
    }

    private func store(job: [(String, [UInt8])], result: [(String, [UInt8])]?, id: JobID) throws {
        try hset(JobKeys.job(id), job)
        try hset(JobKeys.result(id), result ?? [])
    }

    @Test func thePredecessorsJobsReadTheSameBothWays() throws {
        let id = JobID()
        try store(job: Self.storedJob(id, request: #"{"code":"aW50","language":"C++","compiler":"","standard":"","architecture":"","os":""}"#, extra: [
            ("started_at", Array("0001-01-01T00:00:00Z".utf8)), ("completed_at", Array("2025-01-19T12:04:06.5+02:00".utf8)),
        ]), result: [("job_id", Array(id.description.utf8)), ("success", Array("true".utf8)), ("compiled", Array("False".utf8)),
                     ("stdout", []), ("stderr", []), ("exit_code", Array("1".utf8)), ("duration", Array("99".utf8)), ("error", [])], id: id)
        try expectWritten(id, "a predecessor's failed job")
        let upper = JobID()
        try store(job: Self.storedJob(upper, extra: [("unknown", Array("x".utf8))]).map {
            $0.0 == "id" ? ($0.0, Array(upper.description.uppercased().utf8)) : $0
        }, result: Self.storedResult(upper, extra: [("also_unknown", [0xFF])]), id: upper)
        try expectWritten(upper, "an upper-case id and unknown fields")
        let noResult = JobID()
        try store(job: Self.storedJob(noResult, status: "completed"), result: nil, id: noResult)
        try expectWritten(noResult, "a terminal job whose result expired")
        let garbageResult = JobID()
        try store(job: Self.storedJob(garbageResult, status: "queued"), result: [("exit_code", Array("x".utf8))], id: garbageResult)
        try expectWritten(garbageResult, "a queued job beside a result hash it does not show")
        let missing = JobID()
        try store(job: [], result: nil, id: missing)
        #expect(try store.statusJSON(missing) == .notFound)
    }

    @Test func hostileStoredValuesGiveTheModelsBytesOrTheModelPath() throws {
        let invalidUTF8: [[UInt8]] = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF0, 0x9F], [0x61, 0xF4, 0x90, 0x80, 0x80, 0x62],
                                      [0xE2, 0x82], [0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], Array("ok 🦀".utf8)]
        var cases: [(String, [(String, [UInt8])], [(String, [UInt8])]?)] = []
        for bytes in invalidUTF8 {
            let id = JobID()
            cases.append(("invalid UTF-8 \(bytes)", Self.storedJob(id), Self.storedResult(id, extra: [
                ("stdout", bytes), ("stderr", bytes + bytes), ("error", bytes), ("artifact", bytes),
            ])))
        }
        let requests = [
            "not json", #"{"code":5,"language":"c"}"#, #"{"language":"c"}"#, #"{"code":"","files":[{"name":"a","content":""}],"language":"c"}"#,
            #"{"code":"aW50","language":"cobol"}"#, #"{"code":"aW50","language":"c","flags":[1]}"#, #"{"code":"aW50","language":"c","link":"no"}"#,
            #"{"code":"aW50","language":"c","compiler":"gcc\/12 \u0041\u00e9\ud83e\udd80\u0001"}"#, #"{"code":"aW50","language":"c"} x"#,
            #"{"code":"aW50","language":"c","flags":["-O2"],"flags":["-O3"]}"#, #" {"files":[],"code":"aW50","language":"rust","cache":false} "#,
            #"{"files":[{"name":"m.go","content":"eA=="}],"translation_units":["m.go","\""],"language":"go"}"#, "[]", "",
        ]
        for request in requests {
            let id = JobID()
            cases.append(("request \(request)", Self.storedJob(id, request: request), Self.storedResult(id)))
        }
        let results: [[(String, [UInt8])]] = [
            [("exit_code", Array("+5".utf8))], [("exit_code", Array(" 5".utf8))], [("exit_code", Array("99999999999999999999".utf8))],
            [("duration", Array("-1".utf8))], [("success", Array("yes".utf8))], [("cached", Array("yes".utf8))],
            [("cached", Array("T".utf8))], [("error_count", Array("x".utf8)), ("warning_count", Array("-0".utf8))],
            [("diagnostics", Array("not json".utf8))], [("diagnostics", Array(#" [ {"severity":"error","message":"m\/\u0041","line":1.5} ] "#.utf8))],
            [("diagnostics", Array(#"[{"severity":"fatal","message":"m"}]"#.utf8))], [("diagnostics", [])],
            [("job_id", Array("nope".utf8))], [("artifact", [])],
        ]
        for result in results {
            let id = JobID()
            var fields = Self.storedResult(id)
            for (field, value) in result {
                fields.removeAll { $0.0 == field }
                fields.append((field, value))
            }
            cases.append(("result \(result.map { "\($0.0)=\(String(decoding: $0.1, as: UTF8.self))" })", Self.storedJob(id), fields))
            let partial = JobID()
            cases.append(("half a result \(result.map(\.0))", Self.storedJob(partial), Array(Self.storedResult(partial).prefix(3)) + result))
        }
        let timestamps = ["2025-01-19T10:04:05Z", "2025-01-19t10:04:05.1z", "2025-01-19T10:04:05.999999999-23:59", "2025-02-30T10:04:05Z",
                          "0001-01-01T00:00:00Z", "2025-01-19 10:04:05", "", "2025-01-19T10:04:05.1234567891Z"]
        for timestamp in timestamps {
            let id = JobID()
            cases.append(("created_at \(timestamp)", Self.storedJob(id).map { $0.0 == "created_at" ? ($0.0, Array(timestamp.utf8)) : $0 },
                          Self.storedResult(id)))
            let other = JobID()
            cases.append(("started/completed_at \(timestamp)", Self.storedJob(other, extra: [
                ("started_at", Array(timestamp.utf8)), ("completed_at", Array(timestamp.utf8)),
            ]), Self.storedResult(other)))
        }
        for (field, value) in [("id", "nope"), ("id", ""), ("status", "weird"), ("status", "Completed")] {
            let id = JobID()
            cases.append(("\(field)=\(value)", Self.storedJob(id).map { $0.0 == field ? ($0.0, Array(value.utf8)) : $0 }, Self.storedResult(id)))
        }
        for field in ["id", "request", "status", "created_at"] {
            let id = JobID()
            cases.append(("without \(field)", Self.storedJob(id).filter { $0.0 != field }, Self.storedResult(id)))
        }
        let halfWritten = JobID()
        cases.append(("only a status", [("status", Array("processing".utf8))], nil))
        cases.append(("a job without its result's fields", Self.storedJob(halfWritten, status: "failed"), [("job_id", Array(halfWritten.description.utf8))]))
        for (name, job, result) in cases {
            let id = job.first { $0.0 == "id" }.flatMap { JobID(String(decoding: $0.1, as: UTF8.self)) } ?? JobID()
            try store(job: job, result: result, id: id)
            try compare(id, Comment(rawValue: name))
        }
    }

    @Test func randomBytesInEveryShownFieldGiveTheModelsBytesOrTheModelPath() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array(0...0x20) + Array("\"\\/{}[]:,01tfTF-+.eE".utf8) + [0x7F, 0x80, 0xBF, 0xC2, 0xE2, 0xED, 0xF0, 0xF4, 0xFF]
        func noise(_ length: Int) -> [UInt8] { (0..<length).map { _ in alphabet.randomElement(using: &generator)! } }
        var written = 0
        for round in 0..<300 {
            let id = JobID()
            let status = ["queued", "processing", "completed", "failed", "timeout", "error"][round % 6]
            var result = Self.storedResult(id)
            let field = ["stdout", "stderr", "error", "artifact", "success", "compiled", "exit_code", "duration", "cached", "diagnostics",
                         "error_count", "warning_count"][round % 12]
            result.removeAll { $0.0 == field }
            result.append((field, noise(Int.random(in: 0...40, using: &generator))))
            try store(job: Self.storedJob(id, status: status), result: result, id: id)
            if case .written = try compare(id, "round \(round): \(field)") { written += 1 }
        }
        #expect(written > 150, "most noise lands in fields shown as text or read leniently: \(written) of 300 written directly")
        // Timestamps: digits and their separators, now and then a byte that is not UTF-8.
        let timeAlphabet = Array("0123456789-:.TtZz+ ".utf8) + [0xFF, 0xC3]
        for round in 0..<300 {
            let id = JobID()
            var stamp = Array("2025-01-19T10:04:05.123456789Z".utf8)
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                stamp[Int.random(in: 0..<stamp.count, using: &generator)] = timeAlphabet.randomElement(using: &generator)!
            }
            let field = ["created_at", "started_at", "completed_at"][round % 3]
            var job = Self.storedJob(id)
            job.removeAll { $0.0 == field }
            job.append((field, stamp))
            try store(job: job, result: Self.storedResult(id), id: id)
            try compare(id, "timestamp round \(round): \(field)=\(String(decoding: stamp, as: UTF8.self))")
        }
    }
}
