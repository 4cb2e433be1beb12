@testable import CommandLineClient
import Foundation
import Testing
import WillItCompile

/// A project's names and language, and a matrix's request and table: what `compile FILE…` and
/// `matrix` decide before and after talking to the service.
@Suite struct ProjectAndMatrixTests {
    static let plain = Palette(enabled: false)

    func names(_ paths: [String], root: String? = nil, in directory: String = "/home/me/work") throws -> [String] {
        try ProjectFiles(paths: paths, root: root, currentDirectory: directory).entries.map(\.name)
    }

    @Test func namesAreRelativeToTheFilesCommonFolderOrTheRoot() throws {
        #expect(try names(["src/main.cpp", "include/util.h"]) == ["src/main.cpp", "include/util.h"])
        #expect(try names(["/tmp/p/src/main.cpp", "/tmp/p/src/util.h"]) == ["main.cpp", "util.h"])
        #expect(try names(["./src/../src/main.cpp", "src//util.h"]) == ["main.cpp", "util.h"])
        #expect(try names(["/tmp/p/src/main.cpp", "/tmp/p/src/util.h"], root: "/tmp/p") == ["src/main.cpp", "src/util.h"])
        #expect(try names(["main.c"], root: "..") == ["work/main.c"])
        #expect(try ProjectFiles(paths: ["a.c"], root: nil, currentDirectory: "/w").entries == [.init(name: "a.c", path: "/w/a.c")])
    }

    @Test func aNameTheServiceWouldRefuseIsAUsageErrorNamingTheFileAndTheRule() {
        let refused: [([String], String?, String)] = [
            (["/tmp/p/main.c", "/etc/passwd"], "/tmp/p", "`/etc/passwd` is not inside the project's root `/tmp/p`"),
            (["src/main.c", "src/my util.h"], nil, "`src/my util.h` would be named `my util.h` in the project, which the service refuses: the byte 0x20 is not accepted in a name. A name must be a relative path"),
            (["main.c", ".config/go/env"], nil, "`.config/go/env` would be named `.config/go/env` in the project, which the service refuses: a name starting with `.` is not accepted"),
            (["main.c", "./main.c"], nil, "`./main.c` is given twice (as `main.c`)"),
        ]
        for (paths, root, message) in refused {
            #expect {
                try ProjectFiles(paths: paths, root: root, currentDirectory: "/home/me")
            } throws: { error in error is UsageError && "\(error)".hasPrefix(message) }
        }
    }

    @Test func theSourcesTellTheLanguageNotTheHeaders() throws {
        func language(_ paths: [String]) throws -> Language {
            try ProjectFiles(paths: paths, root: nil, currentDirectory: "/w").language()
        }
        // util.h alone would say C.
        #expect(try language(["include/util.h", "src/main.cpp"]) == .cpp)
        #expect(try language(["lib.h", "main.c", "data.txt"]) == .c)
        #expect(try language(["go.mod", "main.go", "util/util.go"]) == .go)
        #expect { try language(["a.h", "b.hpp"]) } throws: {
            "\($0)".hasPrefix("none of the files is a source that tells the project's language (sources: .c, .cpp, .cc, .cxx, .go, .rs, .swift; headers do not decide); give --language")
        }
        #expect { try language(["main.c", "util.go"]) } throws: {
            "\($0)".hasPrefix("the sources are of several languages: c (`main.c`), go (`util.go`); a project is of one, give --language")
        }
    }

    @Test func aUnitMustBeOneOfTheProjectsFiles() throws {
        let project = try ProjectFiles(paths: ["src/a.cpp", "src/b.cpp"], root: nil, currentDirectory: "/w")
        #expect(try project.translationUnits(["a.cpp"]) == ["a.cpp"])
        #expect { try project.translationUnits(["src/a.cpp"]) } throws: {
            "\($0)" == "--unit `src/a.cpp` is not one of the project's files: `a.cpp`, `b.cpp`"
        }
    }

    @Test func aProjectIsSentAsFilesWithItsUnits() throws {
        let request = CompileRequest(files: [.init(name: "include/util.h", content: Data([0x00, 0xFF]))], translationUnits: ["main.cpp"], language: .cpp)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as? [String: Any] ?? [:]
        #expect(Set(object.keys) == ["files", "translation_units", "language"])
        let file = (object["files"] as? [[String: String]])?.first
        #expect(file == ["name": "include/util.h", "content": "AP8=", "encoding": "base64"])
        #expect(object["translation_units"] as? [String] == ["main.cpp"])
    }

    @Test func anEnvironmentIsCompilerStandardAndTarget() throws {
        #expect(try MatrixRequest.Environment(parsing: "gcc-12") == .init(compiler: "gcc-12"))
        #expect(try MatrixRequest.Environment(parsing: "gcc-12:c++17") == .init(compiler: "gcc-12", standard: "c++17"))
        #expect(try MatrixRequest.Environment(parsing: "clang-16::arm64/linux")
            == .init(compiler: "clang-16", architecture: "arm64", os: "linux"))
        for text in ["", ":c++17", "gcc-12:c++17:arm64", "gcc-12:c++17:arm64/linux/x", "a:b:c/d:e"] {
            #expect { try MatrixRequest.Environment(parsing: text) } throws: {
                "\($0)".contains("expected COMPILER[:STANDARD[:ARCH/OS]], e.g. gcc-12")
            }
        }
    }

    @Test func allTakesTheFiltersAndEnvironmentsTakeNone() throws {
        let source = CompileRequest(source: Data("int main(){}".utf8), language: .cpp)
        let all = try MatrixRequest(source: source, all: false, environments: [], compilers: ["gcc,clang-16", "gcc-11"],
                                    standards: ["c++98, c++17"], targets: [])
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(all)) as? [String: Any] ?? [:]
        #expect(Set(object.keys) == ["code", "language", "environments", "compilers", "standards"])
        #expect(object["environments"] as? String == "all")
        #expect(object["compilers"] as? [String] == ["gcc", "clang-16", "gcc-11"] && object["standards"] as? [String] == ["c++98", "c++17"])

        let listed = try MatrixRequest(source: source, all: false, environments: ["gcc-12:c++17", "clang-16"], compilers: [], standards: [], targets: [])
        let listedObject = try JSONSerialization.jsonObject(with: JSONEncoder().encode(listed)) as? [String: Any] ?? [:]
        #expect(listedObject["environments"] as? [[String: String]] == [["compiler": "gcc-12", "standard": "c++17"], ["compiler": "clang-16"]])

        #expect { try MatrixRequest(source: source, all: true, environments: ["gcc-12"], compilers: [], standards: [], targets: []) } throws: {
            "\($0)" == "--all and --env are two ways to name the cells: give one of them"
        }
        #expect { try MatrixRequest(source: source, all: false, environments: ["gcc-12"], compilers: [], standards: ["c++17"], targets: []) } throws: {
            "\($0)".hasPrefix("--standards narrows --all; with --env the environments are the cells")
        }
    }

    static let matrix = #"""
        {"matrix_id":"5e1f0000-0000-4000-8000-000000000001","status":"completed","language":"cpp","created_at":"2026-11-27T23:00:00Z",
         "cells":[
          {"compiler":"gcc-12","standard":"c++98","architecture":"x86_64","os":"linux","job_id":"a","status":"failed","compiled":false,
           "first_error":{"file":"include/util.h","line":1,"column":22,"severity":"error","message":"‘nullptr’ was not declared in this scope","option":null}},
          {"compiler":"gcc-12","standard":"c++17","architecture":"x86_64","os":"linux","job_id":"b","status":"completed","compiled":true},
          {"compiler":"clang-16","standard":"c++17","architecture":"x86_64","os":"linux","job_id":"c","status":"error","error":"the sandbox could not start"}],
         "summary":{"cells":3,"finished":3,"compiled":1,
          "compilers":[{"compiler":"gcc-12","accepts":true,"oldest_standard":"c++17","accepted_standards":["c++17"],"rejected_standards":["c++98"]},
                       {"compiler":"clang-16","accepts":false,"accepted_standards":[],"rejected_standards":["c++17"]}],
          "standards":[{"standard":"c++98","accepted_by":[],"rejected_by":["gcc-12"]},{"standard":"c++17","accepted_by":["gcc-12"],"rejected_by":["clang-16"]}],
          "targets":[],"failures":[]}}
        """#

    @Test func theTableIsCompilersByStandardsThenTheSummary() throws {
        let answer = try MatrixAnswer.decode(ServiceReply(status: 200, headers: [:], body: Data(Self.matrix.utf8)))
        #expect(MatrixTable.text(of: answer, palette: Self.plain) == """
                      c++98  c++17
            gcc-12    ✗      ✓
            clang-16  ·      !

            oldest standard each compiler accepts:
              gcc-12    c++17
              clang-16  none: no cell compiled
            first error of each cell that did not compile:
              gcc-12 c++98 x86_64/linux: include/util.h:1:22: error: ‘nullptr’ was not declared in this scope
              clang-16 c++17 x86_64/linux: error: the sandbox could not start
            1 of 3 cells compiled (matrix 5e1f0000-0000-4000-8000-000000000001)

            """)
    }

    @Test func severalTargetsAreRowsAndNoStandardIsTheDefaultColumn() throws {
        func cell(_ compiler: String, _ architecture: String, _ status: String) -> String {
            #"{"compiler":"\#(compiler)","architecture":"\#(architecture)","os":"linux","job_id":"j","status":"\#(status)"}"#
        }
        let body = #"{"matrix_id":"m","status":"completed","cells":["#
            + [cell("go-1.19", "x86_64", "completed"), cell("go-1.19", "arm64", "failed"), cell("gccgo-12", "x86_64", "timeout")].joined(separator: ",")
            + #"],"summary":{"cells":3,"finished":3,"compiled":1,"standards":[],"compilers":[{"compiler":"go-1.19","accepts":true},{"compiler":"gccgo-12","accepts":false}]}}"#
        let answer = try MatrixAnswer.decode(ServiceReply(status: 200, headers: [:], body: Data(body.utf8)))
        #expect(MatrixTable.text(of: answer, palette: Self.plain).hasPrefix("""
                                   default
            go-1.19 x86_64/linux   ✓
            go-1.19 arm64/linux    ✗
            gccgo-12 x86_64/linux  ✗

            oldest standard each compiler accepts:
              go-1.19   its default
              gccgo-12  none: no cell compiled
            first error of each cell that did not compile:
              go-1.19 arm64/linux: failed
              gccgo-12 x86_64/linux: timeout
            1 of 3 cells compiled (matrix m)
            """))
    }

    @Test func matrixUsageErrorsExitTwo() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let main = directory.appendingPathComponent("main.cpp").path
        try "int main() {}\n".write(toFile: main, atomically: true, encoding: .utf8)
        let usageErrors: [[String]] = [
            ["matrix"], ["matrix", "--env", "gcc-12:c++17:arm64", main], ["matrix", "--env", "gcc-12", "--compilers", "gcc", main],
            ["matrix", "--all", "--env", "gcc-12", main], ["matrix", "--wait", "0", main],
            ["compile", main, directory.appendingPathComponent("bad name.h").path],
            ["compile", "--unit", "other.cpp", main], ["compile", "--root", directory.appendingPathComponent("sub").path, main],
        ]
        for arguments in usageErrors {
            #expect(await CommandLineMain.run(arguments) == ExitStatus.usageError.rawValue, "\(arguments)")
        }
        #expect(await CommandLineMain.run(["matrix", "--help"]) == 0)
    }
}
