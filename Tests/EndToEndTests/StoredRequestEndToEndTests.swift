import Foundation
import TestSupport
import Testing

/// The stored request through the whole stack: the responder writes its JSON once, in the
/// model's member order, and the worker stores those bytes as they are, for a queued job
/// and for one the verdict cache answers.
@Suite(.serialized) struct StoredRequestEndToEndTests {
    @Test(.runningTimeLimit(minutes: 3))
    func aSubmittedRequestIsStoredInTheModelsOrderAsTheResponderWroteIt() throws {
        let stack = try Stack()
        // Base64 of these bytes holds `/` and `+`, which the stored form writes `\/` and `+`.
        let source = "int main(void) { return 0; } /* \u{FF}\u{FE}?>?? */\n"
        let body = try JSONSerialization.data(withJSONObject: [
            "source_code": source, "language": "c", "standard": "c11", "flags": ["-O2", "-DNAME=a.b+c"],
        ])
        var ids: [String] = []
        for expected in [false, true] {
            let answer = try stack.request("POST", "/api/v1/compile?wait=30", body: String(decoding: body, as: UTF8.self))
            #expect(answer.status == 200 && answer.json["cached"] as? Bool == expected, "\(answer.text)")
            ids.append(try #require(answer.json["job_id"] as? String, "\(answer.text)"))
        }
        let compiler = try #require(try stack.request("GET", "/api/v1/compile/\(ids[0])").json["compiler"] as? String)
        let code = Data(source.utf8).base64EncodedString().replacingOccurrences(of: "/", with: #"\/"#)
        #expect(code.contains(#"\/"#) && code.contains("+"))
        let stored = #"{"code":"\#(code)","language":"c","compiler":"\#(compiler)","standard":"c11","flags":["-O2","-DNAME=a.b+c"]}"#
        for id in ids {
            #expect(try stack.redisHashField("job:\(id)", "request") == stored)
        }
    }
}
