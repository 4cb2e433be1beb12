import Foundation
import WillItCompile

/// One line on standard error: time, program, message. Loud enough for a daemon
/// supervised by scripts; a logging framework is not needed for this much.
public func log(_ message: String) {
    let line = "\(Timestamp.format(Date())) will-it-compile-worker: \(message)\n"
    FileHandle.standardError.write(Data(line.utf8))
}
