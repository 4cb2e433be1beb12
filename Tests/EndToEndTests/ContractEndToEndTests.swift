import Foundation
import TestSupport
import Testing

/// Through nginx: the API's contract is served from the repository, and every operation it
/// declares answers, so that scripts/check-contract.py sees each of them at least once
/// (scripts/test checks every answer recorded here against openapi.yaml).
@Suite(.serialized) struct ContractEndToEndTests {
    @Test(.runningTimeLimit(minutes: 2))
    func nginxServesTheRepositorysOpenAPIDocumentForReadsOnly() throws {
        let stack = try Stack()
        let served = try stack.request("GET", "/api/v1/openapi.yaml")
        #expect(served.status == 200)
        #expect(served.headers["content-type"] == "application/yaml; charset=utf-8")
        let file = try Data(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"))
        #expect(served.body == Array(file), "the served document is the repository's openapi.yaml")

        let head = try stack.request("HEAD", "/api/v1/openapi.yaml")
        #expect(head.status == 200 && head.body.isEmpty && head.headers["content-length"] == String(file.count))

        // Always whole; conditional reads as HTTP says, a failed condition in JSON.
        let ranged = try stack.request("GET", "/api/v1/openapi.yaml", headers: ["Range": "bytes=0-10"])
        #expect(ranged.status == 200 && ranged.body == Array(file), "\(ranged.status) \(ranged.headers)")
        let etag = try #require(served.headers["etag"], "\(served.headers)")
        let unchanged = try stack.request("GET", "/api/v1/openapi.yaml", headers: ["If-None-Match": etag])
        #expect(unchanged.status == 304 && unchanged.body.isEmpty, "\(unchanged.status)")
        for condition in [["If-Match": "\"another\""], ["If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"]] {
            let failed = try stack.request("GET", "/api/v1/openapi.yaml", headers: condition)
            #expect(failed.status == 412 && failed.headers["content-type"] == "application/json", "\(condition): \(failed.status) \(failed.headers)")
            #expect(failed.json["error"] as? String == "precondition_failed", "\(condition): \(failed.text)")
        }

        for method in ["POST", "PUT", "DELETE"] {
            let refused = try stack.request(method, "/api/v1/openapi.yaml", body: "{}")
            #expect(refused.status == 405, "\(method): \(refused.status) \(refused.text)")
            #expect(refused.headers["allow"] == "GET, HEAD", "\(method)")
            #expect(refused.headers["content-type"] == "application/json" && refused.json["error"] as? String == "method_not_allowed",
                    "\(method): \(refused.headers) \(refused.text)")
        }
    }

    /// nginx's own answers are JSON whatever the path's extension says.
    @Test(.runningTimeLimit(minutes: 2))
    func aPathWithAFileExtensionStillGetsAJSON404() throws {
        let stack = try Stack()
        for path in ["/index.html", "/favicon.ico", "/robots.txt", "/api/v1/openapi.json"] {
            let reply = try stack.request("GET", path)
            #expect(reply.status == 404 && reply.json["error"] as? String == "not_found", "\(path): \(reply.text)")
            #expect(reply.headers["content-type"]?.hasPrefix("application/json") == true, "\(path): \(reply.headers)")
        }
    }

    /// Each read the document declares, with GET and with HEAD: HEAD answers the same status
    /// and headers without the body.
    @Test(.runningTimeLimit(minutes: 3))
    func everyReadAnswersToGetAndHead() throws {
        let stack = try Stack()
        let submitted = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(void){return 0;}","language":"c"}"#)
        let id = try #require(submitted.json["job_id"] as? String, "\(submitted.text)")
        _ = try stack.verdict(of: id)
        let reads = ["/api/v1/compile/\(id)", "/api/v1/environments", "/api/v1/toolchains", "/api/v1/flags/gcc",
                     "/api/v1/workers/stats", "/health", "/api/v1/health"]
        for path in reads {
            let get = try stack.request("GET", path)
            #expect(get.status == 200 && !get.body.isEmpty, "GET \(path): \(get.status) \(get.text.prefix(300))")
            let head = try stack.request("HEAD", path)
            #expect(head.status == 200 && head.body.isEmpty, "HEAD \(path): \(head.status)")
            #expect(head.headers["content-type"] == get.headers["content-type"], "HEAD \(path)")
        }
        let unknownFamily = try stack.request("HEAD", "/api/v1/flags/msvc")
        #expect(unknownFamily.status == 404 && unknownFamily.body.isEmpty)
    }
}
