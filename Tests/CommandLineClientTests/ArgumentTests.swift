@testable import CommandLineClient
import Foundation
import Testing
import WillItCompile

/// What the command line means before anything is sent: the language, the server, the
/// options, and the exit status of a command line that cannot run.
@Suite struct ArgumentTests {
    @Test(arguments: [
        ("main.c", Language.c), ("util.H", .c), ("a.cpp", .cpp), ("b.CC", .cpp), ("c.cxx", .cpp), ("d.hpp", .cpp),
        ("src/server.go", .go), ("lib.rs", .rust), ("App.swift", .swift), ("/tmp/dir.with.dots/x.c++", .cpp),
    ])
    func theLanguageComesFromTheExtension(file: String, language: Language) throws {
        #expect(try CompileRequest.language(named: nil, file: file) == language)
    }

    @Test func anUnknownExtensionNamesTheKnownOnesAndTheOption() {
        for file in ["notes.txt", "Makefile", "dir.c/source"] {
            #expect {
                try CompileRequest.language(named: nil, file: file)
            } throws: { error in
                let text = "\(error)"
                return error is UsageError && text.contains("`\(URL(fileURLWithPath: file).lastPathComponent)`")
                    && text.contains(".c, .c++, .cc, .cpp, .cxx, .go, .h, .hh, .hpp, .rs, .swift") && text.contains("--language")
            }
        }
    }

    @Test func languageOverridesTheExtensionAndIsChecked() throws {
        #expect(try CompileRequest.language(named: "c++", file: "notes.txt") == .cpp)
        #expect(try CompileRequest.language(named: "rust", file: "main.c") == .rust)
        #expect {
            try CompileRequest.language(named: "pascal", file: "main.c")
        } throws: { "\($0)" == "--language `pascal` is not a language the service knows: accepted c, cpp, c++, go, rust, swift" }
    }

    @Test func theServerIsTheOptionElseWICURLElseLocalhost() throws {
        #expect(try ServerAddress.resolve(option: nil, environment: [:]) == "http://localhost:8080")
        #expect(try ServerAddress.resolve(option: nil, environment: ["WIC_URL": ""]) == "http://localhost:8080")
        #expect(try ServerAddress.resolve(option: nil, environment: ["WIC_URL": "https://wic.example/"]) == "https://wic.example")
        #expect(try ServerAddress.resolve(option: "http://10.1.2.3:9000/wic//", environment: ["WIC_URL": "https://wic.example"])
            == "http://10.1.2.3:9000/wic")
    }

    @Test func aServerThatIsNoHTTPURLIsRefusedNamingWhereItCameFrom() {
        let refused: [(String?, [String: String], String)] = [
            ("localhost:8080", [:], "--server `localhost:8080`"),
            ("ftp://host", [:], "--server `ftp://host`"),
            ("http://", [:], "--server `http://`"),
            ("http://host/?q=1", [:], "--server `http://host/?q=1`"),
            ("http://user:secret@host", [:], "--server `http://user:secret@host`"),
            (nil, ["WIC_URL": "wic.example"], "WIC_URL `wic.example`"),
        ]
        for (option, environment, named) in refused {
            #expect {
                try ServerAddress.resolve(option: option, environment: environment)
            } throws: { "\($0)" == "\(named) is not a server URL: expected http://HOST[:PORT][/PREFIX] or https://…, e.g. http://localhost:8080" }
        }
    }

    @Test func flagsMayStartWithADashAndRepeat() throws {
        let command = try Compile.parse(["main.c", "--flag", "-O2", "--flag=-Wall", "--flag", "-std=c11", "--no-link", "--std", "c11", "--arch", "arm64"])
        let source = command.source
        #expect(source.flags == ["-O2", "-Wall", "-std=c11"])
        #expect(source.noLink && !source.noCache && command.standard == "c11" && command.architecture == "arm64")
        #expect(command.wait == 300)
    }

    @Test func theRequestCarriesTheBytesAndOnlyWhatWasGiven() throws {
        let bytes = Data([0x69, 0x6E, 0x74, 0xFF, 0x00, 0x0D, 0x0A])  // not UTF-8, a NUL, CRLF
        var request = CompileRequest(source: bytes, language: .cpp)
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as? [String: Any] ?? [:]
        #expect(Set(object.keys) == ["code", "language"])
        #expect(Data(base64Encoded: object["code"] as? String ?? "") == bytes)
        #expect(object["language"] as? String == "cpp")

        request.flags = ["-O2"]
        request.link = false
        request.cache = false
        request.compiler = "clang-16"
        object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as? [String: Any] ?? [:]
        #expect(Set(object.keys) == ["code", "language", "flags", "link", "cache", "compiler"])
        #expect(object["link"] as? Bool == false && object["cache"] as? Bool == false && object["flags"] as? [String] == ["-O2"])
    }

    @Test func theAPIWaitIsWholeSecondsFromOneToThirty() {
        #expect(LongPoll.waitParameter(0.2) == 1)
        #expect(LongPoll.waitParameter(2.5) == 3)
        #expect(LongPoll.waitParameter(30) == 30)
        #expect(LongPoll.waitParameter(300) == 30)
    }

    /// A command line that cannot run exits 2 before anything is sent; help exits 0.
    @Test func usageErrorsExitTwo() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let notes = directory.appendingPathComponent("notes.txt").path
        try "int main() {}\n".write(toFile: notes, atomically: true, encoding: .utf8)
        let usageErrors: [[String]] = [
            [], ["frobnicate"], ["compile"], ["compile", "--bogus", notes], ["compile", notes],
            ["compile", directory.appendingPathComponent("missing.c").path], ["compile", directory.path + "/"],
            ["compile", "--language", "c", "--wait=0", notes], ["compile", "--language", "c", "--wait", "soon", notes],
            ["compile", "--language", "c", "--server", "localhost", notes], ["environments", "--server", "mailto:x"],
        ]
        for arguments in usageErrors {
            #expect(await CommandLineMain.run(arguments) == ExitStatus.usageError.rawValue, "\(arguments)")
        }
        #expect(await CommandLineMain.run(["--help"]) == 0)
        #expect(await CommandLineMain.run(["compile", "--help"]) == 0)
    }
}
