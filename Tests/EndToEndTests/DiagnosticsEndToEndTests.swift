import Foundation
import TestSupport
import Testing

/// Every finished job through nginx carries the compiler's messages as `diagnostics`, with
/// `error_count` and `warning_count`: one source per installed compiler family, each with
/// the exact file, line, column, severity and option its compiler reports, in both job
/// stores (Redis: the result hash; memory: the worker's reply).
@Suite(.serialized) struct DiagnosticsEndToEndTests {
    struct Case: CustomStringConvertible, Sendable {
        var compiler: String
        var language: String
        var fixture: String
        var flags: [String] = []
        /// [file, line, column, severity, option] of each diagnostic, in order; nil is JSON null.
        var expected: [[String?]]
        var errors: Int
        var warnings: Int
        var description: String { compiler }
    }

    static let cases = [
        Case(compiler: "gcc-12", language: "c", fixture: "c-errors.c", flags: ["-Wall"], expected: [
            ["main.c", "7", "27", "error", nil], ["main.c", "7", "27", "note", nil],
            ["main.c", "8", "12", "warning", "-Wint-conversion"], ["main.c", "6", "9", "warning", "-Wunused-variable"],
        ], errors: 1, warnings: 2),
        Case(compiler: "clang-16", language: "cpp", fixture: "cpp-template.cpp", expected: [
            ["main.cpp", "5", "18", "error", nil], ["main.cpp", "10", "12", "note", nil],
        ], errors: 1, warnings: 0),
        Case(compiler: "go-1.19", language: "go", fixture: "go-errors.go", expected: [
            ["main.go", "3", "8", "error", nil], ["main.go", "6", "2", "error", nil], ["main.go", "7", "2", "error", nil],
        ], errors: 3, warnings: 0),
        Case(compiler: "gccgo-12", language: "go", fixture: "go-errors.go", expected: [
            ["main.go", "3", "10", "error", nil], ["main.go", "7", "9", "error", nil], ["main.go", "6", "9", "error", nil],
        ], errors: 3, warnings: 0),
        Case(compiler: "swiftc-6", language: "swift", fixture: "swift-errors.swift", expected: [
            ["main.swift", "5", "18", "error", nil], ["main.swift", "6", "7", "error", nil],
            ["main.swift", "10", "13", "warning", "DeprecatedDeclaration"], ["main.swift", "2", "9", "warning", nil],
        ], errors: 2, warnings: 2),
        Case(compiler: "rustc-1.63", language: "rust", fixture: "rust-warnings.rs", expected: [
            ["main.rs", "2", "9", "warning", "unused_variables"], [nil, nil, nil, "note", nil], ["main.rs", "2", "9", "note", nil],
            ["main.rs", "5", "4", "warning", "dead_code"], [nil, nil, nil, "note", nil],
        ], errors: 0, warnings: 2),
    ]

    static func fixture(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("Fixtures/Diagnostics/\(name)"), encoding: .utf8)
    }

    static func body(_ testCase: Case) throws -> String {
        let source = try fixture(testCase.fixture)
        var request: [String: Any] = ["source_code": source, "language": testCase.language, "compiler": testCase.compiler]
        if !testCase.flags.isEmpty { request["flags"] = testCase.flags }
        return String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    }

    static func shape(_ answer: [String: Any]) -> [[String?]] {
        (answer["diagnostics"] as? [[String: Any]] ?? []).map { diagnostic in
            ["file", "line", "column", "severity", "option"].map { key in
                switch diagnostic[key] {
                case let text as String: text
                case let number as NSNumber: number.stringValue
                default: nil
                }
            }
        }
    }

    @Test(.runningTimeLimit(minutes: 6), arguments: ["true", "false"])
    func eachFamilysMessagesAreListedWithTheirPlaces(redisEnabled: String) throws {
        let stack = try Stack(["REDIS_ENABLED": redisEnabled])
        let installed = try stack.request("GET", "/api/v1/toolchains").text
        for testCase in Self.cases {
            // A family this host lacks is a failure, not a skip: the machine's setup installs all of them.
            #expect(installed.contains("\"\(testCase.compiler)\""), "\(testCase) is not installed")
            let answer = try stack.compile(try Self.body(testCase))
            #expect(answer["status"] as? String == (testCase.errors == 0 ? "completed" : "failed"), "\(testCase): \(answer)")
            #expect(Self.shape(answer) == testCase.expected, "\(testCase): \(answer["diagnostics"] ?? "none")\n\(answer["stderr"] ?? "")")
            #expect(answer["error_count"] as? Int == testCase.errors, "\(testCase)")
            #expect(answer["warning_count"] as? Int == testCase.warnings, "\(testCase)")
            // stderr stays the compiler's own text, with its sandbox paths; rustc's is its human
            // text, rebuilt from the JSON the service asks it for.
            #expect((answer["stderr"] as? String ?? "").contains(testCase.compiler == "go-1.19" ? "./main.go:3:8: " : "/work/main."),
                    "\(testCase): \(answer["stderr"] ?? "")")
            if testCase.language == "rust" {
                #expect(answer["stderr"] as? String == (try Self.fixture("rust-warnings.rustc-1.63.txt")), "\(answer["stderr"] ?? "")")
            }
        }
    }

    @Test(.runningTimeLimit(minutes: 3))
    func submitWithWaitAnswersWithTheDiagnosticsAndACleanCompileWithNone() throws {
        let stack = try Stack()
        let waited = try stack.request("POST", "/api/v1/compile?wait=30", body: try Self.body(Self.cases[0]))
        #expect(waited.status == 200, "\(waited.text)")
        #expect(Self.shape(waited.json) == Self.cases[0].expected, "\(waited.text)")
        let message = (waited.json["diagnostics"] as? [[String: Any]])?.first?["message"] as? String
        #expect(message == "‘undeclared’ undeclared (first use in this function)", "\(waited.text)")

        let clean = try stack.request("POST", "/api/v1/compile?wait=30", body: #"{"source_code":"int main(void) { return 0; }\n","language":"c"}"#)
        #expect(clean.status == 200 && clean.json["status"] as? String == "completed", "\(clean.text)")
        #expect((clean.json["diagnostics"] as? [Any])?.isEmpty == true, "\(clean.text)")
        #expect(clean.json["error_count"] as? Int == 0 && clean.json["warning_count"] as? Int == 0, "\(clean.text)")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aGoProgramImportingCIsToldThatCgoIsNotOffered() throws {
        let stack = try Stack()
        let cgo = "cgo is not offered: Go is compiled here without cgo (CGO_ENABLED=0) and without a C compiler, so a program that imports \"C\" cannot be built; remove the import and the C code it uses"
        let expected: [String: [[String?]]] = [
            "go-1.19": [["main.go", "3", "8", "error", nil], [nil, nil, nil, "error", nil]],
            "gccgo-12": [["main.go", "3", "8", "error", nil], ["main.go", "3", "9", "error", nil]],
        ]
        for (compiler, shape) in expected {
            let answer = try stack.compile(try Self.body(Case(compiler: compiler, language: "go", fixture: "go-cgo.go", expected: [], errors: 0, warnings: 0)))
            #expect(answer["status"] as? String == "failed" && answer["error"] as? String == cgo, "\(compiler): \(answer)")
            #expect(Self.shape(answer) == shape, "\(compiler): \(answer)")
            #expect((answer["diagnostics"] as? [[String: Any]])?.first?["message"] as? String == cgo, "\(compiler): \(answer)")
        }
        // The plain-text answer says it on its last line.
        let raw = try HTTPReply.send("POST", "/api/v1/compile?language=go&wait=30", body: Array("package main\n\nimport \"C\"\n\nfunc main() {}\n".utf8),
                                     headers: ["Content-Type": "text/plain", "Accept": "text/plain"], port: stack.port)
        #expect(raw.status == 422 && raw.text.contains("exit code 1") && raw.text.contains(": \(cgo) (job "), "\(raw.text)")
    }
}
