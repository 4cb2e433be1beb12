import Foundation
import TestSupport
import Testing

/// `link: false` through nginx, the responders and the worker: a library file without
/// `main` compiles, and the same file linked fails, as before.
@Suite(.serialized) struct CompileOnlyEndToEndTests {
    static let libraries = [
        ("c", "int add(int a, int b) { return a + b; }\n"),
        ("cpp", "#include <string>\nstd::string greet(const std::string& name) { return \"hello \" + name; }\n"),
        ("rust", "pub fn add(a: u32, b: u32) -> u32 { a + b }\n"),
    ]

    @Test(.runningTimeLimit(minutes: 4))
    func aLibraryWithoutMainCompilesWithLinkFalseAndFailsLinked() throws {
        let stack = try Stack()
        for (language, source) in Self.libraries {
            let escaped = source.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
            let compileOnly = try stack.compile(#"{"source_code":"\#(escaped)","language":"\#(language)","link":false}"#)
            #expect(compileOnly["status"] as? String == "completed", "\(language): \(compileOnly)")
            #expect(compileOnly["link"] as? Bool == false, "\(language): the answer says it was not linked")
            let linked = try stack.compile(#"{"source_code":"\#(escaped)","language":"\#(language)"}"#)
            #expect(linked["status"] as? String == "failed", "\(language): \(linked)")
            #expect(linked["link"] == nil, "\(language): a linked job's answer is as it was")
            #expect((linked["stderr"] as? String ?? "").contains("main"), "\(language): \(linked["stderr"] ?? "")")
        }

        // The raw form: `curl --data-binary @lib.rs '…?language=rust&link=false&wait=30'`.
        let raw = try HTTPReply.send(
            "POST", "/api/v1/compile?language=rust&link=false&wait=30", body: Array(Self.libraries[2].1.utf8),
            headers: ["Content-Type": "text/plain"], port: stack.port)
        #expect(raw.status == 200 && raw.json["status"] as? String == "completed", "\(raw.text)")
        #expect(raw.json["link"] as? Bool == false, "\(raw.text)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func linkFalseIsRefusedClearlyWhereItCannotBeHonoured() throws {
        let stack = try Stack()
        let quoted = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int f;","language":"c","link":"false"}"#)
        #expect(quoted.status == 400 && quoted.json["error"] as? String == "invalid_request", "\(quoted.text)")
        #expect(quoted.text.contains("`link` must be a boolean") && quoted.text.contains("without quotes"), "\(quoted.text)")

        let go = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"package main\n","language":"go","compiler":"go-1.19","link":false}"#)
        #expect(go.status == 400, "\(go.text)")
        #expect(go.text.contains("go-1.19 cannot compile without linking") && go.text.contains("gccgo-12"), "\(go.text)")

        let rawValue = try HTTPReply.send(
            "POST", "/api/v1/compile?language=c&link=no", body: Array("int f;\n".utf8), headers: ["Content-Type": "text/plain"], port: stack.port)
        #expect(rawValue.status == 400 && rawValue.text.contains("link=false"), "\(rawValue.text)")
    }
}
