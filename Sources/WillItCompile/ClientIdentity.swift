/// Who submitted a job, for the per-client share of compile capacity
/// (`MAX_JOBS_PER_CLIENT`). Today the responder names a client by its address
/// as nginx passes it (`REMOTE_ADDR`); an API key's id can take its place later,
/// since the worker only compares identities.
///
/// Only 1–64 characters of `A–Z a–z 0–9 . : _ -` are an identity: enough for
/// any IPv4 or IPv6 address and for a key id, and nothing a log line or a frame
/// could be confused by.
public struct ClientIdentity: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public static let maxLength = 64
    /// What an identity may hold, said the same way wherever one is refused.
    public static let accepted = "1 to \(maxLength) characters of A-Z a-z 0-9 . : _ -"

    /// nil when `text` is not an identity (see `accepted`).
    public init?(_ text: String) {
        guard (1...Self.maxLength).contains(text.utf8.count), text.utf8.allSatisfy(Self.isAllowed) else { return nil }
        rawValue = text
    }

    /// The identity of a client known by its address (`REMOTE_ADDR`): an IPv4
    /// address as it is, an IPv6 address by its /64 network, written as
    /// `2001:db8:1:2::`. A host or a site is handed a whole /64, so counting single
    /// IPv6 addresses would give one client 2^64 shares. An IPv4-mapped IPv6
    /// address counts as its IPv4 address. nil for anything that is not an address.
    public init?(address: String) {
        guard address.contains(":") else {
            guard let ipv4 = Self.ipv4(address) else { return nil }
            self.init(ipv4)
            return
        }
        guard let groups = Self.ipv6Groups(address) else { return nil }
        if groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xFFFF {
            self.init("\(groups[6] >> 8).\(groups[6] & 0xFF).\(groups[7] >> 8).\(groups[7] & 0xFF)")
            return
        }
        self.init(groups[0..<4].map { String($0, radix: 16) }.joined(separator: ":") + "::")
    }

    public var description: String { rawValue }

    /// A dotted-quad IPv4 address, each part 0–255 without leading zeros.
    private static func ipv4(_ text: some StringProtocol) -> String? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                && (part == "0" || !part.hasPrefix("0")) && Int(part)! <= 255
        }) else { return nil }
        return String(text)
    }

    /// The eight 16-bit groups of an IPv6 address (RFC 4291 text forms: `::`
    /// once, an IPv4 tail, no zone index).
    private static func ipv6Groups(_ text: String) -> [UInt16]? {
        var text = Substring(text)
        var tail: [UInt16] = []
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let ipv4 = ipv4(text[text.index(after: lastColon)...]) else { return nil }
            let octets = ipv4.split(separator: ".").map { UInt16($0)! }
            tail = [octets[0] << 8 | octets[1], octets[2] << 8 | octets[3]]
            text = text[...lastColon]
            if text.hasSuffix(":") && !text.hasSuffix("::") { text = text.dropLast() }
        }
        func groups(_ part: Substring) -> [UInt16]? {
            guard !part.isEmpty else { return [] }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            let values = fields.map { field in
                field.count <= 4 && field.allSatisfy(\.isHexDigit) ? UInt16(field, radix: 16) : nil
            }
            return values.contains(nil) ? nil : values.map { $0! }
        }
        let halves = text.components(separatedBy: "::")
        let result: [UInt16]
        switch halves.count {
        case 1:
            guard let all = groups(text) else { return nil }
            result = all + tail
            guard result.count == 8 else { return nil }
        case 2:
            guard let head = groups(Substring(halves[0])), let rest = groups(Substring(halves[1])) else { return nil }
            let known = head.count + rest.count + tail.count
            guard known < 8 else { return nil }
            result = head + Array(repeating: 0, count: 8 - known) + rest + tail
        default:
            return nil
        }
        return result
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
