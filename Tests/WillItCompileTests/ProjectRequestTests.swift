import Foundation
import TestSupport
import Testing
@testable import WillItCompile

/// Multi-file projects (`files`, `translation_units`): every rule of a file's name refused on
/// its own with the file's index and name, the limits, the translation units, the stored
/// shape and the verdict key.
@Suite struct ProjectRequestTests {
    let validator = RequestValidator(maxSourceSize: 64, maxFiles: 64)

    /// A body of `files` (given as name and text) in `language`, with more members if any.
    static func body(_ files: [(String, String)], language: String = "cpp", more: String = "") -> String {
        let list = files.map { name, content in
            let object: [String: String] = ["name": name, "content": content]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        return #"{"language":"\#(language)","files":[\#(list.joined(separator: ","))]\#(more)}"#
    }

    func problems(_ json: String) -> [ValidationProblem] { validator.problems(json: json) }

    @Test func aCppProjectCompilesEverySourceFileByDefaultInTheOrderSent() throws {
        let request = try validator.validate(json: Data(Self.body([
            ("src/main.cpp", "int main(){}"), ("include/util.h", "int f();"), ("src/util.cc", "int f(){return 1;}"),
        ]).utf8))
        #expect(request.isProject && request.source.isEmpty)
        #expect(request.files.map(\.name) == ["src/main.cpp", "include/util.h", "src/util.cc"])
        #expect(request.files[1].content == Array("int f();".utf8))
        #expect(request.translationUnits == ["src/main.cpp", "src/util.cc"])
    }

    @Test func base64ContentIsDecodedAndNamedTranslationUnitsAreKept() throws {
        let json = #"{"language":"c","files":[{"name":"a.c","content":"AP8K","encoding":"base64"},{"name":"b.c","content":"x","encoding":"utf-8"}],"translation_units":["b.c"]}"#
        let request = try validator.validate(json: Data(json.utf8))
        #expect(request.files[0].content == [0x00, 0xFF, 0x0A])
        #expect(request.translationUnits == ["b.c"])
    }

    static let refusedNames: [(name: String, says: String)] = [
        ("../x", "`.` and `..`"), ("/etc/passwd", "absolute"), ("a/../../x", "`.` and `..`"), ("a//b", "empty folder"),
        (".", "`.` and `..`"), ("-o", "starting with `-`"), ("a\u{0}b", "0x00"), ("a\nb", "0x0A"), ("src/", "ending in `/`"),
        ("", "empty name"), ("a b", "0x20"), ("a\\b", "`\\`"), (".config/go/env", "starting with `.`"), ("out", "output"),
        ("é.c", "0xC3"), (String(repeating: "a/", count: 16) + "b", "levels deep"), (String(repeating: "x", count: 257), "bytes long"),
    ]

    @Test(arguments: refusedNames)
    func eachNameRuleIsRefusedNamingTheFileAndWhatIsAccepted(_ refused: (name: String, says: String)) {
        let found = problems(Self.body([("main.cpp", "int main(){}"), (refused.name, "x")]))
        #expect(found.map(\.field) == ["files[1].name"], "\(found)")
        let message = found.first?.message ?? ""
        #expect(message.hasPrefix("File 1 ("), "\(message)")
        #expect(message.contains(refused.says), "\(message)")
        #expect(message.contains("letters, digits"), "\(message)")
        // A NUL or a line break is shown, never written into the message as it is.
        #expect(!message.contains("\u{0}") && !message.contains("\n"), "\(message)")
    }

    @Test(arguments: ["main.cpp", "src/main.cpp", "a-b/c_d+e.f.cpp", "Makefile", String(repeating: "a/", count: 15) + "b.h"])
    func namesOfTheAllowlistAreAccepted(_ name: String) throws {
        let request = try validator.validate(json: Data(Self.body([("m.cpp", "int main(){}"), (name, "")]).utf8))
        #expect(request.files.last?.name == name)
    }

    @Test func aDuplicateNameAndANameThatIsAnothersFolderAreRefused() {
        let duplicate = problems(Self.body([("a.cpp", "x"), ("b.h", ""), ("a.cpp", "y")]))
        #expect(duplicate.map(\.field) == ["files[2].name"])
        #expect(duplicate.first?.message.contains("name of file 0") == true)
        let folder = problems(Self.body([("m.cpp", "x"), ("a", ""), ("a/b.h", "")]))
        #expect(folder.map(\.field) == ["files[1].name"], "\(folder)")
        #expect(folder.first?.message.contains("also the folder of file 2") == true, "\(folder)")
    }

    @Test func moreFilesThanMaxFilesAreRefusedWithTheLimit() {
        let files = (0...64).map { ("f\($0).cpp", "") }
        let found = problems(Self.body(files))
        #expect(found.map(\.field) == ["files"])
        #expect(found.first?.message.contains("65 files given; a project may have at most 64 (MAX_FILES)") == true)
        #expect(problems(Self.body(Array(files.prefix(64)))).isEmpty)
    }

    @Test func theSizeLimitCountsTheFilesTogetherAndAnswersAsTooLarge() throws {
        let half = String(repeating: "x", count: 32)
        #expect(problems(Self.body([("a.cpp", half), ("b.cpp", half)])).isEmpty)
        let over = problems(Self.body([("a.cpp", half), ("b.cpp", half + "x")]))
        #expect(over.map(\.kind) == [.tooLarge(limit: 64, actual: 65)])
        #expect(RequestValidationError(problems: over).isOnlyTooLarge)
        // Said once, not again for every file after the one that went over.
        #expect(problems(Self.body([("a.cpp", half), ("b.cpp", half), ("c.cpp", half), ("d.cpp", half)])).count == 1)
        let base64 = Data(repeating: 0x41, count: 39).base64EncodedString()
        let encoded = #"{"language":"c","files":[{"name":"a.c","content":"\#(half)"},{"name":"b.c","content":"\#(base64)","encoding":"base64"}]}"#
        #expect(problems(encoded).map(\.kind) == [.tooLarge(limit: 64, actual: 71)])
    }

    @Test func filesExcludeCodeAndSourceCodeAndTranslationUnitsNeedFiles() {
        let both = problems(#"{"language":"c","source_code":"int x;","files":[{"name":"a.c","content":"x"}]}"#)
        #expect(both.map(\.kind) == [.conflicting] && both.first?.field == "files")
        let alone = problems(#"{"language":"c","source_code":"int x;","translation_units":["a.c"]}"#)
        #expect(alone.map(\.field) == ["translation_units"])
        #expect(problems(#"{"language":"c","files":[]}"#).map(\.kind) == [.missing])
    }

    @Test func aFileObjectIsReadStrictly() {
        let found = problems(#"{"language":"c","files":[{"name":"a.c","contents":"x"},{"name":1,"content":"x"},"b.c",{"name":"d.c"}]}"#)
        #expect(found.map(\.field) == ["files[0].contents", "files[1].name", "files[2]", "files[3].content"], "\(found)")
        #expect(found[0].message.contains("did you mean `content`"))
        let encoding = problems(#"{"language":"c","files":[{"name":"c.c","content":"x","encoding":"utf-16"}]}"#)
        #expect(encoding.map(\.field) == ["files[0].encoding"])
        #expect(encoding.first?.message.contains("`utf-8` (the default) or `base64`") == true)
        #expect(problems(#"{"language":"c","files":[{"name":"a.c","content":"!!","encoding":"base64"}]}"#).map(\.kind) == [.invalidBase64])
    }

    @Test func translationUnitsMustBeListedSourcesOfTheLanguageNamedOnce() {
        let files = [("main.cpp", "int main(){}"), ("util.h", ""), ("x.c", "")]
        let found = problems(Self.body(files, more: #","translation_units":["main.cpp","nope.cpp","util.h","x.c","main.cpp"]"#))
        #expect(found.map(\.field) == ["translation_units[1]", "translation_units[2]", "translation_units[3]", "translation_units[4]"], "\(found)")
        #expect(found[1].message.contains("not a cpp source; accepted: names ending in .cpp, .cc, .cxx"))
        #expect(problems(Self.body([("util.h", "")])).first?.message.contains("No file of the project is a cpp source") == true)
    }

    @Test func rustCompilesItsCrateRootOnly() throws {
        let crate = try validator.validate(json: Data(Self.body([("src/util.rs", ""), ("src/main.rs", "mod util;")], language: "rust").utf8))
        #expect(crate.translationUnits == ["src/main.rs"])
        let library = try validator.validate(json: Data(Self.body([("src/lib.rs", "")], language: "rust", more: #","link":false"#).utf8))
        #expect(library.translationUnits == ["src/lib.rs"])
        let rootless = problems(Self.body([("src/lib.rs", "")], language: "rust"))
        #expect(rootless.map(\.field) == ["translation_units"] && rootless[0].message.contains("crate root"), "\(rootless)")
        #expect(problems(Self.body([("main.rs", ""), ("src/main.rs", "")], language: "rust")).map(\.kind) == [.conflicting])
    }

    @Test func goBuildsOnePackageFromOneFolder() throws {
        let package = try validator.validate(json: Data(Self.body([("main.go", "package main"), ("util.go", "package main")], language: "go").utf8))
        #expect(package.translationUnits == ["main.go", "util.go"])
        let split = problems(Self.body([("main.go", "package main"), ("lib/util.go", "package lib")], language: "go"))
        #expect(split.map(\.field) == ["files"] && split[0].message.contains("one folder"), "\(split)")
    }

    @Test func aProjectIsStoredWithItsFilesInBase64AndReadBackByBothReaders() throws {
        let request = CompilationRequest(
            source: [], language: .cpp, compiler: "gcc-12", standard: "c++20",
            files: [ProjectFile(name: "src/main.cpp", content: [0x00, 0xFF]), ProjectFile(name: "include/util.h", content: [])],
            translationUnits: ["src/main.cpp"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let stored = try encoder.encode(request)
        #expect(String(decoding: stored, as: UTF8.self)
                == #"{"compiler":"gcc-12","files":[{"content":"AP8=","name":"src\/main.cpp"},{"content":"","name":"include\/util.h"}],"language":"cpp","standard":"c++20","translation_units":["src\/main.cpp"]}"#)
        #expect(try JSONDecoder().decode(CompilationRequest.self, from: stored) == request)
        #expect(try CompilationRequest(storedJSON: Array(stored), withSource: true) == request)
        #expect(try CompilationRequest(storedJSON: Array(stored), withSource: false) == request.withoutSources)
    }

    /// Predecessor compatibility: a single source is stored exactly as before, with no trace of projects.
    @Test func aSingleSourceIsStoredInThePredecessorsShapeUnchanged() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let stored = try encoder.encode(CompilationRequest(source: Array("int x;".utf8), language: .c, compiler: "gcc-12"))
        #expect(String(decoding: stored, as: UTF8.self) == #"{"code":"aW50IHg7","compiler":"gcc-12","language":"c"}"#)
    }

    @Test func aStoredRequestNeedsExactlyOneOfCodeAndFiles() {
        for json in [#"{"language":"c"}"#, #"{"language":"c","files":[]}"#,
                     #"{"language":"c","code":"","files":[{"name":"a.c","content":""}]}"#] {
            #expect(throws: StoredRequestError.self, "\(json)") { try CompilationRequest(storedJSON: Array(json.utf8), withSource: true) }
        }
    }

    @Test func theVerdictKeyCoversEveryFilesNameAndContentAndTheTranslationUnits() {
        let gcc = VerdictKeyTests.gcc
        let project = CompilationRequest(
            source: [], language: .c, compiler: "gcc-12", standard: "c11",
            files: [ProjectFile(name: "main.c", content: Array("int main(){}".utf8)), ProjectFile(name: "a.h", content: [])],
            translationUnits: ["main.c"])
        func key(_ change: (inout CompilationRequest) -> Void) -> String {
            var changed = project
            change(&changed)
            return VerdictKey(request: changed, toolchain: gcc, limits: CompileLimits(sandbox: SandboxConfiguration(), timeout: .seconds(30))).digest
        }
        let keys = [
            key { _ in }, key { $0.files[1].name = "b.h" }, key { $0.files[1].content = [0x20] },
            key { $0.translationUnits = ["main.c", "main.c"] }, key { $0.files.swapAt(0, 1) },
            // The single source with the same bytes is another request.
            key { $0.source = $0.files[0].content; $0.files = []; $0.translationUnits = [] },
        ]
        #expect(Set(keys).count == keys.count, "\(keys)")
    }

    @Test func severalSourcesAreOneArgumentEachAndCompileOnlyLeavesTheSingleOutputOut() {
        let spec = VerdictKeyTests.gcc.spec
        #expect(spec.commandLine(standard: "c11", sources: ["/w/a.c", "/w/b.c"], output: "/w/out")
                == ["/usr/bin/gcc-12", "-std=c11", "-fdiagnostics-color=never", "-o", "/w/out", "/w/a.c", "/w/b.c"])
        #expect(spec.commandLine(standard: "c11", link: false, sources: ["/w/a.c", "/w/b.c"], output: "/w/out")
                == ["/usr/bin/gcc-12", "-std=c11", "-c", "-fdiagnostics-color=never", "/w/a.c", "/w/b.c"])
        // One source compiled only still names its output, exactly as a single-source request.
        #expect(spec.commandLine(standard: "c11", link: false, sources: ["/w/a.c"], output: "/w/out")
                == spec.commandLine(standard: "c11", link: false, source: "/w/a.c", output: "/w/out"))
    }

    @Test func aCProjectMayNameItsOwnFoldersWithDashIAndNothingElse() throws {
        let project = CompilationRequest(
            source: [], language: .c, files: [ProjectFile(name: "src/main.c", content: []), ProjectFile(name: "include/net/ip.h", content: [])],
            translationUnits: ["src/main.c"])
        func refused(_ flags: [String], _ request: CompilationRequest = project) -> [String] {
            var request = request
            request.flags = flags
            do {
                _ = try [VerdictKeyTests.gcc].resolve(request)
                return []
            } catch {
                return error.problems.map(\.message)
            }
        }
        #expect(refused(["-Iinclude", "-Iinclude/net", "-I.", "-Isrc", "-Wall"]).isEmpty)
        let outside = refused(["-I/etc", "-I..", "-Iinclude/../..", "-Inope", "-I", "-Iinclude/"])
        #expect(outside.count == 6, "\(outside)")
        #expect(outside.first == "Flag `-I/etc` is refused: in a project, -I takes one of the project's folders (-I., -Isrc, -Iinclude, -Iinclude/net).")
        // A single source has no folders: -I stays refused as the allowlist says.
        let single = CompilationRequest(source: Array("int x;".utf8), language: .c, flags: ["-Iinclude"])
        #expect(refused(["-Iinclude"], single).count == 1)
    }

    @Test func cgoIsFoundInAnyGoFileOfAProject() throws {
        let project = CompilationRequest(
            source: [], language: .go,
            files: [ProjectFile(name: "main.go", content: Array("package main\nfunc main() {}\n".utf8)),
                    ProjectFile(name: "c.go", content: Array("package main\n\nimport \"C\"\n".utf8))],
            translationUnits: ["main.go", "c.go"])
        let diagnostic = try #require(GoCgoImport.diagnostic(for: project, sourceFile: "main.go"))
        #expect(diagnostic.file == "c.go" && diagnostic.line == 3 && diagnostic.column == 8)
    }
}

extension RequestValidator {
    /// Every problem the validator finds in a JSON body; none when it is accepted.
    func problems(json: String) -> [ValidationProblem] {
        do {
            _ = try validate(json: Data(json.utf8))
            return []
        } catch {
            return error.problems
        }
    }
}
