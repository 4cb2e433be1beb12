import Foundation
import TestSupport
import Testing

/// `POST /api/v1/compile?wait=S` through nginx: the verdict in one request, or the
/// job as it is once `S` has passed; and `wait` values that are not plain decimals.
@Suite(.serialized) struct SubmitWaitEndToEndTests {
    /// With Redis (pub/sub) and without (the worker's memory store).
    @Test(.runningTimeLimit(minutes: 3), arguments: ["true", "false"])
    func aSubmitWithWaitAnswersTheVerdictOrTheJobAsItIs(redisEnabled: String) throws {
        // The slow compile ends at its timeout, so that stopping the stack need not wait long for it.
        let stack = try Stack(["REDIS_ENABLED": redisEnabled, "COMPILATION_TIMEOUT_SECONDS": "8"])

        // Finished within the wait: 200 and exactly the body a status read answers.
        var started = Date()
        let done = try stack.request("POST", "/api/v1/compile?wait=30", body: #"{"source_code":"int main(){}","language":"c"}"#)
        #expect(Date().timeIntervalSince(started) < 25, "answered by the verdict, not the 30 s timeout")
        #expect(done.status == 200 && done.json["status"] as? String == "completed", "\(done.text)")
        #expect(done.json["compiled"] as? Bool == true && done.json["success"] as? Bool == true, "\(done.text)")
        let id = try #require(done.json["job_id"] as? String)
        let read = try stack.request("GET", "/api/v1/compile/\(id)")
        #expect(read.status == 200 && done.body == read.body, "POST answered \(done.text)\nGET answered \(read.text)")

        // Still compiling when the wait ends: 202, its Location, and the job as it is.
        let slow = String(decoding: try JSONSerialization.data(withJSONObject: ["source_code": slowCompileSource, "language": "cpp"]), as: UTF8.self)
        started = Date()
        let waited = try stack.request("POST", "/api/v1/compile?wait=1", body: slow)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 1 && elapsed < 10, "answered after \(elapsed) s")
        #expect(waited.status == 202, "\(waited.text)")
        let slowID = try #require(waited.json["job_id"] as? String, "\(waited.text)")
        #expect(waited.headers["location"] == "/api/v1/compile/\(slowID)")
        #expect(["queued", "processing"].contains(waited.json["status"] as? String), "\(waited.text)")
        #expect(waited.json["language"] as? String == "cpp" && waited.json["compiler"] != nil && waited.json["created_at"] != nil,
                "the status read's body: \(waited.text)")
        #expect(waited.json["compiled"] == nil && waited.json["stderr"] == nil, "no result before the verdict: \(waited.text)")
        let stillRunning = try stack.request("GET", "/api/v1/compile/\(slowID)")
        #expect(Set(stillRunning.json.keys).subtracting(["started_at"]) == Set(waited.json.keys).subtracting(["started_at"]),
                "POST answered \(waited.text)\nGET answered \(stillRunning.text)")

        // Without `wait` the submission answers as it always has.
        let plain = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#)
        #expect(plain.status == 202 && Set(plain.json.keys) == ["job_id", "status"] && plain.json["status"] as? String == "queued",
                "\(plain.text)")
        #expect(plain.headers["location"] == "/api/v1/compile/\(plain.json["job_id"] as? String ?? "")")
    }

    /// Every `wait` that is not one plain decimal from 0 to 30 is a 400, on a
    /// submission (which then stores nothing) and on a status read of a job
    /// that does not exist (checked before the job is looked up).
    @Test(.runningTimeLimit(minutes: 2))
    func aWaitThatIsNotAPlainDecimalIs400InvalidWaitOnSubmitAndRead() throws {
        let stack = try Stack()
        let unknown = UUID().uuidString.lowercased()
        let body = #"{"source_code":"int main(){}","language":"c"}"#
        for bad in ["0x10", "3%00999", "inf", "nan", "1e1", "-1", "%2B1", "31", "30.001", "", "1.", ".5", "1&wait=1"] {
            for (method, path) in [("POST", "/api/v1/compile"), ("GET", "/api/v1/compile/\(unknown)")] {
                let started = Date()
                let reply = try stack.request(method, "\(path)?wait=\(bad)", body: method == "POST" ? body : nil)
                #expect(reply.status == 400 && reply.json["error"] as? String == "invalid_wait", "\(method) wait=\(bad): \(reply.text)")
                #expect((reply.json["message"] as? String ?? "").contains("from 0 to 30 as a plain decimal"), "\(reply.text)")
                #expect(Date().timeIntervalSince(started) < 5, "\(method) wait=\(bad) answered at once")
            }
        }
        #expect(try stack.redisKeys(matching: "job:*-*").isEmpty, "a submission with an invalid wait stores no job")
        // A plain decimal is still a wait: the unknown job is then looked up.
        #expect(try stack.request("GET", "/api/v1/compile/\(unknown)?wait=0.5").status == 404)
    }
}
