import Testing
import WillItCompile

@Suite struct GoCgoImportTests {
    static func place(_ source: String) -> [Int]? {
        GoCgoImport.location(in: Array(source.utf8)).map { [$0.line, $0.column] }
    }

    @Test func importCIsFoundWhereverTheImportsWriteIt() {
        #expect(Self.place("package main\n\nimport \"C\"\n\nfunc main() {}\n") == [3, 8])
        #expect(Self.place("package main\n\n// #include <stdio.h>\nimport \"C\"\nfunc main() {}\n") == [4, 8])
        #expect(Self.place("package main\nimport (\n\t\"fmt\"\n\t\"C\"\n)\n") == [4, 2])
        #expect(Self.place("package main; import \"os\"; import c `C`\n") == [1, 37])
        #expect(Self.place("package main\r\n/* a\r\ncomment */ import \"C\"\r\n") == [3, 19])
    }

    @Test func cElsewhereIsNoImport() {
        #expect(Self.place("package main\n// import \"C\"\nfunc main() {}\n") == nil)
        #expect(Self.place("package main\n/* import \"C\" */\nfunc main() {}\n") == nil)
        #expect(Self.place("package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"C\") }\nimport \"C\"\n") == nil)
        #expect(Self.place("package main\nimport \"CC\"\n") == nil)
        #expect(Self.place("import \"C\"\n") == nil)
        #expect(Self.place("") == nil)
    }

    @Test func onlyAGoRequestGetsTheDiagnostic() {
        let go = CompilationRequest(source: Array("package main\nimport \"C\"\nfunc main() {}\n".utf8), language: .go)
        #expect(GoCgoImport.diagnostic(for: go, sourceFile: "main.go")
                == Diagnostic(file: "main.go", line: 2, column: 8, severity: .error, message: GoCgoImport.notOffered))
        let c = CompilationRequest(source: go.source, language: .c)
        #expect(GoCgoImport.diagnostic(for: c, sourceFile: "main.c") == nil)
    }
}
