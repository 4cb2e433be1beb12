import Foundation
@testable import HTTPAPI
import Testing
import WillItCompile

@Suite struct RawSubmissionTests {
    @Test(arguments: [
        (nil, SubmissionForm.json), ("application/json", .json), ("Application/JSON; charset=utf-8", .json),
        ("application/vnd.api+json", .json), ("application/x-www-form-urlencoded", .form), ("multipart/form-data; boundary=x", .multipart),
        ("text/plain", .raw), ("application/octet-stream", .raw), ("text/x-c++src", .raw),
    ] as [(String?, SubmissionForm)])
    func theContentTypeSaysTheForm(type: String?, form: SubmissionForm) {
        #expect(SubmissionForm(contentType: type) == form)
    }

    func request(_ query: String) -> HTTPRequest {
        HTTPRequest(method: "POST", path: "/api/v1/compile", query: query, body: [], contentType: "text/plain")
    }

    /// The query's settings and the source, any bytes of it kept, make the request.
    @Test func theQueryAndTheSourceMakeTheRequest() throws {
        let source: [UInt8] = [0x00, 0xFF, 0x0D, 0x0A, 0x7B]
        let settings = try RawSubmission.settings(of: request("language=cpp&standard=c%2B%2B20&flag=-O2&flag=-Wall&os=linux"))
        let request = try RequestValidator(maxSourceSize: 1 << 20).validate(settings, source: source)
        #expect(request.source == source && request.language == .cpp && request.standard == "c++20")
        #expect(request.flags == ["-O2", "-Wall"] && request.os == "linux")
    }

    @Test func theLanguageMayComeFromTheFileName() throws {
        for (name, language) in [("main.cpp", Language.cpp), ("lib.c", .c), ("x.rs", .rust), ("a.b.go", .go)] {
            let settings = try RawSubmission.settings(of: request("filename=\(name)"))
            #expect(try RequestValidator(maxSourceSize: 10).validate(settings, source: Array("int x;".utf8)).language == language, "\(name)")
        }
    }

    @Test func unknownRepeatedAndMissingParametersAreNamed() {
        for (query, phrase) in [("language=c&std=c11", "`std` is not a parameter of a raw submission; did you mean `standard`?"),
                                ("language=c&flags=-O2", "did you mean `flag`?"), ("language=c&language=c", "given more than once"),
                                ("language=c&\(String(repeating: "x", count: 5000))=1", "`\(String(repeating: "x", count: 40))…` is not a parameter"),
                                ("", "needs `language=`"), ("filename=Makefile", "`Makefile` is not known")] {
            do {
                _ = try RawSubmission.settings(of: request(query))
                Issue.record("\(query) was accepted")
            } catch {
                #expect(error.description.contains(phrase), "\(query): \(error.description)")
            }
        }
    }

    /// A query of hundreds of stray parameters gets an answer of a readable size, in either
    /// form: the first `maximumProblems`, then one that says how many more.
    @Test func manyStrayParametersAreNamedUpToTheCap() {
        let stray = (0..<600).map { "p\($0)=1" }.joined(separator: "&")
        for (what, check) in [("raw", { () throws(RequestValidationError) in _ = try RawSubmission.settings(of: request("language=c&" + stray)) }),
                              ("json", { () throws(RequestValidationError) in try RawSubmission.checkQuery(ofJSONBody: request(stray), accepting: ["wait"]) })]
            as [(String, () throws(RequestValidationError) -> Void)] {
            do throws(RequestValidationError) {
                try check()
                Issue.record("\(what): 600 stray parameters were accepted")
            } catch {
                #expect(error.problems.count == SubmissionBody.maximumProblems + 1, "\(what): \(error.problems.count)")
                #expect(error.problems.last?.message == "The query string has 580 more problems like these.", "\(what)")
            }
        }
    }

    /// The raw body is the source: over MAX_SOURCE_SIZE it is a 413 (too large, and nothing else), blank it is a 400.
    @Test func aRawSourceIsHeldToTheSourceLimits() throws {
        let validator = RequestValidator(maxSourceSize: 100)
        let settings = try RawSubmission.settings(of: request("language=c"))
        do {
            _ = try validator.validate(settings, source: Array(repeating: 0x41, count: 101))
            Issue.record("a source over the limit was accepted")
        } catch {
            #expect(error.isOnlyTooLarge, "\(error)")
        }
        do {
            _ = try validator.validate(settings, source: Array(" \r\n\t".utf8))
            Issue.record("a blank source was accepted")
        } catch {
            #expect(error.description.contains("The body holds no source code."), "\(error)")
        }
    }

    @Test func linkFalseInTheQueryCompilesWithoutLinking() throws {
        let validator = RequestValidator(maxSourceSize: 100)
        let source = Array("int f(void) { return 1; }\n".utf8)
        #expect(try !validator.validate(RawSubmission.settings(of: request("language=c&link=false")), source: source).link)
        #expect(try validator.validate(RawSubmission.settings(of: request("language=c&link=true")), source: source).link)
        #expect(try validator.validate(RawSubmission.settings(of: request("language=c")), source: source).link)
        for query in ["language=c&link=0", "language=c&link=False", "language=c&link=", "language=c&link"] {
            do {
                _ = try RawSubmission.settings(of: request(query))
                Issue.record("\(query) was accepted")
            } catch {
                #expect(error.problems.map(\.field) == ["link"], "\(query)")
                #expect(error.description.contains("give `link=false` to compile without linking"), "\(query): \(error)")
            }
        }
    }

    @Test func theJobsAnswerSaysLinkOnlyWhenFalse() throws {
        func answer(link: Bool) throws -> [String: Any] {
            let job = CompilationJob(request: CompilationRequest(source: [1], language: .c, link: link), createdAt: Date())
            return try #require(try JSONSerialization.jsonObject(with: Data(JobResponse(job: job, result: nil).body)) as? [String: Any])
        }
        #expect(try answer(link: false)["link"] as? Bool == false)
        #expect(try answer(link: true)["link"] == nil, "a linked job's answer stays as it was")
    }

    @Test func theToolchainsSayWhichCompileWithoutLinking() throws {
        func spec(_ id: String, compileOnly: String) throws -> ToolchainSpec {
            try JSONDecoder().decode(ToolchainSpec.self, from: Data("""
                {"id": "\(id)", "language": "go", "executable": "/x", "version_arguments": [], "standards": [], "standard_arguments": [],
                 "command": ["{executable}", "{flags}", "{source}"], "source_file": "main.go", "binds": [], "environment": {},
                 "priority": 1\(compileOnly)}
                """.utf8))
        }
        let response = ToolchainsResponse(toolchains: [
            Toolchain(spec: try spec("go-1.19", compileOnly: ""), version: "go1.19", isDefault: true),
            Toolchain(spec: try spec("gccgo-12", compileOnly: #", "compile_only_arguments": ["-c"]"#), version: "12", isDefault: false),
        ])
        let body = try #require(try JSONSerialization.jsonObject(with: Data(HTTPResponse.json(200, response).body)) as? [String: Any])
        let toolchains = try #require(body["toolchains"] as? [[String: Any]])
        #expect(toolchains.map { $0["compiles_without_linking"] as? Bool } == [false, true])
        #expect((body["defaults"] as? [String: String])?["link"] == "true")
    }
}
