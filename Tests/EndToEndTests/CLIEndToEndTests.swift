import Foundation
import TestSupport
import Testing

/// The `will-it-compile` binary this test run built, against the whole stack through nginx:
/// its output and its exit status, which a CI job branches on.
@Suite struct CLIEndToEndTests {
    static let binary = buildDirectory().appendingPathComponent("will-it-compile").path

    /// Runs the CLI to its end: its exit status, standard output, and standard error.
    func cli(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String) {
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "WIC_URL")
        merged.merge(environment) { $1 }
        let files = FileManager.default.temporaryDirectory.appendingPathComponent("wic-cli-run-\(UUID().uuidString.prefix(8))").path
        defer { for suffix in [".out", ".err"] { try? FileManager.default.removeItem(atPath: files + suffix) } }
        let pid = try spawn(Self.binary, arguments, environment: merged,
                            standardOutput: .appended(to: files + ".out"), standardError: .appended(to: files + ".err"))
        let status = waitForExit(pid)
        func read(_ suffix: String) -> String { (try? String(contentsOfFile: files + suffix, encoding: .utf8)) ?? "" }
        return (status, read(".out"), read(".err"))
    }

    func sourceFile(_ name: String, _ text: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aGoodFileExitsZeroABadOneOneWithItsErrorsAtTheirLines() throws {
        let stack = try Stack()
        let server = "http://127.0.0.1:\(stack.port)"
        let good = try sourceFile("hello.cpp", "#include <cstdio>\nint main() { std::puts(\"hi\"); }\n")
        let bad = try sourceFile("broken.cpp", "int main() {\n    undeclared();\n    return y;\n}\n")

        // The server named by WIC_URL; the language from the extension.
        let compiled = try cli(["compile", good], environment: ["WIC_URL": server])
        #expect(compiled.status == 0, "\(compiled)")
        #expect(compiled.output.hasPrefix("compiled: gcc-12 cpp gnu++17 x86_64/linux, "), "\(compiled.output)")
        #expect(compiled.errors.isEmpty, "\(compiled.errors)")

        let failed = try cli(["compile", "--server", server, bad])
        #expect(failed.status == 1, "\(failed)")
        let lines = failed.output.split(separator: "\n")
        #expect(lines.contains("main.cpp:2:5: error: ‘undeclared’ was not declared in this scope"), "\(failed.output)")
        #expect(lines.contains("main.cpp:3:12: error: ‘y’ was not declared in this scope"), "\(failed.output)")
        #expect(lines.last?.hasPrefix("did not compile: gcc-12 cpp gnu++17 x86_64/linux, exit code 1, 2 errors, ") == true, "\(failed.output)")
        // Not a terminal: no colour.
        #expect(!failed.output.contains("\u{1B}["), "\(failed.output)")

        // On a terminal (script(1) gives it one): colour, as a compiler's, unless NO_COLOR is set.
        var terminal = ProcessInfo.processInfo.environment
        terminal["TERM"] = "xterm"
        terminal.removeValue(forKey: "NO_COLOR")
        let command = "\(Self.binary) compile --server \(server) \(bad)"
        let coloured = try runCapturingOutput("/usr/bin/script", ["-qec", command, "/dev/null"], environment: terminal)
        #expect(coloured.status == 1, "\(coloured)")
        #expect(coloured.output.contains("\u{1B}[1mmain.cpp:2:5:\u{1B}[0m \u{1B}[1;31merror:\u{1B}[0m ‘undeclared’ was not declared"), "\(coloured.output)")
        terminal["NO_COLOR"] = "1"
        let uncoloured = try runCapturingOutput("/usr/bin/script", ["-qec", command, "/dev/null"], environment: terminal)
        #expect(uncoloured.status == 1 && uncoloured.output.contains("main.cpp:2:5: error: ‘undeclared’"), "\(uncoloured)")
        #expect(!uncoloured.output.contains("\u{1B}["), "\(uncoloured.output)")

        // The options reach the compiler: clang with a flag that makes the warning an error.
        let strict = try cli(["compile", "--server", server, "--compiler", "clang-16", "--std", "c++20", "--flag", "-Werror", "--no-cache",
                              try sourceFile("unused.cc", "int main() { int unused = 0; }\n"), "--flag=-Wunused-variable"])
        #expect(strict.status == 1, "\(strict)")
        #expect(strict.output.contains("main.cpp:1:18: error: unused variable 'unused' [-Wunused-variable]"), "\(strict.output)")
        #expect(strict.output.contains("did not compile: clang-16 cpp c++20 x86_64/linux, exit code 1, 1 error, "), "\(strict.output)")

        // --json: the service's result as it is.
        let json = try cli(["compile", "--server", server, "--json", bad])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "failed" && object["error_count"] as? Int == 2, "\(json.output)")

        let environments = try cli(["environments", "--server", server])
        #expect(environments.status == 0, "\(environments)")
        #expect(environments.output.contains("cpp    compilers  ") && environments.output.contains("gcc-12 (default)"), "\(environments.output)")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func usageAndServiceErrorsExitTwoAndThreeNamingWhatWasWrong() throws {
        // A small source limit, so that a file of 3351 bytes is refused (with no compile to wait
        // for; a multiple of 3 bytes, which the service counts exactly before decoding the Base64); a short compile limit, so that a compile of minutes ends in `timeout` soon.
        let stack = try Stack(["MAX_SOURCE_SIZE": "2000", "COMPILATION_TIMEOUT_SECONDS": "3"])
        let server = "http://127.0.0.1:\(stack.port)"
        let good = try sourceFile("main.c", "int main(void) { return 0; }\n")

        let unknown = try cli(["compile", "--server", server, try sourceFile("notes.txt", "int main(void) { return 0; }\n")])
        #expect(unknown.status == 2 && unknown.output.isEmpty, "\(unknown)")
        #expect(unknown.errors.contains("cannot tell the language of `notes.txt` from its extension (known: .c, "), "\(unknown.errors)")
        let option = try cli(["compile", "--server", server, "--optimise", good])
        #expect(option.status == 2 && option.errors.contains("Unknown option '--optimise'"), "\(option)")

        // Nothing listens on a port just freed.
        let nowhere = "http://127.0.0.1:\(try freePort())"
        let unreachable = try cli(["compile", good], environment: ["WIC_URL": nowhere])
        #expect(unreachable.status == 3, "\(unreachable)")
        #expect(unreachable.errors.contains("cannot reach the service at \(nowhere) ("), "\(unreachable.errors)")
        #expect(try cli(["environments", "--server", nowhere]).status == 3)

        // An error answer, said with what the service named.
        let large = try sourceFile("large.c", "int main(void) { return 0; }\n" + String(repeating: "// padding\n", count: 302))
        let refused = try cli(["compile", "--server", server, large])
        #expect(refused.status == 3, "\(refused)")
        #expect(refused.errors == "will-it-compile: error: the service answered 413 source_too_large: The source is 3351 bytes; at most 2000 bytes are accepted.\n",
                "\(refused.errors)")

        // A compile of minutes: no verdict within --wait, where the job's place is named to be
        // read later; and waited for, the compile's end at the service's time limit.
        let slow = try sourceFile("slow.cpp", slowCompileSource)
        let impatient = try cli(["compile", "--server", server, "--no-cache", "--wait", "1", slow])
        #expect(impatient.status == 3, "\(impatient)")
        #expect(impatient.errors.contains("after 1 s (--wait); its verdict will be at \(server)/api/v1/compile/"), "\(impatient.errors)")
        let timedOut = try cli(["compile", "--server", server, "--no-cache", "--wait", "60", slow])
        #expect(timedOut.status == 3, "\(timedOut)")
        // The verdict is the last line; what gcc printed before the limit (on a fast machine its
        // first failed assertion) comes before it.
        let verdictLine = timedOut.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(verdictLine.hasPrefix("did not compile in time: gcc-12 cpp gnu++17 x86_64/linux, "), "\(timedOut.output)")
    }

    /// Writes `files` (name → text) under a fresh folder; answers the folder.
    func project(_ files: [String: String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-cli-project-\(UUID().uuidString.prefix(8))").path
        for (name, text) in files {
            let path = "\(directory)/\(name)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return directory
    }

    @Test(.runningTimeLimit(minutes: 4))
    func aProjectAndAMatrixExitByTheirVerdictsWithTheProjectsNames() throws {
        let stack = try Stack()
        let server = "http://127.0.0.1:\(stack.port)"
        let main = "#include \"../include/util.h\"\nint main() { return twice(0); }\n"
        let good = try project(["src/main.cpp": main, "include/util.h": "inline int twice(int x) { return 2 * x; }\n"])
        // nullptr is C++11: the header fails under C++98 only.
        let bad = try project(["src/main.cpp": main, "include/util.h": "inline int twice(int x) { int *p = nullptr; return p ? 0 : 2 * x; }\n"])

        // Named relative to their common folder: src/main.cpp and include/util.h; C++ from main.cpp, not util.h.
        let compiled = try cli(["compile", "--server", server, "\(good)/src/main.cpp", "\(good)/include/util.h"])
        #expect(compiled.status == 0, "\(compiled)")
        #expect(compiled.output.hasPrefix("compiled: gcc-12 cpp gnu++17 x86_64/linux, "), "\(compiled.output)")

        let failed = try cli(["compile", "--server", server, "--std", "c++98", "--root", bad, "\(bad)/include/util.h", "\(bad)/src/main.cpp", "--unit", "src/main.cpp"])
        #expect(failed.status == 1, "\(failed)")
        let errorLine = failed.output.split(separator: "\n").first { $0.hasPrefix("include/util.h:1:") && $0.contains(": error: ") }
        #expect(errorLine?.contains("nullptr") == true, "\(failed.output)")
        #expect(failed.output.contains("did not compile: gcc-12 cpp c++98 x86_64/linux, exit code 1, "), "\(failed.output)")

        // A name the service would refuse is the user's input, checked before anything is sent.
        let spaced = try project(["my util.h": "", "main.cpp": "int main() {}\n"])
        let refused = try cli(["compile", "--server", server, "\(spaced)/main.cpp", "\(spaced)/my util.h"])
        #expect(refused.status == 2 && refused.output.isEmpty, "\(refused)")
        #expect(refused.errors.contains("would be named `my util.h` in the project, which the service refuses: the byte 0x20 is not accepted in a name"), "\(refused.errors)")

        // A matrix of two gcc-12 standards: C++98 fails in the header, C++17 compiles.
        let matrix = try cli(["matrix", "--server", server, "--compilers", "gcc-12", "--standards", "c++98,c++17",
                              "\(bad)/src/main.cpp", "\(bad)/include/util.h"])
        #expect(matrix.status == 1, "\(matrix)")
        let lines = matrix.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.prefix(2) == ["        c++98  c++17", "gcc-12  ✗      ✓"], "\(matrix.output)")
        #expect(lines.contains("  gcc-12  c++17"), "\(matrix.output)")
        #expect(lines.contains { $0.hasPrefix("  gcc-12 c++98 x86_64/linux: include/util.h:1:") && $0.contains(": error: ") && $0.contains("nullptr") },
                "\(matrix.output)")
        #expect(lines.contains { $0.hasPrefix("1 of 2 cells compiled (matrix ") }, "\(matrix.output)")

        // Every cell compiled: 0; --json is the service's matrix.
        let json = try cli(["matrix", "--server", server, "--json", "--env", "gcc-12:c++17", "--env", "clang-16:c++20",
                            "\(good)/src/main.cpp", "\(good)/include/util.h"])
        #expect(json.status == 0, "\(json)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "completed" && (object["cells"] as? [Any])?.count == 2, "\(json.output)")

        // Usage errors: filters beside --env, a malformed environment.
        let both = try cli(["matrix", "--server", server, "--env", "gcc-12", "--standards", "c++17", "\(good)/src/main.cpp"])
        #expect(both.status == 2 && both.errors.contains("--standards narrows --all"), "\(both)")
        let malformed = try cli(["matrix", "--server", server, "--env", "gcc-12:c++17:arm64", "\(good)/src/main.cpp"])
        #expect(malformed.status == 2 && malformed.errors.contains("is not ARCH/OS"), "\(malformed)")
        // A cell the service refuses is its 400: a service error.
        let unknown = try cli(["matrix", "--server", server, "--env", "gcc-12:c++99", "\(good)/src/main.cpp"])
        #expect(unknown.status == 3 && unknown.errors.contains("the service answered 400 invalid_request"), "\(unknown)")
    }
}
