import Foundation
import Glibc
import Synchronization
public import WillItCompile
import POSIXSupport

/// Serves the worker protocol on a Unix socket: one thread per connection,
/// each request answered in order. A stalled or garbled peer costs only its own
/// connection, which is closed.
public final class SocketServer: Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    let path: String
    private let handler: @Sendable (WorkerRequest) -> WorkerReply
    private let listener = Mutex<UnixSocket?>(nil)
    private let connectionCount = Atomic<Int>(0)
    /// Beyond this many open connections, new ones are closed at once.
    static let maxConnections = 512
    /// A connection idle (or stalled mid-frame) this long is closed.
    static let idleTimeoutMilliseconds = 30_000

    public init(path: String, handler: @escaping @Sendable (WorkerRequest) -> WorkerReply) {
        self.path = path
        self.handler = handler
    }

    /// Binds the socket (mode 0660: the service user and its group only) and starts accepting.
    /// A socket file left by a crashed worker is replaced; a live worker's is not.
    public func start() throws(StartError) {
        try removeStaleSocket()
        let socket = try listenWithFinalMode()
        listener.withLock { $0 = socket }
        let thread = Thread { [self] in acceptLoop(socket) }
        thread.name = "accept"
        thread.start()
    }

    /// Binds in a fresh private (0700) directory next to `path`, gives the socket its
    /// mode there, then links it to `path`: at `path` it never exists with a wider mode,
    /// and nobody can connect before it has its mode. A bind at `path` would create the
    /// file with the process's umask and leave it so until a `chmod`.
    private func listenWithFinalMode() throws(StartError) -> UnixSocket {
        let parent = (path as NSString).deletingLastPathComponent
        var template = Array("\(parent.isEmpty ? "." : parent)/.wsXXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw StartError(description: "cannot create a private directory next to WORKER_SOCKET \(path): \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: created)
        let privatePath = directory + "/s"
        defer {
            unlink(privatePath)
            rmdir(directory)
        }
        let socket: UnixSocket
        do {
            socket = try UnixSocket.listen(at: privatePath)
        } catch {
            throw StartError(description: "cannot listen on WORKER_SOCKET \(path) (bound first as \(privatePath)): \(error)")
        }
        guard chmod(privatePath, 0o660) == 0 else {
            throw StartError(description: "cannot set the mode of the worker socket \(privatePath): \(String(cString: strerror(errno)))")
        }
        // link, not rename: it never replaces a file another worker put there meanwhile.
        guard link(privatePath, path) == 0 else {
            let reason = errno == EEXIST ? "another process created it meanwhile" : String(cString: strerror(errno))
            throw StartError(description: "cannot put the worker socket at WORKER_SOCKET \(path): \(reason)")
        }
        return socket
    }

    /// Stops accepting and removes the socket file. Open connections finish their request.
    public func stop() {
        listener.withLock { socket in
            socket?.shutdown()
            socket = nil
        }
        unlink(path)
    }

    private func removeStaleSocket() throws(StartError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StartError(description: "WORKER_SOCKET \(path) exists and is not a socket; refusing to replace it")
        }
        if (try? UnixSocket.connect(to: path)) != nil {
            throw StartError(description: "another worker is already listening on WORKER_SOCKET \(path)")
        }
        log("replacing stale socket \(path) left by a previous run")
        unlink(path)
    }

    private func acceptLoop(_ socket: UnixSocket) {
        while true {
            let connection: UnixSocket
            do {
                connection = try socket.accept()
            } catch {
                if listener.withLock({ $0 == nil }) { return }  // stopped
                if error.errno == EMFILE || error.errno == ENFILE {
                    Thread.sleep(forTimeInterval: 0.05)  // out of descriptors: let connections close
                }
                continue
            }
            guard connectionCount.add(1, ordering: .relaxed).newValue <= Self.maxConnections else {
                connectionCount.subtract(1, ordering: .relaxed)
                continue  // dropping `connection` closes it
            }
            let thread = Thread { [self] in
                serve(connection)
                connectionCount.subtract(1, ordering: .relaxed)
            }
            thread.start()
        }
    }

    private func serve(_ connection: UnixSocket) {
        guard (try? connection.setTimeout(milliseconds: Self.idleTimeoutMilliseconds)) != nil else { return }
        var decoder = WorkerFrameDecoder()
        while true {
            do {
                while let payload = try decoder.next() {
                    let reply: WorkerReply
                    do {
                        reply = handler(try WorkerCodec.decodeRequest(payload))
                    } catch {
                        try? connection.write(WorkerCodec.frame(.failure(error)))
                        return  // the stream cannot be trusted after garbage
                    }
                    try connection.write(WorkerCodec.frame(reply))
                }
            } catch let WorkerFrameDecoder.Failure.frameTooLarge(size) {
                let failure = WorkerFailure(.malformedRequest, "frame of \(size) bytes exceeds the limit of \(WorkerCodec.maxPayloadSize)")
                try? connection.write(WorkerCodec.frame(.failure(failure)))
                return
            } catch {
                return  // the peer went away or stalled past the timeout
            }
            guard let bytes = try? connection.read(), !bytes.isEmpty else { return }
            decoder.append(bytes)
        }
    }
}
