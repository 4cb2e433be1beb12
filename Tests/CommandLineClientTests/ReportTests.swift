@testable import CommandLineClient
import Foundation
import Testing
import WillItCompile

/// What `compile` and `environments` print.
@Suite struct ReportTests {
    static let plain = Palette(enabled: false)

    static func job(_ status: JobStatus, diagnostics: [Diagnostic] = [], stderr: String = "", error: String = "",
                    errors: Int = 0, warnings: Int = 0, cached: Bool = false) throws -> JobAnswer {
        let object: [String: Any] = [
            "job_id": "0b6c4a1e-3f5d-4a49-9d0e-2b7c8e5f1a23", "status": status.rawValue, "language": "cpp",
            "compiler": "gcc-12", "standard": "gnu++17", "architecture": "x86_64", "os": "linux", "stdout": "",
            "stderr": stderr, "exit_code": status == .completed ? 0 : 1, "duration": 52_400_000, "error": error,
            "cached": cached, "error_count": errors, "warning_count": warnings,
            "diagnostics": try JSONSerialization.jsonObject(with: JSONEncoder().encode(diagnostics)),
        ]
        return try JSONDecoder().decode(JobAnswer.self, from: JSONSerialization.data(withJSONObject: object))
    }

    @Test func aDiagnosticIsPrintedAsACompilerPrintsIt() {
        let cases: [(Diagnostic, String)] = [
            (Diagnostic(file: "main.cpp", line: 3, column: 5, severity: .error, message: "expected ';' before '}' token"),
             "main.cpp:3:5: error: expected ';' before '}' token"),
            (Diagnostic(file: "main.cpp", line: 2, column: 9, severity: .warning, message: "unused variable 'x'", option: "-Wunused-variable"),
             "main.cpp:2:9: warning: unused variable 'x' [-Wunused-variable]"),
            (Diagnostic(file: "main.rs", line: 7, column: nil, severity: .note, message: "defined here"),
             "main.rs:7: note: defined here"),
            (Diagnostic(file: "/usr/include/stdio.h", line: nil, column: nil, severity: .note, message: "included from here"),
             "/usr/include/stdio.h: note: included from here"),
            (Diagnostic(file: nil, line: nil, column: nil, severity: .error, message: "ld returned 1 exit status"),
             "gcc-12: error: ld returned 1 exit status"),
            (Diagnostic(file: "main.c", line: 1, column: 1, severity: .error, message: "two\nlines"),
             "main.c:1:1: error: two lines"),
        ]
        for (diagnostic, expected) in cases {
            #expect(VerdictReport.line(diagnostic, compiler: "gcc-12", palette: Self.plain) == expected)
        }
    }

    @Test func colourOnlyOnATerminalWithoutNOCOLOR() {
        #expect(Palette.forOutput(isTerminal: true, environment: ["TERM": "xterm"]).enabled)
        #expect(!Palette.forOutput(isTerminal: false, environment: [:]).enabled)
        #expect(!Palette.forOutput(isTerminal: true, environment: ["NO_COLOR": "1"]).enabled)
        #expect(Palette.forOutput(isTerminal: true, environment: ["NO_COLOR": ""]).enabled)
        #expect(!Palette.forOutput(isTerminal: true, environment: ["TERM": "dumb"]).enabled)
        let coloured = VerdictReport.line(Diagnostic(file: "main.c", line: 1, column: 2, severity: .error, message: "m"),
                                          compiler: "gcc-12", palette: Palette(enabled: true))
        #expect(coloured == "\u{1B}[1mmain.c:1:2:\u{1B}[0m \u{1B}[1;31merror:\u{1B}[0m m")
    }

    @Test func aFailedJobShowsItsDiagnosticsThenTheVerdict() throws {
        let job = try Self.job(.failed, diagnostics: [
            Diagnostic(file: "main.cpp", line: 1, column: 27, severity: .error, message: "expected ';' before '}' token"),
            Diagnostic(file: "main.cpp", line: 1, column: 1, severity: .note, message: "in function 'main'"),
        ], stderr: "main.cpp:1:27: error: expected ';' before '}' token\n", errors: 1)
        #expect(VerdictReport.text(of: job, mode: .diagnostics, palette: Self.plain) == """
            main.cpp:1:27: error: expected ';' before '}' token
            main.cpp:1:1: note: in function 'main'
            did not compile: gcc-12 cpp gnu++17 x86_64/linux, exit code 1, 1 error, 52 ms (job 0b6c4a1e-3f5d-4a49-9d0e-2b7c8e5f1a23)

            """)
        // --raw-output: the compiler's own text instead.
        #expect(VerdictReport.text(of: job, mode: .raw, palette: Self.plain).hasPrefix("main.cpp:1:27: error: expected ';' before '}' token\ndid not compile: "))
    }

    @Test func outputWithoutDiagnosticsIsShownAsItIs() throws {
        let job = try Self.job(.failed, stderr: "collect2: something no parser reads\n", error: "the sandbox's memory limit (512 MB) stopped the compile")
        #expect(VerdictReport.text(of: job, mode: .diagnostics, palette: Self.plain) == """
            collect2: something no parser reads
            did not compile: gcc-12 cpp gnu++17 x86_64/linux, exit code 1, 52 ms: the sandbox's memory limit (512 MB) stopped the compile (job 0b6c4a1e-3f5d-4a49-9d0e-2b7c8e5f1a23)

            """)
    }

    @Test func messagesBeyondTheListedOnesAreCounted() throws {
        let listed = (1...3).map { (line: Int) in Diagnostic(file: "main.c", line: line, column: 1, severity: .error, message: "e\(line)") }
        let text = VerdictReport.text(of: try Self.job(.failed, diagnostics: listed, errors: 700, warnings: 2), mode: .diagnostics, palette: Self.plain)
        #expect(text.contains("\n… and 699 more errors and warnings the service does not list; --raw-output shows the compiler's whole output\n"))
        #expect(text.contains(", 700 errors, 2 warnings, "))
    }

    @Test func eachVerdictHasItsLine() throws {
        let id = "(job 0b6c4a1e-3f5d-4a49-9d0e-2b7c8e5f1a23)"
        #expect(VerdictReport.summary(of: try Self.job(.completed, cached: true), palette: Self.plain)
            == "compiled: gcc-12 cpp gnu++17 x86_64/linux, 52 ms (from the verdict cache) \(id)")
        #expect(VerdictReport.summary(of: try Self.job(.timeout, error: "the compile ran past its 30 s limit"), palette: Self.plain)
            == "did not compile in time: gcc-12 cpp gnu++17 x86_64/linux, 52 ms: the compile ran past its 30 s limit \(id)")
        #expect(VerdictReport.summary(of: try Self.job(.error, error: "the sandbox could not start"), palette: Self.plain)
            == "the service failed: the sandbox could not start \(id)")
    }

    @Test func anErrorAnswerIsSaidWithItsDetailsAndRetryAfter() {
        let body = #"{"error":"invalid_request","message":"2 problems","details":[{"field":"compiler","message":"`gcc-99` is not offered"},{"field":"standard","message":"`c++99` is no standard"}]}"#
        let refusal = ServiceReply(status: 400, headers: [:], body: Data(body.utf8)).refusal
        #expect(refusal.description == "the service answered 400 invalid_request: 2 problems\n  compiler: `gcc-99` is not offered\n  standard: `c++99` is no standard")
        let busy = ServiceReply(status: 429, headers: ["retry-after": "3"],
                                body: Data(#"{"error":"queue_full","message":"The queue is full."}"#.utf8)).refusal
        #expect(busy.description == "the service answered 429 queue_full: The queue is full. (retry after 3 s)")
        let proxy = ServiceReply(status: 502, headers: [:], body: Data("<html>Bad Gateway</html>\n".utf8)).refusal
        #expect(proxy.description == "the service answered 502: <html>Bad Gateway</html>")
    }

    @Test func environmentsListEachLanguageWithItsDefaults() throws {
        let body = #"""
            [{"language":"c","compilers":["gcc-12","clang-14"],"standards":["c11","gnu17"],"oses":["linux","windows"],
              "architectures":["x86_64","arm64"],"default_compiler":"gcc-12","default_standard":"gnu17"},
             {"language":"go","compilers":["go-1.19"],"standards":[],"oses":["linux"],"architectures":["x86_64"],"default_compiler":"go-1.19"}]
            """#
        let environments = try EnvironmentsReport.decode(ServiceReply(status: 200, headers: [:], body: Data(body.utf8)))
        #expect(EnvironmentsReport.text(of: environments, palette: Self.plain) == """
            c   compilers  gcc-12 (default), clang-14
                standards  c11, gnu17 (default)
                targets    x86_64, arm64 on linux, windows
            go  compilers  go-1.19 (default)
                targets    x86_64 on linux

            """)
    }
}
