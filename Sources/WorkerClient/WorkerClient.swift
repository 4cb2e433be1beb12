import Glibc
import POSIXSupport
import Synchronization
public import WillItCompile

/// Why a call to the worker failed: the worker is not there, or broke the protocol.
public struct WorkerUnreachable: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

/// Talks to the worker daemon over its Unix socket. Safe to use from many threads.
///
/// Connections are kept and reused (the worker serves any number of requests on
/// one), which saves a connect and the worker's thread start on every call.
public struct WorkerClient: Sendable {
    public let socketPath: String
    /// Bounds connect-to-reply; a stuck worker becomes an error, never a hang.
    public let timeoutMilliseconds: Int
    private let idle = IdleConnections()

    public init(socketPath: String, timeoutMilliseconds: Int = 5000) {
        self.socketPath = socketPath
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Sends one request and waits for its reply.
    ///
    /// A kept connection the worker has closed in the meantime (it restarted, or
    /// closed it as idle) fails without the request having been read: the request
    /// is then sent once more on a new connection. A connection closed after the
    /// worker read the request is retried only for requests that may run twice,
    /// never for `submit`.
    /// - Throws: `WorkerUnreachable` naming the socket when the worker cannot be reached in time.
    public func send(_ request: WorkerRequest) throws(WorkerUnreachable) -> WorkerReply {
        let frame = WorkerCodec.frame(request)
        if let kept = idle.take() {
            switch exchange(frame, on: kept) {
            case let .reply(reply): return reply
            case .notRead: break
            case .closedAfterReading where request.mayRunTwice: break
            case .closedAfterReading: throw WorkerUnreachable(description: "worker at \(socketPath) closed the connection without a reply")
            case let .failed(reason): throw WorkerUnreachable(description: "worker at \(socketPath) \(reason)")
            }
        }
        let socket: UnixSocket
        do {
            socket = try UnixSocket.connect(to: socketPath, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            throw WorkerUnreachable(description: "worker at \(socketPath) unreachable: \(error)")
        }
        switch exchange(frame, on: socket) {
        case let .reply(reply): return reply
        case .notRead, .closedAfterReading: throw WorkerUnreachable(description: "worker at \(socketPath) closed the connection without a reply")
        case let .failed(reason): throw WorkerUnreachable(description: "worker at \(socketPath) \(reason)")
        }
    }

    private enum Exchange {
        case reply(WorkerReply)
        /// The worker was gone before it read the request (EPIPE on write, ECONNRESET on read).
        case notRead
        /// End of stream before any reply byte: the worker read the request, then closed.
        case closedAfterReading
        case failed(String)
    }

    /// One request and its reply; the connection goes back to `idle` only after a clean reply.
    private func exchange(_ frame: [UInt8], on socket: UnixSocket) -> Exchange {
        var received = false
        do {
            try socket.write(frame)
            var decoder = WorkerFrameDecoder()
            while true {
                if let payload = try decoder.next() {
                    let reply = try WorkerCodec.decodeReply(payload)
                    if decoder.pendingByteCount == 0 { idle.put(socket) }
                    return .reply(reply)
                }
                let bytes = try socket.read()
                if bytes.isEmpty { return received ? .failed("closed the connection mid-reply") : .closedAfterReading }
                received = true
                decoder.append(bytes)
            }
        } catch let error as SystemCallError where !received && (error.errno == EPIPE || error.errno == ECONNRESET) {
            return .notRead
        } catch {
            return .failed("failed: \(error)")
        }
    }
}

extension WorkerRequest {
    /// Whether sending the request again after a lost reply is harmless: all but
    /// `submit` and `submitMatrix`, whose second copy would be refused as a duplicate of the
    /// first, and `recordMetrics`, whose second copy would count the same requests twice.
    var mayRunTwice: Bool {
        switch self {
        case .submit, .submitMatrix, .recordMetrics: false
        default: true
        }
    }
}

/// Connections that answered cleanly, newest last. One idle longer than the
/// worker's own idle timeout would be closed by it, so such are dropped instead.
private final class IdleConnections: Sendable {
    private let connections = Mutex<[(socket: UnixSocket, since: ContinuousClock.Instant)]>([])
    private static let maxIdle = Duration.seconds(10)
    private static let maxKept = 64

    func take() -> UnixSocket? {
        connections.withLock { kept in
            let now = ContinuousClock.now
            kept.removeAll { now - $0.since > Self.maxIdle }
            return kept.popLast()?.socket
        }
    }

    func put(_ socket: UnixSocket) {
        connections.withLock { kept in
            if kept.count < Self.maxKept { kept.append((socket, ContinuousClock.now)) }
        }
    }
}
