public import Testing
import Foundation
import Glibc

/// A limit on how long a test's body runs, counted from the moment the body starts.
///
/// swift-testing's `.timeLimit` counts from the moment a test is scheduled. These test
/// bodies are synchronous and hold their thread while they wait for processes, sockets
/// and compilers, so on a 2-core machine both threads of the concurrency pool are often
/// held by other tests, and a body queued behind them spends its limit before it runs: a
/// Redis test of one second failed its one-minute limit after 67 s. This limit starts
/// with the body.
///
/// A body that ends past its limit fails. A blocking body cannot be cancelled, so one
/// still running at three times its limit hangs: the watchdog then ends the test run,
/// naming it, rather than leave the run to hang until CI's own limit.
public struct RunningTimeLimit: TestTrait, TestScoping {
    public let minutes: Int

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let limit = Double(minutes * 60)
        let name = "\(test.name) (\(test.sourceLocation.fileID):\(test.sourceLocation.line))"
        let watchdog = Watchdog(testName: name, warnAfter: limit, stopRunAfter: 3 * limit)
        let started = Date()
        defer {
            watchdog.cancel()
            let elapsed = Date().timeIntervalSince(started)
            if elapsed > limit {
                Issue.record("the test ran for \(Int(elapsed)) s, past its running time limit of \(minutes) min")
            }
        }
        try await function()
    }
}

extension Trait where Self == RunningTimeLimit {
    /// The test's body must end within `minutes` of its start (see `RunningTimeLimit`).
    public static func runningTimeLimit(minutes: Int) -> Self {
        RunningTimeLimit(minutes: minutes)
    }
}

/// A thread of its own that waits out a test's limits: not a task, because the tasks'
/// threads may all be held by blocking test bodies.
private final class Watchdog: @unchecked Sendable {
    private let condition = NSCondition()
    private var cancelled = false

    init(testName: String, warnAfter warning: Double, stopRunAfter stop: Double) {
        let start = Date()
        Thread { [self] in
            if waitForCancel(until: start + warning) { return }
            say("\(testName) is still running after \(Int(warning)) s, its running time limit")
            if waitForCancel(until: start + stop) { return }
            say("\(testName) is still running after \(Int(stop)) s: it hangs, and a blocking test cannot be cancelled; ending the test run")
            _exit(1)
        }.start()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// Whether the test ended before `deadline`.
    private func waitForCancel(until deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled, condition.wait(until: deadline) {}
        return cancelled
    }

    private func say(_ message: String) {
        let line = Array("⏱ \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
