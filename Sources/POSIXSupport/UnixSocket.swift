import Glibc

/// A connected or listening Unix stream socket; closes its descriptor in `deinit`.
/// Sendable: the only state is the immutable descriptor; the kernel serializes calls on it.
public final class UnixSocket: Sendable {
    public let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Connects to `path`; with `timeoutMilliseconds`, that timeout bounds the connect
    /// (a listener whose backlog is full blocks it) and every later read and write.
    /// - Throws: `SystemCallError` naming the path (ENOENT / ECONNREFUSED: nobody listens).
    public static func connect(to path: String, timeoutMilliseconds: Int? = nil) throws(SystemCallError) -> UnixSocket {
        let socket = try makeSocket()
        if let timeoutMilliseconds { try socket.setTimeout(milliseconds: timeoutMilliseconds) }
        try withAddress(of: path) { address, length throws(SystemCallError) in
            try systemCall("connect to \(path)") { Glibc.connect(socket.descriptor, address, length) }
        }
        return socket
    }

    /// Binds and listens on `path`, which must not exist.
    public static func listen(at path: String, backlog: Int32 = 128) throws(SystemCallError) -> UnixSocket {
        let socket = try makeSocket()
        try withAddress(of: path) { address, length throws(SystemCallError) in
            try systemCall("bind \(path)") { Glibc.bind(socket.descriptor, address, length) }
        }
        try systemCall("listen on \(path)") { Glibc.listen(socket.descriptor, backlog) }
        return socket
    }

    private static func makeSocket() throws(SystemCallError) -> UnixSocket {
        UnixSocket(descriptor: try systemCall("socket") {
            Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
    }

    /// Waits for the next connection.
    public func accept() throws(SystemCallError) -> UnixSocket {
        let connection = UnixSocket(descriptor: try systemCall("accept") { Glibc.accept(descriptor, nil, nil) })
        _ = fcntl(connection.descriptor, F_SETFD, FD_CLOEXEC)
        return connection
    }

    /// Bounds every later read and write: a peer that stalls longer makes them fail with EAGAIN.
    public func setTimeout(milliseconds: Int) throws(SystemCallError) {
        var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            try systemCall("setsockopt") {
                setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
            }
        }
    }

    public func write(_ bytes: [UInt8]) throws(SystemCallError) {
        var offset = 0
        while offset < bytes.count {
            let written = try systemCall("write") {
                bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            offset += written
        }
    }

    /// Up to `maximum` bytes; empty at end of stream.
    public func read(maximum: Int = 65536) throws(SystemCallError) -> [UInt8] {
        // Uninitialised: zeroing `maximum` bytes on every read cost more than the read.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maximum, alignment: 1)
        defer { buffer.deallocate() }
        let count = try systemCall("read") { recv(descriptor, buffer.baseAddress, maximum, 0) }
        return Array(buffer[..<count])
    }

    /// Stops both directions, waking a thread blocked on this socket.
    public func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    private static func withAddress(
        of path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemCallError) -> Void
    ) throws(SystemCallError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemCallError("socket path \(path)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result: Result<Void, SystemCallError> = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Result { () throws(SystemCallError) in try body(address, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        try result.get()
    }
}
