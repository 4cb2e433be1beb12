public import Glibc

/// How a spawned process ended.
public enum Termination: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)
    /// The wall-clock limit passed and its process group was killed.
    case timedOut
}

/// Bytes read from one output stream, capped.
public struct CapturedStream: Equatable, Sendable {
    public var bytes: [UInt8] = []
    /// Bytes read past the cap and dropped.
    public var omitted = 0

    public init() {}
}

public struct ProcessOutcome: Sendable {
    public var termination: Termination
    /// What the child wrote to each collected descriptor, by its number in the child.
    public var collected: [Int32: CapturedStream]
    public var elapsed: Duration

    public var stdout: CapturedStream { collected[1] ?? CapturedStream() }
    public var stderr: CapturedStream { collected[2] ?? CapturedStream() }
}

/// Spawns a process in its own process group with posix_spawn, hands it descriptors,
/// collects what it writes to pipes with a cap each, and kills the whole group at a
/// deadline. Safe to use from several threads at once: every descriptor it opens
/// is close-on-exec, so no child inherits another's pipes.
public enum ProcessRunner {
    /// - Parameters:
    ///   - descriptors: descriptors of the caller's that the child gets, keyed by the number it
    ///     sees them as (3 and up); the caller keeps and closes its own.
    ///   - collecting: the child's descriptors that are pipes whose writes are collected, each
    ///     with the most bytes kept (1 and 2 for its output). Standard input is /dev/null; every
    ///     other descriptor is closed in the child.
    ///   - prepared: a process spawned ahead that runs the command (its pid and process group
    ///     become the command's); nil to spawn one now.
    ///   - started: called once the command runs, before its output is collected: work of the
    ///     caller's that may overlap with the command.
    public static func run(
        executable: String, arguments: [String], environment: [String], descriptors: [Int32: Int32] = [:],
        collecting limits: [Int32: Int], timeout: Duration, in prepared: PreparedProcess? = nil, started: () -> Void = {}
    ) throws(SystemCallError) -> ProcessOutcome {
        let start = ContinuousClock.now
        var pipes: [(target: Int32, pipe: Pipe2, limit: Int)] = []
        for (target, limit) in limits.sorted(by: { $0.key < $1.key }) {
            pipes.append((target, try Pipe2(), limit))
        }
        let mapping: [(source: Int32, target: Int32)] = pipes.map { ($0.pipe.write, $0.target) }
            + descriptors.sorted(by: { $0.key < $1.key }).map { ($0.value, $0.key) }
        let pid: pid_t
        if let prepared {
            try prepared.launch(executable: executable, arguments: arguments, environment: environment, descriptors: mapping)
            pid = prepared.pid
            pipes.forEach { $0.pipe.closeWrite() }
        } else {
            pid = try spawn(executable: executable, arguments: arguments, environment: environment, mapping: mapping, pipes: pipes)
        }
        started()
        return collect(from: pid, pipes: pipes, deadline: start + timeout, started: start)
    }

    /// Spawns the command with `mapping`'s descriptors in place; closes the pipes' write ends.
    private static func spawn(
        executable: String, arguments: [String], environment: [String], mapping: [(source: Int32, target: Int32)],
        pipes: [(target: Int32, pipe: Pipe2, limit: Int)]
    ) throws(SystemCallError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The child's descriptors are filled from copies numbered above all of them, so that no
        // source is itself one of them (dup2 onto itself would keep close-on-exec set).
        let highest = mapping.map(\.target).max() ?? 2
        let copies = try mapping.map { entry throws(SystemCallError) in
            try systemCall("duplicate descriptor") { fcntl(entry.source, F_DUPFD_CLOEXEC, max(10, highest + 1)) }
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (copy, entry) in zip(copies, mapping) {
            posix_spawn_file_actions_adddup2(&actions, copy, entry.target)
        }
        // Whatever else is open in the caller (sockets accepted a moment ago by another
        // thread, not yet close-on-exec) never reaches the child: nor do the numbers below the
        // highest that are not mapped (glibc ignores closing one that is not open).
        for target in Int32(3)...max(3, highest) where !mapping.contains(where: { $0.target == target }) {
            posix_spawn_file_actions_addclose(&actions, target)
        }
        _ = GNUCalls.addCloseFrom(&actions, max(3, highest + 1))

        // Its own process group, so the deadline can kill all of it.
        var pid: pid_t = 0
        let spawnResult = spawnProcess(&pid, executable, arguments, environment: environment, actions: &actions, ownProcessGroup: true)
        // The parent keeps only the read ends: end of stream then means the child is done.
        copies.forEach { close($0) }
        pipes.forEach { $0.pipe.closeWrite() }
        guard spawnResult == 0 else { throw SystemCallError("spawn \(executable)", errno: spawnResult) }
        return pid
    }

    /// Reads the pipes until the command closes them all or the deadline passes (then its
    /// process group is killed), and reaps it; returns by the deadline plus
    /// `Reaper.killedProcessBound` whatever the kernel does with the killed processes.
    private static func collect(
        from pid: pid_t, pipes: [(target: Int32, pipe: Pipe2, limit: Int)], deadline: ContinuousClock.Instant, started: ContinuousClock.Instant
    ) -> ProcessOutcome {
        var streams: [Int32: CapturedStream] = [:]
        var open: [(descriptor: Int32, target: Int32, limit: Int)] = pipes.map { ($0.pipe.read, $0.target, $0.limit) }
        for entry in open { streams[entry.target] = CapturedStream() }
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                timedOut = true
                break
            }
            var pollSet = open.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            let ready = poll(&pollSet, nfds_t(pollSet.count), milliseconds)
            if ready < 0, errno != EINTR { break }
            var closed: Set<Int32> = []
            for entry in pollSet where entry.revents != 0 {
                guard let stream = open.first(where: { $0.descriptor == entry.fd }) else { continue }
                let count = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    let room = max(0, stream.limit - streams[stream.target, default: CapturedStream()].bytes.count)
                    streams[stream.target, default: CapturedStream()].bytes += buffer.prefix(min(room, count))
                    streams[stream.target, default: CapturedStream()].omitted += max(0, count - room)
                } else if count == 0 || errno != EINTR {
                    closed.insert(entry.fd)
                }
            }
            open.removeAll { closed.contains($0.descriptor) }
        }
        // The group is dead or exits on its own: reap the leader, by the deadline at the latest.
        // One that is still there at the deadline (its output closed) is killed then. A killed
        // leader that cannot die at once (asleep in the kernel) is reaped later, not waited for:
        // the outcome comes within the timeout and `Reaper.killedProcessBound` in any case.
        var waitStatus = timedOut ? Reaper.killGroup(of: pid) : Reaper.reap(pid, until: deadline)
        if !timedOut, waitStatus == nil {
            timedOut = true
            waitStatus = Reaper.killGroup(of: pid)
        }
        let termination: Termination = switch waitStatus {
        case let status? where !timedOut: status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
        default: .timedOut
        }
        return ProcessOutcome(termination: termination, collected: streams, elapsed: ContinuousClock.now - started)
    }
}

/// A close-on-exec pipe that closes what is left of it in `deinit`.
private final class Pipe2 {
    let read: Int32
    private(set) var write: Int32

    init() throws(SystemCallError) {
        var descriptors: [Int32] = [-1, -1]
        try systemCall("pipe") { GNUCalls.pipe2(&descriptors, O_CLOEXEC) }
        read = descriptors[0]
        write = descriptors[1]
    }

    func closeWrite() {
        if write >= 0 { close(write) }
        write = -1
    }

    deinit {
        close(read)
        closeWrite()
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
/// posix_spawn with default signal handling and nothing blocked (the caller may ignore SIGPIPE
/// or block signals on its threads; the child must not inherit that), optionally in a process
/// group of its own. Returns posix_spawn's result: 0, or the error number.
public func spawnProcess(
    _ pid: inout pid_t, _ executable: String, _ arguments: [String], environment: [String],
    actions: inout posix_spawn_file_actions_t, ownProcessGroup: Bool
) -> Int32 {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
    if ownProcessGroup {
        posix_spawnattr_setpgroup(&attributes, 0)
        flags |= POSIX_SPAWN_SETPGROUP
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    return withCStrings([executable] + arguments) { argv in
        withCStrings(environment) { envp in
            posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
    }
}

private func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}

/// glibc functions Swift's Glibc module does not show (they need `_GNU_SOURCE`),
/// looked up once by name. All exist in every glibc since 2.34 (Debian 12 has 2.36).
public enum GNUCalls {
    public typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    public typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias MemfdCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32
    typealias CloseFrom = @convention(c) (Int32) -> Void

    public static let addCloseFrom: AddCloseFrom = lookup("posix_spawn_file_actions_addclosefrom_np")
    public static let pipe2: Pipe2 = lookup("pipe2")
    static let memfdCreate: MemfdCreate = lookup("memfd_create")
    /// Closes every descriptor from the given one up.
    static let closeFrom: CloseFrom = lookup("closefrom")
    /// `MFD_CLOEXEC` from <sys/mman.h>.
    static let memfdCloseOnExec: Int32 = 1

    private static func lookup<T>(_ name: String) -> T {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
            fatalError("glibc lacks \(name): glibc 2.34 or newer is required")
        }
        return unsafeBitCast(symbol, to: T.self)
    }
}
