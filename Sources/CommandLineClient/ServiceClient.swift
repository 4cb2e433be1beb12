import Foundation
import FoundationNetworking

/// One answer of the service: its status, headers (names in lowercase) and body as sent.
struct ServiceReply: Sendable {
    let status: Int
    let headers: [String: String]
    let body: Data

    /// The API's error shape (`{"error", "message", "details"}`) said as one sentence, for
    /// an answer that is not the one asked for.
    var refusal: ServiceError {
        struct APIError: Decodable {
            struct Detail: Decodable {
                let field: String?
                let message: String
            }
            let error: String
            let message: String
            let details: [Detail]?
        }
        var sentence = "the service answered \(status)"
        if let answer = try? JSONDecoder().decode(APIError.self, from: body) {
            sentence += " \(answer.error): \(answer.message)"
            // Each field's problem, unless it is the message itself (a body with one problem).
            for detail in answer.details ?? [] where detail.message != answer.message {
                sentence += "\n  \(detail.field.map { "\($0): " } ?? "")\(detail.message)"
            }
        } else {
            let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            sentence += text.isEmpty ? " with no body" : ": \(text)"
        }
        if let retryAfter = headers["retry-after"] { sentence += " (retry after \(retryAfter) s)" }
        return ServiceError(sentence)
    }
}

/// The service's HTTP API as the command-line client uses it, over URLSession (libcurl):
/// http and https, proxies from the usual variables.
struct ServiceClient: Sendable {
    /// The server's base URL without a final `/` (`ServerAddress`).
    let base: String

    /// POSTs `value` as JSON.
    func post(_ pathAndQuery: String, _ value: some Encodable, timeout: Double) async throws(ServiceError) -> ServiceReply {
        let body: Data
        do { body = try JSONEncoder().encode(value) } catch { throw ServiceError("cannot encode the request: \(error)") }
        return try await send("POST", pathAndQuery, body: body, contentType: "application/json", timeout: timeout)
    }

    /// Sends one request; `pathAndQuery` starts with `/`. `timeout` bounds the wait for each
    /// part of the answer: give a long poll's `wait` and a margin.
    func send(
        _ method: String, _ pathAndQuery: String, body: Data? = nil, contentType: String? = nil, timeout: Double
    ) async throws(ServiceError) -> ServiceReply {
        guard let url = URL(string: base + pathAndQuery) else {
            throw ServiceError("cannot form a URL from \(base) and \(pathAndQuery)")
        }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch let error as URLError where error.code == .timedOut {
            throw ServiceError("\(base) did not answer \(method) \(pathAndQuery) within \(Int(timeout)) s")
        } catch {
            throw ServiceError("cannot reach the service at \(base) (\(error.localizedDescription)); name it with --server URL or \(ServerAddress.environmentVariable)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw ServiceError("\(base) did not answer in HTTP")
        }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        return ServiceReply(status: http.statusCode, headers: headers, body: data)
    }
}
