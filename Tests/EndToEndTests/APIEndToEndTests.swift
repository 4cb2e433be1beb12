import Foundation
import Glibc
import HTTPAPI
import Synchronization
import TestSupport
import Testing

/// The v1 API through nginx, against the real stack.
@Suite(.serialized) struct APIEndToEndTests {
    @Test(.runningTimeLimit(minutes: 3))
    func everyEndpointAndErrorPathAnswersAsTheContractSays() throws {
        let stack = try Stack(["MAX_SOURCE_SIZE": "2000"])

        // The predecessor's flow: Base64 `code`, then poll.
        let submitted = try stack.request("POST", "/api/v1/compile", body: #"{"code":"aW50IG1haW4oKXtyZXR1cm4gMDt9","language":"cpp"}"#)
        #expect(submitted.status == 202)
        #expect(submitted.headers["content-type"] == "application/json; charset=utf-8")
        let id = try #require(submitted.json["job_id"] as? String)
        #expect(submitted.json["status"] as? String == "queued")
        #expect(submitted.headers["location"] == "/api/v1/compile/\(id)")
        #expect(submitted.headers["server"] == "nginx", "no version in server tokens")

        let done = try stack.compile(#"{"source_code":"int main(){return 0;}","language":"c++"}"#)
        #expect(done["status"] as? String == "completed" && done["compiled"] as? Bool == true && done["success"] as? Bool == true)
        #expect(done["exit_code"] as? Int == 0 && (done["duration"] as? Int ?? 0) > 0 && done["error"] as? String == "")
        #expect(done["compiler"] as? String == "gcc-12" && done["standard"] as? String == "gnu++17")
        for field in ["created_at", "started_at", "completed_at", "stdout", "stderr", "job_id"] { #expect(done[field] != nil, "\(field)") }

        let bad = try stack.compile(#"{"source_code":"int main(){return 0}","language":"c"}"#)
        #expect(bad["status"] as? String == "failed" && bad["compiled"] as? Bool == false && bad["success"] as? Bool == true)
        #expect((bad["stderr"] as? String ?? "").contains("expected"))

        let pending = try stack.request("GET", "/api/v1/compile/\(id)")
        #expect(pending.status == 200 && pending.json["job_id"] as? String == id)

        // 4xx, each with a JSON body naming the problem.
        func expectError(_ reply: HTTPReply, _ status: Int, _ code: String, mentions: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(reply.status == status, "\(reply.text)", sourceLocation: sourceLocation)
            #expect(reply.json["error"] as? String == code, "\(reply.text)", sourceLocation: sourceLocation)
            #expect(!(reply.json["message"] as? String ?? "").isEmpty, sourceLocation: sourceLocation)
            for word in mentions {
                #expect((reply.json["message"] as? String ?? "").contains(word), "\(word) in \(reply.text)", sourceLocation: sourceLocation)
            }
        }
        expectError(try stack.request("POST", "/api/v1/compile", body: "{not json"), 400, "invalid_request", mentions: ["JSON"])
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"code":"!!!","language":"c"}"#), 400, "invalid_request", mentions: ["Base64"])
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"x","language":"cobol"}"#), 400, "invalid_request", mentions: ["cobol", "cpp"])
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"x","language":"c","compiler":"gcc-13"}"#), 400, "invalid_request", mentions: ["gcc-13", "gcc-12", "clang-14"])
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"x","language":"cpp","compiler":"clang-14","standard":"c++23"}"#), 400, "invalid_request", mentions: ["c++23", "c++20"])
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"x","language":"c","architecture":"sparc"}"#), 400, "invalid_request", mentions: ["arm64"])
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"language":"c"}"#), 400, "invalid_request", mentions: ["source_code"])
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c","flags":["-Wall","-fplugin=/tmp/x.so"]}"#), 400, "invalid_request", mentions: ["-fplugin=/tmp/x.so", "plugin"])
        let strict = try stack.compile(#"{"source_code":"int main(void){int unused; return 0;}","language":"c","flags":["-Werror","-Wall"]}"#)
        #expect(strict["status"] as? String == "failed" && (strict["flags"] as? [String]) == ["-Werror", "-Wall"], "\(strict)")
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"\#(String(repeating: "x", count: 2500))","language":"c"}"#), 413, "source_too_large", mentions: ["2000"])
        expectError(try stack.request("POST", "/api/v1/compile", bytes: [UInt8](repeating: 0x61, count: 200_000)), 413, "source_too_large")
        // nginx and the responders refuse at the same size: a body at the limit reaches the
        // responder (which reads it as JSON), one byte more is nginx's own 413 naming the limit.
        let bodyLimit = BodyLimit.bytes(forSourceSize: 2000)
        expectError(try stack.request("POST", "/api/v1/compile", bytes: [UInt8](repeating: 0x61, count: bodyLimit)), 400, "invalid_request", mentions: ["JSON"])
        expectError(try stack.request("POST", "/api/v1/compile", bytes: [UInt8](repeating: 0x61, count: bodyLimit + 1)), 413, "source_too_large",
                    mentions: ["larger than this server accepts (\(bodyLimit))"])
        expectError(try stack.request("GET", "/api/v1/compile/not-a-uuid"), 400, "invalid_job_id")
        expectError(try stack.request("GET", "/api/v1/compile/\(UUID().uuidString.lowercased())"), 404, "job_not_found")
        expectError(try stack.request("DELETE", "/api/v1/compile"), 405, "method_not_allowed")
        let notAllowed = try stack.request("PUT", "/api/v1/environments")
        expectError(notAllowed, 405, "method_not_allowed", mentions: ["GET, HEAD"])
        #expect(notAllowed.headers["allow"] == "GET, HEAD")
        expectError(try stack.request("GET", "/api/v2/anything"), 404, "not_found")
        expectError(try stack.request("GET", "/index.html"), 404, "not_found")

        let perLanguage = try stack.request("GET", "/api/v1/environments").jsonArray
        #expect(Set(perLanguage.compactMap { $0["language"] as? String }).isSuperset(of: ["c", "cpp", "go", "rust"]))
        let toolchains = try stack.request("GET", "/api/v1/toolchains").json["toolchains"] as? [[String: Any]] ?? []
        #expect(toolchains.contains { ($0["id"] as? String) == "gcc-12" && ($0["version"] as? String ?? "").contains("12.2") })
        let c = perLanguage.first { $0["language"] as? String == "c" } ?? [:]
        #expect(Set(c["architectures"] as? [String] ?? []) == ["x86_64", "arm64", "armhf", "riscv64"])
        #expect(Set(c["oses"] as? [String] ?? []) == ["linux", "windows"])
        let arm = try stack.compile(#"{"source_code":"int main(void){return 0;}","language":"c","architecture":"aarch64"}"#)
        #expect(arm["status"] as? String == "completed" && (arm["artifact"] as? String ?? "").contains("AArch64"), "\(arm)")
        expectError(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"x","language":"c","compiler":"clang-14","os":"windows"}"#), 400, "invalid_request", mentions: ["x86_64/windows", "x86_64/linux"])

        let stats = try stack.request("GET", "/api/v1/workers/stats")
        #expect(stats.status == 200 && stats.json["max_workers"] as? Int == 2 && (stats.json["total_processed"] as? Int ?? 0) >= 2)
        let health = try stack.request("GET", "/health")
        #expect(health.status == 200 && health.json["status"] as? String == "healthy" && health.json["time"] != nil)
    }

    /// The predecessor's clients read `GET /api/v1/environments` as a bare array of
    /// per-language environments; the toolchains with their versions are on an endpoint of their own.
    @Test(.runningTimeLimit(minutes: 2))
    func environmentsAreThePredecessorsArrayAndToolchainsHaveTheirOwnEndpoint() throws {
        let stack = try Stack()
        let reply = try stack.request("GET", "/api/v1/environments")
        #expect(reply.status == 200 && reply.headers["content-type"] == "application/json; charset=utf-8", "\(reply.text)")
        let environments = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]], "\(reply.text)")
        #expect(environments.map { $0["language"] as? String } == ["c", "cpp", "go", "rust", "swift"].filter { language in
            environments.contains { $0["language"] as? String == language }
        }, "in the catalog's language order")
        #expect(Set(environments.compactMap { $0["language"] as? String }).isSuperset(of: ["c", "cpp", "go", "rust"]))
        let predecessorKeys: Set = ["language", "compilers", "standards", "oses", "architectures"]
        for environment in environments {
            let language = environment["language"] as? String ?? "?"
            let keys = Set(environment.keys)
            #expect(keys.isSuperset(of: predecessorKeys.union(["default_compiler"])), "\(language): \(keys)")
            #expect(keys.subtracting(predecessorKeys).isSubset(of: ["default_compiler", "default_standard"]), "\(language): \(keys)")
            for key in ["compilers", "standards", "oses", "architectures"] {
                #expect(environment[key] is [String], "\(language): \(key) is an array of strings")
            }
            let compilers = environment["compilers"] as? [String] ?? []
            #expect(compilers.contains(environment["default_compiler"] as? String ?? "none"), "\(language): \(environment)")
        }
        let c = try #require(environments.first { $0["language"] as? String == "c" })
        #expect(c["default_compiler"] as? String == "gcc-12" && c["default_standard"] as? String == "gnu17", "\(c)")
        let go = try #require(environments.first { $0["language"] as? String == "go" })
        #expect(go["default_standard"] == nil && go["standards"] as? [String] == [], "Go has no standard, and no null: \(go)")

        let toolchains = try stack.request("GET", "/api/v1/toolchains")
        #expect(toolchains.status == 200 && Set(toolchains.json.keys) == ["toolchains", "defaults"], "\(toolchains.text)")
        let entries = toolchains.json["toolchains"] as? [[String: Any]] ?? []
        let gcc = try #require(entries.first { $0["id"] as? String == "gcc-12" && $0["language"] as? String == "c" })
        #expect((gcc["version"] as? String ?? "").contains("12.2") && gcc["default"] as? Bool == true, "\(gcc)")
        #expect(gcc["default_standard"] as? String == "gnu17" && gcc["flag_family"] as? String == "gcc", "\(gcc)")
        #expect((gcc["hosts"] as? [String])?.count == 1, "with Redis, the one live host that has it: \(gcc)")
        #expect((toolchains.json["defaults"] as? [String: String])?["architecture"] == "x86_64")
        #expect(try stack.request("HEAD", "/api/v1/toolchains").status == 200)
        let refused = try stack.request("POST", "/api/v1/toolchains", body: "{}")
        #expect(refused.status == 405 && refused.headers["allow"] == "GET, HEAD", "\(refused.text)")
        let nowhere = try stack.request("GET", "/api/v1/nowhere")
        #expect((nowhere.json["message"] as? String ?? "").contains("GET /api/v1/toolchains"), "\(nowhere.text)")
    }

    struct LanguageCase: Sendable, CustomTestStringConvertible {
        let language: String
        let good: String
        let bad: String
        var testDescription: String { language }
    }

    @Test(.runningTimeLimit(minutes: 3))
    func goodAndBadCodeInEveryInstalledLanguage() throws {
        let stack = try Stack()
        let cases = [
            LanguageCase(language: "c", good: "#include <stdio.h>\\nint main(void){puts(\\\"hi\\\");}", bad: "int main(void){return x;}"),
            LanguageCase(language: "cpp", good: "#include <vector>\\nint main(){std::vector<int> v; return (int)v.size();}", bad: "int main(){std::vector<int> v;}"),
            LanguageCase(language: "go", good: "package main\\nfunc main(){}", bad: "package main\\nfunc main(){ undefined() }"),
            LanguageCase(language: "rust", good: "fn main(){ println!(\\\"hi\\\"); }", bad: "fn main(){ let x: i32 = \\\"s\\\"; }"),
        ]
        for testCase in cases {
            let good = try stack.compile(#"{"source_code":"\#(testCase.good)","language":"\#(testCase.language)"}"#)
            #expect(good["status"] as? String == "completed", "\(testCase.language): \(good)")
            let bad = try stack.compile(#"{"source_code":"\#(testCase.bad)","language":"\#(testCase.language)"}"#)
            #expect(bad["status"] as? String == "failed", "\(testCase.language): \(bad)")
        }
        // Go's program cache is a tmpfs of its own (no host path in a sandbox's mountinfo), gone with the stack.
        let cache = "\(stack.runDirectory)/program-cache"
        #expect(try mountedFileSystem(at: cache) == "tmpfs")
        try stack.stop()
        #expect(try mountedFileSystem(at: cache) == nil)
    }

    /// The type of the file system mounted exactly at `path`, from this process's mountinfo.
    private func mountedFileSystem(at path: String) throws -> String? {
        let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[4] == path, let separator = fields.firstIndex(of: "-"),
                  separator + 1 < fields.count else { continue }
            return String(fields[separator + 1])
        }
        return nil
    }

    /// `GET …?wait=` with Redis (pub/sub) and without (the worker's memory store).
    @Test(.runningTimeLimit(minutes: 3), arguments: ["true", "false"])
    func aLongPollAnswersWhenTheVerdictIsStored(redisEnabled: String) throws {
        let stack = try Stack(["REDIS_ENABLED": redisEnabled])
        let id = try stack.submitFewSecondsCompile()

        // A short wait ends at its timeout with the job as it is: the compile takes seconds.
        var started = Date()
        let early = try stack.request("GET", "/api/v1/compile/\(id)?wait=0.3")
        #expect(Date().timeIntervalSince(started) >= 0.3)
        #expect(early.status == 200 && ["queued", "processing"].contains(early.json["status"] as? String), "\(early.text)")

        started = Date()
        let done = try stack.request("GET", "/api/v1/compile/\(id)?wait=30")
        #expect(Date().timeIntervalSince(started) < 25, "answered by the verdict, not the 30 s timeout")
        #expect(done.status == 200 && done.json["status"] as? String == "failed", "\(done.text)")
        #expect((done.json["stderr"] as? String ?? "").contains("constexpr"))

        started = Date()
        #expect(try stack.request("GET", "/api/v1/compile/\(id)?wait=30").json["status"] as? String == "failed")
        #expect(try stack.request("GET", "/api/v1/compile/\(UUID().uuidString)?wait=30").status == 404)
        #expect(Date().timeIntervalSince(started) < 5, "finished and unknown jobs answer at once")

        for bad in ["abc", "-1", "31", "nan", ""] {
            let reply = try stack.request("GET", "/api/v1/compile/\(id)?wait=\(bad)")
            #expect(reply.status == 400 && reply.json["error"] as? String == "invalid_wait", "wait=\(bad): \(reply.text)")
            #expect((reply.json["message"] as? String ?? "").contains("from 0 to 30"))
        }
    }

    /// A responder told to stop answers its long polls with the job as it is,
    /// rather than leaving nginx to answer 502 for them.
    @Test(.runningTimeLimit(minutes: 2))
    func aStoppingResponderAnswersItsLongPollsInsteadOfCuttingThemOff() throws {
        let stack = try Stack(["FCGI_CHILDREN": "1"])
        let id = try stack.submitFewSecondsCompile()
        let answer = Mutex<HTTPReply?>(nil)
        let port = stack.port
        let poll = Thread {
            let reply = try? HTTPReply.send("GET", "/api/v1/compile/\(id)?wait=30", body: nil, headers: [:], port: port)
            answer.withLock { $0 = reply }
        }
        poll.start()
        try waitUntil("the long poll waits for the verdict") { try stack.verdictSubscribers(id) > 0 }
        let responder = try #require(children(of: try stack.pid(of: "responders")).first)
        Glibc.kill(responder, SIGTERM)
        let signalled = Date()
        try waitUntil("the long poll is answered", within: 10) { answer.withLock { $0 != nil } }
        #expect(Date().timeIntervalSince(signalled) < 5)
        let reply = try #require(answer.withLock { $0 })
        #expect(reply.status == 200 && ["queued", "processing"].contains(reply.json["status"] as? String), "\(reply.text)")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func redisDownIs503NamingItAndTheStackRecoversByItselfWhenRedisIsBack() throws {
        let stack = try Stack()
        let before = try stack.compile(#"{"source_code":"int main(){}","language":"c"}"#)
        let id = try #require(before["job_id"] as? String)

        try stack.kill("redis")
        let started = Date()
        let read = try stack.request("GET", "/api/v1/compile/\(id)")
        #expect(read.status == 503 && read.json["error"] as? String == "redis_unavailable", "\(read.text)")
        let submit = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#)
        #expect(submit.status == 503 && submit.json["error"] as? String == "redis_unavailable", "\(submit.text)")
        let health = try stack.request("GET", "/health")
        #expect(health.status == 503 && health.json["error"] as? String == "redis_unavailable", "\(health.text)")
        #expect(Date().timeIntervalSince(started) < 5, "fast, never a hang")

        try stack.restartRedis()
        try waitUntil("the stack is healthy again", within: 20) { try stack.request("GET", "/health").status == 200 }
        #expect(try stack.request("GET", "/api/v1/compile/\(id)").json["status"] as? String == "completed")
        #expect(try stack.compile(#"{"source_code":"int main(){}","language":"c"}"#)["status"] as? String == "completed")
    }

    /// A Redis at its maxmemory (REDIS_MAXMEMORY_MB): a submission is a 503
    /// store_full and leaves nothing behind; every job accepted before gets its verdict.
    @Test(.runningTimeLimit(minutes: 3))
    func aFullRedisIs503StoreFullAndEveryAcceptedJobStillGetsItsVerdict() throws {
        let stack = try Stack(["REDIS_MAXMEMORY_MB": "2", "MAX_SOURCE_SIZE": "200000",
                               "RATE_LIMIT_PER_SECOND": "1000", "RATE_LIMIT_BURST": "1000",
                               "CLUSTER_RATE_LIMIT_PER_SECOND": "1000", "CLUSTER_RATE_LIMIT_BURST": "1000"])
        let source = "int main(void) { return 0; }\n/* " + String(repeating: "x", count: 150_000) + " */\n"
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["source_code": source, "language": "c"]), as: UTF8.self)
        var accepted: [String] = []
        var refused: HTTPReply?
        for _ in 0..<60 where refused == nil {
            let reply = try stack.request("POST", "/api/v1/compile", body: body)
            if reply.status == 202, let id = reply.json["job_id"] as? String {
                accepted.append(id)
            } else {
                refused = reply
            }
        }
        let full = try #require(refused, "60 jobs of 150 kB fit in a 2 MB Redis?")
        #expect(full.status == 503 && full.json["error"] as? String == "store_full", "\(full.text)")
        #expect(full.headers["retry-after"] == "60")
        #expect(!accepted.isEmpty)
        #expect(try stack.redisKeys(matching: "job:*-*").count == accepted.count, "nothing of a refused job is stored")
        for id in accepted {
            #expect(try stack.verdict(of: id)["status"] as? String == "completed", "accepted job \(id)")
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func workerDownIs503NamingIt() throws {
        let stack = try Stack()
        let before = try stack.compile(#"{"source_code":"int main(){}","language":"c"}"#)
        try stack.kill("worker")
        // A source not compiled before: the verdict cache cannot answer it without the worker.
        for (method, path, body) in [("POST", "/api/v1/compile", #"{"source_code":"int main(){return 1;}","language":"c"}"#),
                                     ("GET", "/api/v1/workers/stats", nil), ("GET", "/api/v1/environments", nil),
                                     ("GET", "/api/v1/toolchains", nil), ("GET", "/health", nil)] {
            let reply = try stack.request(method, path, body: body)
            #expect(reply.status == 503 && reply.json["error"] as? String == "worker_unavailable", "\(path): \(reply.text)")
        }
        // Results live in Redis: reads still work while the worker is down.
        let id = try #require(before["job_id"] as? String)
        #expect(try stack.request("GET", "/api/v1/compile/\(id)").status == 200)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aFullQueueIs429WithRetryAfter() throws {
        let stack = try Stack(["MAX_WORKERS": "1", "QUEUE_SIZE": "1", "COMPILATION_TIMEOUT_SECONDS": "4"])
        let slowBody = String(decoding: try JSONSerialization.data(withJSONObject: ["source_code": slowCompileSource, "language": "cpp"]), as: UTF8.self)
        let slow = try stack.request("POST", "/api/v1/compile", body: slowBody)
        #expect(slow.status == 202, "\(slow.text)")
        try waitUntil("the slow job is processing") {
            try stack.request("GET", "/api/v1/workers/stats").json["active_workers"] as? Int == 1
        }
        let queued = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#)
        #expect(queued.status == 202)
        let refused = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#)
        #expect(refused.status == 429 && refused.json["error"] as? String == "queue_full", "\(refused.text)")
        #expect(Int(refused.headers["retry-after"] ?? "") ?? 0 >= 1)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func nginxRateLimitsSubmissionsPerClientWithAJSON429() throws {
        let stack = try Stack(["RATE_LIMIT_PER_SECOND": "1", "RATE_LIMIT_BURST": "1"])
        let replies = try (0..<6).map { _ in try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#) }
        let limited = replies.filter { $0.status == 429 }
        #expect(!limited.isEmpty)
        #expect(limited.allSatisfy { $0.json["error"] as? String == "rate_limited" && $0.headers["retry-after"] == "1" })
        #expect(try stack.request("GET", "/health").status == 200, "reads have a limit of their own, higher")
        for _ in 0..<5 { #expect(try stack.request("GET", "/api/v1/environments").status == 200, "API reads have a limit of their own, higher") }
        let slashed = try (0..<6).map { _ in try stack.request("POST", "/api/v1/compile/", body: #"{"source_code":"int main(){}","language":"c"}"#) }
        #expect(slashed.contains { $0.status == 429 }, "another spelling of the submit path is limited too")
    }

    /// SIGTERM stops one responder gracefully; it must not stop the others, which
    /// share its listening socket.
    @Test(.runningTimeLimit(minutes: 2), arguments: [SIGKILL, SIGTERM])
    func aResponderKilledIsReplacedAndNoRequestFails(signal: Int32) throws {
        let stack = try Stack(["FCGI_CHILDREN": "2"])
        let multiwatch = try stack.pid(of: "responders")
        let before = children(of: multiwatch)
        #expect(before.count == 2)
        Glibc.kill(before[0], signal)
        try waitUntil("the killed responder is gone") { !isRunning(before[0]) }
        var failures: [String] = []
        for _ in 0..<50 {
            let reply = try stack.request("GET", "/api/v1/workers/stats")
            if reply.status != 200 { failures.append("\(reply.status) \(reply.text)") }
        }
        #expect(failures.isEmpty, "\(failures)")
        try waitUntil("multiwatch restarted the responder") {
            let now = children(of: multiwatch)
            return now.count == 2 && !now.contains(before[0])
        }
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aJobIsStillReadableAfterEverythingButRedisRestarts() throws {
        guard let redis = ProcessInfo.processInfo.environment["WIC_TEST_REDIS_ADDR"] else {
            throw StackError("WIC_TEST_REDIS_ADDR is not set: run the tests with scripts/test")
        }
        let stack = try Stack(["REDIS_ADDR": redis])
        let done = try stack.compile(#"{"source_code":"int main(){}","language":"c"}"#)
        let id = try #require(done["job_id"] as? String)
        try stack.stop()
        try stack.start()
        let read = try stack.request("GET", "/api/v1/compile/\(id)")
        #expect(read.status == 200 && read.json["status"] as? String == "completed", "\(read.text)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func withoutRedisTheWholeAPIWorksThroughTheWorker() throws {
        let stack = try Stack(["REDIS_ENABLED": "false"])
        #expect(!FileManager.default.fileExists(atPath: "\(stack.runDirectory)/redis.sock"))
        let health = try stack.request("GET", "/health")
        #expect(health.status == 200 && health.json["redis"] as? String == "disabled")
        let good = try stack.compile(#"{"source_code":"int main(){}","language":"c"}"#)
        #expect(good["status"] as? String == "completed")
        let bad = try stack.compile(#"{"source_code":"fn main(){ x }","language":"rust"}"#)
        #expect(bad["status"] as? String == "failed")
        #expect(try stack.request("GET", "/api/v1/compile/\(UUID().uuidString)").status == 404)
    }
}
