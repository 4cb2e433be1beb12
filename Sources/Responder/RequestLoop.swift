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
            if length > handler.maxBodySize {
                // Refused before reading: a body over the limit is never buffered.
                response = .error(413, "source_too_large", "The body is \(length) bytes; at most \(handler.maxBodySize) bytes are accepted.")
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
