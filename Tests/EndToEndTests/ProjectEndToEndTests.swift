import Foundation
import TestSupport
import Testing

/// Multi-file projects (`files`, `translation_units`) through nginx, the responders, Redis
/// and the worker's sandbox: the projects of every kind compile, their messages name the
/// user's files, the verdict cache tells file names apart, and every name that could reach
/// outside the workspace is a 400 that names the file.
@Suite(.serialized) struct ProjectEndToEndTests {
    static func body(_ files: [(String, String)], language: String, more: [String: Any] = [:]) -> String {
        var request: [String: Any] = ["language": language, "files": files.map { ["name": $0.0, "content": $0.1] }]
        request.merge(more) { $1 }
        return String(decoding: try! JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    }

    static let cppProject = [
        ("include/util.h", "#pragma once\ninline int twice(int x) { return 2 * x; }\nint other();\n"),
        ("src/main.cpp", "#include \"../include/util.h\"\nint main() { return twice(other()); }\n"),
        ("src/other.cpp", "#include \"../include/util.h\"\nint other() { return twice(1); }\n"),
    ]

    @Test(.runningTimeLimit(minutes: 6))
    func projectsOfEveryKindCompileAndNameTheUsersFiles() throws {
        let stack = try Stack()
        let cpp = try stack.compile(Self.body(Self.cppProject, language: "cpp"))
        #expect(cpp["status"] as? String == "completed", "\(cpp)")
        #expect(cpp["translation_units"] as? [String] == ["src/main.cpp", "src/other.cpp"], "\(cpp)")

        // The header by its name alone, found through -I and the project's folder.
        var included = Self.cppProject
        included[1].1 = "#include \"util.h\"\nint main() { return twice(other()); }\n"
        let flagged = try stack.compile(Self.body(included, language: "cpp", more: ["flags": ["-Iinclude"]]))
        #expect(flagged["status"] as? String == "completed", "\(flagged)")
        let unflagged = try stack.compile(Self.body(included, language: "cpp"))
        #expect(unflagged["status"] as? String == "failed", "\(unflagged)")

        let go = try stack.compile(Self.body([
            ("main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(twice(2)) }\n"),
            ("util.go", "package main\n\nfunc twice(x int) int { return 2 * x }\n"),
        ], language: "go"))
        #expect(go["status"] as? String == "completed", "\(go)")

        let rust = try stack.compile(Self.body([
            ("src/main.rs", "mod util;\n\nfn main() {\n    println!(\"{}\", util::twice(2));\n}\n"),
            ("src/util.rs", "pub fn twice(x: u32) -> u32 {\n    x * 2\n}\n"),
        ], language: "rust"))
        #expect(rust["status"] as? String == "completed", "\(rust)")
        #expect(rust["translation_units"] as? [String] == ["src/main.rs"], "\(rust)")

        var broken = Self.cppProject
        broken[0].1 = "#pragma once\ninline int twice(int x) {\n    return x * factor;\n}\nint other();\n"
        let failed = try stack.compile(Self.body(broken, language: "cpp", more: ["compiler": "gcc-12"]))
        #expect(failed["status"] as? String == "failed", "\(failed)")
        let first = (failed["diagnostics"] as? [[String: Any]])?.first
        #expect(first?["file"] as? String == "include/util.h" && first?["line"] as? Int == 3 && first?["column"] as? Int == 16,
                "\(failed["diagnostics"] ?? "none")")
        #expect(first?["severity"] as? String == "error" && first?["message"] as? String == "‘factor’ was not declared in this scope")
        #expect(failed["error_count"] as? Int == 2, "the header's error, seen from each unit: \(failed["diagnostics"] ?? "none")")
        // In SARIF, the header is a file relative to the project's root.
        let sarif = try stack.request("GET", "/api/v1/compile/\(failed["job_id"] as? String ?? "")", headers: ["Accept": "application/sarif+json"])
        #expect(sarif.status == 200 && sarif.text.contains(#""uri":"include/util.h","uriBaseId":"SRCROOT""#), "\(sarif.text)")
    }

    /// The verdict cache answers the same project again, and misses for a file of another name.
    @Test(.runningTimeLimit(minutes: 3))
    func theVerdictCacheTellsFileNamesApart() throws {
        let stack = try Stack()
        let files = [("main.c", "#include \"lib/a.h\"\nint main(void) { return A; }\n"), ("lib/a.h", "#define A 0\n"), ("lib/b.h", "")]
        let first = try stack.request("POST", "/api/v1/compile?wait=30", body: Self.body(files, language: "c"))
        #expect(first.status == 200 && first.json["status"] as? String == "completed" && first.json["cached"] as? Bool == false, "\(first.text)")
        let again = try stack.request("POST", "/api/v1/compile?wait=30", body: Self.body(files, language: "c"))
        #expect(again.status == 200 && again.json["cached"] as? Bool == true, "\(again.text)")
        var renamed = files
        renamed[2].0 = "lib/c.h"
        let other = try stack.request("POST", "/api/v1/compile?wait=30", body: Self.body(renamed, language: "c"))
        #expect(other.status == 200 && other.json["cached"] as? Bool == false, "\(other.text)")
    }

    static let refusedNames = ["../x", "/etc/passwd", "/abs.h", "a/../../x", "a//b", ".", "-o", "a\u{0}b", "a\nb", ".config/go/env"]

    @Test(.runningTimeLimit(minutes: 3))
    func everyNameThatCouldLeaveTheWorkspaceIsA400NamingTheFile() throws {
        let stack = try Stack(["REDIS_ENABLED": "false", "MAX_SOURCE_SIZE": "4096"])
        let main = ("main.c", "int main(void) { return 0; }\n")
        for name in Self.refusedNames {
            let reply = try stack.request("POST", "/api/v1/compile", body: Self.body([main, (name, "")], language: "c"))
            let details = reply.json["details"] as? [[String: Any]] ?? []
            #expect(reply.status == 400 && reply.json["error"] as? String == "invalid_request", "\(name.debugDescription): \(reply.text)")
            #expect(details.map { $0["field"] as? String } == ["files[1].name"], "\(name.debugDescription): \(reply.text)")
            #expect((details.first?["message"] as? String)?.hasPrefix("File 1 (") == true, "\(reply.text)")
        }
        let prefix = try stack.request("POST", "/api/v1/compile", body: Self.body([main, ("a", ""), ("a/b.h", "")], language: "c"))
        #expect(prefix.status == 400 && prefix.text.contains("is also the folder of file 2"), "\(prefix.text)")
        let many = try stack.request("POST", "/api/v1/compile", body: Self.body([main] + (1...64).map { ("h\($0).h", "") }, language: "c"))
        #expect(many.status == 400 && many.text.contains("65 files given; a project may have at most 64 (MAX_FILES)"), "\(many.text)")
        let half = String(repeating: "x", count: 2048)
        let big = try stack.request("POST", "/api/v1/compile", body: Self.body([main, ("a.h", half), ("b.h", half)], language: "c"))
        #expect(big.status == 413 && big.json["error"] as? String == "source_too_large", "\(big.text)")
        #expect(big.text.contains("at most 4096 bytes"), "\(big.text)")
        let both = try stack.request("POST", "/api/v1/compile", body: Self.body([main], language: "c", more: ["source_code": "int x;"]))
        #expect(both.status == 400 && both.text.contains("Send either `files`"), "\(both.text)")
        // Nothing refused reached the worker: no job is queued, compiling or finished.
        let stats = try stack.request("GET", "/api/v1/workers/stats").json
        #expect(["queued_jobs", "active_workers", "total_processed"].map { stats[$0] as? Int } == [0, 0, 0], "\(stats)")
    }
}
