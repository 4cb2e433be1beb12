import Foundation
import Testing
import WillItCompile

@Suite struct RequestValidatorTests {
    let validator = RequestValidator(maxSourceSize: 64)

    func problems(_ json: String) -> [ValidationProblem] {
        do {
            _ = try validator.validate(json: Data(json.utf8))
            return []
        } catch {
            return error.problems
        }
    }

    @Test func acceptsPlainSourceAndTheCPlusPlusAlias() throws {
        let request = try validator.validate(json: Data(#"{"source_code":"int main(){}","language":"c++"}"#.utf8))
        #expect(request.language == .cpp)
        #expect(request.source == Array("int main(){}".utf8))
        #expect(request.compiler == nil && request.standard == nil)
    }

    @Test func decodesBase64CodeIgnoringLineBreaksLikeGo() throws {
        let request = try validator.validate(json: Data(#"{"code":"aW50IG1h\naW4oKXt9","language":"c"}"#.utf8))
        #expect(request.source == Array("int main(){}".utf8))
    }

    @Test func namesTheMissingSourceAndListsBothForms() {
        let found = problems(#"{"language":"c"}"#)
        #expect(found.map(\.field) == ["code"])
        #expect(found.first?.kind == .missing)
        #expect(found.first?.message.contains("source_code") == true)
    }

    @Test func refusesBothSourceFields() {
        #expect(problems(#"{"code":"YQ==","source_code":"a","language":"c"}"#).map(\.kind) == [.conflicting])
    }

    @Test func refusesInvalidBase64() {
        let found = problems(#"{"code":"not base64!","language":"c"}"#)
        #expect(found.map(\.kind) == [.invalidBase64])
        #expect(found.first?.field == "code")
    }

    @Test(arguments: [#"{"source_code":"","language":"c"}"#, #"{"source_code":" \n\t","language":"c"}"#, #"{"code":"","language":"c"}"#])
    func refusesEmptySource(json: String) {
        #expect(problems(json).map(\.kind) == [.emptySource])
    }

    @Test func refusesOversizedSourceInEitherFormWithTheLimit() throws {
        let big = String(repeating: "x", count: 65)
        let plain = problems(#"{"source_code":"\#(big)","language":"c"}"#)
        #expect(plain.map(\.kind) == [.tooLarge(limit: 64, actual: 65)])
        #expect(plain.first?.message.contains("64") == true)
        let encoded = Data(String(repeating: "x", count: 300).utf8).base64EncodedString()
        let base64 = problems(#"{"code":"\#(encoded)","language":"c"}"#)
        #expect(base64.map(\.field) == ["code"])
        let error = try #require(base64.first)
        guard case .tooLarge = error.kind else {
            Issue.record("expected tooLarge, got \(error.kind)")
            return
        }
    }

    @Test func refusesUnknownLanguageListingAcceptedOnes() {
        let found = problems(#"{"source_code":"x","language":"cobol"}"#)
        #expect(found.map(\.field) == ["language"])
        #expect(found.first?.kind == .unsupported(accepted: Language.acceptedNames))
        #expect(found.first?.message.contains("c++") == true)
    }

    @Test func requiresALanguage() {
        #expect(problems(#"{"source_code":"x"}"#).map(\.kind) == [.missing])
    }

    @Test func refusesAStandardOfAnotherLanguageListingTheLanguagesOwn() {
        let found = problems(#"{"source_code":"x","language":"c","standard":"c++17"}"#)
        #expect(found.map(\.field) == ["standard"])
        #expect(found.first?.message.contains("c11") == true)
        #expect(problems(#"{"source_code":"x","language":"go","standard":"1.19"}"#).first?.message.contains("takes no standard") == true)
        #expect(problems(#"{"source_code":"x","language":"rust","standard":"2021"}"#).isEmpty)
    }

    @Test func refusesUnknownTargetsAndNormalizesAliases() throws {
        let found = problems(#"{"source_code":"x","language":"c","architecture":"sparc","os":"plan9"}"#)
        #expect(found.map(\.field) == ["architecture", "os"])
        let request = try validator.validate(json: Data(#"{"source_code":"x","language":"c","architecture":"aarch64","os":"Windows"}"#.utf8))
        #expect(request.architecture == "arm64" && request.os == "windows")
    }

    @Test func refusesACompilerNameThatIsNoToolchainId() {
        #expect(problems(#"{"source_code":"x","language":"c","compiler":"gcc; rm -rf /"}"#).map(\.field) == ["compiler"])
        #expect(problems(#"{"source_code":"x","language":"c","compiler":"gcc-12"}"#).isEmpty)
    }

    @Test func reportsEveryProblemAtOnce() {
        let found = problems(#"{"code":"%%%","language":"fortran","architecture":"mips"}"#)
        #expect(found.map(\.field) == ["code", "language", "architecture"])
    }

    @Test func namesAFieldOfTheWrongType() {
        let found = problems(#"{"source_code":"x","language":5}"#)
        #expect(found.map(\.field) == ["language"] && found.first?.kind == .wrongType)
    }

    @Test(arguments: ["", "not json", "[1,2]", "null"])
    func refusesABodyThatIsNoJSONObject(body: String) {
        #expect(problems(body).map(\.kind) == [.malformedBody])
    }

    @Test func onlyTooLargeIsDistinguishedForHTTP413() {
        let tooLarge = RequestValidationError(problems: [ValidationProblem(field: "code", kind: .tooLarge(limit: 1, actual: 2), message: "")])
        let mixed = RequestValidationError(problems: tooLarge.problems + [ValidationProblem(field: "language", kind: .missing, message: "")])
        #expect(tooLarge.isOnlyTooLarge && !mixed.isOnlyTooLarge)
    }
}
