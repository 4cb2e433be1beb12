import Foundation
@testable import JobStore
import Synchronization
import Testing
import WillItCompile

/// The stores every contract test runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case redis

    var testDescription: String { rawValue }

    /// A fresh store. The Redis one talks to the private redis-server that
    /// `scripts/test` starts and names in `WIC_TEST_REDIS_ADDR`.
    func makeStore(ttlHours: Int = 24) throws -> any JobStore {
        switch self {
        case .memory:
            return MemoryJobStore(ttlHours: ttlHours)
        case .redis:
            return RedisJobStore(configuration: try sharedRedisConfiguration(ttlHours: ttlHours))
        }
    }
}

extension StoreKind {
    /// Whether a long poll on `id` is waiting for its verdict right now (so a
    /// verdict stored next must wake it rather than be found by its first read).
    func hasLongPollWaiting(in store: any JobStore, on id: JobID) throws -> Bool {
        switch self {
        case .memory:
            return (store as! MemoryJobStore).waitingLongPolls > 0
        case .redis:
            let connection = try RedisConnection(configuration: try sharedRedisConfiguration())
            let reply = try connection.command(["PUBSUB", "NUMSUB", JobKeys.verdictChannel(id)])
            guard case let .array(items) = reply, items.count == 2, case let .integer(subscribers) = items[1] else {
                throw MissingTestDependency(description: "unexpected PUBSUB NUMSUB reply \(reply)")
            }
            return subscribers > 0
        }
    }
}

struct MissingTestDependency: Error, CustomStringConvertible {
    let description: String
}

func sharedRedisConfiguration(ttlHours: Int = 24) throws -> RedisConfiguration {
    guard let text = ProcessInfo.processInfo.environment["WIC_TEST_REDIS_ADDR"], let address = RedisAddress(text) else {
        throw MissingTestDependency(description:
            "WIC_TEST_REDIS_ADDR is not set to a Redis address: run the tests with scripts/test, which starts a private redis-server")
    }
    return RedisConfiguration(enabled: true, address: address, jobTTLHours: ttlHours)
}

/// A job with a fresh id, created now.
func makeJob(source: [UInt8] = Array("int main(void) { return 0; }\n".utf8), language: Language = .c) -> CompilationJob {
    CompilationJob(request: CompilationRequest(source: source, language: language, compiler: "gcc-12", standard: "c11"), createdAt: Date())
}

func makeResult(for id: JobID, status: JobStatus, stdout: String = "", stderr: String = "") -> CompilationResult {
    CompilationResult(
        jobID: id, success: status != .error && status != .timeout, compiled: status == .completed,
        stdout: stdout, stderr: stderr, exitCode: status == .completed ? 0 : 1, durationNanoseconds: 12_345_678,
        error: status == .error ? "sandbox failed to start" : "")
}

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 += seconds }
    }
}

/// A redis-server of the test's own, on a Unix socket in a temporary directory,
/// with AOF on and fsync after every write, so that a SIGKILL loses nothing.
final class PrivateRedisServer {
    let directory: URL
    let socketPath: String
    private let extraArguments: [String]
    private var process: Process?

    init(extraArguments: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-redis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        socketPath = directory.appendingPathComponent("redis.sock").path
        self.extraArguments = extraArguments
        try start()
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    var address: RedisAddress { .unix(path: socketPath) }

    func start() throws {
        let executable = try Self.findRedisServer()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--port", "0", "--unixsocket", socketPath, "--unixsocketperm", "700",
            "--dir", directory.path, "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--daemonize", "no", "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + extraArguments
        // Not the test runner's pipes: a server outliving a crashed test would hold them open.
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try waitUntilReady(process)
    }

    /// SIGKILL, then wait for the process to be gone.
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    private func waitUntilReady(_ process: Process) throws {
        let deadline = Date() + 10
        var lastError = "no attempt"
        while Date() < deadline {
            guard process.isRunning else {
                throw MissingTestDependency(description: "redis-server exited at start: see \(directory.path)/redis.log")
            }
            do {
                let connection = try RedisConnection(configuration: RedisConfiguration(address: address))
                // NOAUTH means the server is up and serving (it wants a password);
                // LOADING means it is still reading the AOF.
                switch try connection.command(["PING"]) {
                case .status("PONG"): return
                case let .error(message) where message.hasPrefix("NOAUTH"): return
                case let reply: lastError = "\(reply)"
                }
            } catch {
                lastError = "\(error)"
            }
            usleep(10_000)
        }
        throw MissingTestDependency(description: "redis-server did not answer PING within 10 s: \(lastError)")
    }

    private static func findRedisServer() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/usr/sbin"] {
            let candidate = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw MissingTestDependency(description: "redis-server not found on PATH: install Debian's redis-server (scripts/test does)")
    }
}

/// The reason of the `.unavailable` error `body` throws; nil if it throws
/// anything else or nothing.
func outageReason(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        guard case let .unavailable(reason)? = error as? JobStoreError else { return nil }
        return reason
    }
}
