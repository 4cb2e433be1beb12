import Foundation
import TestSupport
import Testing

/// A source sent as it is (`curl --data-binary @main.c`), its settings in the query string.
@Suite(.serialized) struct RawSubmissionEndToEndTests {
    func raw(_ stack: Stack, _ query: String, _ source: [UInt8], type: String = "text/plain") throws -> HTTPReply {
        try HTTPReply.send("POST", "/api/v1/compile?\(query)", body: source, headers: ["Content-Type": type], port: stack.port)
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aFileSentAsItIsGetsItsVerdictInOneRequest() throws {
        let stack = try Stack()
        let cpp = Array("#include <vector>\nint main() { std::vector<int> v{1, 2}; return v.size() == 2 ? 0 : 1; }\n".utf8)
        let done = try raw(stack, "language=cpp&standard=c%2B%2B20&wait=30", cpp)
        #expect(done.status == 200 && done.json["status"] as? String == "completed", "\(done.text)")
        #expect(done.json["standard"] as? String == "c++20" && done.json["language"] as? String == "cpp", "\(done.text)")

        // The language from the file's name; CRLF line ends, as a file from Windows has them.
        let crlf = Array("#include <stdio.h>\r\nint main(void)\r\n{\r\n    puts(\"hi\");\r\n    return 0;\r\n}\r\n".utf8)
        let fromName = try raw(stack, "filename=hello.c&wait=30", crlf, type: "application/octet-stream")
        #expect(fromName.status == 200 && fromName.json["status"] as? String == "completed", "\(fromName.text)")
        #expect(fromName.json["language"] as? String == "c", "\(fromName.text)")

        // Bytes that are no source at all, NUL and invalid UTF-8 included: the compiler's verdict, never a 500.
        // The same bytes every run (every value 0...255, NULs and lone UTF-8 continuation bytes among them), so a failure repeats.
        let garbage = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 167 &+ 13) }
        let refused = try raw(stack, "language=c&wait=30", garbage, type: "application/octet-stream")
        #expect(refused.status == 200 && refused.json["status"] as? String == "failed", "\(refused.text)")

        // Flags, repeated.
        let flagged = try raw(stack, "language=c&flag=-Wall&flag=-Werror&wait=30", Array("int main(void) { int unused; return 0; }\n".utf8))
        #expect(flagged.json["status"] as? String == "failed" && (flagged.json["stderr"] as? String ?? "").contains("unused"), "\(flagged.text)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aRawSubmissionWithoutALanguageOrWithAnUnknownParameterIsRefusedNamingIt() throws {
        let stack = try Stack()
        let source = Array("int main(void) { return 0; }\n".utf8)
        let unknown = try raw(stack, "language=c&std=c11", source)
        #expect(unknown.status == 400 && unknown.json["error"] as? String == "invalid_request", "\(unknown.text)")
        #expect(unknown.text.contains("`std` is not a parameter") && unknown.text.contains("standard"), "\(unknown.text)")
        let noLanguage = try raw(stack, "wait=5", source)
        #expect(noLanguage.status == 400 && noLanguage.text.contains("language="), "\(noLanguage.text)")
        let twice = try raw(stack, "language=c&language=cpp", source)
        #expect(twice.status == 400 && twice.text.contains("`language` is given more than once"), "\(twice.text)")
        let unknownExtension = try raw(stack, "filename=main.pas", source)
        #expect(unknownExtension.status == 400 && unknownExtension.text.contains("main.pas"), "\(unknownExtension.text)")
    }

    /// curl sends `-d` and `--data-binary` alike as a form (application/x-www-form-urlencoded);
    /// only `-d` deletes the file's newlines. The file sent with `--data-binary` and no header is
    /// compiled as it is; with `-d` (or as one line, which cannot be told from it) it is refused
    /// with what to do, never compiled as if it were the file; `-F` is refused; a JSON object
    /// sent with `-d '{…}'` is JSON. With the real curl, as a user types it.
    @Test(.runningTimeLimit(minutes: 2))
    func curlsDataBinaryIsTheFileAndCurlsDashDIsRefusedWithWhatToDo() throws {
        let stack = try Stack()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-form-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("main.cpp").path
        try "#include <vector>\n// a comment that ends at the line break\nint main() { std::vector<int> v{1, 2}; return v.size() == 2 ? 0 : 1; }\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let oneLine = directory.appendingPathComponent("one.c").path
        try "int main(void) { return 0; }".write(toFile: oneLine, atomically: true, encoding: .utf8)
        let url = "http://127.0.0.1:\(stack.port)/api/v1/compile?language=cpp&standard=c%2B%2B20&wait=30"
        func curl(_ arguments: [String]) throws -> [String: Any] {
            let (status, output) = try runCapturingOutput("/usr/bin/curl", ["--silent", "--show-error", "--max-time", "60"] + arguments)
            #expect(status == 0, "curl \(arguments): \(output)")
            return (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? ["unreadable": output]
        }

        let binary = try curl(["--data-binary", "@\(file)", url])
        #expect(binary["status"] as? String == "completed" && binary["standard"] as? String == "c++20", "\(binary)")

        let stripped = try curl(["-d", "@\(file)", url])
        #expect(stripped["error"] as? String == "invalid_request", "\(stripped)")
        #expect((stripped["message"] as? String ?? "").contains("--data-binary"), "\(stripped)")
        let single = try curl(["--data-binary", "@\(oneLine)", url.replacingOccurrences(of: "cpp&standard=c%2B%2B20", with: "c")])
        #expect(single["error"] as? String == "invalid_request" && (single["message"] as? String ?? "").contains("Content-Type: text/plain"),
                "\(single)")
        let multipart = try curl(["-F", "file=@\(file)", url])
        #expect(multipart["error"] as? String == "invalid_request" && (multipart["message"] as? String ?? "").contains("curl -F"),
                "\(multipart)")

        let json = try raw(stack, "wait=30", Array(#"{"source_code":"int main(void){return 0;}","language":"c"}"#.utf8),
                           type: "application/x-www-form-urlencoded")
        #expect(json.status == 200 && json.json["status"] as? String == "completed", "\(json.text)")
    }
}
