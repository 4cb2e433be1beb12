import Foundation
import TestSupport
import Testing
import WillItCompile

/// Multi-file projects through the real daemon, sandbox and compilers: each file at its
/// name in the workspace, the translation units on the command line, the messages naming
/// the user's files, and names that would reach outside refused by the worker itself.
@Suite(.serialized) struct WorkerProjectTests {
    let worker: WorkerProcess

    init() throws {
        worker = try WorkerProcess()
    }

    static func files(_ files: [(String, String)]) -> [ProjectFile] {
        files.map { ProjectFile(name: $0.0, content: Array($0.1.utf8)) }
    }

    func compile(
        _ files: [(String, String)], units: [String], language: Language, compiler: String? = nil, link: Bool = true
    ) throws -> (CompilationJob, CompilationResult) {
        try worker.waitForVerdict(worker.submit(CompilationRequest(
            source: [], language: language, compiler: compiler, link: link, files: Self.files(files), translationUnits: units)))
    }

    static let header = "#pragma once\ninline int twice(int x) { return 2 * x; }\nint other();\n"
    static let cppProject = [
        ("include/util.h", header),
        ("src/main.cpp", "#include \"../include/util.h\"\nint main() { return twice(other()); }\n"),
        ("src/other.cpp", "#include \"../include/util.h\"\nint other() { return twice(1); }\n"),
    ]

    @Test(.runningTimeLimit(minutes: 2), arguments: ["gcc-12", "clang-16"])
    func aCppProjectWithAHeaderInASubfolderAndTwoUnitsCompilesAndLinks(_ compiler: String) throws {
        let (job, result) = try compile(Self.cppProject, units: ["src/main.cpp", "src/other.cpp"], language: .cpp, compiler: compiler)
        #expect(job.status == .completed, "\(result.stderr) \(result.error)")
        #expect(result.artifact.contains("ELF"), "\(result.artifact)")
        // Without the second unit, `other` is undefined: both really were compiled and linked.
        let (alone, missing) = try compile(Self.cppProject, units: ["src/main.cpp"], language: .cpp, compiler: compiler)
        #expect(alone.status == .failed && missing.stderr.contains("undefined reference"), "\(missing.stderr)")
    }

    /// A compiler refuses one `-o` for several objects; the command leaves it out then.
    @Test(.runningTimeLimit(minutes: 2), arguments: ["gcc-12", "clang-16"])
    func severalUnitsCompileWithoutLinking(_ compiler: String) throws {
        let files = [("a.c", "int a(void) { return 1; }\n"), ("lib/b.c", "int b(void) { return 2; }\n")]
        let (job, result) = try compile(files, units: ["a.c", "lib/b.c"], language: .c, compiler: compiler, link: false)
        #expect(job.status == .completed, "\(result.stderr) \(result.error)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aFailingProjectNamesTheHeaderAndTheUnitAsTheUserDid() throws {
        let files = [
            ("include/util.h", "inline int twice(int x) {\n    return x * factor;\n}\n"),
            ("src/main.cpp", "#include \"../include/util.h\"\nint main() { return twice(1); }\n"),
        ]
        let (job, result) = try compile(files, units: ["src/main.cpp"], language: .cpp, compiler: "gcc-12")
        #expect(job.status == .failed)
        #expect(result.diagnostics.first == Diagnostic(
            file: "include/util.h", line: 2, column: 16, severity: .error, message: "‘factor’ was not declared in this scope"),
            "\(result.diagnostics)")
        #expect(result.diagnostics.dropFirst().first?.file == "src/main.cpp", "\(result.diagnostics)")
        #expect(!result.diagnostics.contains { $0.file?.hasPrefix("/work") == true || $0.file?.contains("..") == true })
        #expect(result.stderr.contains("/work/src/../include/util.h:2:16"), "stderr stays the compiler's own text: \(result.stderr)")
    }

    static let goPackage = [
        ("main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(twice(2)) }\n"),
        ("util.go", "package main\n\nfunc twice(x int) int { return 2 * x }\n"),
    ]

    @Test(.runningTimeLimit(minutes: 3), arguments: ["go-1.19", "gccgo-12"])
    func aGoPackageOfTwoFilesBuilds(_ compiler: String) throws {
        let (job, result) = try compile(Self.goPackage, units: ["main.go", "util.go"], language: .go, compiler: compiler)
        #expect(job.status == .completed, "\(result.stderr) \(result.error)")
        let (alone, _) = try compile(Self.goPackage, units: ["main.go"], language: .go, compiler: compiler)
        #expect(alone.status == .failed)
    }

    /// A module's own packages are found through its go.mod, in the workspace, without a network.
    @Test(.runningTimeLimit(minutes: 2))
    func aGoModuleBuildsItsMainPackageWithThePackagesOfItsFolders() throws {
        let files = [
            ("go.mod", "module example.com/demo\n\ngo 1.19\n"),
            ("main.go", "package main\n\nimport \"example.com/demo/util\"\n\nfunc main() { println(util.Twice(2)) }\n"),
            ("util/util.go", "package util\n\nfunc Twice(x int) int { return 2 * x }\n"),
        ]
        let (job, result) = try compile(files, units: ["main.go"], language: .go, compiler: "go-1.19")
        #expect(job.status == .completed, "\(result.stderr) \(result.error)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func cgoInTheSecondFileOfAGoPackageIsNamedThere() throws {
        let files = Self.goPackage + [("c.go", "package main\n\nimport \"C\"\n")]
        let (job, result) = try compile(files, units: ["main.go", "util.go", "c.go"], language: .go, compiler: "go-1.19")
        #expect(job.status == .failed)
        #expect(result.error == GoCgoImport.notOffered)
        #expect(result.diagnostics.first.map { [$0.file, "\($0.line ?? 0)"] } == ["c.go", "3"], "\(result.diagnostics)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aRustCrateFindsItsModule() throws {
        let files = [
            ("src/main.rs", "mod util;\n\nfn main() {\n    println!(\"{}\", util::twice(2));\n}\n"),
            ("src/util.rs", "pub fn twice(x: u32) -> u32 {\n    x * 2\n}\n"),
        ]
        let (job, result) = try compile(files, units: ["src/main.rs"], language: .rust)
        #expect(job.status == .completed, "\(result.stderr) \(result.error)")
        var broken = files
        broken[1].1 = "pub fn twice(x: u32) -> u32 {\n    x * \"two\"\n}\n"
        let (failed, diagnostics) = try compile(broken, units: ["src/main.rs"], language: .rust)
        #expect(failed.status == .failed)
        #expect(diagnostics.diagnostics.first.map { [$0.file, "\($0.line ?? 0)"] } == ["src/util.rs", "2"], "\(diagnostics.diagnostics)")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aSwiftProjectOfTwoFilesCompilesLinkedAndNot() throws {
        let files = [("main.swift", "print(twice(2))\n"), ("Sources/Util.swift", "func twice(_ x: Int) -> Int { 2 * x }\n")]
        let (job, result) = try compile(files, units: ["main.swift", "Sources/Util.swift"], language: .swift)
        #expect(job.status == .completed, "\(result.stderr) \(result.error)")
        let library = [("A.swift", "public func a() -> Int { b() }\n"), ("B.swift", "func b() -> Int { 1 }\n")]
        let (compiled, output) = try compile(library, units: ["A.swift", "B.swift"], language: .swift, link: false)
        #expect(compiled.status == .completed, "\(output.stderr) \(output.error)")
    }

    /// The responder refuses these names; a job that carries one anyway (from a shared store)
    /// is refused by the worker before any sandbox starts.
    @Test(.runningTimeLimit(minutes: 1), arguments: ["../x.h", "/etc/x.h", "a/../../x.h", "a//b.h", ".", "-o", "a\u{0}b", "out"])
    func aNameThatCouldLeaveTheWorkspaceIsRefusedByTheWorker(_ name: String) throws {
        let (job, result) = try compile([("main.c", "int main(void) { return 0; }\n"), (name, "")], units: ["main.c"], language: .c)
        #expect(job.status == .error)
        #expect(result.error.hasPrefix("the job's files cannot be placed in the workspace: file name"), "\(result.error)")
        #expect(worker.children().isEmpty)
    }
}
