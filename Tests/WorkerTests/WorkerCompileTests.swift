import Foundation
import TestSupport
import Testing
import WillItCompile

/// Good and bad code in every language, through the real daemon, sandbox and compilers.
@Suite(.serialized) struct WorkerCompileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let language: Language
        let compiler: String?
        let good: String
        let bad: String
        var testDescription: String { "\(language.rawValue)/\(compiler ?? "default")" }
    }

    static let cases: [Case] = [
        Case(language: .c, compiler: "gcc-12", good: "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
             bad: "int main(void) { return 0 }\n"),
        Case(language: .c, compiler: "clang-14", good: "#include <stdlib.h>\nint main(void) { return EXIT_SUCCESS; }\n",
             bad: "int main(void) { undeclared = 1; }\n"),
        Case(language: .cpp, compiler: "gcc-12", good: "#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1,2}; std::cout << v.size(); }\n",
             bad: "#include <string>\nint main() { std::string s = 42; }\n"),
        Case(language: .cpp, compiler: "clang-14", good: "#include <map>\nint main() { std::map<int,int> m; return (int)m.size(); }\n",
             bad: "int main() { auto x = ; }\n"),
        Case(language: .go, compiler: nil, good: "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hi\") }\n",
             bad: "package main\nfunc main() { var x int = \"s\" }\n"),
        Case(language: .rust, compiler: nil, good: "fn main() { let v: Vec<u32> = (1..4).collect(); println!(\"{:?}\", v); }\n",
             bad: "fn main() { let x: u32 = \"s\"; }\n"),
    ]

    let worker: WorkerProcess

    init() throws {
        worker = try WorkerProcess()
    }

    @Test(arguments: cases)
    func goodCodeCompilesAndBadCodeFailsWithTheCompilersMessage(_ testCase: Case) throws {
        let (goodJob, good) = try worker.compile(testCase.good, language: testCase.language, compiler: testCase.compiler)
        #expect(goodJob.status == .completed, "stderr: \(good.stderr) error: \(good.error)")
        #expect(good.success && good.compiled && good.exitCode == 0)
        #expect(goodJob.startedAt != nil && goodJob.completedAt != nil)

        let (badJob, bad) = try worker.compile(testCase.bad, language: testCase.language, compiler: testCase.compiler)
        #expect(badJob.status == .failed, "error: \(bad.error)")
        #expect(bad.success && !bad.compiled && bad.exitCode != 0)
        #expect(bad.stderr.lowercased().contains("error") || bad.stderr.contains("cannot use"), "stderr: \(bad.stderr)")
        #expect(bad.error.isEmpty)
    }

    @Test func anUndefinedReferenceIsACompileFailureBecauseEveryProgramIsLinked() throws {
        let (job, result) = try worker.compile("int missing(void);\nint main(void) { return missing(); }\n", language: .c)
        #expect(job.status == .failed)
        #expect(result.stderr.contains("undefined reference"), "\(result.stderr)")
    }

    @Test func theStandardIsPassedToTheCompiler() throws {
        // C89 has no declarations in a for loop.
        let source = "int main(void) { for (int i = 0; i < 1; i++) {} return 0; }\n"
        #expect(try worker.compile(source, language: .c, standard: "c99").0.status == .completed)
        #expect(try worker.compile(source, language: .c, standard: "c89").0.status == .failed)
        let cpp20 = "#include <concepts>\ntemplate<std::integral T> T twice(T x) { return 2 * x; }\nint main() { return twice(0); }\n"
        #expect(try worker.compile(cpp20, language: .cpp, standard: "c++20").0.status == .completed)
        #expect(try worker.compile(cpp20, language: .cpp, standard: "c++17").0.status == .failed)
    }

    @Test func werrorWithWallTurnsAWarningIntoAFailedCompile() throws {
        let source = "int main(void) { int unused; return 0; }\n"
        for compiler in ["gcc-12", "clang-14"] {
            let (plain, _) = try worker.compile(source, language: .c, compiler: compiler)
            #expect(plain.status == .completed)
            let (strict, result) = try worker.compile(source, language: .c, compiler: compiler, flags: ["-Werror", "-Wall"])
            #expect(strict.status == .failed, "\(compiler): \(result.stderr)")
            #expect(result.stderr.contains("unused"), "\(result.stderr)")
        }
        let (rust, rustResult) = try worker.compile("fn main() { let x = 1; }\n", language: .rust, flags: ["-Dwarnings"])
        #expect(rust.status == .failed, "\(rustResult.stderr)")
    }

    /// gcc -flto=N partitions the link-time compile and runs the parts with make, which
    /// calls setresuid in every child it starts: the sandbox's filter must allow that.
    @Test func parallelLinkTimeOptimisationRunsMakeInTheSandbox() throws {
        let functions = (0..<40).map { "__attribute__((used, noinline)) int f\($0)(int x) { return x * \($0) + 1; }" }
        let source = functions.joined(separator: "\n") + "\nint main(void) { return f1(0) - 1; }\n"
        let (job, result) = try worker.compile(source, language: .c, compiler: "gcc-12", flags: ["-O1", "-flto=4", "-flto-partition=max"])
        #expect(job.status == .completed, "\(result.error) \(result.stderr)")
    }

    @Test func macrosFromFlagsReachThePreprocessor() throws {
        let source = "#ifndef CHECKED\n#error CHECKED is not defined\n#endif\nint main(void) { return 0; }\n"
        #expect(try worker.compile(source, language: .c).0.status == .failed)
        #expect(try worker.compile(source, language: .c, flags: ["-DCHECKED=1"]).0.status == .completed)
    }

    @Test func goKeepsABuildCacheForEachProgramAndOnlyForIt() throws {
        let cacheRoot = "\(worker.directory.path)/program-cache"
        let programA = "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"a\") }\n"
        let programB = "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"b\") }\n"
        let first = try worker.compile(programA, language: .go).1
        let second = try worker.compile(programA, language: .go).1
        _ = try worker.compile(programB, language: .go)
        let entries = try FileManager.default.contentsOfDirectory(atPath: cacheRoot)
        #expect(entries.count == 2, "one cache per program: \(entries)")
        for entry in entries {
            let files = FileManager.default.subpaths(atPath: "\(cacheRoot)/\(entry)") ?? []
            #expect(!files.isEmpty, "the Go build filled its cache")
        }
        // Not asserted (speed belongs in benchmarks), but visible in the log when it regresses.
        print("go compile, cold: \(first.durationNanoseconds / 1_000_000) ms, warm: \(second.durationNanoseconds / 1_000_000) ms")
    }

    @Test func escapeSequencesAreStrippedAndOutputIsText() throws {
        let (_, result) = try worker.compile("int main(void) { return \"\u{1B}[31m\"; }\n", language: .c)
        #expect(!result.stderr.contains("\u{1B}"))
    }

    @Test func aToolchainThatIsNotInstalledIsRefusedAtSubmit() throws {
        let job = CompilationJob(request: CompilationRequest(source: Array("x".utf8), language: .c, compiler: "gcc-99"), createdAt: Date())
        guard case let .failure(failure) = try worker.client.send(.submit(job)) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.code == .unsupportedJob)
        #expect(failure.message.contains("gcc-12") && failure.message.contains("clang-14"), "\(failure.message)")
    }

    @Test func theWorkerListsTheToolchainsItFoundWithVersions() throws {
        guard case let .toolchains(list, _) = try worker.client.send(.toolchains) else {
            Issue.record("no toolchains reply")
            return
        }
        let ids = Set(list.map { "\($0.spec.language.rawValue)/\($0.spec.id)" })
        #expect(ids.isSuperset(of: ["c/gcc-12", "cpp/gcc-12", "c/clang-14", "cpp/clang-14", "go/go-1.19", "rust/rustc-1.63"]))
        #expect(!ids.contains { $0.hasPrefix("c/gcc-13") }, "only toolchains that exist are offered")
        #expect(list.first { $0.spec.id == "gcc-12" }?.version.contains("12.") == true)
        #expect(list.filter { $0.spec.language == .c && $0.isDefault }.map(\.spec.id) == ["gcc-12"])
    }
}
