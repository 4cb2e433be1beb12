import Dispatch
import Foundation
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

    /// A killed command the kernel holds past its deadline (a process in a frozen cgroup v1
    /// freezer sleeps uninterruptibly and ignores SIGKILL until thawed, as one moving into its
    /// cgroup waits on the kernel's cgroup lock): the outcome still comes at the deadline plus
    /// `Reaper.killedProcessBound`, not when the kernel lets the process go, and the process is
    /// reaped once it can end. Here it is thawed 10 s after the deadline.
    @Test(.runningTimeLimit(minutes: 1), .enabled(if: FrozenCgroup.available, "needs the cgroup v1 freezer hierarchy"))
    func aCommandTheKernelHoldsPastItsDeadlineStillEndsInTime() throws {
        let prepared = try launcher()
        let frozen = try FrozenCgroup(holding: prepared.pid)
        defer { frozen.thawAndRemove() }
        let timeout = Duration.seconds(1)
        DispatchQueue.global().asyncAfter(deadline: .now() + 11) { frozen.thaw() }
        let started = ContinuousClock.now
        let outcome = try run("echo ran", timeout: timeout, in: prepared)
        let took = ContinuousClock.now - started
        #expect(outcome.termination == .timedOut)
        #expect(took < timeout + Reaper.killedProcessBound + .seconds(1), "the outcome came after \(took)")
        frozen.thaw()
        try waitUntil("the thawed process is reaped", within: 10) {
            !Reaper.reapAbandoned().contains(prepared.pid) && kill(prepared.pid, 0) == -1 && errno == ESRCH
        }
    }
}

/// A cgroup of the v1 freezer hierarchy, frozen, holding one process: the process stops in the
/// kernel, and a SIGKILL ends it only once it is thawed. Made by the test (as root) and removed.
final class FrozenCgroup: Sendable {
    static let hierarchy = "/sys/fs/cgroup/freezer"
    static var available: Bool { access("\(hierarchy)/cgroup.procs", W_OK) == 0 }

    let directory = "\(hierarchy)/wic-test-frozen-\(UUID().uuidString.prefix(8))"

    init(holding pid: pid_t) throws {
        guard mkdir(directory, 0o755) == 0 else { throw TestFailure("mkdir \(directory): \(String(cString: strerror(errno)))") }
        try "\(pid)".write(toFile: "\(directory)/cgroup.procs", atomically: false, encoding: .utf8)
        try "FROZEN".write(toFile: "\(directory)/freezer.state", atomically: false, encoding: .utf8)
        try waitUntil("the freezer cgroup is frozen", within: 10) { state == "FROZEN" }
    }

    var state: String {
        ((try? String(contentsOfFile: "\(directory)/freezer.state", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func thaw() {
        try? "THAWED".write(toFile: "\(directory)/freezer.state", atomically: false, encoding: .utf8)
    }

    /// Thaws it, kills what it holds and removes it (it is busy until its processes are gone).
    func thawAndRemove() {
        thaw()
        try? waitUntil("\(directory) is removed", within: 10) {
            let held = ((try? String(contentsOfFile: "\(directory)/cgroup.procs", encoding: .utf8)) ?? "").split(separator: "\n")
            held.compactMap { pid_t($0) }.forEach { kill($0, SIGKILL) }
            return rmdir(directory) == 0 || errno == ENOENT
        }
    }
}
