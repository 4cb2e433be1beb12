import Foundation
import Glibc
import WorkerClient

/// How a spawned process ended.
enum Termination: Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// The wall-clock limit passed and its process group was killed.
    case timedOut
}

/// Bytes read from one output stream, capped.
struct CapturedStream {
    var bytes: [UInt8] = []
    /// Bytes read past the cap and dropped.
    var omitted = 0
}

struct ProcessOutcome {
    var termination: Termination
    var stdout: CapturedStream
    var stderr: CapturedStream
    /// What the child wrote to descriptor 4 (bwrap's `--json-status-fd`), at most 64 KiB.
    var status: [UInt8]
    /// What the child wrote to descriptor 5 (the head of the compiled file), at most 4 KiB.
    var artifactHead: [UInt8]
    var elapsed: Duration
}

/// Spawns a process in its own process group with posix_spawn, feeds it
/// descriptors, captures its output with a cap, and kills the whole group at a
/// deadline. Safe to use from several threads at once: every descriptor it opens
/// is close-on-exec, so no child inherits another's pipes.
enum ProcessRunner {
    /// - Parameters:
    ///   - input: a descriptor the child sees as 3 (the source file), or nil.
    ///   - seccomp: a descriptor the child sees as 6 (bwrap's seccomp filter), or nil.
    ///   - wantsStatusPipe: give the child pipes as descriptors 4 and 5 and collect what it writes.
    static func run(
        executable: String, arguments: [String], environment: [String], input: Int32?, seccomp: Int32? = nil,
        wantsStatusPipe: Bool, timeout: Duration, outputLimit: Int
    ) throws(SystemCallError) -> ProcessOutcome {
        let started = ContinuousClock.now
        let stdout = try Pipe2()
        let stderr = try Pipe2()
        let status = wantsStatusPipe ? try Pipe2() : nil
        let artifact = wantsStatusPipe ? try Pipe2() : nil

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The child's descriptors 0-6 are filled from copies numbered 10 and up, so that no
        // source is itself one of 0-6 (dup2 onto itself would keep close-on-exec set).
        var mapping: [(source: Int32, target: Int32)] = [(stdout.write, 1), (stderr.write, 2)]
        if let input { mapping.append((input, 3)) }
        if let status { mapping.append((status.write, 4)) }
        if let artifact { mapping.append((artifact.write, 5)) }
        if let seccomp { mapping.append((seccomp, 6)) }
        let copies = try mapping.map { entry throws(SystemCallError) in
            try systemCall("duplicate descriptor") { fcntl(entry.source, F_DUPFD_CLOEXEC, 10) }
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (copy, entry) in zip(copies, mapping) {
            posix_spawn_file_actions_adddup2(&actions, copy, entry.target)
        }
        // Whatever else is open in the worker (sockets accepted a moment ago by another
        // thread, not yet close-on-exec) never reaches the child: nor do 3-6 where they
        // are not mapped (glibc ignores closing one that is not open).
        for target in Int32(3)...6 where !mapping.contains(where: { $0.target == target }) {
            posix_spawn_file_actions_addclose(&actions, target)
        }
        GNUCalls.addCloseFrom(&actions, 7)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (so the deadline can kill all of it), default signal
        // handling (the worker ignores SIGPIPE; compilers must not), nothing blocked.
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var pid: pid_t = 0
        let spawnResult = withCStrings([executable] + arguments) { argv in
            withCStrings(environment) { envp in
                posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            }
        }
        // The parent keeps only the read ends: end of stream then means the child is done.
        copies.forEach { close($0) }
        stdout.closeWrite()
        stderr.closeWrite()
        status?.closeWrite()
        artifact?.closeWrite()
        guard spawnResult == 0 else { throw SystemCallError("spawn \(executable)", errno: spawnResult) }

        let deadline = started + timeout
        var streams = [CapturedStream(), CapturedStream(), CapturedStream(), CapturedStream()]
        var open: [(descriptor: Int32, index: Int, limit: Int)] = [(stdout.read, 0, outputLimit), (stderr.read, 1, outputLimit)]
        if let status { open.append((status.read, 2, 1 << 16)) }
        if let artifact { open.append((artifact.read, 3, 4096)) }
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                timedOut = true
                kill(-pid, SIGKILL)
                break
            }
            var pollSet = open.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(clamping: remaining.roundedUpMilliseconds)
            let ready = poll(&pollSet, nfds_t(pollSet.count), milliseconds)
            if ready < 0, errno != EINTR { break }
            var closed: Set<Int32> = []
            for entry in pollSet where entry.revents != 0 {
                guard let stream = open.first(where: { $0.descriptor == entry.fd }) else { continue }
                let count = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    let room = max(0, stream.limit - streams[stream.index].bytes.count)
                    streams[stream.index].bytes += buffer.prefix(min(room, count))
                    streams[stream.index].omitted += max(0, count - room)
                } else if count == 0 || errno != EINTR {
                    closed.insert(entry.fd)
                }
            }
            open.removeAll { closed.contains($0.descriptor) }
        }
        // The group is dead or exits on its own; reap the leader.
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) == -1, errno == EINTR {}
        let termination: Termination
        if timedOut {
            termination = .timedOut
        } else if waitStatus & 0x7F == 0 {
            termination = .exited((waitStatus >> 8) & 0xFF)
        } else {
            termination = .signaled(waitStatus & 0x7F)
        }
        return ProcessOutcome(
            termination: termination, stdout: streams[0], stderr: streams[1], status: streams[2].bytes,
            artifactHead: streams[3].bytes,
            elapsed: ContinuousClock.now - started)
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
private func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}

/// glibc functions Swift's Glibc module does not show (they need `_GNU_SOURCE`),
/// looked up once by name. All exist in every glibc since 2.34 (Debian 12 has 2.36).
enum GNUCalls {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias MemfdCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32

    static let addCloseFrom: AddCloseFrom = lookup("posix_spawn_file_actions_addclosefrom_np")
    static let pipe2: Pipe2 = lookup("pipe2")
    static let memfdCreate: MemfdCreate = lookup("memfd_create")
    /// `MFD_CLOEXEC` from <sys/mman.h>.
    static let memfdCloseOnExec: Int32 = 1

    private static func lookup<T>(_ name: String) -> T {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
            fatalError("glibc lacks \(name): glibc 2.34 or newer is required")
        }
        return unsafeBitCast(symbol, to: T.self)
    }
}
