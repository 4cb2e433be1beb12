import FoundationEssentials
public import WillItCompile

/// A request as the FastCGI layer hands it over: CGI parameters already parsed.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string, e.g. `/api/v1/compile/…`.
    public var path: String
    /// The query string without `?`, e.g. `wait=10`; empty when there is none.
    public var query: String
    public var body: [UInt8]
    /// The client's address as the front end saw it (`REMOTE_ADDR`); nil when it did not say.
    public var clientAddress: String?
    /// The body's `Content-Type` (`CONTENT_TYPE`); nil when there is none.
    public var contentType: String?
    /// The `Accept` header (`HTTP_ACCEPT`); nil when there is none.
    public var accept: String?
    /// The front end's id of the request (`RequestID`), which a job it submits carries.
    public var requestID: String?

    public init(
        method: String, path: String, query: String = "", body: [UInt8] = [], clientAddress: String? = nil,
        contentType: String? = nil, accept: String? = nil, requestID: String? = nil
    ) {
        self.requestID = requestID
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.clientAddress = clientAddress
        self.contentType = contentType
        self.accept = accept
    }

    /// The names of the query string's parameters, in their order.
    public var queryNames: [String] {
        query.split(separator: "&").map { pair in
            let name = String(pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0])
            return percentDecoded(name) ?? name
        }
    }

    /// The values of every `name=value` pair of the query string named `name`, in
    /// their order, percent-decoded (a malformed escape is left as it is).
    public func queryValues(_ name: String) -> [String] {
        query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0] == name else { return nil }
            let value = parts.count > 1 ? String(parts[1]) : ""
            return percentDecoded(value.replacing("+", with: " ")) ?? value
        }
    }
}

/// `%XX` escapes decoded; nil for a malformed escape or bytes that are not UTF-8.
func percentDecoded(_ text: String) -> String? {
    var bytes: [UInt8] = []
    var input = text.utf8.makeIterator()
    while let byte = input.next() {
        guard byte == UInt8(ascii: "%") else {
            bytes.append(byte)
            continue
        }
        guard let high = input.next().flatMap({ Character(Unicode.Scalar($0)).hexDigitValue }),
              let low = input.next().flatMap({ Character(Unicode.Scalar($0)).hexDigitValue })
        else { return nil }
        bytes.append(UInt8(high << 4 | low))
    }
    return String(validating: bytes, as: UTF8.self)
}

/// A job and its result as a responder answered it from the verdict cache. A reference, so
/// that every answer, which rarely has one, stays as small to copy as before.
public final class AnsweredFromCache: Sendable {
    public let job: CompilationJob
    public let result: CompilationResult

    init(job: CompilationJob, result: CompilationResult) {
        self.job = job
        self.result = result
    }
}

public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The job the answer is about, for the request's log line; never sent.
    public var jobID: JobID?
    /// A submission this responder answered from the verdict cache itself, for the job's
    /// `compile` log line, which the worker writes for every other job; never sent.
    public var answeredFromCache: AnsweredFromCache?

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body && lhs.headers.map { "\($0.0): \($0.1)" } == rhs.headers.map { "\($0.0): \($0.1)" }
    }

    /// The same answer, about the job `id` (for the log).
    func about(_ id: JobID?) -> HTTPResponse {
        var response = self
        response.jobID = id
        return response
    }

    /// A JSON body with `Content-Type: application/json; charset=utf-8`.
    public static func json(_ status: Int, _ value: some Encodable, headers: [(String, String)] = []) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)).map(Array.init) ?? Array(#"{"error":"internal_error","message":"response could not be encoded"}"#.utf8)
        return json(status, body: body, headers: headers)
    }

    /// A JSON body already written.
    public static func json(_ status: Int, body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers, body: body)
    }

    /// The contract's error body: `{"error": "<machine_code>", "message": "<human sentence>"}`,
    /// plus `details` (one entry per problem) where there are several.
    public static func error(_ status: Int, _ code: String, _ message: String, details: [ErrorDetail]? = nil,
                             headers: [(String, String)] = []) -> HTTPResponse {
        json(status, ErrorBody(error: code, message: message, details: details), headers: headers)
    }

    /// The reason phrase of the status codes this service sends.
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 202: "Accepted"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 413: "Payload Too Large"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status \(status)"
        }
    }
}

public struct ErrorDetail: Codable, Sendable {
    public var field: String
    public var message: String
}

struct ErrorBody: Encodable {
    var error: String
    var message: String
    var details: [ErrorDetail]?
}
