import Foundation
import TestSupport
import Testing

/// `Accept: application/sarif+json` on a finished job through nginx: its diagnostics as
/// SARIF 2.1.0, valid against the SARIF schema checked in (scripts/check-sarif.py).
@Suite(.serialized) struct SARIFEndToEndTests {
    /// Checks `document` with scripts/check-sarif.py in scripts/test's Python (`WIC_TEST_PYTHON`).
    static func validate(_ document: [UInt8]) throws -> (valid: Bool, output: String) {
        guard let python = ProcessInfo.processInfo.environment["WIC_TEST_PYTHON"] else {
            throw TestFailure("WIC_TEST_PYTHON is not set: run the tests with scripts/test, which installs the Python tools")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wic-\(UUID().uuidString.prefix(8)).sarif").path
        try Data(document).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (status, output) = try run(python, [repositoryRoot.appendingPathComponent("scripts/check-sarif.py").path, path], capturing: .standardOutputAndError)
        return (status == 0, output)
    }

    static func request(_ source: String, _ language: String, flags: [String] = []) -> String {
        var request: [String: Any] = ["source_code": source, "language": language]
        if !flags.isEmpty { request["flags"] = flags }
        return String(decoding: try! JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aFinishedJobsDiagnosticsAreValidSARIF() throws {
        let stack = try Stack()
        // An error with its note, a warning with its option, a system header and the linker:
        // every kind of place a diagnostic has.
        let source = "#include <stdio.h>\nint helper(void);\nint main(void) {\n    int unused = 1;\n    printf(\"%d\\n\", undeclared);\n    return helper();\n}\n"
        let failed = try stack.compile(Self.request(source, "c", flags: ["-Wall"]))
        let id = try #require(failed["job_id"] as? String)
        let reply = try stack.request("GET", "/api/v1/compile/\(id)", headers: ["Accept": "application/sarif+json"])
        #expect(reply.status == 200 && reply.headers["content-type"] == "application/sarif+json; charset=utf-8", "\(reply.status) \(reply.headers)")
        let check = try Self.validate(reply.body)
        #expect(check.valid, "\(check.output)\n\(reply.text)")

        let sarif = reply.json
        #expect(sarif["version"] as? String == "2.1.0")
        let run = try #require((sarif["runs"] as? [[String: Any]])?.first)
        #expect(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["name"] as? String == "gcc-12")
        let results = try #require(run["results"] as? [[String: Any]])
        func place(_ result: [String: Any]) -> [String] {
            guard let physical = ((result["locations"] as? [[String: Any]])?.first)?["physicalLocation"] as? [String: Any] else { return [] }
            let artifact = physical["artifactLocation"] as? [String: Any] ?? [:]
            let region = physical["region"] as? [String: Any] ?? [:]
            return [artifact["uri"] as? String ?? "", artifact["uriBaseId"] as? String ?? "",
                    "\(region["startLine"] ?? "")", "\(region["startColumn"] ?? "")"]
        }
        #expect(results.map { $0["level"] as? String ?? "" } == ["error", "warning"], "\(reply.text)")
        #expect(results.map(place) == [["main.c", "SRCROOT", "5", "20"], ["main.c", "SRCROOT", "4", "9"]], "\(reply.text)")
        #expect(results.map { $0["ruleId"] as? String ?? "" } == ["", "-Wunused-variable"], "\(reply.text)")
        // The note after the error is its related location.
        let related = (results[0]["relatedLocations"] as? [[String: Any]])?.first
        let relatedText = (related?["message"] as? [String: Any])?["text"] as? String ?? ""
        #expect(relatedText.hasPrefix("each undeclared identifier"), "\(reply.text)")

        // A system header is an absolute file URI; the linker's message has no location.
        let header = try stack.compile(Self.request("#define FILE struct\n#include <stdio.h>\nint main(void) { return 0; }\n", "c"))
        let headerSARIF = try stack.request("GET", "/api/v1/compile/\(try #require(header["job_id"] as? String))", headers: ["Accept": "application/sarif+json"])
        #expect(try Self.validate(headerSARIF.body).valid, "\(headerSARIF.text)")
        let first = try #require(((headerSARIF.json["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])?.first)
        #expect(place(first) == ["file:///usr/include/x86_64-linux-gnu/bits/types/FILE.h", "", "7", "29"], "\(headerSARIF.text)")

        let link = try stack.compile(Self.request("int helper(void);\nint main(void) { return helper(); }\n", "c"))
        let linkSARIF = try stack.request("GET", "/api/v1/compile/\(try #require(link["job_id"] as? String))", headers: ["Accept": "application/sarif+json"])
        #expect(try Self.validate(linkSARIF.body).valid, "\(linkSARIF.text)")
        let linkResults = try #require((linkSARIF.json["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])
        #expect(linkResults.map(place) == [["main.c", "SRCROOT", "", ""], []], "\(linkSARIF.text)")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aCleanCompileIsAnEmptyRunAndAnUnfinishedJobIsTheJobAsItIs() throws {
        let stack = try Stack()
        let clean = try stack.compile(Self.request("int main(void) { return 0; }\n", "c"))
        let reply = try stack.request("GET", "/api/v1/compile/\(try #require(clean["job_id"] as? String))", headers: ["Accept": "application/sarif+json"])
        let valid = try Self.validate(reply.body).valid
        #expect(reply.status == 200 && valid, "\(reply.text)")
        let run = (reply.json["runs"] as? [[String: Any]])?.first
        #expect((run?["results"] as? [Any])?.isEmpty == true, "\(reply.text)")
        #expect(((run?["invocations"] as? [[String: Any]])?.first)?["executionSuccessful"] as? Bool == true, "\(reply.text)")

        // JSON stays the default, and a job not finished yet is answered as it is, with 202.
        #expect(try stack.request("GET", "/api/v1/compile/\(clean["job_id"]!)", headers: ["Accept": "*/*"]).json["status"] as? String == "completed")
        let slow = try stack.submitFewSecondsCompile()
        let pending = try stack.request("GET", "/api/v1/compile/\(slow)", headers: ["Accept": "application/sarif+json"])
        #expect(pending.status == 202 && ["queued", "processing"].contains(pending.json["status"] as? String ?? ""), "\(pending.text)")
        #expect(pending.headers["location"] == "/api/v1/compile/\(slow)", "\(pending.headers)")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aSubmissionThatWaitsAnswersInSARIFToo() throws {
        let stack = try Stack()
        let reply = try stack.request("POST", "/api/v1/compile?wait=30", body: Self.request("int main(void) { return missing; }\n", "c"),
                                      headers: ["Accept": "application/sarif+json"])
        #expect(reply.status == 200 && reply.headers["content-type"] == "application/sarif+json; charset=utf-8", "\(reply.status) \(reply.text)")
        let check = try Self.validate(reply.body)
        #expect(check.valid, "\(check.output)")
        let results = (reply.json["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]] ?? []
        #expect(results.map { $0["level"] as? String } == ["error"], "\(reply.text)")
        // Without `wait` the answer is the accepted job, in JSON, as before.
        let queued = try stack.request("POST", "/api/v1/compile", body: Self.request("int main(void) { return 0; }\n", "c"),
                                       headers: ["Accept": "application/sarif+json"])
        #expect(queued.status == 202 && queued.json["status"] as? String == "queued", "\(queued.text)")
    }

    @Test func aSARIFDocumentOfAnotherShapeFailsTheCheck() throws {
        let bad = #"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"gcc-12"}},"results":[{"level":"fatal","message":{"text":"x"}}]}]}"#
        let check = try Self.validate(Array(bad.utf8))
        #expect(!check.valid && check.output.contains("'fatal' is not one of"), "\(check.output)")
    }
}
