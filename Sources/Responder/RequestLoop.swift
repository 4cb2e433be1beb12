import HTTPAPI
import Synchronization

/// Whether a request thread is waiting in `accept`: only such a thread may be
/// interrupted at stop time (a signal would also cut short a long poll's wait).
final class AcceptState: Sendable {
    let accepting = Atomic<Bool>(false)
}

/// One thread's accept–handle–respond loop over its own libfcgi request slot.
struct RequestLoop: Sendable {
    let handler: APIHandler
    let record: RequestRecord

    func run(_ state: AcceptState) {
        let slot = FastCGIRequestSlot()
        var meters = RequestMeters()
        while true {
            state.accepting.store(true, ordering: .sequentiallyConsistent)
            let accepted = slot.accept()
            state.accepting.store(false, ordering: .sequentiallyConsistent)
            guard accepted else { return }
            let started = ContinuousClock.now
            let requestID = RequestID.accepted(slot.parameter("REQUEST_ID"))
            let method = slot.parameter("REQUEST_METHOD") ?? "GET"
            let uri = slot.parameter("DOCUMENT_URI") ?? slot.parameter("REQUEST_URI") ?? "/"
            let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[..<$0]) } ?? uri
            let length = Int(slot.parameter("CONTENT_LENGTH") ?? "") ?? 0
            let (response, route): (HTTPResponse, String)
            if let tooLarge = handler.bodyTooLarge(length: length) {
                (response, route) = (tooLarge, handler.routeName(of: path))
            } else {
                let body = length > 0 ? slot.readBody(limit: length) : []
                let query = slot.parameter("QUERY_STRING") ?? ""
                (response, route) = handler.handleNamingRoute(HTTPRequest(
                    method: method, path: path, query: query, body: body, clientAddress: slot.parameter("REMOTE_ADDR"),
                    contentType: slot.parameter("CONTENT_TYPE"), accept: slot.parameter("HTTP_ACCEPT"),
                    requestID: requestID))
            }
            record.record(requestID: requestID, method: method, route: route, response: response, duration: .now - started, meters: &meters)
            slot.write(response, requestID: requestID, includeBody: method != "HEAD")
            slot.finish()
        }
    }
}
