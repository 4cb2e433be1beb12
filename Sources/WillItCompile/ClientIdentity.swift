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

    public var description: String { rawValue }

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
