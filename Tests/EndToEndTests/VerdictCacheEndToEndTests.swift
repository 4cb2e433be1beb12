import Foundation
import Glibc
import TestSupport
import Testing

/// The verdict cache through nginx: identical requests are answered from Redis without a
/// compile, which the worker's counters prove; anything that can change the verdict misses.
@Suite(.serialized) struct VerdictCacheEndToEndTests {
    static let good = #"{"source_code":"int main(){return 0;}","language":"c"}"#
    static let bad = #"{"source_code":"int main(){return 0}","language":"c"}"#

    /// A C++ compile that runs far past any timeout these tests set: `slowCompileSource`'s
    /// constant evaluations (each within gcc's limits), fifty times as many.
    static let endless: String = {
        var source = "constexpr long spin(int k) { long s = 0; for (int i = 0; i < 2000; ++i) for (int j = 0; j < 2000; ++j) s += (j + k) % 7; return s; }\n"
        for k in 0..<2000 { source += "static_assert(spin(\(k)) >= 0);\n" }
        return source + "int main() {}\n"
    }()

    /// Submits with `wait` and returns the finished job.
    func submitWaiting(_ stack: Stack, _ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let reply = try stack.request("POST", "/api/v1/compile?wait=25", body: body)
        guard reply.status == 200 else {
            // Still compiling after the wait (a loaded machine): the job is read until it ends.
            guard reply.status == 202, let id = reply.json["job_id"] as? String else {
                throw StackError("submit answered \(reply.status): \(reply.text)")
            }
            return try stack.verdict(of: id)
        }
        return reply.json
    }

    /// The counters once `condition` holds (each host renews its counters in Redis every second).
    func counters(_ stack: Stack, until condition: ([String: Any]) -> Bool, _ what: String) throws -> [String: Any] {
        let deadline = Date() + 15
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try stack.request("GET", "/api/v1/workers/stats").json
            if condition(last) { return last }
            usleep(100_000)
        }
        throw StackError("the worker's counters never showed \(what): \(last)")
    }

    func count(_ stats: [String: Any], _ field: String) -> Int { stats[field] as? Int ?? -1 }

    @Test(.runningTimeLimit(minutes: 4))
    func identicalRequestsAreAnsweredWithoutACompileAndAnyChangeMisses() throws {
        let stack = try Stack()

        let first = try submitWaiting(stack, Self.good)
        #expect(first["status"] as? String == "completed" && first["cached"] as? Bool == false, "\(first)")
        _ = try counters(stack, until: { count($0, "total_processed") == 1 }, "the first compile")

        // The same request again: answered at once from the cache, a job of its own, no compile.
        let again = try submitWaiting(stack, Self.good)
        #expect(again["status"] as? String == "completed" && again["cached"] as? Bool == true, "\(again)")
        #expect(again["job_id"] as? String != first["job_id"] as? String)
        for field in ["compiled", "success", "stdout", "stderr", "exit_code", "duration", "error", "artifact", "compiler", "standard"] {
            #expect("\(again[field] ?? "absent")" == "\(first[field] ?? "absent")", "\(field)")
        }
        var stats = try counters(stack, until: { count($0, "total_cached") == 1 }, "one answer from the cache")
        #expect(count(stats, "total_processed") == 1 && count(stats, "total_successful") == 1, "nothing compiled: \(stats)")
        let id = try #require(again["job_id"] as? String)
        let read = try stack.request("GET", "/api/v1/compile/\(id)")
        #expect(read.status == 200 && read.json["cached"] as? Bool == true && read.json["status"] as? String == "completed")
        let plain = try stack.request("GET", "/api/v1/compile/\(id)", headers: ["Accept": "text/plain"])
        #expect(plain.status == 200 && plain.headers["x-compile-status"] == "completed")
        #expect(plain.text.contains("ms (from the verdict cache) (job \(id))"), "\(plain.text)")

        // A failed verdict is a verdict about the code: cached as well.
        let failed = try submitWaiting(stack, Self.bad)
        #expect(failed["status"] as? String == "failed" && failed["cached"] as? Bool == false, "\(failed)")
        let failedAgain = try submitWaiting(stack, Self.bad)
        #expect(failedAgain["status"] as? String == "failed" && failedAgain["cached"] as? Bool == true, "\(failedAgain)")
        #expect(failedAgain["stderr"] as? String == failed["stderr"] as? String)
        stats = try counters(stack, until: { count($0, "total_cached") == 2 }, "two answers from the cache")
        #expect(count(stats, "total_processed") == 2 && count(stats, "total_failed") == 1, "\(stats)")

        // cache: false compiles anyway, in the JSON form and in the raw form's query.
        let bypassed = try submitWaiting(stack, #"{"source_code":"int main(){return 0;}","language":"c","cache":false}"#)
        #expect(bypassed["status"] as? String == "completed" && bypassed["cached"] as? Bool == false, "\(bypassed)")
        stats = try counters(stack, until: { count($0, "total_processed") == 3 }, "the bypass compiled")
        #expect(count(stats, "total_cached") == 2)
        let raw = try stack.request("POST", "/api/v1/compile?language=c&wait=25", body: "int main(){return 0;}",
                                    headers: ["Content-Type": "text/plain"])
        #expect(raw.status == 200 && raw.json["cached"] as? Bool == true, "the same bytes in the raw form: \(raw.text)")
        let rawBypassed = try stack.request("POST", "/api/v1/compile?language=c&cache=false&wait=25", body: "int main(){return 0;}",
                                            headers: ["Content-Type": "text/plain"])
        #expect(rawBypassed.status == 200 && rawBypassed.json["cached"] as? Bool == false, "\(rawBypassed.text)")
        stats = try counters(stack, until: { count($0, "total_processed") == 4 }, "the raw bypass compiled")
        #expect(count(stats, "total_cached") == 3)
        let refused = try stack.request("POST", "/api/v1/compile?language=c&cache=no", body: "int main(){return 0;}",
                                        headers: ["Content-Type": "text/plain"])
        #expect(refused.status == 400 && refused.text.contains("cache=false"), "\(refused.text)")
        let wrongType = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c","cache":"false"}"#)
        #expect(wrongType.status == 400 && wrongType.text.contains("without quotes"), "\(wrongType.text)")

        // A flag, a standard or linking changes the key: each misses once, then hits.
        for changed in [#"{"source_code":"int main(){return 0;}","language":"c","flags":["-O2"]}"#,
                        #"{"source_code":"int main(){return 0;}","language":"c","standard":"c11"}"#,
                        #"{"source_code":"int main(){return 0;}","language":"c","link":false}"#] {
            let missed = try submitWaiting(stack, changed)
            #expect(missed["status"] as? String == "completed" && missed["cached"] as? Bool == false, "\(changed): \(missed)")
            let hit = try submitWaiting(stack, changed)
            #expect(hit["cached"] as? Bool == true, "\(changed): \(hit)")
        }
        stats = try counters(stack, until: { count($0, "total_cached") == 6 }, "three more answers from the cache")
        #expect(count(stats, "total_processed") == 7, "\(stats)")

        // The verdicts live in Redis, one key per distinct request, with the jobs' TTL.
        #expect(try stack.redisKeys(matching: "verdict:*").count == 5)
    }

    @Test(.runningTimeLimit(minutes: 4))
    func aTimeoutAndAnErrorAreNeverCached() throws {
        // One take per job: a worker killed mid-compile leaves its job an `error`.
        let stack = try Stack(["COMPILATION_TIMEOUT_SECONDS": "3", "JOB_MAX_CLAIMS": "1", "MAX_WORKERS": "1"])
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["source_code": Self.endless, "language": "cpp"]), as: UTF8.self)

        for attempt in 1...2 {
            let timedOut = try submitWaiting(stack, body)
            #expect(timedOut["status"] as? String == "timeout" && timedOut["cached"] as? Bool == false, "\(attempt): \(timedOut)")
        }
        var stats = try counters(stack, until: { count($0, "total_timeout") == 2 }, "two timeouts")
        #expect(count(stats, "total_cached") == 0)

        // An `error`: the worker dies while compiling, and the job may not be taken again.
        let submitted = try stack.request("POST", "/api/v1/compile", body: body)
        let id = try #require(submitted.json["job_id"] as? String, "\(submitted.text)")
        try waitUntil("the job is compiling", within: 20) {
            (try? stack.request("GET", "/api/v1/compile/\(id)").json["status"] as? String) == "processing"
        }
        try stack.killAndRestartWorker()
        let errored = try stack.verdict(of: id)
        #expect(errored["status"] as? String == "error" && errored["cached"] as? Bool == false, "\(errored)")
        stats = try counters(stack, until: { count($0, "total_errors") == 1 }, "the error")

        // The same request once more: compiled again (a timeout), not answered with either earlier verdict.
        let compiledAgain = try submitWaiting(stack, body)
        #expect(compiledAgain["status"] as? String == "timeout" && compiledAgain["cached"] as? Bool == false, "\(compiledAgain)")
        stats = try counters(stack, until: { count($0, "total_timeout") == 3 }, "the third timeout")
        #expect(count(stats, "total_cached") == 0)
        #expect(try stack.redisKeys(matching: "verdict:*").isEmpty)
    }

    /// The lines of a log of the stack's that hold `part`.
    func logLines(_ stack: Stack, _ name: String, containing part: String) throws -> [Substring] {
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(stack.runDirectory)/logs/\(name).log")), as: UTF8.self)
        return text.split(separator: "\n").filter { $0.contains(part) }
    }

    /// In Redis mode a responder answers a hit itself, in the script that checks the client's
    /// limit: the worker is stopped (SIGSTOP) and the hit is answered all the same, stored and
    /// counted as the worker would store and count it, and logged by the responder.
    @Test(.runningTimeLimit(minutes: 3))
    func aHitIsAnsweredByTheResponderAloneAsTheWorkerWouldAnswerIt() throws {
        // One responder, whose copy of the worker's terms the test keeps fresh.
        let stack = try Stack(["FCGI_CHILDREN": "1"])
        let first = try submitWaiting(stack, Self.good)
        #expect(first["cached"] as? Bool == false, "\(first)")
        let stats = try counters(stack, until: { count($0, "total_processed") == 1 }, "the first compile")
        let hostID = try #require((stats["hosts"] as? [[String: Any]])?.first?["host_id"] as? String, "\(stats)")
        #expect(try stack.request("GET", "/api/v1/toolchains").status == 200)

        let worker = try stack.pid(of: "worker")
        Glibc.kill(worker, SIGSTOP)
        let hit: HTTPReply
        do {
            defer { Glibc.kill(worker, SIGCONT) }
            hit = try stack.request("POST", "/api/v1/compile?wait=25", body: Self.good)
        }
        #expect(hit.status == 200 && hit.json["cached"] as? Bool == true && hit.json["status"] as? String == "completed", "\(hit.text)")
        let id = try #require(hit.json["job_id"] as? String)
        for field in ["compiled", "success", "stdout", "stderr", "exit_code", "duration", "compiler", "standard"] {
            #expect("\(hit.json[field] ?? "absent")" == "\(first[field] ?? "absent")", "\(field)")
        }
        // Stored as the worker's answer: its host, finished when answered, the request's id.
        #expect(try stack.redisHashField("job:\(id)", "host") == hostID)
        #expect(try stack.redisHashField("job:\(id)", "started_at") == stack.redisHashField("job:\(id)", "completed_at"))
        let requestID = try #require(hit.headers["x-request-id"])
        #expect(try stack.redisHashField("job:\(id)", "request_id") == requestID)
        let read = try stack.request("GET", "/api/v1/compile/\(id)")
        #expect(read.status == 200 && read.json["cached"] as? Bool == true && read.json["created_at"] != nil, "\(read.text)")

        // Counted in the worker's counters, nothing compiled; logged once, by the responder.
        let after = try counters(stack, until: { count($0, "total_cached") == 1 }, "the responder's answer")
        #expect(count(after, "total_processed") == 1, "\(after)")
        let compileLines = try logLines(stack, "responders", containing: "job_id=\(id)").filter { $0.contains("msg=compile") }
        #expect(compileLines.count == 1, "\(compileLines)")
        for part in ["program=will-it-compile-responder", "cached=true", "exit_code=0", "request_id=\(requestID)", "toolchain=gcc-12",
                     "verdict=completed"] {
            #expect(compileLines.first?.contains(part) == true, "\(part): \(compileLines)")
        }
        #expect(try logLines(stack, "worker", containing: "job_id=\(id)").isEmpty, "the worker never saw the job")
    }

    /// A responder answers in the worker's name only under the terms the worker publishes: a
    /// worker restarted with another timeout keys its verdicts apart at once, though the
    /// responder's copy of the old terms is still fresh, and the same source is compiled again.
    @Test(.runningTimeLimit(minutes: 3))
    func aWorkerRestartedWithOtherLimitsIsNeverAnsweredForUnderTheOldOnes() throws {
        let stack = try Stack(["FCGI_CHILDREN": "1", "COMPILATION_TIMEOUT_SECONDS": "30"])
        #expect(try submitWaiting(stack, Self.good)["cached"] as? Bool == false)
        #expect(try submitWaiting(stack, Self.good)["cached"] as? Bool == true)
        #expect(try stack.request("GET", "/api/v1/toolchains").status == 200)
        let hostID = try #require(((try stack.request("GET", "/api/v1/workers/stats").json["hosts"]) as? [[String: Any]])?.first?["host_id"] as? String)
        let termsKey = "wic:host:\(hostID):verdict-terms"
        let published = try stack.redisString(termsKey)
        try stack.killAndRestartWorker(changing: ["COMPILATION_TIMEOUT_SECONDS": "29"])
        try waitUntil("the restarted worker publishes its terms", within: 20) {
            let now = try stack.redisString(termsKey)
            return !now.isEmpty && now != published
        }
        let again = try submitWaiting(stack, Self.good)
        #expect(again["cached"] as? Bool == false, "compiled under the new timeout: \(again)")
        // That miss told the responder its terms are out of date: it has the new ones now, and
        // answers the next hit itself.
        let hit = try submitWaiting(stack, Self.good)
        #expect(hit["cached"] as? Bool == true, "\(hit)")
        let id = try #require(hit["job_id"] as? String)
        #expect(try logLines(stack, "responders", containing: "job_id=\(id)").contains { $0.contains("msg=compile") && $0.contains("cached=true") })
    }

    /// A source over 64 KiB is not sent to Redis on the chance of a hit: its hit is the worker's
    /// to answer, and one just under the bound is still the responder's.
    @Test(.runningTimeLimit(minutes: 3))
    func aLargeSourcesHitIsAnsweredByTheWorker() throws {
        let stack = try Stack(["MAX_SOURCE_SIZE": "200000"])
        for (bytes, answeredBy) in [(64 << 10, "responders"), ((64 << 10) + 1, "worker")] {
            let head = "int main(void) { return 0; }\n/* "
            let source = head + String(repeating: "x", count: bytes - head.utf8.count - 4) + " */\n"
            #expect(source.utf8.count == bytes)
            let body = String(decoding: try JSONSerialization.data(withJSONObject: ["source_code": source, "language": "c"]), as: UTF8.self)
            #expect(try submitWaiting(stack, body)["cached"] as? Bool == false)
            let hit = try submitWaiting(stack, body)
            let id = try #require(hit["job_id"] as? String)
            #expect(hit["cached"] as? Bool == true, "\(bytes) bytes: \(hit)")
            for log in ["responders", "worker"] {
                let lines = try logLines(stack, log, containing: "job_id=\(id)").filter { $0.contains("msg=compile") }
                #expect(lines.count == (log == answeredBy ? 1 : 0), "\(bytes) bytes, \(log): \(lines)")
            }
        }
    }

    /// Without Redis there is no shared cache for a responder to read: the worker answers.
    @Test(.runningTimeLimit(minutes: 2))
    func inMemoryModeTheWorkerAnswersAHit() throws {
        let stack = try Stack(["REDIS_ENABLED": "false"])
        #expect(try submitWaiting(stack, Self.good)["cached"] as? Bool == false)
        let hit = try submitWaiting(stack, Self.good)
        #expect(hit["cached"] as? Bool == true, "\(hit)")
        let id = try #require(hit["job_id"] as? String)
        let lines = try logLines(stack, "worker", containing: "job_id=\(id)")
        #expect(lines.count == 1 && lines.first?.contains("cached=true") == true, "\(lines)")
    }
}
