public import WillItCompile

/// Why a call to the worker failed: the worker is not there, or broke the protocol.
public struct WorkerUnreachable: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

/// Talks to the worker daemon over its Unix socket, one connection per call.
/// Safe to use from many threads.
public struct WorkerClient: Sendable {
    public let socketPath: String
    /// Bounds connect-to-reply; a stuck worker becomes an error, never a hang.
    public let timeoutMilliseconds: Int

    public init(socketPath: String, timeoutMilliseconds: Int = 5000) {
        self.socketPath = socketPath
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Sends one request and waits for its reply.
    /// - Throws: `WorkerUnreachable` naming the socket when the worker cannot be reached in time.
    public func send(_ request: WorkerRequest) throws(WorkerUnreachable) -> WorkerReply {
        do {
            let socket = try UnixSocket.connect(to: socketPath)
            try socket.setTimeout(milliseconds: timeoutMilliseconds)
            try socket.write(WorkerCodec.frame(request))
            var decoder = WorkerFrameDecoder()
            while true {
                if let payload = try decoder.next() {
                    return try WorkerCodec.decodeReply(payload)
                }
                let bytes = try socket.read()
                if bytes.isEmpty {
                    throw WorkerUnreachable(description: "worker at \(socketPath) closed the connection without a reply")
                }
                decoder.append(bytes)
            }
        } catch let error as WorkerUnreachable {
            throw error
        } catch {
            throw WorkerUnreachable(description: "worker at \(socketPath) unreachable: \(error)")
        }
    }
}
