import Foundation
import Glibc
import TestSupport
import Testing

/// `/metrics` through nginx: the whole responder pool's requests and the worker's compiles,
/// as the worker keeps them; the counters move by exactly what the test did. A responder
/// hands its measurements to the worker every 100 ms, so a scrape right after an answer
/// may not count it yet: the tests scrape until the counts arrive (bounded), and a count
/// that went past what the test did never arrives at it.
@Suite struct MetricsEndToEndTests {
    static let bad = #"{"source_code":"int main(){return 0}","language":"c","compiler":"gcc-12"}"#

    /// One scrape: each sample by its name and labels, the labels sorted
    /// (`will_it_compile_http_requests_total{route="/health",status="200"}`).
    struct Scrape {
        let samples: [String: Double]

        init(_ reply: HTTPReply) throws {
            guard reply.status == 200, reply.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true else {
                throw StackError("/metrics answered \(reply.status) \(reply.headers["content-type"] ?? "-"): \(reply.text)")
            }
            var samples: [String: Double] = [:]
            for line in reply.text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                    throw StackError("not a sample line: \(line)")
                }
                samples[Self.key(String(line[..<space]))] = value
            }
            self.samples = samples
        }

        /// The series with its labels in sorted order, so that the emitter's order does not matter.
        static func key(_ series: String) -> String {
            guard let brace = series.firstIndex(of: "{"), series.hasSuffix("}") else { return series }
            let labels = series[series.index(after: brace)..<series.index(before: series.endIndex)]
            // Label values here hold no `,` or `"` of their own.
            return "\(series[..<brace]){\(labels.split(separator: ",").sorted().joined(separator: ","))}"
        }

        /// The sample of `name` with these labels; 0 when it does not exist yet (a counter
        /// appears with its first increment).
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
            let series = labels.isEmpty ? name : "\(name){\(labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ","))}"
            return samples[Self.key(series)] ?? 0
        }
    }

    func scrape(_ stack: Stack) throws -> Scrape {
        try Scrape(stack.request("GET", "/metrics"))
    }

    /// The first scrape for which `arrived` holds, within 10 s; the last one if none did.
    func scrape(_ stack: Stack, until arrived: (Scrape) -> Bool) throws -> Scrape {
        var last = try scrape(stack)
        _ = try? waitUntil("the measurements arrived", within: 10) {
            last = try scrape(stack)
            return arrived(last)
        }
        return last
    }

    /// Reads the job until it is finished; returns how many reads answered each status.
    func readUntilFinished(_ stack: Stack, _ id: String) throws -> [Int: Int] {
        var statuses: [Int: Int] = [:]
        let deadline = Date() + 60
        while Date() < deadline {
            let reply = try stack.request("GET", "/api/v1/compile/\(id)?wait=20")
            statuses[reply.status, default: 0] += 1
            if let status = reply.json["status"] as? String, !["queued", "processing"].contains(status) { return statuses }
        }
        throw StackError("job \(id) not finished within 60 s")
    }

    func submit(_ stack: Stack, _ body: String) throws -> String {
        let reply = try stack.request("POST", "/api/v1/compile", body: body)
        guard reply.status == 202, let id = reply.json["job_id"] as? String else {
            throw StackError("submit answered \(reply.status): \(reply.text)")
        }
        return id
    }

    @Test(.runningTimeLimit(minutes: 4))
    func countersMoveByExactlyWhatTheRequestsAndCompilesDid() throws {
        let stack = try Stack(["FCGI_CHILDREN": "3"])
        let before = try scrape(stack)

        // Answered by different processes of the pool: the host's counts are one sum.
        for _ in 0..<5 { #expect(try stack.request("GET", "/api/v1/environments").status == 200) }
        #expect(try stack.request("GET", "/api/v1/compile/not-a-job").status == 400)
        #expect(try stack.request("HEAD", "/metrics").status == 200)
        let compiled = try submit(stack, Self.bad)
        var reads = try readUntilFinished(stack, compiled)
        // The same request again: the verdict cache answers it, with no compile.
        let cached = try submit(stack, Self.bad)
        for (status, count) in try readUntilFinished(stack, cached) { reads[status, default: 0] += count }

        let requests = "will_it_compile_http_requests_total"
        let expected: [([String: String], Double)] = [
            (["route": "/api/v1/environments", "status": "200"], 5),
            (["route": "/api/v1/compile/{job_id}", "status": "400"], 1),
            (["route": "/api/v1/compile", "status": "202"], 2),
            (["route": "/api/v1/compile/{job_id}", "status": "200"], Double(reads[200] ?? 0)),
        ]
        let after = try scrape(stack) { scrape in
            expected.allSatisfy { scrape.value(requests, $0.0) - before.value(requests, $0.0) == $0.1 }
        }
        func moved(_ name: String, _ labels: [String: String] = [:]) -> Double {
            after.value(name, labels) - before.value(name, labels)
        }
        for (labels, count) in expected {
            #expect(moved(requests, labels) == count, "\(labels)")
        }
        // The scrapes count too: the first one and the HEAD at least, and those that waited above.
        #expect(moved(requests, ["route": "/metrics", "status": "200"]) >= 2)
        #expect(moved("will_it_compile_http_request_duration_seconds_count", ["route": "/api/v1/environments"]) == 5)
        #expect(after.value("will_it_compile_http_request_duration_seconds_bucket", ["route": "/api/v1/environments", "le": "+Inf"])
            == after.value("will_it_compile_http_request_duration_seconds_count", ["route": "/api/v1/environments"]))

        let compile = ["toolchain": "gcc-12", "verdict": "failed"]
        #expect(moved("will_it_compile_compile_duration_seconds_count", compile) == 1)
        #expect(moved("will_it_compile_compile_duration_seconds_sum", compile) > 0)
        #expect(moved("will_it_compile_verdict_cache_hits_total") == 1)
        #expect(after.value("will_it_compile_slots") == 2)
        #expect(after.value("will_it_compile_busy_slots") == 0)
        #expect(after.value("will_it_compile_queue_depth") == 0)
        #expect(after.value("will_it_compile_worker_starts_total") == 1)
        #expect(after.value("will_it_compile_redis_errors_total") == 0)
    }

    /// Without Redis the worker's own queue and store: the same metrics, its start counted from itself.
    @Test(.runningTimeLimit(minutes: 2))
    func inMemoryModeTheWorkerCountsItsCompilesAndItsOwnStart() throws {
        let stack = try Stack(["REDIS_ENABLED": "false"])
        let id = try submit(stack, Self.bad)
        _ = try readUntilFinished(stack, id)
        let compile = ["toolchain": "gcc-12", "verdict": "failed"]
        let after = try scrape(stack) { $0.value("will_it_compile_http_requests_total", ["route": "/api/v1/compile", "status": "202"]) == 1 }
        #expect(after.value("will_it_compile_http_requests_total", ["route": "/api/v1/compile", "status": "202"]) == 1)
        #expect(after.value("will_it_compile_compile_duration_seconds_count", compile) == 1)
        #expect(after.value("will_it_compile_worker_starts_total") == 1)
        #expect(after.value("will_it_compile_queue_depth") == 0 && after.value("will_it_compile_busy_slots") == 0)
        #expect(after.value("will_it_compile_slots") == 2)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func onlyTheAllowedAddressesReadTheMetrics() throws {
        let stack = try Stack()
        // By default this host's own 127.0.0.1 only: another address of the host is someone else.
        let refused = try stack.request("GET", "/metrics", from: "127.0.0.2")
        #expect(refused.status == 404 && refused.json["error"] as? String == "not_found", "\(refused.text)")
        #expect(!refused.text.contains("will_it_compile"))
        // Not under the public API's location either, and not named in its 404.
        let public404 = try stack.request("GET", "/api/v1/metrics")
        #expect(public404.status == 404 && !public404.text.contains("GET /metrics"), "\(public404.text)")
        _ = try scrape(stack)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func metricsAllowNamesWhoMayReadThem() throws {
        let stack = try Stack(["METRICS_ALLOW": "127.0.0.2/32"])
        _ = try Scrape(stack.request("GET", "/metrics", from: "127.0.0.2"))
        #expect(try stack.request("GET", "/metrics").status == 404)

        try expectScriptsRunRefuses(stack, "METRICS_ALLOW", "127.0.0.1, scraper.example",
                                    saying: #"METRICS_ALLOW="127.0.0.1, scraper.example" is invalid: "scraper.example" is not an IPv4 or IPv6 address or CIDR network"#)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func metricsListenServesThemOnAListenerOfItsOwnOnly() throws {
        let metricsPort = try freePort()
        let stack = try Stack(["METRICS_LISTEN": "127.0.0.1:\(metricsPort)"])
        let scraped = try Scrape(HTTPReply.send("GET", "/metrics", body: nil, headers: [:], port: metricsPort))
        #expect(scraped.value("will_it_compile_slots") == 2)
        let elsewhere = try HTTPReply.send("GET", "/anything-else", body: nil, headers: [:], port: metricsPort)
        #expect(elsewhere.status == 404 && elsewhere.json["error"] as? String == "not_found", "\(elsewhere.text)")
        let refused = try HTTPReply.send("GET", "/metrics", body: nil, headers: [:], port: metricsPort, source: "127.0.0.2")
        #expect(refused.status == 404 && refused.json["error"] as? String == "not_found", "\(refused.text)")
        // The API's listener no longer serves them, not even to an allowed address.
        #expect(try stack.request("GET", "/metrics").status == 404)

        try expectScriptsRunRefuses(stack, "METRICS_LISTEN", "localhost:9464", saying: #"METRICS_LISTEN="localhost:9464" is invalid: expected ADDRESS:PORT"#)
    }

    @Test(.runningTimeLimit(minutes: 3))
    func workerRestartsAndRedisErrorsAreCounted() throws {
        let stack = try Stack()
        // The worker answers before it has counted its start in Redis.
        let before = try scrape(stack) { $0.value("will_it_compile_worker_starts_total") > 0 }
        #expect(before.value("will_it_compile_worker_starts_total") == 1)
        let startTime = before.value("will_it_compile_worker_start_time_seconds")
        #expect(startTime > 0)

        try stack.killAndRestartWorker()
        // The new worker listens a moment later, and answers before it has read Redis; its
        // count of starts follows.
        var restarted: Scrape?
        try waitUntil("the restarted worker counted its start", within: 30) {
            restarted = try? scrape(stack)
            return (restarted?.value("will_it_compile_worker_starts_total") ?? 0) > 0
        }
        #expect(restarted?.value("will_it_compile_worker_starts_total") == 2)
        #expect(restarted?.value("will_it_compile_worker_start_time_seconds") ?? 0 > startTime)

        try stack.kill("redis")
        let read = try stack.request("GET", "/api/v1/compile/\(UUID().uuidString.lowercased())")
        #expect(read.status == 503 && read.json["error"] as? String == "redis_unavailable", "\(read.text)")
        try stack.restartRedis()
        try waitUntil("the stack is healthy again", within: 20) { try stack.request("GET", "/health").status == 200 }
        // The responder's failed read at least; the worker's threads met Redis down too.
        #expect(try scrape(stack) { $0.value("will_it_compile_redis_errors_total") >= 1 }.value("will_it_compile_redis_errors_total") >= 1)
    }
}

/// scripts/run with the stack's settings but `variable=value` stops, saying `message`.
func expectScriptsRunRefuses(
    _ stack: Stack, _ variable: String, _ value: String, saying message: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var environment = stack.environment
    environment[variable] = value
    environment["WIC_RUN_DIR"] = Stack.freshRunDirectory()
    let (status, output) = try runScript("run", ["--detach"], environment: environment)
    #expect(status != 0 && output.contains(message), "\(status): \(output)", sourceLocation: sourceLocation)
}
