/// Content negotiation between the few media types an endpoint answers in.
enum MediaType {
    static let json = "application/json"
    static let plainText = "text/plain"
    static let sarif = "application/sarif+json"

    /// Which of `types` `accept` asks for: the one at the highest quality, the first named
    /// among equals; nil when it names none of them (`*/*`, or no header: the caller's default).
    static func preferred(by accept: String?, among types: [String]) -> String? {
        guard let accept else { return nil }
        var best: (type: String, quality: Double)?
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { String($0).trimmingBlanks.lowercased() }
            guard let type = parts.first, types.contains(type) else { continue }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if quality > 0, best.map({ quality > $0.quality }) ?? true { best = (type, quality) }
        }
        return best?.type
    }
}
