/// Names what a compile produced from the first bytes of the file, like `file(1)`
/// would: `ELF 64-bit executable, AArch64`, `PE32+ executable, x86-64`.
public enum ArtifactDescription {
    public static func describe(_ head: [UInt8]) -> String {
        if head.count >= 20, head.starts(with: [0x7F, 0x45, 0x4C, 0x46]) { return elf(head) }
        if head.count >= 64, head.starts(with: [0x4D, 0x5A]) { return pe(head) ?? "MS-DOS executable" }
        return head.isEmpty ? "" : "unknown format"
    }

    private static func elf(_ head: [UInt8]) -> String {
        let bits = head[4] == 2 ? "64-bit" : "32-bit"
        let littleEndian = head[5] != 2
        func half(_ offset: Int) -> Int {
            littleEndian ? Int(head[offset]) | Int(head[offset + 1]) << 8 : Int(head[offset]) << 8 | Int(head[offset + 1])
        }
        let kind = switch half(16) {
        case 1: "relocatable"
        case 2: "executable"
        case 3: "executable (PIE) or shared object"
        default: "file"
        }
        let machine = switch half(18) {
        case 0x03: "Intel 80386"
        case 0x28: "ARM"
        case 0x3E: "x86-64"
        case 0xB7: "AArch64"
        case 0xF3: "RISC-V"
        case let other: "machine \(other)"
        }
        return "ELF \(bits) \(kind), \(machine)"
    }

    private static func pe(_ head: [UInt8]) -> String? {
        let offset = Int(head[0x3C]) | Int(head[0x3D]) << 8 | Int(head[0x3E]) << 16 | Int(head[0x3F]) << 24
        guard offset >= 0, offset + 26 <= head.count, head[offset..<offset + 4].elementsEqual([0x50, 0x45, 0, 0]) else { return nil }
        let machine = switch Int(head[offset + 4]) | Int(head[offset + 5]) << 8 {
        case 0x8664: "x86-64"
        case 0xAA64: "ARM64"
        case 0x14C: "Intel 80386"
        case let other: "machine \(other)"
        }
        let magic = Int(head[offset + 24]) | Int(head[offset + 25]) << 8
        return "\(magic == 0x20B ? "PE32+" : "PE32") executable, \(machine)"
    }
}
