import HTTPAPI

/// One thread's accept–handle–respond loop over its own libfcgi request slot.
struct RequestLoop: Sendable {
    let handler: APIHandler

    func run() {
        let slot = FastCGIRequestSlot()
        while slot.accept() {
            let method = slot.parameter("REQUEST_METHOD") ?? "GET"
            let uri = slot.parameter("DOCUMENT_URI") ?? slot.parameter("REQUEST_URI") ?? "/"
            let path = String(uri.prefix { $0 != "?" })
            let length = Int(slot.parameter("CONTENT_LENGTH") ?? "") ?? 0
            let response: HTTPResponse
            if let tooLarge = handler.bodyTooLarge(length: length) {
                response = tooLarge
            } else {
                let body = length > 0 ? slot.readBody(limit: length) : []
                let query = slot.parameter("QUERY_STRING") ?? ""
                response = handler.handle(HTTPRequest(method: method, path: path, query: query, body: body))
            }
            slot.write(response, includeBody: method != "HEAD")
            slot.finish()
        }
    }
}
