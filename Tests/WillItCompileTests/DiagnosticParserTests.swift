import Foundation
import Testing
import WillItCompile

/// The stderr a real compiler wrote for a source of Tests/Fixtures/Diagnostics
/// (scripts/generate-diagnostic-fixtures), parsed as the worker parses it.
private func diagnostics(of fixture: String, _ dialect: DiagnosticDialect = .gcc) throws -> [Diagnostic] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let text = try String(contentsOf: root.appendingPathComponent("Fixtures/Diagnostics/\(fixture).txt"), encoding: .utf8)
    return DiagnosticParser(dialect: dialect, workspace: "/work").parse(text)
}

private func at(_ file: String?, _ line: Int?, _ column: Int?, _ severity: Diagnostic.Severity, _ message: String,
                _ option: String? = nil) -> Diagnostic {
    Diagnostic(file: file, line: line, column: column, severity: severity, message: message, option: option)
}

@Suite struct DiagnosticParserTests {
    @Test func gccErrorsNotesAndWarningsWithTheirOptions() throws {
        #expect(try diagnostics(of: "c-errors.gcc-12") == [
            at("main.c", 7, 27, .error, "‘undeclared’ undeclared (first use in this function)"),
            at("main.c", 7, 27, .note, "each undeclared identifier is reported only once for each function it appears in"),
            at("main.c", 8, 12, .warning, "returning ‘char *’ from a function with return type ‘int’ makes integer from pointer without a cast", "-Wint-conversion"),
            at("main.c", 6, 9, .warning, "unused variable ‘unused’", "-Wunused-variable"),
        ])
    }

    @Test func clangErrorsWithTheirOptionsAndNotTheEchoedSource() throws {
        #expect(try diagnostics(of: "c-errors.clang-16") == [
            at("main.c", 7, 27, .error, "use of undeclared identifier 'undeclared'"),
            at("main.c", 8, 12, .error, "incompatible pointer to integer conversion returning 'char[5]' from a function with result type 'int'", "-Wint-conversion"),
        ])
    }

    @Test func fatalErrorsAreErrors() throws {
        #expect(try diagnostics(of: "c-fatal.gcc-12") == [at("main.c", 2, 10, .error, "missing.h: No such file or directory")])
        #expect(try diagnostics(of: "c-fatal.clang-16") == [at("main.c", 2, 10, .error, "'missing.h' file not found")])
    }

    @Test func aWarningMadeAnErrorNamesTheWarningsOption() throws {
        #expect(try diagnostics(of: "c-werror.gcc-12") == [at("main.c", 2, 9, .error, "unused variable ‘unused’", "-Wunused-variable")])
        #expect(try diagnostics(of: "c-werror.clang-16") == [at("main.c", 2, 9, .error, "unused variable 'unused'", "-Wunused-variable")])
    }

    @Test func notesFollowTheirError() throws {
        #expect(try diagnostics(of: "c-redefinition.gcc-12") == [
            at("main.c", 2, 5, .error, "redefinition of ‘value’"),
            at("main.c", 1, 5, .note, "previous definition of ‘value’ with type ‘int’"),
        ])
        #expect(try diagnostics(of: "c-redefinition.clang-16") == [
            at("main.c", 2, 5, .error, "redefinition of 'value'"),
            at("main.c", 1, 5, .note, "previous definition is here"),
        ])
        #expect(try diagnostics(of: "cpp-overload.gcc-12") == [
            at("main.cpp", 11, 9, .error, "no matching function for call to ‘show(Point&)’"),
            at("main.cpp", 6, 6, .note, "candidate: ‘void show(int)’"),
            at("main.cpp", 6, 15, .note, "no known conversion for argument 1 from ‘Point’ to ‘int’"),
            at("main.cpp", 7, 6, .note, "candidate: ‘void show(double)’"),
            at("main.cpp", 7, 18, .note, "no known conversion for argument 1 from ‘Point’ to ‘double’"),
        ])
        #expect(try diagnostics(of: "cpp-overload.clang-16") == [
            at("main.cpp", 11, 5, .error, "no matching function for call to 'show'"),
            at("main.cpp", 6, 6, .note, "candidate function not viable: no known conversion from 'Point' to 'int' for 1st argument"),
            at("main.cpp", 7, 6, .note, "candidate function not viable: no known conversion from 'Point' to 'double' for 1st argument"),
        ])
    }

    @Test func aTemplateBacktraceBecomesNotesAfterItsError() throws {
        #expect(try diagnostics(of: "cpp-template.gcc-12") == [
            at("main.cpp", 5, 18, .error, "no match for ‘operator*’ (operand types are ‘std::__cxx11::basic_string<char>’ and ‘int’)"),
            at("main.cpp", nil, nil, .note, "In instantiation of ‘T twice(T) [with T = std::__cxx11::basic_string<char>]’"),
            at("main.cpp", 10, 17, .note, "required from here"),
        ])
        #expect(try diagnostics(of: "cpp-template.clang-16") == [
            at("main.cpp", 5, 18, .error, "invalid operands to binary expression ('std::basic_string<char>' and 'int')"),
            at("main.cpp", 10, 12, .note, "in instantiation of function template specialization 'twice<std::basic_string<char>>' requested here"),
        ])
    }

    @Test func systemHeadersKeepTheirPathsAndIncludesBecomeNotes() throws {
        let gcc = try diagnostics(of: "c-system-header.gcc-12")
        #expect(Array(gcc.prefix(4)) == [
            at("/usr/include/x86_64-linux-gnu/bits/types/FILE.h", 7, 29, .error, "expected ‘{’ before ‘;’ token"),
            at("/usr/include/stdio.h", 42, nil, .note, "included from here"),
            at("main.c", 2, nil, .note, "included from here"),
            at("main.c", 1, 14, .error, "two or more data types in declaration specifiers"),
        ])
        #expect(DiagnosticSummary(gcc).errorCount == 43 && DiagnosticSummary(gcc).warningCount == 0)
        let clang = try diagnostics(of: "c-system-header.clang-16")
        #expect(Array(clang.prefix(5)) == [
            at("/usr/include/x86_64-linux-gnu/bits/types/FILE.h", 7, 25, .error, "declaration of anonymous struct must be a definition"),
            at("main.c", 2, nil, .note, "included from here"),
            at("/usr/include/stdio.h", 42, nil, .note, "included from here"),
            at("main.c", 1, 14, .note, "expanded from macro 'FILE'"),
            at("/usr/include/stdio.h", 143, 8, .error, "declaration of anonymous struct must be a definition"),
        ])
        #expect(clang.last == at(nil, nil, nil, .error, "too many errors emitted, stopping now", "-ferror-limit="))
        #expect(DiagnosticSummary(clang).errorCount == 20 && DiagnosticSummary(clang).warningCount == 0)
    }

    @Test func aLineWithoutAColumnAndMessagesAboutTheCommandLine() throws {
        #expect(try diagnostics(of: "c-command-line.gcc-12") == [
            at("main.c", 1, nil, .warning, "\"LIMIT\" redefined"),
            at(nil, nil, nil, .note, "this is the location of the previous definition"),
        ])
        #expect(try diagnostics(of: "c-command-line.clang-16") == [
            at("main.c", 1, 9, .warning, "'LIMIT' macro redefined", "-Wmacro-redefined"),
            at(nil, nil, nil, .note, "previous definition is here"),
        ])
        #expect(try diagnostics(of: "swift-missing-input.swiftc-6") == [
            at(nil, nil, nil, .error, "error opening input file '/work/absent.swift' (No such file or directory)"),
        ])
    }

    @Test func linkerErrorsHaveAFileButNoLine() throws {
        #expect(try diagnostics(of: "c-link.gcc-12") == [
            at("main.c", nil, nil, .error, "undefined reference to `helper'"),
            at(nil, nil, nil, .error, "ld returned 1 exit status"),
        ])
        #expect(try diagnostics(of: "c-link.clang-16") == [
            at("main.c", nil, nil, .error, "undefined reference to `helper'"),
            at(nil, nil, nil, .error, "linker command failed with exit code 1 (use -v to see invocation)"),
        ])
    }

    @Test func goGcMessagesAreErrorsAtTheUsersPath() throws {
        #expect(try diagnostics(of: "go-errors.go-1.19", .go) == [
            at("main.go", 3, 8, .error, "imported and not used: \"os\""),
            at("main.go", 6, 2, .error, "x declared but not used"),
            at("main.go", 7, 2, .error, "undefined: undefinedCall"),
        ])
    }

    @Test func gccgo() throws {
        #expect(try diagnostics(of: "go-errors.gccgo-12") == [
            at("main.go", 3, 10, .error, "imported and not used: os"),
            at("main.go", 7, 9, .error, "reference to undefined name ‘undefinedCall’"),
            at("main.go", 6, 9, .error, "‘x’ declared but not used"),
        ])
    }

    @Test func swiftcWithoutItsSnippetsAndWithItsDiagnosticGroups() throws {
        #expect(try diagnostics(of: "swift-errors.swiftc-6") == [
            at("main.swift", 5, 18, .error, "cannot convert value of type 'String' to specified type 'Int'"),
            at("main.swift", 6, 7, .error, "cannot find 'missingName' in scope"),
            at("main.swift", 10, 13, .warning, "'old()' is deprecated: use compute()", "DeprecatedDeclaration"),
            at("main.swift", 2, 9, .warning, "variable 'unchanged' was never mutated; consider changing to 'let' constant"),
        ])
    }

    @Test func rustcErrorsAndWarningsWithTheirLints() throws {
        #expect(try diagnostics(of: "rust-errors.rustc-1.63", .rustc) == [
            at("main.rs", 3, 20, .error, "cannot find value `missing` in this scope"),
        ])
        #expect(try diagnostics(of: "rust-warnings.rustc-1.63", .rustc) == [
            at("main.rs", 2, 9, .warning, "unused variable: `unused`", "unused_variables"),
            at("main.rs", 5, 4, .warning, "function `never_called` is never used", "dead_code"),
        ])
    }

    @Test func theDialectComesFromTheToolchain() throws {
        let catalog = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("toolchains/catalog")
        let specs = try ToolchainCatalog.load(at: catalog.path)
        let dialects = Dictionary(specs.map { ($0.id, DiagnosticDialect($0)) }, uniquingKeysWith: { first, _ in first })
        #expect(dialects["gcc-12"] == .gcc && dialects["clang-16"] == .gcc && dialects["gccgo-12"] == .gcc)
        #expect(dialects["swiftc-6"] == .gcc && dialects["go-1.19"] == .go && dialects["rustc-1.63"] == .rustcJSON)
    }

    @Test func aFileInASubfolderOfTheWorkspaceKeepsItsRelativeName() {
        let text = "In file included from /work/src/main.cpp:1:\n/work/include/util.h:3:1: error: expected ';'\n"
        #expect(DiagnosticParser(dialect: .gcc, workspace: "/work").parse(text) == [
            at("include/util.h", 3, 1, .error, "expected ';'"), at("src/main.cpp", 1, nil, .note, "included from here"),
        ])
        #expect(DiagnosticParser(dialect: .go, workspace: "/work").parse("./util/strings.go:4:2: undefined: x\n")
                == [at("util/strings.go", 4, 2, .error, "undefined: x")])
        // A path that only starts like the workspace is not in it.
        #expect(DiagnosticParser(dialect: .gcc, workspace: "/work").parse("/workshop/a.h:1:1: error: e\n")
                == [at("/workshop/a.h", 1, 1, .error, "e")])
    }

    @Test func aLineLikeAMessageInsideClangsEchoIsNotOne() {
        let text = "/work/main.c:1:1: error: unknown type name 'x'\nx.c:9:9: error: forged\n^\n1 error generated.\n"
        #expect(DiagnosticParser(dialect: .gcc, workspace: "/work").parse(text) == [at("main.c", 1, 1, .error, "unknown type name 'x'")])
    }

    /// `#line 0` then `#include "h.h"` makes clang print `In file included from main.c:0:`:
    /// no place, since lines and columns count from 1 (SARIF refuses a startLine of 0).
    @Test func aLineOrColumnBelowOneIsNoPlace() {
        let text = "In file included from /work/main.c:0:\n/work/h.h:1:1: error: unknown type name 'x'\n"
        let summary = DiagnosticSummary(DiagnosticParser(dialect: .gcc, workspace: "/work").parse(text))
        #expect(summary.diagnostics.allSatisfy { ($0.line ?? 1) >= 1 && ($0.column ?? 1) >= 1 }, "\(summary.diagnostics)")
        #expect(summary.diagnostics.contains { $0.file == "main.c" && $0.line == nil && $0.column == nil }, "\(summary.diagnostics)")
        #expect(DiagnosticSummary([at("main.c", 3, 0, .error, "m")]).diagnostics == [Diagnostic(file: "main.c", line: 3, column: nil, severity: .error, message: "m")])
    }

    @Test func aSummaryKeepsABoundedListAndCountsEveryMessage() {
        let many = (1...600).map { at("main.c", $0, 1, $0.isMultiple(of: 3) ? .warning : .error, String(repeating: "é", count: 700)) }
        let summary = DiagnosticSummary(many)
        #expect(summary.errorCount == 400 && summary.warningCount == 200)
        #expect(summary.diagnostics.count == DiagnosticSummary.maxListed)
        #expect(summary.diagnostics.allSatisfy { $0.message.utf8.count <= DiagnosticSummary.maxMessageBytes && $0.message.hasSuffix("…") })
    }

    @Test func theJSONListReadsBackAsWritten() throws {
        let list = try diagnostics(of: "cpp-template.gcc-12") + diagnostics(of: "c-link.gcc-12") + diagnostics(of: "c-werror.clang-16")
        let json = Diagnostic.json(list)
        #expect(Diagnostic.list(fromJSON: json) == list)
        // Every key is present, absent values as null.
        #expect(String(decoding: Diagnostic.json([at(nil, nil, nil, .error, "ld returned 1 exit status")]), as: UTF8.self)
            == #"[{"column":null,"file":null,"line":null,"message":"ld returned 1 exit status","option":null,"severity":"error"}]"#)
        #expect(Diagnostic.list(fromJSON: Array(#"[{"severity":"fatal","message":"x"}]"#.utf8)) == nil)
    }

    /// The fixture's text: rustc's output as the service asks for it, or as a person reads it.
    private func fixture(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("Fixtures/Diagnostics/\(name).txt"), encoding: .utf8)
    }

    @Test(arguments: ["rust-errors", "rust-warnings"])
    func rustcsJSONBecomesExactlyItsHumanText(_ source: String) throws {
        let parser = DiagnosticParser(dialect: .rustcJSON, workspace: "/work")
        let read = parser.read(try fixture("\(source).rustc-1.63.json"))
        #expect(read.stderr == (try fixture("\(source).rustc-1.63")))
    }

    @Test func rustcsJSONNamesPlacesLintsAndNotes() throws {
        let parser = DiagnosticParser(dialect: .rustcJSON, workspace: "/work")
        #expect(parser.read(try fixture("rust-errors.rustc-1.63.json")).diagnostics == [
            at("main.rs", 3, 20, .error, "cannot find value `missing` in this scope"),
        ])
        #expect(parser.read(try fixture("rust-warnings.rustc-1.63.json")).diagnostics == [
            at("main.rs", 2, 9, .warning, "unused variable: `unused`", "unused_variables"),
            at(nil, nil, nil, .note, "`#[warn(unused_variables)]` on by default"),
            at("main.rs", 2, 9, .note, "if this is intentional, prefix it with an underscore"),
            at("main.rs", 5, 4, .warning, "function `never_called` is never used", "dead_code"),
            at(nil, nil, nil, .note, "`#[warn(dead_code)]` on by default"),
        ])
    }

    @Test func aMessageCutByTheOutputCapIsLeftOutAndOtherLinesKept() throws {
        let lines = try fixture("rust-warnings.rustc-1.63.json").split(separator: "\n")
        let cut = lines[0] + "\n" + lines[1].prefix(40) + "\n[output truncated: 900 more bytes were cut]\n"
        let read = DiagnosticParser(dialect: .rustcJSON, workspace: "/work").read("thread 'rustc' panicked\n" + cut)
        #expect(read.stderr.hasPrefix("thread 'rustc' panicked\nwarning: unused variable: `unused`\n"))
        #expect(read.stderr.hasSuffix("on by default\n\n[output truncated: 900 more bytes were cut]\n"))
        #expect(read.diagnostics.count == 3)
    }
}

/// A multi-file project's messages name its files as the user did, also through `..`.
@Suite struct ProjectDiagnosticsTests {
    @Test func aHeaderInASubfolderIsNamedAsTheUserNamedIt() throws {
        #expect(try diagnostics(of: "cpp-project.gcc-12") == [
            at("include/util.h", 3, 16, .error, "‘factor’ was not declared in this scope"),
            at("src/main.cpp", 1, nil, .note, "included from here"),
            at("src/other.cpp", 1, 22, .error, "‘missing’ was not declared in this scope"),
        ])
        #expect(try diagnostics(of: "cpp-project.clang-16") == [
            at("include/util.h", 3, 16, .error, "use of undeclared identifier 'factor'"),
            at("src/main.cpp", 1, nil, .note, "included from here"),
            at("src/other.cpp", 1, 22, .error, "use of undeclared identifier 'missing'; did you mean 'using'?"),
            at("src/other.cpp", 1, 22, .error, "expected expression"),
        ])
    }

    @Test func aRustModuleIsNamedByItsPathInTheCrate() throws {
        let found = try diagnostics(of: "rust-module.rustc-1.63.json", .rustcJSON)
        #expect(found.first == at("src/util.rs", 2, 7, .error, "cannot multiply `u32` by `&str`"), "\(found)")
    }

    @Test(arguments: [
        ("/work/src/../include/util.h", "include/util.h"), ("/work/./a/./b.h", "a/b.h"), ("src/../x.h", "x.h"),
        ("/work/../etc/passwd", "/work/../etc/passwd"), ("../x.h", "../x.h"),
        ("/usr/lib/gcc/x86_64-linux-gnu/12/../../../../include/c++/12/vector", "/usr/lib/gcc/x86_64-linux-gnu/12/../../../../include/c++/12/vector"),
    ])
    func aPathInTheWorkspaceIsResolvedAndOneOutsideStaysAsPrinted(_ printed: String, _ shown: String) {
        let parser = DiagnosticParser(dialect: .gcc, workspace: "/work")
        #expect(parser.parse("\(printed):1:2: error: x\n") == [at(shown, 1, 2, .error, "x")])
    }
}
