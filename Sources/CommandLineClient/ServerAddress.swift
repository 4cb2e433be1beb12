import Foundation

/// The service's base URL: `--server`, else `WIC_URL`, else `http://localhost:8080`.
enum ServerAddress {
    static let defaultURL = "http://localhost:8080"
    static let environmentVariable = "WIC_URL"

    /// The base URL to use, without a final `/`, or a usage error naming where the bad value came from.
    static func resolve(option: String?, environment: [String: String]) throws(UsageError) -> String {
        if let option {
            return try parse(option, source: "--server")
        }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            return try parse(fromEnvironment, source: environmentVariable)
        }
        return try parse(defaultURL, source: "the default")
    }

    /// An `http://` or `https://` URL with a host, and an optional port and path prefix (a
    /// service behind a proxy at `/wic/`); no user, query or fragment.
    static func parse(_ text: String, source: String) throws(UsageError) -> String {
        let accepted = "expected http://HOST[:PORT][/PREFIX] or https://…, e.g. \(defaultURL)"
        guard let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = components.host, !host.isEmpty,
              components.user == nil, components.password == nil, components.query == nil, components.fragment == nil
        else {
            throw UsageError("\(source) `\(text)` is not a server URL: \(accepted)")
        }
        // Paths are appended to it: `http://host/wic/` and `http://host/wic` are the same server.
        var base = Substring(text)
        while base.hasSuffix("/") { base = base.dropLast() }
        return String(base)
    }
}

/// A mistake on the command line, said as one sentence (`ExitStatus.usageError`).
struct UsageError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
