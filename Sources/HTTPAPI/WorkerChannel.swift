public import WillItCompile
public import WorkerClient

/// What the API needs of the worker: one request, one reply. `WorkerClient` is
/// the real one; tests of the API in-process give it another.
public protocol WorkerChannel: Sendable {
    func send(_ request: WorkerRequest) throws(WorkerUnreachable) -> WorkerReply
}

extension WorkerClient: WorkerChannel {}

/// The worker as the API reaches it: one channel per kind of request, each with
/// the timeout that kind needs.
public struct WorkerChannels: Sendable {
    /// Submissions, job reads without waiting, statistics and toolchains.
    public var requests: any WorkerChannel
    /// Memory-mode long polls: the timeout covers the longest wait.
    public var longPolls: any WorkerChannel
    /// Health checks, which must answer fast.
    public var healthProbe: any WorkerChannel

    public init(requests: any WorkerChannel, longPolls: any WorkerChannel, healthProbe: any WorkerChannel) {
        self.requests = requests
        self.longPolls = longPolls
        self.healthProbe = healthProbe
    }

    /// Clients of `client`'s socket: `client` itself for requests, one whose timeout
    /// also covers `APIHandler.maxWait` for long polls, and a 1 s one for health checks.
    public init(_ client: WorkerClient) {
        self.init(
            requests: client,
            longPolls: WorkerClient(socketPath: client.socketPath,
                                    timeoutMilliseconds: client.timeoutMilliseconds + APIHandler.maxWait.roundedUpMilliseconds),
            healthProbe: WorkerClient(socketPath: client.socketPath, timeoutMilliseconds: 1000))
    }
}
