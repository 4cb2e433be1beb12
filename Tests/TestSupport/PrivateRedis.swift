import Foundation
import Glibc

/// A redis-server of one test's own, on a Unix socket in a fresh directory, run as the
/// service user like the service's own Redis: workers that share a Redis form one
/// cluster and take each other's jobs, so a test that needs workers of its own alone
/// needs a Redis of its own. Stopped and removed when released.
public final class PrivateRedis {
    public let directory: String
    public var socketPath: String { "\(directory)/redis.sock" }
    private let arguments: [String]
    private var pid: pid_t = 0

    public init(arguments: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-redis-\(UUID().uuidString.prefix(8))").path
        self.arguments = arguments
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        guard runToExitQuietly("/bin/chown", ["willitcompile:", directory]) == 0 else {
            throw TestFailure("cannot hand \(directory) to the service user willitcompile")
        }
        try start()
    }

    private func start() throws {
        pid = try spawn("/usr/bin/setpriv", [
            "--reuid=willitcompile", "--regid=willitcompile", "--init-groups", "--", "redis-server",
            "--port", "0", "--unixsocket", "\(directory)/redis.sock", "--unixsocketperm", "700",
            "--dir", directory, "--appendonly", "yes", "--save", "", "--daemonize", "no",
        ] + arguments, environment: ProcessInfo.processInfo.environment, outputPath: "\(directory)/redis.log")
        let socket = "\(directory)/redis.sock"
        try waitUntil("the private redis-server answers PING", within: 20) {
            runToExitQuietly("/usr/bin/redis-cli", ["-s", socket, "PING"]) == 0 && FileManager.default.fileExists(atPath: socket)
        }
    }

    /// Shuts Redis down (its AOF written), keeps it down for `pause` seconds, and starts it
    /// again on its AOF, as an operator's restart does.
    public func restart(downFor pause: Double) throws {
        _ = try? command(["SHUTDOWN"])
        _ = waitForExit(pid)
        Thread.sleep(forTimeInterval: pause)
        try start()
    }

    deinit {
        // Never kill(0, …): that is this process's whole group.
        if pid > 0 {
            kill(pid, SIGKILL)
            _ = waitForExit(pid)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What redis-cli prints for one command.
    public func command(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        process.arguments = ["-s", socketPath] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("redis-cli \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

private func runToExitQuietly(_ executable: String, _ arguments: [String]) -> Int32 {
    (try? runToExit(executable, arguments)) ?? -1
}
