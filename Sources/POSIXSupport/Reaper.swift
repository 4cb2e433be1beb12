public import Glibc
import Synchronization

/// Reaps killed children without waiting on them for ever. A process killed with SIGKILL is
/// normally gone within milliseconds, but not while it sleeps uninterruptibly in the kernel
/// (on cgroup v1, moving a process into a cgroup waits on a lock every fork and exit of the
/// host takes; a process in a frozen v1 freezer cgroup waits until it is thawed): a blocking
/// `waitpid` then holds its caller, and a compile's verdict, for as long as the kernel holds
/// the process. A child not gone within the bound is left here and reaped later.
public enum Reaper {
    /// How long a killed process may take to be gone before its caller goes on without it.
    public static let killedProcessBound: Duration = .seconds(2)

    /// Children that were not gone within their bound, reaped by a later call.
    private static let abandoned = Mutex<[pid_t]>([])

    /// Waits until `limit` for `pid` to end and reaps it: its wait status, or nil if it was
    /// still there at `limit` (it is then reaped by a later call of `reap`). Also reaps what
    /// earlier calls left that has ended since.
    public static func reap(_ pid: pid_t, until limit: ContinuousClock.Instant) -> Int32? {
        reapAbandoned()
        var status: Int32 = 0
        var pause: UInt32 = 100  // microseconds, doubled up to 10 ms: a child usually ends at once
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            // -1 other than EINTR is ECHILD: nothing of ours to reap.
            if result == pid || (result == -1 && errno != EINTR) { return status }
            if ContinuousClock.now >= limit {
                abandoned.withLock { $0.append(pid) }
                return nil
            }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
    }

    /// Kills `pid`'s process group and reaps `pid` within `killedProcessBound`.
    @discardableResult
    public static func killGroup(of pid: pid_t) -> Int32? {
        kill(-pid, SIGKILL)
        return reap(pid, until: .now + killedProcessBound)
    }

    /// Reaps the children earlier calls left that have ended since; returns those still there.
    @discardableResult
    public static func reapAbandoned() -> [pid_t] {
        abandoned.withLock { pids in
            pids.removeAll { pid in
                var status: Int32 = 0
                let result = waitpid(pid, &status, WNOHANG)
                return result == pid || (result == -1 && errno == ECHILD)
            }
            return pids
        }
    }
}
