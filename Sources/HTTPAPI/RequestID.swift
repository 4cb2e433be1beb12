/// The id a request is known by in the logs and in its answer's `X-Request-ID`: nginx's
/// `$request_id` (32 hex digits), passed as the FastCGI parameter `REQUEST_ID`. nginx makes
/// one for every request; a client's own `X-Request-ID` is never used, so a client cannot
/// give two requests one id, nor put text of its own into the logs.
public enum RequestID {
    /// `given` when it has the form nginx makes (32 lowercase hex digits); otherwise, as
    /// behind a front end that passes none, a new one of that form.
    public static func accepted(_ given: String?) -> String {
        if let given, given.utf8.count == 32, given.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
            return given
        }
        var random = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(random.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
