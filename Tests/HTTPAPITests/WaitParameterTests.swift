@testable import HTTPAPI
import Testing
import WorkerClient
import WillItCompile

/// `?wait=`: plain decimals from 0 to 30 only, given once.
@Suite struct WaitParameterTests {
    @Test(arguments: [
        ("0", 0), ("10", 10_000), ("2.5", 2_500), ("30", 30_000), ("30.000", 30_000), ("007", 7_000),
        ("0.0001", 1), ("1.2345", 1_235), ("29.9999", 30_000), ("00000000000000000000030", 30_000),
    ])
    func aPlainDecimalIsThatManySecondsRoundedUpToTheMillisecond(text: String, milliseconds: Int) throws {
        #expect(try WaitParameter.duration(from: [text]) == .milliseconds(milliseconds))
    }

    @Test(arguments: [
        "0x10", "0X1", "3\u{0}999", "inf", "infinity", "nan", "1e1", "1E1", "-1", "+1", "-0", "30.001", "31", "99",
        "100000000000000000000", "", " 1", "1 ", "1.", ".5", "1.2.3", "1,5", "\u{0661}", "\u{FF11}", "0x1p3", "10s",
    ])
    func anythingElseIsRefusedNamingWhatIsAccepted(text: String) {
        #expect(throws: InvalidWait.self) { try WaitParameter.duration(from: [text]) }
        do {
            _ = try WaitParameter.duration(from: [text])
        } catch {
            #expect(error.message.contains("`wait=\(text)`"))
            #expect(error.message.contains("from 0 to 30 as a plain decimal"))
        }
    }

    @Test func noWaitIsNoneAndAWaitGivenTwiceIsRefused() throws {
        #expect(try WaitParameter.duration(from: []) == nil)
        #expect(throws: InvalidWait.self) { try WaitParameter.duration(from: ["1", "1"]) }
        #expect(HTTPRequest(method: "GET", path: "/", query: "wait=1&x=2&wait=3%00999").queryValues("wait") == ["1", "3\u{0}999"])
    }

    /// The wait is checked before anything else is asked: with no worker to ask,
    /// a wait checked later would answer 503 (or, once looked up, 404).
    @Test(arguments: [
        ("GET", "/api/v1/compile/3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c", "wait=0x10"),
        ("GET", "/api/v1/compile/3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c", "wait=3%00999"),
        ("GET", "/api/v1/compile/3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c", "wait=1&wait=1"),
        ("POST", "/api/v1/compile", "wait=1e1"),
        ("POST", "/api/v1/compile", "wait=2&wait=2"),
    ])
    func anInvalidWaitIsA400BeforeTheJobOrTheWorkerIsAsked(method: String, path: String, query: String) throws {
        let handler = APIHandler(configuration: ServiceConfiguration(), worker: WorkerClient(socketPath: "/nonexistent/worker.sock"),
                                 store: nil, maxWaitingRequests: 4)
        let response = handler.handle(HTTPRequest(method: method, path: path, query: query,
                                                  body: Array(#"{"source_code":"int main(){}","language":"c"}"#.utf8)))
        let body = String(decoding: response.body, as: UTF8.self)
        #expect(response.status == 400 && body.contains(#""error":"invalid_wait""#), "\(body)")
    }
}
