import Foundation
import Glibc
import TestSupport
import Testing

/// The logs a stack writes under run/logs: one logfmt line per request (responder and
/// nginx) and per compile (worker), each with the request's id, and nothing of what a
/// client submitted.
@Suite struct LogsEndToEndTests {
    /// Every log file of the stack, by name.
    func logs(_ stack: Stack) throws -> [String: String] {
        let directory = "\(stack.runDirectory)/logs"
        var logs: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            logs[name] = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")), as: UTF8.self)
        }
        return logs
    }

    func lines(_ text: String?, containing part: String) -> [Substring] {
        (text ?? "").split(separator: "\n").filter { $0.contains(part) }
    }

    func requestID(of reply: HTTPReply, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let id = try #require(reply.headers["x-request-id"], "no X-Request-ID: \(reply.headers)", sourceLocation: sourceLocation)
        #expect(id.wholeMatch(of: /[0-9a-f]{32}/) != nil, "\(id)", sourceLocation: sourceLocation)
        return id
    }

    @Test(.runningTimeLimit(minutes: 3))
    func eachRequestAndCompileIsOneLineWithItsRequestIDAndNothingSubmittedIsLogged() throws {
        let stack = try Stack()
        let secrets = ["hunter2-SOURCE-SECRET-91", "flagsecret-4242", "rawsecret-777", "client-chosen-id-555"]
        // A source that does not compile: gcc repeats the secret's line in its output.
        let source = "int main(void) { const char *password = \"hunter2-SOURCE-SECRET-91\"; return 0 }\n"
        let body = String(decoding: try JSONSerialization.data(withJSONObject: [
            "source_code": source, "language": "c", "compiler": "gcc-12", "flags": ["-DAPI_TOKEN=flagsecret-4242"],
        ]), as: UTF8.self)

        let submitted = try stack.request("POST", "/api/v1/compile", body: body, headers: ["X-Request-ID": "client-chosen-id-555"])
        #expect(submitted.status == 202, "\(submitted.text)")
        let job = try #require(submitted.json["job_id"] as? String)
        let verdict = try stack.verdict(of: job)
        #expect(verdict["status"] as? String == "failed" && "\(verdict["stderr"] ?? "")".contains("hunter2-SOURCE-SECRET-91"), "\(verdict)")
        // The same file as it is, its flag in the query.
        let raw = try stack.request("POST", "/api/v1/compile?language=c&flag=-DRAW_TOKEN%3Drawsecret-777&wait=25",
                                    body: source, headers: ["Content-Type": "text/plain"])
        #expect([200, 202].contains(raw.status), "\(raw.text)")
        let answers = [
            ("POST", "/api/v1/compile", submitted), ("POST", "/api/v1/compile", raw),
            ("GET", "/health", try stack.request("GET", "/health")),
            ("GET", "/api/v1/compile/{job_id}", try stack.request("GET", "/api/v1/compile/\(job)")),
            ("GET", "/api/v1/compile/{job_id}", try stack.request("GET", "/api/v1/compile/not-a-job")),
            ("GET", "none", try stack.request("GET", "/api/v1/nothing-here")),
        ]

        let ids = try answers.map { try requestID(of: $0.2) }
        #expect(Set(ids).count == ids.count, "one id per request: \(ids)")
        // The responder's line is written before the answer leaves, nginx's once it has.
        let nginxLoggedEach = (try? waitUntil("nginx logged each request", within: 10) {
            let access = try self.logs(stack)["nginx-access.log"]
            return ids.allSatisfy { lines(access, containing: "request_id=\($0) ").count == 1 }
        }) != nil
        let logs = try logs(stack)
        #expect(nginxLoggedEach, "\(logs["nginx-access.log"] ?? "")")
        for secret in secrets {
            for (name, text) in logs {
                #expect(!text.contains(secret), "\(name) holds \(secret)")
            }
        }
        #expect(logs.keys.contains("nginx-error.log") && logs.keys.contains("worker.log"), "\(logs.keys)")

        for ((method, route, reply), id) in zip(answers, ids) {
            let responder = lines(logs["responders.log"], containing: "request_id=\(id)")
            #expect(responder.count == 1, "\(id): \(responder)")
            if let line = responder.first {
                #expect(line.hasPrefix("time=") && line.contains(" level=info program=will-it-compile-responder msg=request "), "\(line)")
                #expect(line.contains(" method=\(method) ") && line.contains(" route=\(route) ") && line.hasSuffix(" status=\(reply.status)"), "\(line)")
            }
        }
        #expect(lines(logs["responders.log"], containing: "request_id=\(ids[0])").first?.contains(" job_id=\(job) ") == true)
        #expect(lines(logs["responders.log"], containing: "request_id=\(ids[3])").first?.contains(" job_id=\(job) ") == true)
        // The worker's one line about the compile names the job and the request that submitted it.
        let compile = lines(logs["worker.log"], containing: "job_id=\(job)")
        #expect(compile.count == 1, "\(compile)")
        #expect(compile.first.map { $0.contains("msg=compile") && $0.contains("request_id=\(ids[0])") && $0.contains("verdict=failed") && $0.contains("toolchain=gcc-12") } == true, "\(compile)")

    }

    @Test(.runningTimeLimit(minutes: 3))
    func logLevelSetsWhatIsWritten() throws {
        let stack = try Stack(["LOG_LEVEL": "warning"])
        let quiet = try requestID(of: try stack.request("GET", "/health"))
        try stack.kill("redis")
        let failed = try stack.request("GET", "/api/v1/compile/\(UUID().uuidString.lowercased())")
        #expect(failed.status == 503, "\(failed.text)")
        let loud = try requestID(of: failed)

        let logs = try logs(stack)
        // A request answered well is info; one the service failed is a warning.
        #expect(lines(logs["responders.log"], containing: "request_id=\(quiet)").isEmpty)
        #expect(lines(logs["responders.log"], containing: "request_id=\(loud)").first?.contains(" level=warning ") == true,
                "\(logs["responders.log"] ?? "")")
        #expect(lines(logs["worker.log"], containing: " level=info ").isEmpty, "\(logs["worker.log"] ?? "")")

        // The responder says it in its log line, its quotes escaped.
        try expectScriptsRunRefuses(stack, "LOG_LEVEL", "verbose",
                                    saying: #"LOG_LEVEL=\"verbose\" is invalid: expected one of trace, debug, info, notice, warning, error, critical"#)
    }
}
