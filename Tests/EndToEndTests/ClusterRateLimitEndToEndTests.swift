import Foundation
import TestSupport
import Testing

/// The per-client submission limit kept in Redis (`CLUSTER_RATE_LIMIT_*`), through nginx,
/// whose own limit is raised out of the way so that only the cluster's can answer.
@Suite struct ClusterRateLimitEndToEndTests {
    private static let quickBody = #"{"source_code":"int main(void){return 0;}","language":"c"}"#

    /// Invalid requests cost nothing; valid ones get a burst of 3 and then one a
    /// second, and the one over it a 429 `rate_limited` with `Retry-After`.
    @Test(.runningTimeLimit(minutes: 2))
    func aClientOverTheClusterLimitGets429RateLimitedWithRetryAfter() throws {
        let stack = try Stack([
            "RATE_LIMIT_PER_SECOND": "1000", "RATE_LIMIT_BURST": "1000",
            "CLUSTER_RATE_LIMIT_PER_SECOND": "1", "CLUSTER_RATE_LIMIT_BURST": "3",
        ])
        for body in [#"{"language":"c"}"#, #"{"source_code":"int main(){}","language":"c","compiler":"gcc-0"}"#,
                     #"{"source_code":"int main(){}","language":"cobol"}"#, "not json", #"{"source_code":"","language":"c"}"#] {
            let reply = try stack.request("POST", "/api/v1/compile", body: body)
            #expect(reply.status == 400, "\(body): \(reply.text)")
        }
        let started = Date()
        var accepted = 0
        var limited: HTTPReply?
        for _ in 0..<10 where limited == nil {
            let reply = try stack.request("POST", "/api/v1/compile", body: Self.quickBody)
            if reply.status == 202 {
                accepted += 1
            } else {
                limited = reply
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        let refusal = try #require(limited, "10 submissions at a limit of 1/s with bursts of 3, all accepted within \(elapsed) s")
        #expect(refusal.status == 429 && refusal.json["error"] as? String == "rate_limited", "\(refusal.text)")
        #expect(refusal.headers["retry-after"] == "1", "one interval of 1 s at most: \(refusal.headers)")
        let message = refusal.json["message"] as? String ?? ""
        #expect(message.contains("at most 1 per second, in bursts of up to 3") && message.contains("Retry after 1 s"), "\(message)")
        // The invalid requests spent none of the burst; the rate lets one more in per second.
        #expect(accepted >= 3 && accepted <= 3 + Int(elapsed), "\(accepted) accepted in \(elapsed) s")

        let other = try stack.request("POST", "/api/v1/compile", body: Self.quickBody, from: "127.0.0.2")
        #expect(other.status == 202, "another client's budget is its own: \(other.text)")
        #expect(try stack.redisKeys(matching: "wic:rate:*").sorted() == ["wic:rate:127.0.0.1", "wic:rate:127.0.0.2"])
    }

    /// While Redis is down the limit cannot be asked: submissions are 503
    /// `redis_unavailable`, never accepted unchecked; once Redis is back, the
    /// limit works again without restarting anything.
    @Test(.runningTimeLimit(minutes: 2))
    func whileRedisIsDownSubmissionsAre503AndTheLimitHoldsAgainAfter() throws {
        let stack = try Stack([
            "RATE_LIMIT_PER_SECOND": "1000", "RATE_LIMIT_BURST": "1000",
            "CLUSTER_RATE_LIMIT_PER_SECOND": "1", "CLUSTER_RATE_LIMIT_BURST": "2",
        ])
        try stack.kill("redis")
        let down = try stack.request("POST", "/api/v1/compile", body: Self.quickBody)
        #expect(down.status == 503 && down.json["error"] as? String == "redis_unavailable", "\(down.text)")
        try stack.restartRedis()
        try waitUntil("a submission is accepted again", within: 20) {
            try stack.request("POST", "/api/v1/compile", body: Self.quickBody).status == 202
        }
        var statuses: [Int] = []
        for _ in 0..<6 where !statuses.contains(429) {
            statuses.append(try stack.request("POST", "/api/v1/compile", body: Self.quickBody).status)
        }
        #expect(statuses.last == 429, "the limit holds again after Redis came back: \(statuses)")
    }
}
