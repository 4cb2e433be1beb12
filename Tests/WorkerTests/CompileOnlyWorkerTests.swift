import Foundation
import TestSupport
import Testing
import WillItCompile

/// A library file (no `main`) through the real daemon, sandbox and compilers: it fails
/// at link time when linked, and compiles with `link: false`.
@Suite(.serialized) struct CompileOnlyWorkerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let language: Language
        let compiler: String
        let library: String
        /// What the compile-only artifact's description says (nil: not an ELF file, such as an rlib).
        let artifact: String?
        /// What the linker says when the file is linked.
        var linkError = "main"
        var testDescription: String { "\(language.rawValue)/\(compiler)" }
    }

    static let cases: [Case] = [
        Case(language: .c, compiler: "gcc-12", library: "int add(int a, int b) { return a + b; }\n", artifact: "relocatable"),
        Case(language: .c, compiler: "clang-16", library: "int add(int a, int b) { return a + b; }\n", artifact: "relocatable"),
        Case(language: .cpp, compiler: "gcc-12", library: "#include <vector>\nint size(const std::vector<int>& v) { return (int)v.size(); }\n",
             artifact: "relocatable"),
        Case(language: .go, compiler: "gccgo-12", library: "package main\n\nfunc Add(a, b int) int { return a + b }\n", artifact: "relocatable"),
        Case(language: .rust, compiler: "rustc-1.63", library: "pub fn add(a: u32, b: u32) -> u32 { a + b }\n", artifact: nil),
        // A main.swift is a program even without top-level code: what only linking finds is a missing symbol.
        Case(language: .swift, compiler: "swiftc-6",
             library: "@_silgen_name(\"wic_external_add\") func externalAdd(_ a: Int, _ b: Int) -> Int\npublic func add() -> Int { externalAdd(1, 2) }\n",
             artifact: "relocatable", linkError: "wic_external_add"),
    ]

    let worker: WorkerProcess

    init() throws {
        worker = try WorkerProcess()
    }

    @Test(.runningTimeLimit(minutes: 3), arguments: cases)
    func aFileWithoutMainCompilesWithoutLinkingAndFailsWhenLinked(_ testCase: Case) throws {
        let (compiled, result) = try worker.compile(testCase.library, language: testCase.language, compiler: testCase.compiler, link: false)
        #expect(compiled.status == .completed, "stderr: \(result.stderr.prefix(800)) error: \(result.error)")
        #expect(compiled.request.link == false)
        if let artifact = testCase.artifact { #expect(result.artifact.contains(artifact), "artifact: \(result.artifact)") }

        let (linked, linkedResult) = try worker.compile(testCase.library, language: testCase.language, compiler: testCase.compiler)
        #expect(linked.status == .failed, "stderr: \(linkedResult.stderr.prefix(800))")
        #expect(linkedResult.stderr.contains(testCase.linkError), "the linker misses it: \(linkedResult.stderr.prefix(800))")
    }

    @Test func compilingWithoutLinkingStillReportsCompileErrors() throws {
        let (job, result) = try worker.compile("int add(int a, int b) { return a + ; }\n", language: .c, compiler: "gcc-12", link: false)
        #expect(job.status == .failed)
        #expect(result.stderr.contains("error"), "\(result.stderr)")
    }

    /// swiftc compiles the file as a library file: top-level code is an error there, `@main` is not.
    @Test(.runningTimeLimit(minutes: 2)) func swiftWithoutLinkingReadsTheFileAsALibraryFile() throws {
        let (script, scriptResult) = try worker.compile("print(1)\n", language: .swift, link: false)
        #expect(script.status == .failed && scriptResult.stderr.contains("top level"), "\(scriptResult.stderr.prefix(800))")
        let (app, appResult) = try worker.compile("@main struct App { static func main() {} }\n", language: .swift, link: false)
        #expect(app.status == .completed, "\(appResult.stderr.prefix(800))")
    }

    @Test func goBuildRefusesLinkFalseNamingTheGoCompilerThatAccepts() throws {
        let job = CompilationJob(
            request: CompilationRequest(source: Array("package main\n".utf8), language: .go, compiler: "go-1.19", link: false),
            createdAt: Date())
        let reply = try worker.client.send(.submit(job))
        guard case let .failure(failure) = reply else {
            Issue.record("go-1.19 with link: false answered \(reply)")
            return
        }
        #expect(failure.message.contains("go-1.19 cannot compile without linking"), "\(failure)")
        #expect(failure.message.contains("gccgo-12"), "\(failure)")
    }
}
