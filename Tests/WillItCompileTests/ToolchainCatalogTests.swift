import Foundation
import TestSupport
import Testing
@testable import WillItCompile

/// The catalog in `toolchains/catalog/`: one canonical, pretty-printed file per family,
/// read strictly (toolchains/README.md).
@Suite struct ToolchainCatalogTests {
    static let catalog = repositoryRoot.appendingPathComponent("toolchains/catalog").path

    /// A directory of its own for one test's catalog files; the caller removes it.
    func scratch(_ files: [String: String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-catalog-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        for (name, text) in files {
            try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
        return directory
    }

    func refusal(_ path: String) -> String {
        do {
            let specs = try ToolchainCatalog.load(at: path)
            return "loaded \(specs.count) entries"
        } catch {
            return error.description
        }
    }

    static func entry(_ id: String, _ language: String = "c", extra: String = "") -> String {
        #"{"id": "\#(id)", "language": "\#(language)", "executable": "/usr/bin/true", "version_arguments": [], "standards": ["c11"], "default_standard": "c11", "standard_arguments": [], "command": ["{executable}"], "source_file": "main.c", "binds": [], "environment": {}, "priority": 1\#(extra)}"#
    }

    static func file(_ entries: String...) -> String { #"{"toolchains": [\#(entries.joined(separator: ", "))]}"# }

    @Test func theRepositorysCatalogHasEveryLanguageInFilesOfTheirOwn() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.catalog).filter { $0.hasSuffix(".json") }
        #expect(names.count > 1)
        for name in names {
            #expect(try !ToolchainCatalog.load(at: "\(Self.catalog)/\(name)").isEmpty, "\(name)")
        }
        #expect(Set(try ToolchainCatalog.load(at: Self.catalog).map(\.language)) == Set(Language.allCases))
    }

    @Test func filesAreReadInNameOrderAndEntriesInTheirOwn() throws {
        let directory = try scratch([
            "b.json": Self.file(Self.entry("b-2"), Self.entry("b-1")), "a.json": Self.file(Self.entry("a-1")), "notes.md": "not read",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try ToolchainCatalog.load(at: directory).map(\.id) == ["a-1", "b-2", "b-1"])
    }

    /// A hand edit that breaks the canonical form (here: one file written compactly, another
    /// with its keys out of order) fails `scripts/format-catalog --check`, which this runs on
    /// the repository's catalog too.
    @Test func theRepositorysCatalogIsInItsCanonicalForm() throws {
        let check = try formatCheck(Self.catalog)
        #expect(check.status == 0, "\(check.output)")
        let gcc = try String(contentsOfFile: "\(Self.catalog)/gcc.json", encoding: .utf8)
        let go = try String(contentsOfFile: "\(Self.catalog)/go.json", encoding: .utf8)
        let copy = try scratch([
            "gcc.json": gcc,
            "go.json": go.replacingOccurrences(of: "\n      ", with: " "),
            "rustc.json": #"{"toolchains": [], "a": 1}"# + "\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let broken = try formatCheck(copy)
        #expect(broken.status == 1)
        #expect(broken.output.contains("go.json: not in canonical form") && broken.output.contains("rustc.json: not in canonical form"), "\(broken.output)")
        #expect(!broken.output.contains("gcc.json"), "\(broken.output)")
    }

    private func formatCheck(_ path: String) throws -> (status: Int32, output: String) {
        try runCapturingOutput(repositoryRoot.appendingPathComponent("scripts/format-catalog").path, ["--check", path], withErrors: true)
    }

    @Test func oneFileAloneIsACatalogToo() throws {
        let directory = try scratch(["only.json": Self.file(Self.entry("a-1"), Self.entry("a-1", "cpp"))])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try ToolchainCatalog.load(at: "\(directory)/only.json").map(\.language) == [.c, .cpp])
    }

    @Test func anIdInTwoFilesIsRefusedNamingBoth() throws {
        let directory = try scratch(["a.json": Self.file(Self.entry("same-1")), "b.json": Self.file(Self.entry("same-1", "cpp"))])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(refusal(directory) == "toolchain catalog (WORKER_CATALOG) \(directory)/b.json: the toolchain id `same-1` is also in \(directory)/a.json; an id belongs to one file")
    }

    @Test func anEntryWrittenTwiceInOneFileIsRefused() throws {
        let directory = try scratch(["a.json": Self.file(Self.entry("twice-1"), Self.entry("twice-1"))])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(refusal(directory).hasSuffix("a.json: `twice-1` for c is there twice"))
    }

    @Test(arguments: [
        (file(entry("x-1", extra: #", "standard": "c11""#)), "entry 1 (`x-1`) has the unknown field `standard` (known: id, language,"),
        (file(entry("x-1", extra: #", "targets": [{"architecture": "arm64", "os": "linux", "sysroot": "/"}]"#)),
         "entry 1 (`x-1`), target 1 has the unknown field `sysroot` (known: architecture, os, executable, arguments, binds, requires)"),
        (#"{"toolchains": [], "comment": "x"}"#, "the top level has the unknown field `comment` (known: toolchains)"),
        (file(entry("x-1", extra: #", "priority": 2"#)), "entry 1 (`x-1`) has the field `priority` twice"),
        (file(entry("x-1").replacingOccurrences(of: #""priority": 1"#, with: #""priority": "high""#)), "entry 1, field `priority`:"),
        (file(entry("x-1").replacingOccurrences(of: #""language": "c""#, with: #""language": "cobol""#)), "entry 1, field `language`:"),
        (file(entry("x-1").replacingOccurrences(of: #""source_file": "main.c", "#, with: "")), "entry 1 lacks the field `source_file`"),
        (#"{"toolchains": [}"#, "invalid JSON at byte 16"),
        (file(entry("x-1").replacingOccurrences(of: #""default_standard": "c11""#, with: #""default_standard": "c17""#)),
         "entry 1 (`x-1`) has the default standard `c17`, which is not among its standards"),
        (file(entry("x-1", extra: #", "standards_since": {"c17": "1.0"}"#)),
         "entry 1 (`x-1`) gives `standards_since` for `c17`, which is not among its standards"),
        (file(entry("x-1", extra: #", "standards_since": {"c11": "+1.x"}"#)),
         "entry 1 (`x-1`) gives `standards_since` `+1.x` for `c11`; a version is written major.minor, e.g. 1.85"),
        ("[]", "the file is not a JSON object"),
        (file(entry("x-1").replacingOccurrences(of: #""command": ["{executable}"]"#, with: #""command": ["{executable}", "--input={source}"]"#)),
         "entry 1 (`x-1`) has `{source}` inside the command's element `--input={source}`; `{source}` must be an element of its own"),
    ])
    func aFileTheWorkerWouldMisreadIsRefusedSayingWhereAndWhatIsKnown(text: String, says: String) throws {
        let directory = try scratch(["good.json": Self.file(Self.entry("good-1")), "bad.json": text])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let message = refusal(directory)
        #expect(message.hasPrefix("toolchain catalog (WORKER_CATALOG) \(directory)/bad.json: "), "\(message)")
        #expect(message.contains(says), "\(message)")
    }

    @Test func anUnreadableFileIsRefusedNamingIt() throws {
        let directory = try scratch(["good.json": Self.file(Self.entry("good-1"))])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/gone.json", withDestinationPath: "\(directory)/nowhere")
        #expect(refusal(directory) == "toolchain catalog (WORKER_CATALOG) \(directory)/gone.json: no such file (a link to nowhere?)")
        try FileManager.default.removeItem(atPath: "\(directory)/gone.json")
        try FileManager.default.createDirectory(atPath: "\(directory)/folder.json", withIntermediateDirectories: false)
        #expect(refusal(directory).hasPrefix("toolchain catalog (WORKER_CATALOG) \(directory)/folder.json: cannot read it"))
    }

    @Test func aMissingOrEmptyCatalogIsRefused() throws {
        let directory = try scratch(["notes.txt": "not a catalog file"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(refusal(directory).hasSuffix("\(directory): the directory holds no *.json file"))
        #expect(refusal("\(directory)/absent").hasSuffix("\(directory)/absent: no such file or directory"))
    }
}
