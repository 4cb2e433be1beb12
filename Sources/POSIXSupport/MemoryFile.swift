import Glibc

/// A new anonymous memory file (memfd) holding `bytes`, rewound and close-on-exec: it is never
/// on a disk, so a process killed while using it leaves no file behind. The caller closes it.
/// - Parameter name: what the file is, for the kernel's listing and for errors.
public func memoryFile(named name: String, holding bytes: [UInt8]) throws(SystemCallError) -> Int32 {
    let descriptor = try systemCall("create the \(name)'s memory file") { GNUCalls.memfdCreate(name, UInt32(GNUCalls.memfdCloseOnExec)) }
    do {
        var offset = 0
        while offset < bytes.count {
            let written = try systemCall("write the \(name)") {
                bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            }
            offset += written
        }
        try systemCall("rewind the \(name)") { lseek(descriptor, 0, SEEK_SET) }
    } catch {
        close(descriptor)
        throw error
    }
    return descriptor
}
