public import FoundationEssentials

/// A job's identifier: a UUID, written in lower case on the wire and in Redis keys.
public struct JobID: Hashable, Sendable, CustomStringConvertible, Codable {
    public let uuid: UUID

    public init(_ uuid: UUID = UUID()) {
        self.uuid = uuid
    }

    /// Parses a client-supplied id; nil when it is not a UUID
    /// (the HTTP layer answers 400 for that, 404 for a well-formed unknown id).
    /// Accepts the 8-4-4-4-12 hex form in either case. Parsed by hand: this
    /// runs several times per status read, and `UUID(uuidString:)` goes through `sscanf`.
    public init?(_ text: String) {
        guard let id = JobID.parse(text.utf8) else { return nil }
        self = id
    }

    /// `init?(_:)` on the id's UTF-8 bytes, as Redis returns them. Of a concrete type, so
    /// that callers in other modules get the parser specialized, not its generic form.
    public init?(utf8 bytes: UnsafeRawBufferPointer) {
        guard let id = JobID.parse(bytes) else { return nil }
        self = id
    }

    private static func parse(_ bytes: some Collection<UInt8>) -> JobID? {
        guard bytes.count == 36 else { return nil }
        // The 32 hex digits as two 64-bit halves: no allocation on this hot path.
        var halves: (UInt64, UInt64) = (0, 0)
        var nibbles = 0
        for (offset, byte) in bytes.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if nibbles < 16 { halves.0 = halves.0 << 4 | UInt64(value) } else { halves.1 = halves.1 << 4 | UInt64(value) }
            nibbles += 1
        }
        func byte(_ half: UInt64, _ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: half >> (56 - 8 * index)) }
        let (high, low) = halves
        return JobID(UUID(uuid: (byte(high, 0), byte(high, 1), byte(high, 2), byte(high, 3), byte(high, 4), byte(high, 5),
                                 byte(high, 6), byte(high, 7), byte(low, 0), byte(low, 1), byte(low, 2), byte(low, 3),
                                 byte(low, 4), byte(low, 5), byte(low, 6), byte(low, 7))))
    }

    /// Lower-case 8-4-4-4-12 hex, written by hand for the same reason.
    public var description: String {
        func hex(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }
        return withUnsafeBytes(of: uuid.uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { out in
                var position = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    out[position] = hex(byte >> 4)
                    out[position + 1] = hex(byte & 0x0F)
                    position += 2
                }
                return position
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = JobID(text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "not a UUID: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
