import Foundation
import Testing
import WillItCompile

@Suite struct JSONTests {
    /// Strings that need every kind of escape, and some that need none.
    static let awkward = ["", "plain", "quote \" backslash \\ slash /", "lines\n\r\ttab", "\u{0}\u{1}\u{1F}\u{7F}",
                          "bell\u{8} feed\u{C}", "ünïcødé 🚀 \u{2028}", "error: expected ';' before '}' token"]

    @Test func writesTheSameBytesAsJSONEncoderWithSortedKeys() throws {
        var writer = JSONObjectWriter()
        var expected: [String: String] = [:]
        for (index, text) in Self.awkward.enumerated() {
            let name = "k\(index)"
            writer.member(name, text)
            expected[name] = text
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: writer.finish(), as: UTF8.self) == String(decoding: try encoder.encode(expected), as: UTF8.self))
    }

    @Test func writesNumbersBooleansAndArrays() {
        var writer = JSONObjectWriter()
        writer.member("a", -42)
        writer.member("b", Int64(9_000_000_000))
        writer.member("c", true)
        writer.member("d", ["-O2", "x\"y"])
        writer.member("e", [String]())
        #expect(String(decoding: writer.finish(), as: UTF8.self) == #"{"a":-42,"b":9000000000,"c":true,"d":["-O2","x\"y"],"e":[]}"#)
    }

    @Test func readsWhatJSONEncoderWrites() throws {
        let encoded = try JSONEncoder().encode(["strings": Self.awkward])
        let parsed = try JSONValue(parsing: Array(encoded))
        #expect(parsed["strings"] == .array(Self.awkward.map(JSONValue.string)))
    }

    @Test func readsEscapesNumbersAndLiterals() throws {
        let text = #" { "d": 1, "d": 2, "s": "a\u00e9\ud83d\ude80\/\b", "n": [0, -1.5e+3, 12], "t": true, "f": false, "z": null, "o": {} } "#
        let parsed = try JSONValue(parsing: Array(text.utf8))
        #expect(parsed["s"] == .string("aé🚀/\u{8}"))
        #expect(parsed["n"] == .array([.number("0"), .number("-1.5e+3"), .number("12")]))
        #expect(parsed["t"] == .bool(true) && parsed["f"] == .bool(false) && parsed["z"] == .null)
        #expect(parsed["o"] == .object([]))
        #expect(parsed["d"] == .number("2"), "the last of duplicate names wins")
    }

    @Test(arguments: ["", "{", "{\"a\" 1}", "[1,]", "01", "\"unterminated", "\"\\ud800\"", "\"\\q\"", "{} x",
                      "\"tab\there\"", "tru", "1.", "-", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)])
    func refusesMalformedDocuments(text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: Array(text.utf8)) }
    }

    @Test func refusesInvalidUTF8InStrings() {
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: [0x22, 0xFF, 0x22]) }
    }

    @Test func readsAStoredRequestWithOrWithoutItsSource() throws {
        let request = CompilationRequest(source: [0x00, 0xFF, 0x0A], language: .cpp, compiler: "clang-16", standard: "c++20",
                                         architecture: "arm64", os: "linux", flags: ["-O2", "-Wall"])
        let stored = Array(try JSONEncoder().encode(request))
        #expect(try CompilationRequest(storedJSON: stored, withSource: true) == request)
        var withoutSource = request
        withoutSource.source = []
        #expect(try CompilationRequest(storedJSON: stored, withSource: false) == withoutSource)
        // The predecessor wrote empty strings for fields the client left out.
        let predecessor = #"{"code":"aW50IG1haW4oKXt9","language":"c","compiler":"","standard":"","architecture":"","os":""}"#
        #expect(try CompilationRequest(storedJSON: Array(predecessor.utf8), withSource: true)
                == CompilationRequest(source: Array("int main(){}".utf8), language: .c))
        #expect(throws: StoredRequestError.self) {
            try CompilationRequest(storedJSON: Array(#"{"code":"!!","language":"c"}"#.utf8), withSource: true)
        }
        #expect(throws: StoredRequestError.self) {
            try CompilationRequest(storedJSON: Array(#"{"code":"","language":"cobol"}"#.utf8), withSource: false)
        }
    }

    @Test func jobIDsParseEitherCaseAndPrintLowerCase() throws {
        let uuid = UUID()
        let id = try #require(JobID(uuid.uuidString.uppercased()))
        #expect(id.uuid == uuid && id.description == uuid.uuidString.lowercased())
        for bad in ["", "not-a-uuid", uuid.uuidString + "0", String(uuid.uuidString.dropLast()) + "g",
                    uuid.uuidString.replacingOccurrences(of: "-", with: "")] {
            #expect(JobID(bad) == nil, "\(bad)")
        }
    }
}
