import Dispatch
import Glibc
import POSIXSupport
import Testing

/// The generic process spawning the sandbox and the toolchain probe are built on.
@Suite struct ProcessRunnerTests {
    func run(_ script: String, descriptors: [Int32: Int32] = [:], collecting: [Int32: Int] = [1: 1024, 2: 1024],
             timeout: Duration = .seconds(20)) throws -> ProcessOutcome {
        try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH=/usr/bin:/bin"],
                              descriptors: descriptors, collecting: collecting, timeout: timeout)
    }

    func text(_ stream: CapturedStream?) -> String { String(decoding: stream?.bytes ?? [], as: UTF8.self) }

    @Test func collectsEachDescriptorUpToItsCap() throws {
        let outcome = try run("printf out; printf err >&2; printf 0123456789 >&4; exit 3", collecting: [1: 100, 2: 100, 4: 4])
        #expect(outcome.termination == .exited(3))
        #expect(text(outcome.stdout) == "out" && text(outcome.stderr) == "err")
        #expect(text(outcome.collected[4]) == "0123" && outcome.collected[4]?.omitted == 6)
    }

    /// The child sees exactly standard input (/dev/null), the collected pipes and the descriptors
    /// given, at their numbers: not a descriptor the caller has open without close-on-exec.
    @Test func theChildGetsOnlyTheDescriptorsNamed() throws {
        let given = try memoryFile(named: "given", holding: Array("hello".utf8))
        defer { close(given) }
        let stray = open("/dev/null", O_RDONLY)
        defer { close(stray) }
        #expect(stray > 5)
        // `ls` opens the directory it lists as the lowest free descriptor, 3.
        let outcome = try run("cat <&5; echo; ls -1 /proc/self/fd; cat <&0", descriptors: [5: given])
        let lines = text(outcome.stdout).split(separator: "\n")
        #expect(lines.first == "hello")
        #expect(lines.dropFirst().map(String.init) == ["0", "1", "2", "3", "5"], "\(lines)")
    }

    /// At the deadline the whole process group is killed, also what the child started in the background.
    @Test func theDeadlineKillsTheWholeGroup() throws {
        let started = ContinuousClock.now
        let outcome = try run("sleep 60 & echo $!; wait", timeout: .milliseconds(500))
        #expect(outcome.termination == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(10))
        let background = try #require(pid_t(text(outcome.stdout).split(separator: "\n").first ?? ""))
        // Killed, it ends at once; whoever adopted it may take a moment to reap it.
        let deadline = ContinuousClock.now + .seconds(10)
        while Self.isRunning(background), ContinuousClock.now < deadline { sched_yield() }
        #expect(!Self.isRunning(background), "the background sleep \(background) still runs")
    }

    /// Exists and is no zombie.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let file = fopen("/proc/\(pid)/stat", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        guard fgets(&line, Int32(line.count), file) != nil else { return false }
        return !String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).contains(") Z ")
    }

    @Test func aProgramThatCannotBeSpawnedIsAnErrorNamingIt() {
        #expect(throws: SystemCallError("spawn /nonexistent/program", errno: ENOENT)) {
            try ProcessRunner.run(executable: "/nonexistent/program", arguments: [], environment: [],
                                  collecting: [1: 16], timeout: .seconds(5))
        }
    }
}

@Suite struct SystemCallTests {
    @Test func aFailedCallNamesTheOperationAndErrno() {
        do {
            try systemCall("open /nonexistent") { open("/nonexistent", O_RDONLY) }
            Issue.record("expected a failure")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description == "open /nonexistent: No such file or directory")
        }
    }

    @Test func aConditionWaitWithoutASignalEndsAtItsDeadline() {
        let condition = Condition()
        condition.lock()
        let started = ContinuousClock.now
        #expect(!condition.wait(until: started + .milliseconds(50)))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
        condition.unlock()
    }

    /// A waiter with a long deadline wakes as soon as another thread signals it.
    @Test func aSignalWakesAWaiterBeforeItsDeadline() {
        final class State: @unchecked Sendable {  // guarded by `condition`
            var waiting = false
            var signalled = false
            var wokeInTime = false
        }
        let condition = Condition()
        let state = State()
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            condition.lock()
            let started = ContinuousClock.now
            state.waiting = true
            while !state.signalled, condition.wait(until: started + .seconds(60)) {}
            state.wokeInTime = state.signalled && ContinuousClock.now - started < .seconds(30)
            condition.unlock()
            finished.signal()
        }
        // Once `waiting` is seen under the lock, the waiter is inside `wait`, which released it.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            condition.lock()
            if state.waiting {
                state.signalled = true
                condition.signal()
                condition.unlock()
                break
            }
            condition.unlock()
            sched_yield()
        }
        #expect(finished.wait(timeout: .now() + 40) == .success)
        condition.lock()
        #expect(state.wokeInTime)
        condition.unlock()
    }
}
