import Foundation
import TestSupport
import Testing

/// The web page nginx serves at `/`: its files and their headers, and the page itself used in
/// headless Chromium (scripts/check-web-page.py: a compile, then the matrix mode), which leaves its screenshots in
/// `.build/web-page-test/` of the repository.
@Suite struct WebPageEndToEndTests {
    static let policy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    @Test(.runningTimeLimit(minutes: 4))
    func thePageShowsAFailingProgramsErrorsAtTheirLinesAndAMatrix() throws {
        let stack = try Stack()
        let screenshots = repositoryRoot.appendingPathComponent(".build/web-page-test")
        try? FileManager.default.removeItem(at: screenshots)
        let (status, output) = try runCapturingOutput(
            "/usr/bin/python3", [repositoryRoot.appendingPathComponent("scripts/check-web-page.py").path,
                                 "http://127.0.0.1:\(stack.port)/", screenshots.path], withErrors: true)
        #expect(status == 0, "\(output)")
        for name in ["1-ready.png", "2-verdict.png", "3-matrix.png"] {
            let bytes = try Data(contentsOf: screenshots.appendingPathComponent(name))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(name) is a PNG")
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func thePagesFilesComeWithAStrictContentSecurityPolicy() throws {
        let stack = try Stack()
        let files = [("/", "text/html", "<script src=\"/web/app.js\""), ("/web/app.js", "text/javascript", "\"use strict\";"),
                     ("/web/style.css", "text/css", ":root {")]
        for (path, type, content) in files {
            let page = try stack.request("GET", path)
            #expect(page.status == 200, "\(path): \(page.text)")
            #expect(page.headers["content-type"] == "\(type); charset=utf-8", "\(path)")
            #expect(page.headers["content-security-policy"] == Self.policy, "\(path)")
            #expect(page.headers["x-content-type-options"] == "nosniff", "\(path)")
            #expect(page.text.contains(content), "\(path)")
            let head = try stack.request("HEAD", path)
            #expect(head.status == 200 && head.body.isEmpty && head.headers["content-security-policy"] == Self.policy, "\(path)")
            // Only reads: nginx refuses the rest with the API's 405.
            let post = try stack.request("POST", path, body: "{}")
            #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD" && post.json["error"] as? String == "method_not_allowed", "\(path): \(post.text)")
        }
        // Nothing else of the page's directory is served, and no other path: the API's 404.
        for path in ["/index.html", "/web/", "/web/index.html", "/web/../openapi.yaml", "/app.js"] {
            let missing = try stack.request("GET", path)
            #expect(missing.status == 404 && missing.json["error"] as? String == "not_found", "\(path): \(missing.status) \(missing.text)")
        }
    }
}
