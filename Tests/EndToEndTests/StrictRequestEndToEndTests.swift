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

    /// A raw form's setting beside a JSON body would change nothing: it is refused, naming the
    /// body's field that says it; `wait` is the JSON form's one query parameter.
    @Test(.runningTimeLimit(minutes: 2))
    func aQueryParameterBesideAJSONBodyIsA400NamingWhereItBelongs() throws {
        let stack = try Stack()
        let body = #"{"source_code":"int main(){return 0;}","language":"c"}"#
        let cases: [(query: String, fields: [String], says: String)] = [
            ("cache=false", ["cache"], "give it as the body's field `cache`"),
            ("language=cpp&flag=-O2", ["flag", "language"], "the flags are its field `flags`"),
            ("filename=main.c", ["filename"], "the language is its field `language`"),
            ("wait=5&verbose=1", ["verbose"], "is not a query parameter of a submission with a JSON body"),
        ]
        for (query, fields, says) in cases {
            let reply = try stack.request("POST", "/api/v1/compile?\(query)", body: body, headers: Self.json)
            #expect(reply.status == 400 && reply.json["error"] as? String == "invalid_request", "\(query): \(reply.text)")
            let details = reply.json["details"] as? [[String: String]] ?? []
            #expect(details.compactMap { $0["field"] } == fields, "\(query): \(reply.text)")
            #expect(reply.text.contains(says) && reply.text.contains("Accepted in the query here: wait."), "\(query): \(reply.text)")
        }
        #expect(try stack.redisKeys(matching: "job:*-*").isEmpty, "nothing refused was stored")

        let matrix = try stack.request("POST", "/api/v1/matrix?wait=5", body: #"{"source_code":"int main(){}","language":"c","environments":"all"}"#,
                                       headers: Self.json)
        #expect(matrix.status == 400 && matrix.text.contains("Accepted in the query here: none."), "\(matrix.text)")

        let waited = try stack.request("POST", "/api/v1/compile?wait=25", body: body, headers: Self.json)
        #expect(waited.status == 200 && waited.json["status"] as? String == "completed", "\(waited.text)")
    }
}
