import Foundation
import Testing
@testable import WillItCompile

@Suite struct RequestValidatorTests {
    let validator = RequestValidator(maxSourceSize: 64)

    func problems(_ json: String) -> [ValidationProblem] { validator.problems(json: json) }

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

    /// Which standards and targets exist is the catalog's: the validator takes any name, and
    /// `[Toolchain].resolve` (ToolchainResolutionTests) checks it against the toolchains offered.
    @Test func leavesStandardsAndTargetsToTheCatalogAndNormalizesAliases() throws {
        #expect(problems(#"{"source_code":"x","language":"c","standard":"c++17","architecture":"sparc","os":"plan9"}"#).isEmpty)
        let request = try validator.validate(json: Data(#"{"source_code":"x","language":"c","architecture":"aarch64","os":"Windows"}"#.utf8))
        #expect(request.architecture == "arm64" && request.os == "windows")
        #expect(try validator.validate(json: Data(#"{"source_code":"x","language":"c","architecture":"AMD64"}"#.utf8)).architecture == "x86_64")
    }

    @Test func refusesACompilerNameThatIsNoToolchainId() {
        #expect(problems(#"{"source_code":"x","language":"c","compiler":"gcc; rm -rf /"}"#).map(\.field) == ["compiler"])
        #expect(problems(#"{"source_code":"x","language":"c","compiler":"gcc-12"}"#).isEmpty)
    }

    @Test func reportsEveryProblemAtOnce() {
        let found = problems(#"{"code":"%%%","language":"fortran","compiler":"gcc 12"}"#)
        #expect(found.map(\.field) == ["code", "language", "compiler"])
    }

    @Test func namesAFieldOfTheWrongType() {
        let found = problems(#"{"source_code":"x","language":5}"#)
        #expect(found.map(\.field) == ["language"] && found.first?.kind == .wrongType)
    }

    @Test(arguments: ["", "not json", "[1,2]", "null"])
    func refusesABodyThatIsNoJSONObject(body: String) {
        #expect(problems(body).map(\.kind) == [.malformedBody])
    }

    // MARK: - Strict bodies

    @Test(arguments: [
        ("std", "standard"), ("lang", "language"), ("cc", "compiler"), ("compiler_id", "compiler"),
        ("arch", "architecture"), ("source", "source_code"), ("sourceCode", "source_code"),
        ("standrad", "standard"), ("langauge", "language"), ("Language", "language"), ("flag", "flags"),
        ("compilers", "compiler"), ("oss", "os"),
    ])
    func refusesAnUnknownFieldSuggestingTheOneMeant(name: String, meant: String) {
        let found = problems(#"{"source_code":"x","language":"c","\#(name)":"c11"}"#)
        #expect(found.map(\.field) == [name])
        #expect(found.first?.kind == .unknownField(suggestion: meant))
        #expect(found.first?.message == "`\(name)` is not a field; did you mean `\(meant)`?")
    }

    @Test func aMisspeltStandardIsNoLongerCompiledWithTheDefault() {
        #expect(problems(#"{"source_code":"int main(){}","language":"cpp","std":"c++20"}"#).first?.message
                == "`std` is not a field; did you mean `standard`?")
    }

    @Test(arguments: ["priority", "x", "timeout_seconds"])
    func refusesAnUnknownFieldWithNoLikelyMeaningListingTheFields(name: String) {
        let found = problems(#"{"source_code":"x","language":"c","\#(name)":1}"#)
        #expect(found.map(\.kind) == [.unknownField(suggestion: nil)])
        #expect(found.first?.message == "`\(name)` is not a field (accepted: code, source_code, language, compiler, standard, architecture, os, flags, link, cache, files, translation_units).")
    }

    @Test func refusesADuplicateKeyNamingIt() {
        let found = problems(#"{"source_code":"x","language":"c","standard":"c11","standard":"c99"}"#)
        #expect(found.map(\.field) == ["standard"])
        #expect(found.first?.kind == .duplicateKey)
        #expect(found.first?.message.contains("`standard` appears 2 times") == true)
        let thrice = problems(#"{"language":"c","source_code":"x","language":"c","language":"cpp"}"#)
        #expect(thrice.map(\.field) == ["language"] && thrice.first?.message.contains("3 times") == true)
    }

    /// A duplicate below a long key is named by its path shortened, like any other name.
    @Test func aLongKeyAboveManyDuplicatesIsNamedShortened() {
        let long = String(repeating: "A", count: 200_000)
        let pairs = (0..<5_000).map { #""k\#($0)":0,"k\#($0)":0"# }.joined(separator: ",")
        let found = problems(#"{"source_code":"x","language":"c","\#(long)":{\#(pairs)}}"#)
        let duplicates = found.filter { $0.kind == .duplicateKey }
        #expect(duplicates.first?.field == String(repeating: "A", count: 40) + "…")
        #expect(duplicates.first?.message.hasPrefix("Key `\(String(repeating: "A", count: 40))…` appears 2 times") == true)
    }

    @Test func refusesADuplicateKeyAtAnyDepth() {
        let found = problems(#"{"source_code":"x","language":"c","flags":[{"a":1,"a":2}]}"#)
        #expect(found.contains { $0.field == "flags[0].a" && $0.kind == .duplicateKey })
    }

    @Test(arguments: [
        (#""standard":20"#, "standard", "got the number 20"),
        (#""standard":true"#, "standard", "got the boolean true"),
        (#""compiler":{"id":"gcc-12"}"#, "compiler", "got an object"),
        (#""code":["aGk="]"#, "code", "got an array"),
        (#""flags":"-O2""#, "flags", #"got the string "-O2"; write it as ["-O2"]"#),
        (#""flags":{"O":2}"#, "flags", "must be an array of strings"),
        (#""flags":["-O2",2]"#, "flags[1]", "`flags[1]` is the number 2"),
    ])
    func namesAValueOfTheWrongTypeWhatItIsAndWhatIsAccepted(member: String, field: String, says: String) {
        let json = member.hasPrefix(#""language""#) ? #"{"source_code":"x",\#(member)}"# : #"{"source_code":"x","language":"c",\#(member)}"#
        let found = problems(json)
        #expect(found.map(\.field) == [field])
        #expect(found.first?.kind == .wrongType)
        #expect(found.first?.message.contains(says) == true, "\(found)")
    }

    /// As the predecessor read it: a field set to null keeps its default.
    @Test func aNullFieldKeepsItsDefault() throws {
        let request = try RequestValidator(maxSourceSize: 1024).validate(
            json: Data(#"{"source_code":"int main(){}","language":"c","standard":null,"compiler":null,"flags":null}"#.utf8))
        #expect(request.standard == nil && request.compiler == nil && request.flags.isEmpty)
    }

    @Test func theWrongTypeMessageSaysWhatTheFieldTakes() {
        #expect(problems(#"{"source_code":"x","language":"c","standard":20}"#).first?.message
                == #"Field `standard` must be a string such as "c++20" or "2021"; got the number 20."#)
    }

    @Test func reportsEveryProblemOfTheBodyAtOnce() {
        let found = problems(#"{"std":"c11","lang":"c","flags":"-O2","os":"linux","os":"windows"}"#)
        #expect(Set(found.map(\.field)) == ["std", "lang", "flags", "os"])
    }

    @Test func aBodyOfManyStrayKeysGetsAnAnswerOfReadableSize() {
        let members = (0..<1000).map { #""k\#($0)":1"# }.joined(separator: ",")
        let found = problems("{\(members)}")
        #expect(found.count == 21)
        #expect(found.last?.message == "The body has 980 more problems like these.")
    }

    @Test func aLongStrayKeyIsShortenedInTheAnswer() {
        let key = String(repeating: "k", count: 5000)
        let found = problems(#"{"source_code":"x","language":"c","\#(key)":1,"\#(key)":2}"#)
        #expect(found.map(\.kind) == [.duplicateKey, .unknownField(suggestion: nil), .unknownField(suggestion: nil)])
        #expect(found.allSatisfy { $0.field == String(repeating: "k", count: 40) + "…" && $0.message.count < 200 }, "\(found)")
    }

    @Test func saysWhereABodyIsNoJSONAndWhatItGotInstead() {
        #expect(problems("not json").first?.message.contains("invalid JSON at byte 1: expected `null`") == true)
        #expect(problems("").first?.message.contains("the body is empty") == true)
        #expect(problems("[1,2]").first?.message.contains("got an array") == true)
    }

    @Test func keepsAcceptingEveryFieldInItsDocumentedForm() throws {
        let request = try validator.validate(json: Data(#"""
            {"code":"aW50IG1haW4oKXt9","language":"cpp","compiler":"gcc-12","standard":"c++20",
             "architecture":"amd64","os":"linux","flags":["-O2"]}
            """#.utf8))
        #expect(request.compiler == "gcc-12" && request.standard == "c++20" && request.architecture == "x86_64")
        #expect(request.os == "linux" && request.flags == ["-O2"])
        let empty = try validator.validate(json: Data(#"{"source_code":"x","language":"c","compiler":"","standard":"","flags":[]}"#.utf8))
        #expect(empty.compiler == nil && empty.standard == nil && empty.flags.isEmpty)
    }

    @Test func theEditDistanceCountsASwapOfNeighboursAsOneEdit() {
        #expect(SubmissionBody.editDistance(Array("langauge".utf8), Array("language".utf8)) == 1)
        #expect(SubmissionBody.editDistance(Array("kitten".utf8), Array("sitting".utf8)) == 3)
        #expect(SubmissionBody.editDistance([], Array("os".utf8)) == 2)
    }

    @Test func onlyTooLargeIsDistinguishedForHTTP413() {
        let tooLarge = RequestValidationError(problems: [ValidationProblem(field: "code", kind: .tooLarge(limit: 1, actual: 2), message: "")])
        let mixed = RequestValidationError(problems: tooLarge.problems + [ValidationProblem(field: "language", kind: .missing, message: "")])
        #expect(tooLarge.isOnlyTooLarge && !mixed.isOnlyTooLarge)
    }
}
