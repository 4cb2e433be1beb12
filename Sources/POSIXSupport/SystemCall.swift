import Glibc

/// A failed system call: which operation, and errno's text.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// Runs a system call, retrying on EINTR; a result of -1 becomes a `SystemCallError`
/// naming `operation`. The one place errno is read for socket and process calls.
@discardableResult
public func systemCall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ call: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(operation(), errno: code)
    }
}
