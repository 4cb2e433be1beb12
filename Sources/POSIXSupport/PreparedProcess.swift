public import Glibc

/// A process started before its command is known: it does its own preparation, then waits on a
/// socket for the command and the descriptors to run it with, and execs it. Whatever makes a
/// process slow to start (moving into a cgroup takes the kernel milliseconds) is then done
/// ahead, off the path of the command. Its pid stays the command's: it is spawned in a process
/// group of its own, so killing that group kills the command with all it started.
///
/// The prepared process is a program that calls `PreparedProcess.serve` (the worker's own
/// binary, started with a flag). It exits quietly if the socket closes before a command comes
/// (the owner discarded it, or died).
public final class PreparedProcess {
    public let pid: pid_t
    /// The owner's end of the socket pair; the process holds the other as `channelDescriptor`.
    private var channel: Int32
    private var reaped = false

    /// The descriptor the prepared process receives its command on.
    public static let channelDescriptor: Int32 = 3
    /// The most descriptors one command may be given (the kernel's limit for one message).
    public static let maxDescriptors = 253
    /// The largest command (its strings, NUL-separated) one message carries: below what the
    /// kernel sends in one datagram with its default socket buffer (208 KiB).
    static let maxMessageBytes = 192 << 10

    private init(pid: pid_t, channel: Int32) {
        self.pid = pid
        self.channel = channel
    }

    deinit {
        discard()
    }

    /// Spawns `executable` with `arguments`: standard input and output /dev/null, standard
    /// error the caller's (what it says before it has a command), the socket on descriptor 3,
    /// default signal handling and its own process group.
    public static func spawn(executable: String, arguments: [String]) throws(SystemCallError) -> PreparedProcess {
        var pair: [Int32] = [-1, -1]
        try systemCall("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        defer { close(pair[1]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pair[1], channelDescriptor)
        _ = GNUCalls.addCloseFrom(&actions, channelDescriptor + 1)
        var pid: pid_t = 0
        let result = spawnProcess(&pid, executable, arguments, environment: [], actions: &actions, ownProcessGroup: true)
        guard result == 0 else {
            close(pair[0])
            throw SystemCallError("spawn \(executable)", errno: result)
        }
        return PreparedProcess(pid: pid, channel: pair[0])
    }

    /// Hands the process its command: it execs `executable` with `arguments` and `environment`,
    /// standard input /dev/null, and each `(source, target)` descriptor of the caller's as
    /// `target`; every other descriptor closed. The caller keeps and closes its own.
    func launch(executable: String, arguments: [String], environment: [String], descriptors: [(source: Int32, target: Int32)]) throws(SystemCallError) {
        guard descriptors.count <= Self.maxDescriptors else { throw SystemCallError("hand \(descriptors.count) descriptors over", errno: EMFILE) }
        let strings = [descriptors.map { String($0.target) }.joined(separator: ","), executable, String(arguments.count)] + arguments + environment
        var payload: [UInt8] = []
        for string in strings {
            payload += string.utf8
            payload.append(0)
        }
        guard payload.count <= Self.maxMessageBytes else { throw SystemCallError("hand a command of \(payload.count) bytes over", errno: E2BIG) }
        let sources = descriptors.map(\.source)
        var control = [UInt8](repeating: 0, count: controlSpace(descriptors: sources.count))
        control.withUnsafeMutableBytes { control in
            let header = control.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
            header.pointee.cmsg_len = controlLength(descriptors: sources.count)
            header.pointee.cmsg_level = SOL_SOCKET
            header.pointee.cmsg_type = Int32(SCM_RIGHTS)
            let data = control.baseAddress! + controlHeaderSize
            sources.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        let (sent, failure) = payload.withUnsafeMutableBytes { payload in
            control.withUnsafeMutableBytes { control in
                var vector = iovec(iov_base: payload.baseAddress, iov_len: payload.count)
                return withUnsafeMutablePointer(to: &vector) { vector in
                    var message = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vector, msg_iovlen: 1,
                                         msg_control: sources.isEmpty ? nil : control.baseAddress,
                                         msg_controllen: sources.isEmpty ? 0 : control.count, msg_flags: 0)
                    var sent: Int
                    repeat {
                        sent = sendmsg(channel, &message, Int32(MSG_NOSIGNAL))
                    } while sent == -1 && errno == EINTR
                    return (sent, errno)
                }
            }
        }
        guard sent >= 0 else { throw SystemCallError("hand the command to the prepared process \(pid)", errno: failure) }
        close(channel)
        channel = -1
    }

    /// Whether the process was never handed a command and is still waiting for one (it has
    /// not exited: one that has is reaped here).
    public func isWaiting() -> Bool {
        guard channel >= 0, !reaped else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { reaped = true }
        return !reaped
    }

    /// Kills and reaps a process that was never handed a command; nothing once it was (its
    /// owner then reaps the command).
    public func discard() {
        guard channel >= 0 else { return }
        close(channel)
        channel = -1
        guard !reaped else { return }
        // Not waited on for ever: one still entering its cgroup may be asleep in the kernel.
        Reaper.killGroup(of: pid)
        reaped = true
    }

    /// The prepared process's side, in the program `spawn` started: runs `prepare` (a problem
    /// it returns is reported on the command's standard error, which then does not run, exit
    /// status 125), waits for the command, puts its descriptors in place and execs it (exit
    /// status 127 if that fails). Exits with status 0 if the socket closes first.
    public static func serve(prepare: () -> String?) -> Never {
        let problem = prepare()
        // Not zero-filled: pages the message does not reach are never touched.
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: maxMessageBytes, alignment: 1)
        var control = [UInt8](repeating: 0, count: controlSpace(descriptors: maxDescriptors))
        var received = 0
        var controlLength = 0
        var flags: Int32 = 0
        control.withUnsafeMutableBytes { control in
            var vector = iovec(iov_base: payload.baseAddress, iov_len: payload.count)
            withUnsafeMutablePointer(to: &vector) { vector in
                var message = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vector, msg_iovlen: 1,
                                     msg_control: control.baseAddress, msg_controllen: control.count, msg_flags: 0)
                repeat {
                    received = recvmsg(channelDescriptor, &message, Int32(MSG_CMSG_CLOEXEC))
                } while received == -1 && errno == EINTR
                controlLength = message.msg_controllen
                flags = message.msg_flags
            }
        }
        if received <= 0 { _exit(0) }
        var sources: [Int32] = []
        if controlLength >= controlHeaderSize {
            control.withUnsafeBytes { control in
                let header = control.baseAddress!.assumingMemoryBound(to: cmsghdr.self).pointee
                if header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS) {
                    let count = (header.cmsg_len - controlHeaderSize) / MemoryLayout<Int32>.size
                    let data = UnsafeRawBufferPointer(rebasing: control[controlHeaderSize..<controlHeaderSize + count * MemoryLayout<Int32>.size])
                    sources = Array(data.bindMemory(to: Int32.self))
                }
            }
        }
        let strings = payload[..<received].split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let targets = strings.first.map { $0.split(separator: ",").compactMap { Int32($0) } } ?? []
        guard flags & Int32(MSG_TRUNC | MSG_CTRUNC) == 0, strings.count >= 3, let count = Int(strings[2]), strings.count >= 3 + count,
              targets.count == sources.count else {
            fail(127, "the prepared process received a malformed command")
        }
        // Each source is first copied above every target, so that none is overwritten by another's dup2.
        let highest = max(channelDescriptor, targets.max() ?? 2)
        let copies = sources.map { fcntl($0, F_DUPFD, highest + 1) }
        let null = open("/dev/null", O_RDONLY)
        if null < 0 || copies.contains(-1) { fail(127, "the prepared process could not place its descriptors: \(String(cString: strerror(errno)))") }
        dup2(null, 0)
        for (copy, target) in zip(copies, targets) { dup2(copy, target) }
        for descriptor in 3...highest where !targets.contains(descriptor) { close(descriptor) }
        GNUCalls.closeFrom(highest + 1)
        if let problem { fail(125, problem) }
        let executable = strings[1]
        let arguments = Array(strings[3..<3 + count])
        let environment = Array(strings[(3 + count)...].dropLast())  // the payload ends with a NUL
        execute(executable, arguments, environment)
        fail(127, "cannot run \(executable): \(String(cString: strerror(errno)))")
    }

    /// Says `message` on standard error and exits with `status`.
    private static func fail(_ status: Int32, _ message: String) -> Never {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        _exit(status)
    }
}

/// execve with NULL-terminated C arrays of the strings; returns only if it failed.
private func execute(_ executable: String, _ arguments: [String], _ environment: [String]) {
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    execve(executable, argv, envp)
}

/// `sizeof(struct cmsghdr)`, already a multiple of its alignment.
private let controlHeaderSize = MemoryLayout<cmsghdr>.stride

/// CMSG_LEN and CMSG_SPACE for `descriptors` descriptors (C macros Swift does not import).
private func controlLength(descriptors: Int) -> Int { controlHeaderSize + descriptors * MemoryLayout<Int32>.size }

private func controlSpace(descriptors: Int) -> Int {
    let alignment = MemoryLayout<Int>.size
    return controlHeaderSize + (descriptors * MemoryLayout<Int32>.size + alignment - 1) / alignment * alignment
}
