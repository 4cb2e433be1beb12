import Dispatch
import Foundation
import Glibc
import POSIXSupport
import TestSupport
import Testing
import WillItCompile
@testable import WorkerService

/// A program that stands in for a compiler: the worker runs it through its real spawn path
/// (job cgroup, prlimit, bwrap) as the toolchain `probe`, and it does what the submitted
/// "source" says. The service never runs compiled code, so this is how a job's sandbox gets
/// processes that fork and allocate as hostile code would.
private let probeSource = #"""
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Blocks until the test creates `path` (in the bound probe directory). */
static void await_release(const char *path) {
    while (access(path, F_OK) != 0) usleep(20000);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--version") == 0) { puts("sandbox-probe 1"); return 0; }
    FILE *source = fopen(argv[1], "r");
    char command[32], release[512], stop[512];
    int count = 0, megabytes = 0;
    if (!source || fscanf(source, "%31s", command) != 1) { fprintf(stderr, "probe: unreadable source\n"); return 2; }

    if (strcmp(command, "forkbomb") == 0 && fscanf(source, "%d %511s", &count, release) == 2) {
        /* Forks until the kernel refuses (or `count`, so a run without any limit cannot
           take the service user's whole RLIMIT_NPROC on a shared host); every child stays. */
        int forked = 0;
        for (; forked < count; forked++) {
            pid_t child = fork();
            if (child == 0) { for (;;) pause(); }
            if (child < 0) {
                printf("forked %d, then %s\n", forked, strerror(errno));
                break;
            }
        }
        if (forked == count) printf("forked %d, never refused\n", forked);
        fflush(stdout);
        await_release(release);
        return 0;
    }
    if (strcmp(command, "memory") == 0 && fscanf(source, "%d %d", &count, &megabytes) == 2) {
        /* `count` children each touch `megabytes` and report it; all stay until every one has. */
        int ready[2];
        if (pipe(ready) != 0) return 2;
        for (int i = 0; i < count; i++) {
            if (fork() == 0) {
                size_t size = (size_t)megabytes << 20;
                char *block = malloc(size);
                if (!block) { fprintf(stderr, "malloc failed\n"); _exit(3); }
                memset(block, 1, size);
                if (block[size - 1] != 1) _exit(4); /* keeps the compiler from dropping the memory */
                write(ready[1], "x", 1);
                for (;;) pause();
            }
        }
        close(ready[1]);
        /* Until every child has reported, or one has died (the OOM killer's SIGKILL). */
        int held = 0, status = 0;
        pid_t dead = 0;
        struct pollfd wait_ready = { .fd = ready[0], .events = POLLIN };
        char byte;
        while (held < count && dead <= 0) {
            if (poll(&wait_ready, 1, 20) == 1 && read(ready[0], &byte, 1) == 1) held++;
            dead = waitpid(-1, &status, WNOHANG);
        }
        if (held == count) { printf("all %d children hold %d MB\n", count, megabytes); return 0; }
        printf("only %d of %d children got their memory\n", held, count);
        if (WIFSIGNALED(status)) printf("a child was killed by signal %d\n", WTERMSIG(status));
        return 1;
    }
    if (strcmp(command, "linger") == 0 && fscanf(source, "%511s", release) == 1) {
        /* Leaves a detached process in its own session behind, then waits for the test. */
        if (fork() == 0) {
            setsid();
            if (fork() == 0) { for (;;) pause(); }
            _exit(0);
        }
        wait(NULL);
        await_release(release);
        return 0;
    }
    if (strcmp(command, "spin") == 0 && fscanf(source, "%d %511s %511s", &count, release, stop) == 3) {
        /* `count` children, each in a session of its own, spin from when `release` exists until
           `stop` does; then the CPU time they used together, in milliseconds. */
        for (int i = 0; i < count; i++) {
            if (fork() == 0) {
                setsid();
                await_release(release);
                for (unsigned long turn = 0;; turn++) {
                    if ((turn & 0xFFFFF) == 0 && access(stop, F_OK) == 0) _exit(0);
                }
            }
        }
        while (wait(NULL) > 0) {}
        struct rusage usage;
        getrusage(RUSAGE_CHILDREN, &usage);
        long milliseconds = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000L
            + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000L;
        printf("cpu %ld ms\n", milliseconds);
        return 0;
    }
    if (strcmp(command, "escape") == 0) {
        /* Tries to move itself into each named cgroup.procs (the subtree the service user owns). */
        char path[512];
        while (fscanf(source, "%511s", path) == 1) {
            FILE *procs = fopen(path, "w");
            if (!procs) { printf("%s: %s\n", path, strerror(errno)); continue; }
            int written = fprintf(procs, "0\n");
            int closed = fclose(procs);
            printf("%s: %s\n", path, written > 0 && closed == 0 ? "moved" : strerror(errno));
        }
        return 0;
    }
    if (strcmp(command, "signal") == 0) {
        /* Tries to reach each named process (host pids) by signal and by ptrace, then has a child
           signal every process it can see. */
        int target;
        while (fscanf(source, "%d", &target) == 1) {
            printf("kill %d: %s\n", target, kill(target, SIGKILL) == 0 ? "sent" : strerror(errno));
            printf("ptrace %d: %s\n", target, ptrace(PTRACE_ATTACH, target, 0, 0) == 0 ? "attached" : strerror(errno));
        }
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) { kill(-1, SIGKILL); _exit(0); }
        waitpid(child, NULL, 0);
        return 0;
    }
    fprintf(stderr, "probe: unknown command %s\n", command);
    return 2;
}
"""#

/// A directory the service user can read, holding the compiled probe and a catalog with the
/// probe and gcc-12 (for a real compile beside it). Tests create release files in it.
final class ProbeToolchain {
    let directory: String
    var executable: String { "\(directory)/sandbox-probe" }
    var catalog: String { "\(directory)/catalog.json" }

    init() throws {
        // Not under /tmp: the sandbox gets a fresh /tmp, which would hide a bind below it.
        directory = "/var/tmp/wic-probe-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        try probeSource.write(toFile: "\(directory)/probe.c", atomically: true, encoding: .utf8)
        guard try runToExit("/usr/bin/gcc-12", ["-O0", "-o", executable, "\(directory)/probe.c"]) == 0 else {
            throw TestFailure("gcc-12 could not build the probe")
        }

        let real = try JSONSerialization.jsonObject(
            with: Data(contentsOf: repositoryRoot.appendingPathComponent("toolchains/catalog/gcc.json"))) as! [String: Any]
        let gcc = (real["toolchains"] as! [[String: Any]]).filter { $0["id"] as? String == "gcc-12" && $0["language"] as? String == "c" }
        let probe: [String: Any] = [
            "id": "probe", "language": "c", "executable": executable, "version_arguments": ["--version"],
            "standards": [String](), "default_standard": NSNull(), "standard_arguments": [String](),
            "command": ["{executable}", "{source}"], "source_file": "main.c", "binds": [directory],
            "environment": [String: String](), "priority": 0,
        ]
        try JSONSerialization.data(withJSONObject: ["toolchains": gcc + [probe]]).write(to: URL(fileURLWithPath: catalog))
    }

    /// A path in the probe directory that the test creates to let a waiting probe finish.
    func releaseFile() -> String { "\(directory)/release-\(UUID().uuidString.prefix(8))" }

    func release(_ path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
    }

    /// Running processes started as this probe (its path, unique to this test, is their argv[0]).
    func runningProbes() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return commandLine.starts(with: Data((executable + "\u{0}").utf8)) && isRunning(pid)
        }
    }

    deinit {
        release(releaseFile())  // nothing waits on it; the directory goes
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Per-job cgroups through the worker's real spawn path: the whole sandbox's processes
/// and memory are limited together, and nothing of a job is left afterwards.
@Suite(.serialized) struct SandboxCgroupTests {
    static let pids = 48
    let probe: ProbeToolchain
    let worker: WorkerProcess
    let layout: CgroupLayout

    init() throws {
        guard let layout = CgroupLayout.detect() else { throw TestFailure("this host has no usable cgroup layout") }
        self.layout = layout
        probe = try ProbeToolchain()
        worker = try WorkerProcess([
            "WORKER_CATALOG": probe.catalog, "MAX_WORKERS": "2", "COMPILATION_TIMEOUT_SECONDS": "60",
            "SANDBOX_PIDS": "\(Self.pids)", "SANDBOX_CGROUP_MEMORY_MB": "160",
        ])
    }

    /// The directories of the job cgroup `name` (memory's, pids' and cpu's on v1).
    func cgroupDirectories(named name: String) -> [String] {
        layout.subtrees.map { "\($0)/\(name)" }
    }

    /// The name of the job cgroup the running probes are in (each job cgroup has the same name
    /// in every hierarchy); nil while none runs or they are in different ones.
    func probesCgroup() -> String? {
        let names = Set(probe.runningProbes().compactMap { pid in
            layout.cgroupName(of: pid)
        })
        return names.count == 1 ? names.first : nil
    }

    func cpuCgroup(of pid: Int32) -> String? {
        layout.cgroup(of: pid, in: .cpu)
    }

    func pidsCurrent(ofCgroup name: String?) -> Int? {
        guard let name else { return nil }
        return (try? String(contentsOfFile: "\(layout.subtree(of: .pids)!)/\(name)/pids.current", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aForkBombStopsAtItsOwnLimitWhileAnotherCompileCompletes() throws {
        let release = probe.releaseFile()
        defer { probe.release(release) }  // a failure half way must not leave the probe running
        let bomb = try worker.submit("forkbomb 400 \(release)", language: .c, compiler: "probe")
        var bombsCgroup: String?
        try waitUntil("the fork bomb fills its cgroup", within: 30) {
            bombsCgroup = probesCgroup()
            return pidsCurrent(ofCgroup: bombsCgroup) == Self.pids
        }

        let (job, result) = try worker.compile("#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
                                               language: .c, compiler: "gcc-12", within: 60)
        #expect(job.status == .completed, "a compile beside the bomb: \(result.error) \(result.stderr)")
        #expect(pidsCurrent(ofCgroup: bombsCgroup) == Self.pids, "the bomb still held every process it could while the compile ran")

        probe.release(release)
        let (_, bombResult) = try worker.waitForVerdict(bomb, within: 30)
        let words = bombResult.stdout.split(separator: " ")
        let forked = words.count > 1 ? Int(words[1].dropLast()) : nil
        #expect(bombResult.stdout.hasSuffix("then Resource temporarily unavailable\n"), "\(bombResult.stdout)")
        #expect(forked.map { $0 < Self.pids } == true, "the bomb forked \(forked ?? -1) processes, the limit is \(Self.pids)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func everyProcessOfASandboxIsInItsJobsCPUCgroup() throws {
        try #require(layout.sharesCPU, "this host has a cpu cgroup controller; the layout found none: \(layout)")
        let release = probe.releaseFile()
        defer { probe.release(release) }  // a failure half way must not leave the probe running
        let job = try worker.submit("linger \(release)", language: .c, compiler: "probe")
        // The probe and the process it detached into a session of its own.
        try waitUntil("the probe and what it detached run", within: 30) { probe.runningProbes().count == 2 }
        let name = try #require(probesCgroup(), "both in the same job cgroup")
        #expect(name.hasPrefix("w\(worker.pid!)-"))
        let expected = try #require(layout.subtree(of: .cpu)) + "/" + name
        for pid in probe.runningProbes() {
            #expect(cpuCgroup(of: pid) == expected, "probe \(pid): \(JobCgroup.read("/proc/\(pid)/cgroup"))")
        }
        let weight = if case .unified = layout { "cpu.weight" } else { "cpu.shares" }
        #expect(JobCgroup.read("\(expected)/\(weight)") == (weight == "cpu.weight" ? "100\n" : "1024\n"))
        probe.release(release)
        let (finished, result) = try worker.waitForVerdict(job, within: 30)
        #expect(finished.status == .completed, "\(result.stderr) \(result.error)")
        try? waitUntil("the job's cgroup is removed", within: 10) { !FileManager.default.fileExists(atPath: expected) }
        #expect(!FileManager.default.fileExists(atPath: expected), "\(expected) left behind")
    }

    /// Two sandboxes spin at once, one with one process, the other with 24, each in a session
    /// of its own. Shared per job, the one process gets about what the 24 get together (it can
    /// use one core, and they the other, or half of whatever the machine leaves the service).
    /// Shared per session (the kernel's autogroups, without a cpu cgroup) it gets about 1/25 of
    /// it. Only the ratio is tested, never a duration: other load slows both alike.
    @Test(.runningTimeLimit(minutes: 2))
    func aSandboxWithManySessionsGetsNoMoreCPUThanOneWithOne() throws {
        let start = probe.releaseFile(), stop = probe.releaseFile()
        defer { probe.release(start); probe.release(stop) }  // a failure half way must not leave 25 spinners
        let single = try worker.submit("spin 1 \(start) \(stop)", language: .c, compiler: "probe")
        let many = try worker.submit("spin 24 \(start) \(stop)", language: .c, compiler: "probe")
        try waitUntil("both sandboxes have all their spinners", within: 30) { probe.runningProbes().count == 2 + 1 + 24 }
        probe.release(start)
        try waitUntil("the spinners have used 4 s of CPU together", within: 40) {
            probe.runningProbes().reduce(0) { $0 + cpuTicks(of: $1) } >= 4 * sysconf(Int32(_SC_CLK_TCK))
        }
        probe.release(stop)
        func milliseconds(_ job: JobID) throws -> Int {
            let (finished, result) = try worker.waitForVerdict(job, within: 30)
            #expect(finished.status == .completed, "\(result.stderr) \(result.error)")
            return try #require(Int(result.stdout.split(separator: " ").dropFirst().first ?? ""), "\(result.stdout)")
        }
        let one = try milliseconds(single), twentyFour = try milliseconds(many)
        #expect(one * 4 >= twentyFour, "one process got \(one) ms of CPU, 24 in another sandbox \(twentyFour) ms")
    }

    /// User and system CPU time of `pid`, in clock ticks; 0 once it is gone.
    func cpuTicks(of pid: Int32) -> Int {
        let stat = JobCgroup.read("/proc/\(pid)/stat")
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        // After the command: state (field 3) … utime (14), stime (15).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 12 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
    }

    @Test(.runningTimeLimit(minutes: 2))
    func processesTogetherCannotExceedTheSandboxsMemory() throws {
        // Six children of 40 MB each: every one far below RLIMIT_AS (2048 MB), together 240 MB.
        let (job, result) = try worker.compile("memory 6 40", language: .c, compiler: "probe", within: 60)
        #expect(job.status == .failed, "\(result.stdout) \(result.error)")
        #expect(result.stdout.contains("only "), "\(result.stdout)")
        #expect(result.error.contains("memory limit of 160 MB (SANDBOX_CGROUP_MEMORY_MB)"), "\(result.error)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aSandboxWithinItsMemoryCompletes() throws {
        let (job, result) = try worker.compile("memory 2 20", language: .c, compiler: "probe", within: 60)
        #expect(job.status == .completed, "\(result.stdout) \(result.stderr) \(result.error)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aSandboxCannotReachTheCgroupFileSystem() throws {
        // The subtree belongs to the service user, the sandbox's own uid: reaching it would undo every limit.
        let targets = layout.subtrees.map { "\($0)/cgroup.procs" } + ["/sys/fs/cgroup/cgroup.procs", "/proc/self/cgroup"]
        let (job, result) = try worker.compile("escape " + targets.joined(separator: " "), language: .c, compiler: "probe", within: 60)
        #expect(job.status == .completed, "\(result.stderr) \(result.error)")
        for target in targets.dropLast() {
            #expect(result.stdout.contains("\(target): No such file or directory"), "\(result.stdout)")
        }
        // /proc/self/cgroup is not a cgroup.procs: writing it fails whatever the namespace.
        #expect(!result.stdout.contains("moved"), "\(result.stdout)")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aSandboxKilledAtTheTimeLimitLeavesNothing() throws {
        let short = try WorkerProcess([
            "WORKER_CATALOG": probe.catalog, "MAX_WORKERS": "1", "COMPILATION_TIMEOUT_SECONDS": "3", "SANDBOX_PIDS": "\(Self.pids)",
        ])
        let job = try short.submit("forkbomb 400 \(probe.releaseFile())", language: .c, compiler: "probe")
        let (finished, _) = try short.waitForVerdict(job, within: 30)
        #expect(finished.status == .timeout)
        try waitUntil("no probe process runs", within: 5) { probe.runningProbes().isEmpty }
        layout.expectNothingLeft(of: short.pid!)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func nothingOfAJobIsLeftAfterIt() throws {
        let release = probe.releaseFile()
        defer { probe.release(release) }  // a failure half way must not leave the probe running
        let job = try worker.submit("linger \(release)", language: .c, compiler: "probe")
        // The job's own cgroup holds the sandbox, the probe and the process it detached.
        var name: String?
        try waitUntil("the job's cgroup holds the probe and what it detached", within: 30) {
            name = probesCgroup()
            return probe.runningProbes().count == 2 && name != nil
        }
        let directories = cgroupDirectories(named: try #require(name))
        probe.release(release)
        let (finished, result) = try worker.waitForVerdict(job, within: 30)
        #expect(finished.status == .completed, "\(result.stderr) \(result.error)")
        try waitUntil("no probe process runs", within: 5) { probe.runningProbes().isEmpty }
        try? waitUntil("the job's cgroup is removed", within: 10) { !directories.contains { FileManager.default.fileExists(atPath: $0) } }
        for directory in directories {
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) left behind")
        }
        layout.expectNothingLeft(of: worker.pid!)
    }
}

extension CgroupLayout {
    /// The directory of the cgroup `pid` is in in the hierarchy of `controller`, from the host's
    /// `/proc/PID/cgroup` (paths there are relative to the hierarchy's root, here its mount point).
    func cgroup(of pid: Int32, in controller: CgroupLayout.Controller) -> String? {
        let text = JobCgroup.read("/proc/\(pid)/cgroup")
        switch self {
        case .unified:
            return unifiedDirectory(procCgroup: text)
        case let .legacy(memoryMount, pidsMount, cpuMount):
            let (name, mount): (Substring, String?) = switch controller {
            case .memory: ("memory", memoryMount)
            case .pids: ("pids", pidsMount)
            case .cpu: ("cpu", cpuMount)
            }
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard let mount, fields.count == 3, fields[1].split(separator: ",").contains(name) else { continue }
                return fields[2] == "/" ? mount : mount + fields[2]
            }
            return nil
        }
    }

    /// The name of the job cgroup `pid` is in (a job cgroup has the same name in every hierarchy).
    func cgroupName(of pid: Int32) -> String? {
        cgroup(of: pid, in: .pids).map { String($0.split(separator: "/").last ?? "") }
    }

    /// The job cgroups of the worker `pid` that hold anything but one prepared, waiting
    /// `SandboxLauncher` (each slot keeps one ready for its next job), with what they hold.
    func cgroupsHoldingMoreThanAWaitingLauncher(of pid: Int32) -> [String: [Int32]] {
        var found: [String: [Int32]] = [:]
        for subtree in subtrees {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: subtree)) ?? [] where name.hasPrefix("w\(pid)-") {
                let processes = JobCgroup.processes(in: "\(subtree)/\(name)")
                if processes.count != 1 || !isWaitingSandboxLauncher(processes[0], of: pid) { found["\(subtree)/\(name)"] = processes }
            }
        }
        return found
    }

    /// Waits until every job cgroup of the worker `pid` holds just its waiting launcher: a
    /// slot removes a finished job's cgroup right after storing its verdict.
    func expectNothingLeft(of pid: Int32) {
        try? waitUntil("only waiting launchers are left in the worker's job cgroups", within: 10) {
            cgroupsHoldingMoreThanAWaitingLauncher(of: pid).isEmpty
        }
        let left = cgroupsHoldingMoreThanAWaitingLauncher(of: pid)
        #expect(left.isEmpty, "job cgroups left: \(left)")
    }
}

/// The slots' prepared cgroups and the launchers waiting in them, through the worker's real
/// spawn path: a job cannot reach the next job's, and a prepared cgroup that holds anything
/// but its launcher is never a job's.
@Suite(.serialized) struct PreparedCgroupTests {
    let probe: ProbeToolchain
    let layout: CgroupLayout

    init() throws {
        guard let layout = CgroupLayout.detect() else { throw TestFailure("this host has no usable cgroup layout") }
        self.layout = layout
        probe = try ProbeToolchain()
    }

    func worker(slots: Int) throws -> WorkerProcess {
        try WorkerProcess(["WORKER_CATALOG": probe.catalog, "MAX_WORKERS": "\(slots)", "COMPILATION_TIMEOUT_SECONDS": "60",
                           "SANDBOX_PIDS": "\(SandboxCgroupTests.pids)"])
    }

    func directories(named name: String) -> [String] {
        layout.subtrees.map { "\($0)/\(name)" }
    }

    @Test func theTestsKnowTheLaunchersFlag() {
        #expect(sandboxLauncherFlag == SandboxLauncher.flag)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func eachSlotKeepsItsNextJobsLauncherWaitingInAFreshCgroup() throws {
        let worker = try worker(slots: 2)
        try waitUntil("both slots have a launcher in its cgroup", within: 30) {
            let launchers = worker.waitingLaunchers()
            return launchers.count == 2 && launchers.allSatisfy { layout.cgroupName(of: $0)?.hasPrefix("w\(worker.pid!)-") == true }
        }
        for launcher in worker.waitingLaunchers() {
            let name = try #require(layout.cgroupName(of: launcher))
            for directory in directories(named: name) {
                #expect(JobCgroup.processes(in: directory) == [launcher], "\(directory) holds only its launcher")
            }
            #expect(JobCgroup.read("\(layout.subtree(of: .pids)!)/\(name)/pids.max") == "\(SandboxCgroupTests.pids)\n")
        }
    }

    /// The launcher waiting beside a job is outside the job's PID namespace, and ptrace is refused.
    @Test(.runningTimeLimit(minutes: 2))
    func aJobCannotSignalOrTraceTheLauncherWaitingForTheNextJob() throws {
        let worker = try worker(slots: 2)
        try waitUntil("both slots have a launcher waiting", within: 30) { worker.waitingLaunchers().count == 2 }
        let waiting = worker.waitingLaunchers()
        // The job takes one of the two (which then runs it); the other waits beside it.
        let (_, result) = try worker.compile("signal " + waiting.map(String.init).joined(separator: " "), language: .c, compiler: "probe", within: 60)
        for launcher in waiting {
            #expect(result.stdout.contains("kill \(launcher): No such process"), "\(result.stdout)")
            #expect(result.stdout.contains("ptrace \(launcher): Operation not permitted"), "\(result.stdout)")
        }
        let stillWaiting = Set(worker.waitingLaunchers()).intersection(waiting)
        #expect(stillWaiting.count == 1, "the launcher beside the job still waits: \(worker.waitingLaunchers()) of \(waiting)")
        let (next, nextResult) = try worker.compile("#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
                                                    language: .c, compiler: "gcc-12", within: 60)
        #expect(next.status == .completed, "\(nextResult.error) \(nextResult.stderr)")
    }

    /// A job whose launcher the kernel holds (frozen here; moving into a cgroup v1 cgroup holds a
    /// process in the kernel the same way) ends as `timeout` within its time limit plus
    /// `Reaper.killedProcessBound`, not when the kernel lets the launcher go (15 s after the
    /// submission here), and the slot goes on with the next job.
    @Test(.runningTimeLimit(minutes: 2), .enabled(if: FrozenCgroup.available, "needs the cgroup v1 freezer hierarchy"))
    func aJobWhoseLauncherTheKernelHoldsGetsItsVerdictInTime() throws {
        let worker = try WorkerProcess(["MAX_WORKERS": "1", "COMPILATION_TIMEOUT_SECONDS": "2"])
        var launcher: Int32 = 0
        try waitUntil("the slot's launcher waits", within: 30) {
            launcher = worker.waitingLaunchers().first ?? 0
            return launcher != 0
        }
        let frozen = try FrozenCgroup(holding: launcher)
        defer { frozen.thawAndRemove() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 15) { frozen.thaw() }
        let started = Date()
        let (job, result) = try worker.compile("int main(void) { return 0; }\n", language: .c, compiler: "gcc-12", within: 30)
        let took = Date().timeIntervalSince(started)
        #expect(job.status == .timeout, "\(job.status): \(result.error)")
        #expect(took < 2 + Reaper.killedProcessBound.timeInterval + 4, "the verdict came after \(took) s")
        frozen.thaw()
        let (next, nextResult) = try worker.compile("int main(void) { return 0; }\n", language: .c, compiler: "gcc-12", within: 30)
        #expect(next.status == .completed, "\(nextResult.error) \(nextResult.stderr)")
    }

    /// No job can put a process into another's cgroup (a sandbox has no cgroup file system); if
    /// anything did, the slot would not start its next job beside it.
    @Test(.runningTimeLimit(minutes: 2))
    func aPreparedCgroupHoldingAStrangerIsNeverAJobs() throws {
        let worker = try worker(slots: 1)
        var launcher: Int32 = 0
        try waitUntil("the slot's launcher waits in its cgroup", within: 30) {
            launcher = worker.waitingLaunchers().first ?? 0
            return launcher != 0 && layout.cgroupName(of: launcher)?.hasPrefix("w\(worker.pid!)-") == true
        }
        let prepared = try #require(layout.cgroupName(of: launcher))
        // The service user's, as anything a job could leave would be.
        let stranger = try spawn("/usr/bin/setpriv", ["--reuid=\(serviceUser)", "--regid=\(serviceUser)", "--init-groups", "--", "/bin/sleep", "300"],
                                 environment: [:], outputPath: "/dev/null")
        try waitUntil("the stranger runs as the service user", within: 10) {
            JobCgroup.read("/proc/\(stranger)/cmdline").hasPrefix("/bin/sleep")
        }
        defer { kill(stranger, SIGKILL); _ = waitForExit(stranger) }
        for directory in directories(named: prepared) {
            try JobCgroup.write("\(stranger)", to: "\(directory)/cgroup.procs")
        }
        let release = probe.releaseFile()
        defer { probe.release(release) }  // a failure half way must not leave the probe running
        let job = try worker.submit("linger \(release)", language: .c, compiler: "probe")
        var name: String?
        try waitUntil("the probe and what it detached run", within: 30) {
            name = probe.runningProbes().count == 2 ? layout.cgroupName(of: probe.runningProbes()[0]) : nil
            return name != nil
        }
        #expect(name != prepared, "the job ran in the cgroup that held a stranger")
        for directory in directories(named: try #require(name)) {
            #expect(!JobCgroup.processes(in: directory).contains(stranger), "\(directory)")
        }
        try waitUntil("the stranger is killed with the cgroup it was in", within: 10) { !isRunning(stranger) }
        for directory in directories(named: prepared) {
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) left behind")
        }
        probe.release(release)
        let (finished, result) = try worker.waitForVerdict(job, within: 30)
        #expect(finished.status == .completed, "\(result.stderr) \(result.error)")
        #expect(worker.log().contains("holds processes [\(stranger)]"), "\(worker.log())")
    }

    /// A slot's jobs, one after the other, each get a cgroup with nothing of the one before:
    /// two fork bombs in a row fork equally many before their own limit stops them.
    @Test(.runningTimeLimit(minutes: 2))
    func consecutiveJobsOfASlotEachGetTheirWholeLimit() throws {
        let worker = try worker(slots: 1)
        let release = probe.releaseFile()
        probe.release(release)  // each bomb returns once refused
        var forked: [Int] = []
        for _ in 0..<2 {
            let (job, result) = try worker.compile("forkbomb 400 \(release)", language: .c, compiler: "probe", within: 60)
            #expect(job.status == .completed, "\(result.stdout) \(result.error)")
            #expect(result.stdout.hasSuffix("then Resource temporarily unavailable\n"), "\(result.stdout)")
            forked.append(Int(result.stdout.split(separator: " ").dropFirst().first?.dropLast() ?? "") ?? -1)
        }
        #expect(forked[0] > 0 && forked[0] == forked[1], "forked \(forked) with a limit of \(SandboxCgroupTests.pids)")
    }
}

/// The worker never runs sandboxes unconfined by accident.
@Suite struct CgroupRequirementTests {
    /// Its opted-out worker starts for real and is killed only after runAnotherUntilExit's
    /// 20 s: with a worker of its own started first, a minute left too little for a run
    /// whose other tests hold the 2-thread test pool (the limit counts waiting for a thread).
    @Test(.runningTimeLimit(minutes: 2))
    func aWorkerThatCannotWriteTheSubtreeRefusesToStart() throws {
        let worker = try WorkerProcess()
        // `nobody` stands for a worker whose user was not given the subtree.
        let refused = try worker.runAnotherUntilExit(["WORKER_SOCKET": worker.socketPath + ".nobody"], user: "nobody")
        #expect(refused.status == 2)
        #expect(refused.output.contains("is not writable by uid 65534: run scripts/setup as root"), "\(refused.output)")
        #expect(refused.output.contains("SANDBOX_CGROUPS=false"), "\(refused.output)")

        let optedOut = try worker.runAnotherUntilExit(["WORKER_SOCKET": worker.socketPath + ".nobody", "SANDBOX_CGROUPS": "false"],
                                                      user: "nobody")
        #expect(!optedOut.output.contains("cgroup subtree"), "\(optedOut.output)")
        #expect(optedOut.output.contains("SANDBOX_CGROUPS=false: sandboxes run without whole-sandbox memory and process limits"),
                "\(optedOut.output)")
    }

    @Test func aMissingSubtreeIsNamedWithWhatToDo() throws {
        let mount = NSTemporaryDirectory() + "/wic-no-cgroups-\(UUID().uuidString.prefix(8))"
        #expect {
            try SandboxCgroups.open(memoryMegabytes: 64, pids: 8, layout: .legacy(memoryMount: mount, pidsMount: mount, cpuMount: mount))
        } throws: { error in
            "\(error)" == "the delegated cgroup subtree \(mount)/will-it-compile is missing: run scripts/setup as root (it creates the subtree; cgroup directories do not survive a reboot), or set SANDBOX_CGROUPS=false to run without whole-sandbox limits"
        }
        #expect(throws: CgroupError.self) { try SandboxCgroups.open(memoryMegabytes: 64, pids: 8, layout: nil) }
    }

    /// CPU can only be taken to slow another job down, never to break it: without the cpu
    /// controller the worker still runs, with memory and pids limits. On v1 this test process
    /// (root) can open the real subtree as a worker does; on v2 only a process inside it could.
    @Test(.enabled(if: { if case .legacy? = CgroupLayout.detect() { true } else { false } }()))
    func aHostWithoutTheCPUControllerStillGetsMemoryAndPidsLimits() throws {
        guard case let .legacy(memory, pids, _)? = CgroupLayout.detect() else { throw TestFailure("not cgroup v1") }
        let cgroups = try SandboxCgroups.open(memoryMegabytes: 64, pids: 8,
                                              layout: .legacy(memoryMount: memory, pidsMount: pids, cpuMount: nil))
        let job = try cgroups.create(for: "no-cpu")
        defer { job.remove() }
        #expect(job.directories == ["\(memory)/will-it-compile/\(cgroups.prefix)no-cpu", "\(pids)/will-it-compile/\(cgroups.prefix)no-cpu"])
        #expect(JobCgroup.read("\(job.directories[1])/pids.max") == "8\n")
    }

    /// Where systemd delegates the unit's own cgroup, the subtree is that path
    /// (SANDBOX_CGROUP_SUBTREE), not will-it-compile: jobs' cgroups and their limits go there.
    @Test(.enabled(if: { if case .legacy? = CgroupLayout.detect() { true } else { false } }()))
    func jobCgroupsGoInTheNamedSubtree() throws {
        let layout = try #require(CgroupLayout.detect())
        let top = "wic-test-subtree-\(UUID().uuidString.prefix(8))"
        let named = "\(top)/worker.service"
        for directory in layout.subtrees(named: named) { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        defer { for directory in layout.subtrees(named: top) { rmdir("\(directory)/worker.service"); rmdir(directory) } }
        let cgroups = try SandboxCgroups.open(memoryMegabytes: 64, pids: 8, subtree: named, layout: layout)
        let job = try cgroups.create(for: "named")
        defer { job.remove() }
        #expect(job.directories == layout.subtrees(named: named).map { "\($0)/\(cgroups.prefix)named" })
        #expect(job.directories.allSatisfy { !$0.contains("/will-it-compile/") })
        #expect(JobCgroup.read("\(try #require(job.directory(of: .pids)))/pids.max") == "8\n")
    }

    /// The worker reads SANDBOX_CGROUP_SUBTREE: a subtree that is not there stops it, named.
    @Test(.runningTimeLimit(minutes: 2))
    func aWorkerRefusesANamedSubtreeThatIsMissing() throws {
        let worker = try WorkerProcess()
        let missing = "wic-missing-\(UUID().uuidString.prefix(8))/worker.service"
        let refused = try worker.runAnotherUntilExit(["WORKER_SOCKET": worker.socketPath + ".named", "SANDBOX_CGROUP_SUBTREE": missing])
        #expect(refused.status == 2)
        #expect(refused.output.contains("/\(missing) is missing"), "\(refused.output)")
    }
}

/// Finding the cgroup layout and the files of a job's cgroup, on layouts this host does not have.
@Suite struct CgroupLayoutTests {
    /// This machine: v1 controllers, plus a v2 mount that holds only hugetlb.
    static let hybridMountinfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:7 - cgroup cgroup rw,pids
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    /// A systemd host with only cgroup v2.
    static let unifiedMountinfo = """
        22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        26 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """

    @Test func v1WhereTheV2MountLacksMemoryAndPids() {
        let layout = CgroupLayout.detect(mountinfo: Self.hybridMountinfo) { $0 == "/sys/fs/cgroup/unified" ? "hugetlb\n" : nil }
        #expect(layout == .legacy(memoryMount: "/sys/fs/cgroup/memory", pidsMount: "/sys/fs/cgroup/pids", cpuMount: "/sys/fs/cgroup/cpu"))
        #expect(layout?.subtrees == ["/sys/fs/cgroup/memory/will-it-compile", "/sys/fs/cgroup/pids/will-it-compile",
                                     "/sys/fs/cgroup/cpu/will-it-compile"])
        #expect(layout?.sharesCPU == true)
    }

    @Test func v1CPUSharedWithCPUAccountingOrWithoutACPUHierarchy() {
        let comounted = Self.hybridMountinfo.replacingOccurrences(of: "/cpu rw,relatime - cgroup cgroup rw,cpu",
                                                                  with: "/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct")
        #expect(CgroupLayout.detect(mountinfo: comounted) { _ in nil }?.subtree(of: .cpu) == "/sys/fs/cgroup/cpu,cpuacct/will-it-compile")
        // cpuacct or cpuset alone is no cpu controller.
        let withoutCPU = Self.hybridMountinfo.replacingOccurrences(of: "rw,cpu\n", with: "rw,cpuacct,cpuset\n")
        let layout = CgroupLayout.detect(mountinfo: withoutCPU) { _ in nil }
        #expect(layout == .legacy(memoryMount: "/sys/fs/cgroup/memory", pidsMount: "/sys/fs/cgroup/pids", cpuMount: nil))
        #expect(layout?.sharesCPU == false)
        #expect(layout?.subtrees == ["/sys/fs/cgroup/memory/will-it-compile", "/sys/fs/cgroup/pids/will-it-compile"])
    }

    @Test func v1ControllersInOneHierarchyMakeOneSubtree() {
        let text = "35 31 0:32 / /sys/fs/cgroup rw - cgroup cgroup rw,cpu,memory,pids"
        let layout = CgroupLayout.detect(mountinfo: text) { _ in nil }
        #expect(layout?.subtrees == ["/sys/fs/cgroup/will-it-compile"])
        #expect(layout?.subtree(of: .cpu) == "/sys/fs/cgroup/will-it-compile")
    }

    @Test func v2WhereItsMountHasMemoryAndPids() {
        let layout = CgroupLayout.detect(mountinfo: Self.unifiedMountinfo) {
            $0 == "/sys/fs/cgroup" ? "cpuset cpu io memory hugetlb pids rdma misc\n" : nil
        }
        #expect(layout == .unified(mount: "/sys/fs/cgroup", cpu: true))
        #expect(layout?.subtrees == ["/sys/fs/cgroup/will-it-compile"])
        #expect(layout?.subtree(of: .cpu) == "/sys/fs/cgroup/will-it-compile")
    }

    @Test func v2WithoutTheCPUController() {
        let layout = CgroupLayout.detect(mountinfo: Self.unifiedMountinfo) { _ in "cpuset io memory pids" }
        #expect(layout == .unified(mount: "/sys/fs/cgroup", cpu: false))
        #expect(layout?.sharesCPU == false)
        #expect(layout?.subtrees == ["/sys/fs/cgroup/will-it-compile"])
    }

    @Test func v2IsPreferredOverV1() {
        // A hybrid host whose v2 mount was given memory and pids, with other v1 controllers beside it.
        let layout = CgroupLayout.detect(mountinfo: Self.hybridMountinfo.replacingOccurrences(of: "rw,memory", with: "rw,blkio")
            .replacingOccurrences(of: "rw,pids", with: "rw,devices")) { _ in "memory pids" }
        #expect(layout == .unified(mount: "/sys/fs/cgroup/unified", cpu: false))
    }

    /// systemd's delegated unit cgroup as the subtree: one path on v2, the same path in each v1 hierarchy.
    @Test func aNamedSubtreeIsThatPathInEachHierarchy() {
        let unit = "system.slice/will-it-compile-worker.service"
        #expect(CgroupLayout.unified(mount: "/sys/fs/cgroup", cpu: true).subtrees(named: unit) == ["/sys/fs/cgroup/\(unit)"])
        let legacy = CgroupLayout.legacy(memoryMount: "/m", pidsMount: "/p", cpuMount: nil)
        #expect(legacy.subtrees(named: unit) == ["/m/\(unit)", "/p/\(unit)"])
        #expect(legacy.subtree(of: .cpu, named: unit) == nil)
    }

    @Test func noLayoutWithoutBothControllers() {
        #expect(CgroupLayout.detect(mountinfo: Self.unifiedMountinfo) { _ in "cpu io memory" } == nil)
        let withoutPids = Self.hybridMountinfo.replacingOccurrences(of: "rw,pids", with: "rw,devices")
        #expect(CgroupLayout.detect(mountinfo: withoutPids) { _ in "hugetlb" } == nil)
        #expect(CgroupLayout.detect(mountinfo: "") { _ in nil } == nil)
    }

    @Test func escapedMountPoints() {
        let text = "35 31 0:32 / /cg\\040mem rw - cgroup cgroup rw,memory\n39 31 0:36 / /cg/pids rw - cgroup none rw,pids,clone_children"
        #expect(CgroupLayout.detect(mountinfo: text) { _ in nil } == .legacy(memoryMount: "/cg mem", pidsMount: "/cg/pids", cpuMount: nil))
    }

    @Test func theWorkersOwnV2Cgroup() {
        let layout = CgroupLayout.unified(mount: "/sys/fs/cgroup", cpu: true)
        #expect(layout.unifiedDirectory(procCgroup: "0::/will-it-compile/service\n") == "/sys/fs/cgroup/will-it-compile/service")
        #expect(layout.unifiedDirectory(procCgroup: "0::/\n") == "/sys/fs/cgroup")
        #expect(layout.unifiedDirectory(procCgroup: "4:memory:/x\n") == nil)
        #expect(CgroupLayout.legacy(memoryMount: "/m", pidsMount: "/p", cpuMount: "/c").unifiedDirectory(procCgroup: "0::/\n") == nil)
    }

    @Test func v2JobFiles() {
        let cgroups = SandboxCgroups(layout: .unified(mount: "/sys/fs/cgroup", cpu: true), subtree: CgroupLayout.subtreeName, memoryBytes: 256 << 20, pids: 64, prefix: "w7-")
        let job = cgroups.cgroup(named: "j")
        #expect(job.directories == ["/sys/fs/cgroup/will-it-compile/w7-j"])
        let files = cgroups.limitFiles(of: job) { $0.hasSuffix("memory.swap.max") }
        #expect(files.map(\.0) == ["/sys/fs/cgroup/will-it-compile/w7-j/memory.max", "/sys/fs/cgroup/will-it-compile/w7-j/memory.swap.max",
                                   "/sys/fs/cgroup/will-it-compile/w7-j/pids.max", "/sys/fs/cgroup/will-it-compile/w7-j/cpu.weight"])
        #expect(files.map(\.1) == ["\(256 << 20)", "0", "64", "100"])
        #expect(cgroups.limitFiles(of: job) { _ in false }.map(\.0).contains { $0.hasSuffix("swap.max") } == false)

        let withoutCPU = SandboxCgroups(layout: .unified(mount: "/sys/fs/cgroup", cpu: false), subtree: CgroupLayout.subtreeName, memoryBytes: 1, pids: 1, prefix: "w7-")
        #expect(withoutCPU.limitFiles(of: withoutCPU.cgroup(named: "j")) { _ in false }.map(\.0)
            == ["/sys/fs/cgroup/will-it-compile/w7-j/memory.max", "/sys/fs/cgroup/will-it-compile/w7-j/pids.max"])
    }

    @Test func v1JobFiles() {
        let cgroups = SandboxCgroups(layout: .legacy(memoryMount: "/m", pidsMount: "/p", cpuMount: "/c"), subtree: CgroupLayout.subtreeName, memoryBytes: 100, pids: 9, prefix: "w7-")
        let job = cgroups.cgroup(named: "j")
        #expect(job.directories == ["/m/will-it-compile/w7-j", "/p/will-it-compile/w7-j", "/c/will-it-compile/w7-j"])
        let files = cgroups.limitFiles(of: job) { _ in true }
        #expect(files.map(\.0) == ["/m/will-it-compile/w7-j/memory.limit_in_bytes", "/m/will-it-compile/w7-j/memory.memsw.limit_in_bytes",
                                   "/p/will-it-compile/w7-j/pids.max", "/c/will-it-compile/w7-j/cpu.shares"])
        #expect(files.map(\.1) == ["100", "100", "9", "1024"])

        let withoutCPU = SandboxCgroups(layout: .legacy(memoryMount: "/m", pidsMount: "/p", cpuMount: nil), subtree: CgroupLayout.subtreeName, memoryBytes: 1, pids: 1, prefix: "w7-")
        #expect(withoutCPU.cgroup(named: "j").directories == ["/m/will-it-compile/w7-j", "/p/will-it-compile/w7-j"])
        #expect(withoutCPU.limitFiles(of: withoutCPU.cgroup(named: "j")) { _ in false }.map(\.0)
            == ["/m/will-it-compile/w7-j/memory.limit_in_bytes", "/p/will-it-compile/w7-j/pids.max"])
    }

    @Test func countersFromFlatKeyedFiles() throws {
        let file = NSTemporaryDirectory() + "/wic-events-\(UUID().uuidString.prefix(8))"
        defer { unlink(file) }
        try "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(JobCgroup.count("oom_kill", in: file) == 3)
        #expect(JobCgroup.count("max", in: file) == 0)
    }
}
