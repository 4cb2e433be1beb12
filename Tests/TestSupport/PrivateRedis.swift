import Foundation
import Glibc

/// A redis-server of one test's own, on a Unix socket in a fresh directory, run as the
/// service user like the service's own Redis: workers that share a Redis form one
/// cluster and take each other's jobs, so a test that needs workers of its own alone
/// needs a Redis of its own. AOF is on and written at every command, so a SIGKILL loses
/// nothing. Stopped and removed when released.
public final class PrivateRedis {
    public let directory: String
    public var socketPath: String { "\(directory)/redis.sock" }
    private let arguments: [String]
    private var pid: pid_t = 0

    public init(arguments: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-redis-\(UUID().uuidString.prefix(8))").path
        self.arguments = arguments
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        guard (try? runToExit("/bin/chown", ["willitcompile:", directory])) == 0 else {
            throw TestFailure("cannot hand \(directory) to the service user willitcompile")
        }
        try start()
    }

    /// Starts Redis (again, after `kill()`) on what its AOF holds.
    public func start() throws {
        pid = try spawn("/usr/bin/setpriv", [
            "--reuid=willitcompile", "--regid=willitcompile", "--init-groups", "--", "redis-server",
            "--port", "0", "--unixsocket", "\(directory)/redis.sock", "--unixsocketperm", "700",
            "--dir", directory, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
        ] + arguments, environment: ProcessInfo.processInfo.environment, outputPath: "\(directory)/redis.log")
        try waitUntil("the private redis-server answers PING", within: 20) { answersPing() }
    }

    /// PING over the socket itself: no redis-cli process for each of the many attempts.
    private func answersPing() -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return false }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let ping = Array("PING\r\n".utf8)
        guard write(descriptor, ping, ping.count) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 16)
        let count = read(descriptor, &reply, reply.count)
        // NOAUTH: up and serving, to clients that know its password.
        return count > 0 && (reply.prefix(count).starts(with: Array("+PONG".utf8)) || reply.prefix(count).starts(with: Array("-NOAUTH".utf8)))
    }

    /// Shuts Redis down (its AOF written), keeps it down for `pause` seconds, and starts it
    /// again on its AOF, as an operator's restart does.
    public func restart(downFor pause: Double) throws {
        _ = try? command(["SHUTDOWN"])
        _ = waitForExit(pid)
        Thread.sleep(forTimeInterval: pause)
        try start()
    }

    /// SIGKILL, as a crash or the OOM killer ends Redis; returns once it is gone.
    public func kill() {
        guard pid > 0 else { return }  // kill(0, …) would be this process's whole group
        Glibc.kill(pid, SIGKILL)
        _ = waitForExit(pid)
        pid = 0
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What redis-cli prints for one command.
    public func command(_ arguments: [String]) throws -> String {
        try redisCLI(socket: socketPath, arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
