import Foundation
import TestSupport
import Testing

/// Through nginx: a JSON submission is refused for what the service would otherwise
/// ignore or read differently from other JSON readers, instead of compiling with defaults.
@Suite(.serialized) struct StrictRequestEndToEndTests {
    static let json = ["Content-Type": "application/json"]

    @Test(.runningTimeLimit(minutes: 2))
    func aMisspeltFieldIsA400SuggestingTheFieldMeant() throws {
        let stack = try Stack()
        let source = #"int main(){ static_assert(__cplusplus >= 202002L); }"#

        let misspelt = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"\#(source)","language":"cpp","std":"c++20"}"#,
                                         headers: Self.json)
        #expect(misspelt.status == 400, "\(misspelt.text)")
        #expect(misspelt.headers["content-type"] == "application/json; charset=utf-8")
        #expect(misspelt.json["error"] as? String == "invalid_request")
        #expect(misspelt.json["message"] as? String == "`std` is not a field; did you mean `standard`?")
        let details = misspelt.json["details"] as? [[String: String]] ?? []
        #expect(details == [["field": "std", "message": "`std` is not a field; did you mean `standard`?"]], "\(misspelt.text)")

        let duplicate = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"\#(source)","language":"cpp","standard":"c++20","standard":"c++11"}"#,
                                          headers: Self.json)
        #expect(duplicate.status == 400 && (duplicate.json["message"] as? String ?? "").contains("`standard` appears 2 times"), "\(duplicate.text)")

        // Spelt as documented, the same request compiles with the standard it names.
        let done = try stack.compile(#"{"source_code":"\#(source)","language":"cpp","standard":"c++20"}"#)
        #expect(done["status"] as? String == "completed" && done["standard"] as? String == "c++20", "\(done)")
    }
}
