import Foundation
import Testing
@testable import WillItCompile

/// `link: false`: checked as a boolean, stored with the job (absent means linked), and
/// turned into the catalog's compile-only arguments or refused by a toolchain without them.
@Suite struct CompileOnlyTests {
    let validator = RequestValidator(maxSourceSize: 64)

    func problems(_ json: String) -> [ValidationProblem] {
        RequestValidatorTests().problems(json)
    }

    @Test func aRequestLinksUnlessItSaysLinkFalse() throws {
        #expect(try validator.validate(json: Data(#"{"source_code":"x","language":"c"}"#.utf8)).link)
        #expect(try validator.validate(json: Data(#"{"source_code":"x","language":"c","link":true}"#.utf8)).link)
        #expect(try validator.validate(json: Data(#"{"source_code":"x","language":"c","link":null}"#.utf8)).link)
        #expect(try !validator.validate(json: Data(#"{"source_code":"x","language":"c","link":false}"#.utf8)).link)
    }

    @Test(arguments: [
        (#""false""#, "write it without quotes"), ("0", "the number 0"), (#""no""#, #"the string "no""#), ("[false]", "an array"),
    ])
    func linkOfAnotherTypeIsNamedWithWhatItTakes(value: String, phrase: String) {
        let found = problems(#"{"source_code":"x","language":"c","link":\#(value)}"#)
        #expect(found.map(\.field) == ["link"] && found.first?.kind == .wrongType)
        #expect(found.first?.message.contains("must be a boolean") == true, "\(found)")
        #expect(found.first?.message.contains(phrase) == true, "\(found)")
    }

    @Test(arguments: ["compile_only", "compileOnly", "no-link", "lnk"])
    func namesForCompilingOnlySuggestLink(name: String) {
        let found = problems(#"{"source_code":"x","language":"c","\#(name)":true}"#)
        #expect(found.first?.kind == .unknownField(suggestion: "link"), "\(found)")
    }

    @Test func isStoredOnlyWhenFalseAndReadBackByBothReaders() throws {
        let linked = CompilationRequest(source: Array("x".utf8), language: .c)
        let linkedJSON = try JSONEncoder().encode(linked)
        #expect(!String(decoding: linkedJSON, as: UTF8.self).contains("link"), "a linked job is stored as before")
        let compileOnly = CompilationRequest(source: Array("x".utf8), language: .rust, link: false)
        let json = try JSONEncoder().encode(compileOnly)
        #expect(try JSONSerialization.jsonObject(with: json) as? NSDictionary == ["code": "eA==", "language": "rust", "link": false])
        #expect(try JSONDecoder().decode(CompilationRequest.self, from: json) == compileOnly)
        #expect(try CompilationRequest(storedJSON: Array(json), withSource: true) == compileOnly)
        #expect(try CompilationRequest(storedJSON: Array(linkedJSON), withSource: true).link)
        #expect(throws: StoredRequestError.self) {
            try CompilationRequest(storedJSON: Array(#"{"code":"eA==","language":"c","link":"no"}"#.utf8), withSource: true)
        }
    }

    static func spec(_ id: String, compileOnly: [String]?) throws -> ToolchainSpec {
        let arguments = compileOnly.map { #", "compile_only_arguments": ["\#($0.joined(separator: #"", ""#))"]"# } ?? ""
        let json = """
            {"id": "\(id)", "language": "c", "executable": "/usr/bin/x", "version_arguments": [], "standards": ["c11"],
             "default_standard": "c11", "standard_arguments": ["-std={standard}"],
             "command": ["{executable}", "{standard_arguments}", "{flags}", "-o", "{output}", "{source}"],
             "source_file": "main.c", "binds": [], "environment": {}, "priority": 1, "flags": "gcc"\(arguments)}
            """
        return try JSONDecoder().decode(ToolchainSpec.self, from: Data(json.utf8))
    }

    @Test func theCompileOnlyArgumentsGoWhereTheFlagsDoAndOnlyWhenNotLinking() throws {
        let spec = try Self.spec("gcc-12", compileOnly: ["-c"])
        #expect(spec.compileOnlyArguments == ["-c"])
        #expect(spec.commandLine(standard: nil, flags: ["-O2"], link: false, source: "s", output: "o")
                == ["/usr/bin/x", "-std=c11", "-c", "-O2", "-o", "o", "s"])
        #expect(spec.commandLine(standard: nil, flags: ["-O2"], source: "s", output: "o")
                == ["/usr/bin/x", "-std=c11", "-O2", "-o", "o", "s"])
    }

    @Test func aToolchainWithoutCompileOnlyArgumentsRefusesLinkFalseNamingThoseThatAccept() throws {
        let installed = [
            Toolchain(spec: try Self.spec("always-links", compileOnly: nil), version: "1", isDefault: true),
            Toolchain(spec: try Self.spec("gcc-12", compileOnly: ["-c"]), version: "12", isDefault: false),
        ]
        #expect(try installed.resolve(CompilationRequest(source: [1], language: .c)).spec.id == "always-links")
        #expect(try installed.resolve(CompilationRequest(source: [1], language: .c, compiler: "gcc-12", link: false)).spec.id == "gcc-12")
        do {
            _ = try installed.resolve(CompilationRequest(source: [1], language: .c, link: false))
            Issue.record("link: false was accepted by a toolchain without compile-only arguments")
        } catch {
            #expect(error.problems.map(\.field) == ["link"])
            #expect(error.problems.first?.kind == .unsupported(accepted: ["gcc-12"]))
            #expect(error.description.contains("always-links cannot compile without linking"), "\(error)")
            #expect(error.description.contains("these do: gcc-12"), "\(error)")
        }
    }

    /// The catalog knows how every toolchain but Go's `go build` (which always links a
    /// `package main`) compiles without linking.
    @Test func theCatalogSaysHowEachToolchainCompilesWithoutLinking() throws {
        let catalog = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../toolchains/catalog")
        let specs = try ToolchainCatalog.load(at: catalog.path)
        #expect(specs.count > 10)
        for spec in specs {
            let expected: [String]? = switch spec.id {
            case "go-1.19": nil
            case "rustc-1.63", "rustup": ["--crate-type=lib"]
            case "swiftc-6": ["-parse-as-library", "-c"]
            default: ["-c"]
            }
            #expect(spec.compileOnlyArguments == expected, "\(spec.id) (\(spec.language))")
            if spec.compileOnlyArguments != nil { #expect(spec.command.contains("{flags}"), "\(spec.id)") }
        }
    }
}
