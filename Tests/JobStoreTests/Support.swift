import Foundation
@testable import JobStore
import Synchronization
import TestSupport
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

/// A verdict key of its own per test: the Redis store is shared by every test of the run.
func freshVerdictKey() -> VerdictKey {
    let request = CompilationRequest(source: Array(UUID().uuidString.utf8), language: .c, compiler: "gcc-12", standard: "c11")
    let spec = try! ToolchainCatalog.load(at: repositoryRoot.appendingPathComponent("toolchains/catalog").path)[0]
    return VerdictKey(request: request, toolchain: Toolchain(spec: spec, version: "12", isDefault: true),
                      limits: CompileLimits(sandbox: SandboxConfiguration(), timeout: .seconds(30)))
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

extension PrivateRedis {
    var address: RedisAddress { .unix(path: socketPath) }
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
