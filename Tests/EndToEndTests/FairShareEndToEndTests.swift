import Foundation
import TestSupport
import Testing

@Suite struct FairShareEndToEndTests {
    /// One client (127.0.0.2) floods slow compiles: it gets MAX_JOBS_PER_CLIENT of them in
    /// and a 429 `too_many_jobs` saying so. Another client (127.0.0.1, told apart by the
    /// address nginx passes as REMOTE_ADDR) is accepted; its compile takes the first slot
    /// that frees up, ahead of the flood's waiting jobs, so it is done within one busy
    /// compile (at most the timeout, as those started before it came) plus its own.
    @Test(.runningTimeLimit(minutes: 3), arguments: ["true", "false"])
    func aFloodingClientGetsItsShareAndAnotherClientsCompileGoesFirst(redisEnabled: String) throws {
        let timeout = 10
        let stack = try Stack([
            "REDIS_ENABLED": redisEnabled, "MAX_WORKERS": "2", "MAX_JOBS_PER_CLIENT": "4",
            "COMPILATION_TIMEOUT_SECONDS": String(timeout),
        ])
        let quickBody = #"{"source_code":"int main(void){return 0;}","language":"c"}"#
        // Its own compile, measured on the idle stack.
        let idleStarted = Date()
        #expect(try stack.compile(quickBody)["status"] as? String == "completed")
        let ownCompile = Date().timeIntervalSince(idleStarted)

        let flooder = "127.0.0.2"
        let slowBody = String(decoding: try JSONSerialization.data(withJSONObject: ["source_code": slowCompileSource, "language": "cpp"]), as: UTF8.self)
        let flood = try (0..<4).map { _ in
            let reply = try stack.request("POST", "/api/v1/compile", body: slowBody, from: flooder)
            return try #require(reply.status == 202 ? reply.json["job_id"] as? String : nil, "\(reply.status) \(reply.text)")
        }
        try waitUntil("the flood holds both slots") {
            try stack.request("GET", "/api/v1/workers/stats").json["active_workers"] as? Int == 2
        }
        let refusal = try stack.request("POST", "/api/v1/compile", body: slowBody, from: flooder)
        #expect(refusal.status == 429 && refusal.json["error"] as? String == "too_many_jobs", "\(refusal.text)")
        let message = refusal.json["message"] as? String ?? ""
        #expect(message.contains("already has 4 jobs queued or compiling (2 of them waiting for a slot)")
                && message.contains("at most 4 per client"), "\(message)")
        #expect(Int(refusal.headers["retry-after"] ?? "") ?? 0 >= 1)

        let submitted = Date()
        let accepted = try stack.request("POST", "/api/v1/compile", body: quickBody)
        #expect(accepted.status == 202, "\(accepted.text)")
        let quick = try #require(accepted.json["job_id"] as? String)
        // Still waiting now, so waiting when the quick job came: it must go before them.
        let waitingFlood = Array(flood[2...])
        for id in waitingFlood {
            let status = try stack.request("GET", "/api/v1/compile/\(id)").json["status"] as? String
            #expect(status == "queued", "flood job \(id) is \(status ?? "unreadable"), not waiting, when the other client's job came")
        }
        let verdict = try stack.verdict(of: quick, within: 60)
        let elapsed = Date().timeIntervalSince(submitted)
        #expect(verdict["status"] as? String == "completed", "\(verdict)")
        let quickStarted = try #require(verdict["started_at"] as? String)
        for id in waitingFlood {
            let job = try stack.request("GET", "/api/v1/compile/\(id)").json
            // Timestamps are fixed-width RFC 3339 in UTC: their text order is their time order.
            if let started = job["started_at"] as? String {
                #expect(started > quickStarted, "flood job \(id) started at \(started), before the other client's at \(quickStarted)")
            }
        }
        // A strict FIFO would make it wait for two slow compiles in a row (2 × timeout).
        // Slack for the killed compile's clean-up and the machine's load.
        #expect(elapsed < Double(timeout) + ownCompile + 5, "done \(elapsed) s after it was submitted; its own compile takes \(ownCompile) s")
    }
}
