import Glibc
import POSIXSupport

/// One compile slot's way into per-job cgroups. Moving a process into a cgroup takes the kernel
/// 8–25 ms here (it waits for an RCU grace period), so each slot keeps the NEXT job's cgroup
/// ready: made with its limits, with a process of the worker's own binary already moved into
/// it and waiting (`SandboxLauncher`). When the job comes, that process is handed the sandbox
/// command and its descriptors and execs it; the slot prepares the next one while that job
/// compiles (and when the worker starts), so also a job that was already waiting finds its
/// cgroup ready.
///
/// Each job still gets a fresh cgroup of its own, never used before: its limits are set when it
/// is made, its counters start at zero, and it is removed, with everything in it killed, after
/// the job. Before a job starts in it, the slot checks that it holds nothing but the waiting
/// process; anything else there (which no job can put there: a sandbox has no cgroup file
/// system) makes the slot throw that cgroup away and make another.
///
/// Used by its slot's thread only. The waiting processes are spawned from that thread, which
/// lives as long as the worker: bwrap's `--die-with-parent` follows the thread that spawned it.
public final class SandboxSlot {
    let cgroups: SandboxCgroups
    let name: String
    private var prepared: (cgroup: JobCgroup, process: PreparedProcess)?
    /// Cgroups of finished jobs, removed once their verdicts are stored (see `retire`).
    private var finished: [JobCgroup] = []
    private var made = 0

    /// The worker binary, which runs as `SandboxLauncher` when given its flag.
    static let launcher = "/proc/self/exe"

    init(cgroups: SandboxCgroups, name: String) {
        self.cgroups = cgroups
        self.name = name
    }

    deinit {
        discard()
    }

    /// Makes the next job's cgroup and its waiting process, unless they are ready.
    public func prepare() {
        guard prepared == nil else { return }
        do {
            prepared = try make()
        } catch {
            log("slot \(name): could not prepare the next job's cgroup (the job makes its own): \(error)", level: .warning)
        }
    }

    /// The cgroup and waiting process for a job starting now: the prepared ones if they are
    /// still as prepared, else new ones (the job then waits for the move into the cgroup).
    func take() throws(CgroupError) -> (cgroup: JobCgroup, process: PreparedProcess) {
        if let ready = prepared {
            prepared = nil
            let strangers = Set(ready.cgroup.directories.flatMap(JobCgroup.processes)).subtracting([ready.process.pid]).sorted()
            if ready.process.isWaiting() && strangers.isEmpty { return ready }
            log("slot \(name): the prepared cgroup \(ready.cgroup.name) holds \(strangers.isEmpty ? "no waiting process" : "processes \(strangers)") besides its own; it is removed and a new one made", level: .warning)
            discard(ready)
        }
        return try make()
    }

    /// Keeps a finished job's cgroup until `removeFinished`: right after a sandbox exits, its
    /// cgroup stays busy for a millisecond or more (the kernel is still releasing its
    /// processes), which need not delay the verdict.
    func retire(_ cgroup: JobCgroup) {
        finished.append(cgroup)
    }

    /// Kills whatever is left in the finished jobs' cgroups and removes them; the slot does
    /// this after each job's verdict is stored and before it takes its next job.
    public func removeFinished() {
        for cgroup in finished {
            if let problem = cgroup.remove() {
                log("slot \(name): could not remove the cgroup \(cgroup.name) of a finished job: \(problem)", level: .warning)
            }
        }
        finished = []
    }

    /// Kills the waiting process and removes its cgroup, and the finished jobs' (at shutdown).
    public func discard() {
        if let ready = prepared { discard(ready) }
        prepared = nil
        removeFinished()
    }

    private func discard(_ ready: (cgroup: JobCgroup, process: PreparedProcess)) {
        ready.process.discard()
        if let problem = ready.cgroup.remove() {
            log("slot \(name): could not remove the prepared cgroup \(ready.cgroup.name): \(problem)", level: .warning)
        }
    }

    private func make() throws(CgroupError) -> (cgroup: JobCgroup, process: PreparedProcess) {
        made += 1
        let cgroup = try cgroups.create(for: "\(name)-\(made)")
        do {
            let process = try PreparedProcess.spawn(
                executable: Self.launcher, arguments: [SandboxLauncher.flag] + cgroup.directories.map { "\($0)/cgroup.procs" })
            return (cgroup, process)
        } catch {
            cgroup.remove()
            throw CgroupError(description: "could not start the process that enters the job's cgroup: \(error)")
        }
    }
}

/// The worker binary started with `flag`: the waiting process of `SandboxSlot`. It moves itself
/// into the job cgroup named by its `cgroup.procs` arguments, then waits for its command.
public enum SandboxLauncher {
    public static let flag = "--sandbox-launcher"

    /// Runs when the worker's arguments start with `flag`; never returns.
    public static func main(arguments: [String]) -> Never {
        PreparedProcess.serve {
            for file in arguments {
                do {
                    try JobCgroup.write("0", to: file)
                } catch {
                    return "cannot enter the job's cgroup \(file): \(error)"
                }
            }
            return nil
        }
    }
}
