import Foundation
import TestSupport
import Testing

/// `Accept: text/plain` through nginx, with the real curl a CI script would run.
@Suite struct PlainTextEndToEndTests {
    /// Runs curl with `--fail-with-body`: its exit status is what a script branches on.
    func curl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runCapturingOutput("/usr/bin/curl", ["--silent", "--show-error", "--fail-with-body", "--max-time", "60"] + arguments)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aScriptLearnsWhetherAFileCompilesFromOneCurl() throws {
        let stack = try Stack()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-plain-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.c").path
        let bad = directory.appendingPathComponent("bad.c").path
        try "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "int main(void) { return 0 }\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let url = "http://127.0.0.1:\(stack.port)/api/v1/compile?language=c&wait=30"
        let headers = ["-H", "Accept: text/plain", "-H", "Content-Type: text/plain"]

        let compiled = try curl(headers + ["--data-binary", "@\(good)", url])
        #expect(compiled.status == 0, "\(compiled.output)")
        #expect(compiled.output.hasPrefix("compiled: gcc-12 c gnu17 x86_64/linux, "), "\(compiled.output)")

        let failed = try curl(headers + ["--data-binary", "@\(bad)", url])
        #expect(failed.status == 22, "curl --fail-with-body fails when the code does not compile: \(failed.output)")
        #expect(failed.output.contains("error: expected") && failed.output.contains("\ndid not compile: gcc-12"), "\(failed.output)")

        // The status header, and a read of the job in text as well.
        let id = try #require(failed.output.split(separator: "(job ").last?.prefix(36)).description
        let read = try stack.request("GET", "/api/v1/compile/\(id)", headers: ["Accept": "text/plain"])
        #expect(read.status == 422 && read.headers["x-compile-status"] == "failed", "\(read.text)")
        #expect(read.headers["content-type"]?.hasPrefix("text/plain") == true)
        // JSON stays exactly as it is.
        let json = try stack.request("GET", "/api/v1/compile/\(id)")
        #expect(json.status == 200 && json.json["status"] as? String == "failed")
    }
}
