import Foundation
import Testing
import WillItCompile

@Suite struct CompilationRequestCodingTests {
    @Test func storesTheSourceAsBase64CodeLikeThePredecessor() throws {
        let request = CompilationRequest(source: Array("int main(){}".utf8), language: .cpp, compiler: "gcc-12")
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as? [String: String]
        #expect(json == ["code": "aW50IG1haW4oKXt9", "language": "cpp", "compiler": "gcc-12"])
    }

    @Test func roundTripsArbitraryBytes() throws {
        let bytes: [UInt8] = [0, 0xFF, 0xC3, 0x28, 0x0A, 0x80]
        let request = CompilationRequest(source: bytes, language: .c, standard: "c11", architecture: "arm64", os: "linux")
        let decoded = try JSONDecoder().decode(CompilationRequest.self, from: JSONEncoder().encode(request))
        #expect(decoded == request)
    }
}
