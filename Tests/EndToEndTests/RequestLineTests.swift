import FoundationEssentials
@testable import HTTPAPI
import Logging
@testable import Responder
@testable import ServiceLog
import Testing
import WillItCompile

/// The responder writes its request line from fields in key order, without a `Logger.Metadata`:
/// it must give the bytes the metadata dictionary gave, on every field and hostile value.
@Suite struct RequestLineTests {
    let time = Date(timeIntervalSince1970: 1_800_000_000)

    /// The request line as it was written through swift-log's metadata.
    func metadataLine(requestID: String, method: String, route: String, response: HTTPResponse, duration: Duration) -> [UInt8] {
        var metadata: Logger.Metadata = [
            "request_id": "\(requestID)", "method": "\(method)", "route": "\(route)", "status": "\(response.status)",
            "duration_ms": "\(Double(duration.nanoseconds / 1000) / 1000)",
        ]
        if let job = response.jobID { metadata["job_id"] = "\(job)" }
        return LogfmtHandler.lineBytes(time: time, level: .info, program: "will-it-compile-responder", message: "request", fields: metadata)
    }

    @Test func theRequestLineHasTheBytesOfTheMetadataLine() {
        let hostile = ["", "GET", "HEAD", "a b", "k=v", "\"", "\\", "x\ny", "\t", "\u{7F}", "\u{2028}", "é", "🦀",
                       "\u{FFFD}", String(repeating: "x", count: 100_000), "time=1 level=critical msg=forged"]
        let durations: [Duration] = [.zero, .nanoseconds(999), .nanoseconds(1000), .microseconds(1234), .milliseconds(5),
                                     .seconds(30), .seconds(86_400 * 365), .nanoseconds(-5000)]
        var generator = SystemRandomNumberGenerator()
        var cases = 0
        for method in hostile {
            for route in ["/api/v1/compile/{job_id}", "none"] + hostile.prefix(4) {
                let duration = durations.randomElement(using: &generator)!
                var response = HTTPResponse(status: [200, 404, 500, 503, 0, -1, Int.max].randomElement(using: &generator)!, body: [])
                if Bool.random(using: &generator) { response.jobID = JobID() }
                let requestID = hostile.randomElement(using: &generator)!
                let fields = RequestRecord.fields(requestID: requestID, method: method, route: route, response: response, duration: duration)
                let line = LogfmtHandler.lineBytes(time: time, level: .info, program: "will-it-compile-responder", message: "request", fields: fields)
                #expect(line == metadataLine(requestID: requestID, method: method, route: route, response: response, duration: duration),
                        "method \(method.prefix(20).debugDescription) route \(route.prefix(20).debugDescription) \(duration)")
                cases += 1
            }
        }
        #expect(cases == hostile.count * 6)
    }

    /// Below the threshold nothing is written and no fields need building; at or above it, a line.
    @Test func theThresholdIsTheHandlersLevel() {
        let warningsOnly = EventLog(program: "p", sameLevelAs: { var logger = Logger(label: "t"); logger.logLevel = .warning; return logger }())
        #expect(!warningsOnly.writes(.info) && warningsOnly.writes(.warning) && warningsOnly.writes(.critical))
        let everything = EventLog(program: "p", sameLevelAs: { var logger = Logger(label: "t"); logger.logLevel = .trace; return logger }())
        #expect(everything.writes(.trace) && everything.writes(.info))
    }
}
