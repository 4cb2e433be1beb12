import Glibc
import POSIXSupport
import TestSupport
import Testing
@testable import WorkerService

/// The process a slot keeps waiting (the worker's binary as `SandboxLauncher`): handed a command,
/// it runs it as `ProcessRunner` would spawn it.
@Suite struct SandboxLauncherTests {
    func launcher(entering files: [String] = []) throws -> PreparedProcess {
        try PreparedProcess.spawn(executable: try WorkerProcess.workerExecutable(), arguments: [SandboxLauncher.flag] + files)
    }

    func run(_ script: String, descriptors: [Int32: Int32] = [:], timeout: Duration = .seconds(20),
             in prepared: PreparedProcess?) throws -> ProcessOutcome {
        try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH=/usr/bin:/bin"],
                              descriptors: descriptors, collecting: [1: 4096, 2: 4096, 4: 16], timeout: timeout, in: prepared)
    }

    func text(_ stream: POSIXSupport.CapturedStream?) -> String { String(decoding: stream?.bytes ?? [], as: UTF8.self) }

    /// The same descriptors at the same numbers, standard input /dev/null, the same environment,
    /// its own process group: nothing of the launcher's (its socket, its Swift runtime's) is left.
    @Test(.runningTimeLimit(minutes: 1))
    func aLaunchedCommandGetsWhatASpawnedOneGets() throws {
        let given = try memoryFile(named: "given", holding: Array("hello".utf8))
        defer { close(given) }
        let script = #"cat <&7; echo; ls -l /proc/self/fd | sed -n 's/.* \([0-9]*\) -> \(.*\)/\1 \2/p' | sed 's/:\[[0-9]*\]//; s|/proc/[0-9]*/|/proc/PID/|'; env; echo pgid-is-pid $(($(cut -d' ' -f5 /proc/$$/stat) == $$)); printf x >&4"#
        let spawned = try run(script, descriptors: [7: given], in: nil)
        lseek(given, 0, SEEK_SET)
        let prepared = try launcher()
        let launched = try run(script, descriptors: [7: given], in: prepared)
        #expect(launched.termination == .exited(0), "\(text(launched.stderr))")
        #expect(text(launched.stdout) == text(spawned.stdout))
        #expect(text(launched.stdout).hasPrefix("hello\n0 /dev/null\n1 pipe\n2 pipe\n3 /proc/"), "\(text(launched.stdout))")
        #expect(text(launched.stdout).contains("4 pipe\n7 /memfd:given (deleted)\nPATH=/usr/bin:/bin\n"), "\(text(launched.stdout))")
        #expect(text(launched.stdout).hasSuffix("pgid-is-pid 1\n"))
        #expect(text(launched.collected[4]) == "x")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aLauncherThatCannotEnterItsCgroupRunsNothingAndSaysWhy() throws {
        let prepared = try launcher(entering: ["/proc/nonexistent/cgroup.procs"])
        let outcome = try run("echo ran", in: prepared)
        #expect(outcome.termination == .exited(125))
        #expect(text(outcome.stdout).isEmpty)
        #expect(text(outcome.stderr).hasPrefix("cannot enter the job's cgroup /proc/nonexistent/cgroup.procs: open /proc/nonexistent/cgroup.procs: "),
                "\(text(outcome.stderr))")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func theDeadlineKillsTheLaunchedCommandsWholeGroup() throws {
        let outcome = try run("sleep 60 & echo $!; wait", timeout: .milliseconds(500), in: try launcher())
        #expect(outcome.termination == .timedOut)
        let background = try #require(pid_t(text(outcome.stdout).split(separator: "\n").first ?? ""))
        try waitUntil("the background sleep is gone", within: 10) { !isRunning(background) }
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aDiscardedLauncherIsGone() throws {
        let prepared = try launcher()
        #expect(prepared.isWaiting())
        prepared.discard()
        #expect(!prepared.isWaiting())
        #expect(kill(prepared.pid, 0) == -1 && errno == ESRCH)
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aCommandThatCannotBeRunIsStatus127NamingIt() throws {
        let outcome = try ProcessRunner.run(executable: "/nonexistent/program", arguments: [], environment: [],
                                            collecting: [1: 100, 2: 100], timeout: .seconds(20), in: try launcher())
        #expect(outcome.termination == .exited(127))
        #expect(String(decoding: outcome.stderr.bytes, as: UTF8.self) == "cannot run /nonexistent/program: No such file or directory\n")
    }
}
