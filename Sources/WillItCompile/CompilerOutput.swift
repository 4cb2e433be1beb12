/// Turns a compiler's raw output into the text a result stores: escape
/// sequences removed, invalid UTF-8 replaced by U+FFFD, and a marker where
/// output beyond the cap was cut.
public enum CompilerOutput {
    /// - Parameters:
    ///   - bytes: the captured bytes (at most the cap).
    ///   - omittedByteCount: how many bytes past the cap were read and dropped.
    public static func text(from bytes: [UInt8], omittedByteCount: Int) -> String {
        var text = String(decoding: strippingEscapeSequences(bytes), as: UTF8.self)
        if omittedByteCount > 0 {
            if !text.hasSuffix("\n") { text += "\n" }
            text += "[output truncated: \(omittedByteCount) more bytes were cut]\n"
        }
        return text
    }

    /// Removes ANSI/VT escape sequences: CSI (`ESC [ … final`), OSC (`ESC ] … BEL`
    /// or `ESC \`), and two-byte escapes.
    static func strippingEscapeSequences(_ bytes: [UInt8]) -> [UInt8] {
        let escape: UInt8 = 0x1B
        guard bytes.contains(escape) else { return bytes }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == escape else {
                output.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { break }
            switch bytes[index] {
            case UInt8(ascii: "["):
                index += 1
                // Parameter and intermediate bytes, then one final byte in 0x40...0x7E.
                while index < bytes.count, !(0x40...0x7E).contains(bytes[index]) { index += 1 }
                index += 1
            case UInt8(ascii: "]"):
                index += 1
                while index < bytes.count {
                    if bytes[index] == 0x07 { index += 1; break }
                    if bytes[index] == escape, index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\\") {
                        index += 2
                        break
                    }
                    index += 1
                }
            default:
                index += 1
            }
        }
        return output
    }
}
