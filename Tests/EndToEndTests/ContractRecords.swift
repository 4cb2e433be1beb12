import Foundation
import Glibc

/// Every exchange of the end-to-end tests, appended as one JSON line to the file that
/// `WIC_CONTRACT_RECORDS` names (scripts/test sets it), for scripts/check-contract.py to
/// check against openapi.yaml after the tests. Without the variable nothing is written.
enum ContractRecords {
    static let path = ProcessInfo.processInfo.environment["WIC_CONTRACT_RECORDS"].flatMap { $0.isEmpty ? nil : $0 }

    /// - Parameter requestHeaders: the headers the request carried besides `Host`, `Connection`
    ///   and `Content-Length` (`Content-Type` as sent, also when the helper chose it).
    static func append(method: String, target: String, requestHeaders: [String: String], reply: HTTPReply) {
        guard let path else { return }
        let record: [String: Any] = [
            "method": method,
            "target": target,
            // Long values (a padding header of a test) are cut: only their presence matters here.
            "request_headers": Dictionary(uniqueKeysWithValues: requestHeaders.map { ($0.key.lowercased(), String($0.value.prefix(200))) }),
            "status": reply.status,
            "headers": reply.headers,
            "body_base64": Data(reply.body).base64EncodedString(),
        ]
        guard var line = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        line.append(UInt8(ascii: "\n"))
        // One write with O_APPEND: lines from tests running at once never interleave.
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}
