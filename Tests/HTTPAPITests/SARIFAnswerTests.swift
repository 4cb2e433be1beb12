import Foundation
@testable import HTTPAPI
import Testing
import WillItCompile

@Suite struct SARIFAnswerTests {
    @Test(arguments: [
        (nil, nil), ("*/*", nil), ("application/sarif+json", "application/sarif+json"),
        ("application/json, application/sarif+json", "application/json"),
        ("application/json;q=0.5, application/sarif+json", "application/sarif+json"),
        ("application/sarif+json;q=0, text/plain", "text/plain"),
    ] as [(String?, String?)])
    func acceptChoosesAmongJSONPlainTextAndSARIF(_ accept: String?, _ chosen: String?) {
        #expect(MediaType.preferred(by: accept, among: [MediaType.json, MediaType.plainText, MediaType.sarif]) == chosen)
    }

    @Test func aPathBecomesAURIPathWithEveryOtherBytePercentEncoded() {
        #expect(SARIFAnswer.uriPath("include/util.h") == "include/util.h")
        #expect(SARIFAnswer.uriPath("/usr/include/c++/12/bits/stl_vector.h") == "/usr/include/c%2B%2B/12/bits/stl_vector.h")
        #expect(SARIFAnswer.uriPath("my file#1é.c") == "my%20file%231%C3%A9.c")
    }
}
