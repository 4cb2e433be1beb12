import CSeccomp
import Glibc

/// The system-call filter every sandboxed process runs under, built once with
/// libseccomp and handed to bwrap (`--seccomp FD`) as a BPF program.
///
/// It is an allowlist. Compilers, linkers and `sh` need file, memory, process,
/// signal, time and pipe calls; those are allowed. Everything else is refused:
/// - The calls that reach kernel surface a compile never needs, the ones sandboxes
///   commonly refuse (bwrap's own users such as flatpak, Docker's default profile,
///   nsjail's examples), answer EPERM, so a tool that tries one degrades as it
///   would without the privilege: new namespaces (`unshare`, `setns`, `clone` with a
///   `CLONE_NEW*` flag), mounts, `ptrace` and cross-process memory, `bpf`, keyrings,
///   `perf_event_open`, `userfaultfd`, kernel modules and kexec, `io_uring`,
///   file handles, NUMA policy, clocks, swap, reboot, `syslog`, `acct`, sockets other
///   than Unix, IPv4 and IPv6, and IPv4/IPv6 sockets of a protocol other than TCP or UDP
///   (the network namespace is empty anyway).
/// - Any other call answers ENOSYS, as if this kernel did not have it (so does
///   `personality` with a value other than a query or the default): programs
///   that probe a newer call (glibc's `clone3` first of all) fall back to the older one.
///   That is why `clone3`, whose flags sit in memory a filter cannot read, is
///   answered ENOSYS: glibc then uses `clone`, whose flags the filter checks.
/// - Only the native ABI (x86_64) is accepted. A call through another ABI (i386's
///   `int 0x80`, x32) kills the process: the allowlist is written for one syscall table.
public struct SeccompFilter: Sendable {
    /// The BPF program, in the form bwrap's `--seccomp` reads.
    public let program: [UInt8]

    /// Calls a compile needs. Not listed here means ENOSYS (or EPERM, when in `refused`).
    static let allowed = [
        // Files and directories.
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
        "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "dup", "dup2", "dup3", "fcntl", "flock",
        "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
        "fsync", "fdatasync", "truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
        "getdents", "getdents64", "getcwd", "chdir", "fchdir",
        "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat", "unlink", "unlinkat",
        "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown",
        "fchownat", "umask", "utime", "utimes", "utimensat", "futimesat", "copy_file_range", "sendfile", "splice", "tee",
        // FIFOs; a device node needs a capability the sandbox lacks, on a tmpfs that is nodev anyway.
        "mknod", "mknodat",
        "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
        "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "ioctl",
        // Memory.
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock", "munlock",
        "membarrier", "memfd_create",
        // Processes and threads (`clone` is allowed separately, without namespace flags).
        "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill", "tkill", "tgkill",
        "pidfd_open", "pidfd_send_signal",
        "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid",
        "getpgid", "getpgrp", "getsid", "setpgid", "setsid", "capget",
        // Without a capability these only switch among the process's own ids; make calls
        // setresuid(-1, euid, -1) in every child it starts (gcc -flto=N runs make).
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
        "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "arch_prctl", "prctl",
        "prlimit64", "getrlimit", "setrlimit", "getrusage", "getpriority", "setpriority",
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getattr", "sched_rr_get_interval", "getcpu",
        "futex", "futex_waitv", "uname", "sysinfo", "getrandom",
        // Signals and time.
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending", "rt_sigtimedwait",
        "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "restart_syscall", "pause", "alarm",
        "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "times",
        "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
        "timerfd_create", "timerfd_settime", "timerfd_gettime", "eventfd", "eventfd2", "signalfd", "signalfd4",
        // Pipes, polling, local sockets (`socket` is allowed separately, for a few families).
        "pipe", "pipe2", "poll", "ppoll", "select", "pselect6",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
        "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg", "recvmsg",
        "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername", "getsockopt", "setsockopt",
    ]

    /// Calls refused with EPERM: each reaches kernel surface no compile needs, and
    /// several are the classic ways out of a container. The tests try each of them.
    public static let refused = [
        // Namespaces and mounts: a new user namespace would give back every capability.
        "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
        "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        // Other processes' memory, and the kernel's own programs and keys.
        "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
        "bpf", "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd", "io_uring_setup",
        "io_uring_enter", "io_uring_register",
        // The kernel itself and the host.
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
        "swapoff", "syslog", "acct", "quotactl", "sethostname", "setdomainname", "iopl", "ioperm", "modify_ldt",
        "open_by_handle_at", "name_to_handle_at", "uselib", "vhangup",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
        "mbind", "set_mempolicy", "get_mempolicy", "migrate_pages", "move_pages",
    ]

    /// `clone`'s namespace flags. CLONE_NEWTIME (0x80) is not one of them: with
    /// `clone` that bit is part of the exit signal; only `clone3` and `unshare` take it.
    static let namespaceFlags: [UInt64] = [
        0x0002_0000 /* NEWNS */, 0x0200_0000 /* NEWCGROUP */, 0x0400_0000 /* NEWUTS */, 0x0800_0000 /* NEWIPC */,
        0x1000_0000 /* NEWUSER */, 0x2000_0000 /* NEWPID */, 0x4000_0000 /* NEWNET */,
    ]

    /// `personality` values a process may pass: the query (0xffffffff) and plain Linux (0).
    /// Others, such as ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC, weaken the process's defences.
    static let personalities: [UInt64] = [0, 0xFFFF_FFFF]

    /// Socket families that exist in the sandbox's empty network namespace: Unix, IPv4, IPv6.
    /// Netlink, packet, vsock, crypto and the rest are kernel surface a compile never needs.
    static let socketFamilies: [UInt64] = [1, 2, 10]
    static let internetFamilies: [UInt64] = [2, 10]
    /// IPv4 and IPv6 sockets only with the default protocol, TCP or UDP: MPTCP, UDP-Lite,
    /// SCTP, DCCP and the rest are more kernel code, and asking for one may load its module.
    static let internetProtocols: [UInt64] = [0, 6, 17]

    /// Builds the filter.
    /// - Throws: `SeccompError` naming the call or step libseccomp refused.
    public static func forSandbox() throws(SeccompError) -> SeccompFilter {
        guard let context = seccomp_init(wic_scmp_act_errno(UInt16(ENOSYS))) else {
            throw SeccompError("seccomp_init failed")
        }
        defer { seccomp_release(context) }
        try check(seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "kill on a foreign ABI")
        // A binary tree instead of a chain of a few hundred comparisons on every call.
        try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize")
        let allow = UInt32(SCMP_ACT_ALLOW)
        let refuse = wic_scmp_act_errno(UInt16(EPERM))
        for name in allowed { try add(context, name, allow) }
        for name in refused { try add(context, name, refuse) }
        // clone3 is in neither list: it answers ENOSYS, the default (libseccomp refuses a rule
        // whose action is the default one).

        let allFlags = namespaceFlags.reduce(0, |)
        try add(context, "clone", allow, [scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: allFlags, datum_b: 0)])
        for flag in namespaceFlags {
            try add(context, "clone", refuse, [scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: flag, datum_b: flag)])
        }
        for value in personalities {
            try add(context, "personality", allow, [scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: value, datum_b: 0)])
        }
        try add(context, "socket", allow, [scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: 1, datum_b: 0)])
        for family in internetFamilies {
            let isFamily = scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: family, datum_b: 0)
            for proto in internetProtocols {
                try add(context, "socket", allow, [isFamily, scmp_arg_cmp(arg: 2, op: SCMP_CMP_EQ, datum_a: proto, datum_b: 0)])
            }
            // Every other protocol number, as ranges between the allowed ones: EPERM.
            for proto in UInt64(1)..<18 where !internetProtocols.contains(proto) {
                try add(context, "socket", refuse, [isFamily, scmp_arg_cmp(arg: 2, op: SCMP_CMP_EQ, datum_a: proto, datum_b: 0)])
            }
            try add(context, "socket", refuse, [isFamily, scmp_arg_cmp(arg: 2, op: SCMP_CMP_GE, datum_a: 18, datum_b: 0)])
        }
        // Every other family: EPERM (libseccomp takes one comparison per argument and rule,
        // hence one rule per family number). Another personality: ENOSYS, the default.
        for family in UInt64(0)..<64 where !socketFamilies.contains(family) {
            try add(context, "socket", refuse, [scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: family, datum_b: 0)])
        }
        try add(context, "socket", refuse, [scmp_arg_cmp(arg: 0, op: SCMP_CMP_GE, datum_a: 64, datum_b: 0)])
        return SeccompFilter(program: try export(context))
    }

    private static func add(_ context: scmp_filter_ctx, _ name: String, _ action: UInt32, _ conditions: [scmp_arg_cmp] = []) throws(SeccompError) {
        let number = seccomp_syscall_resolve_name(name)
        guard number != __NR_SCMP_ERROR else { throw SeccompError("libseccomp does not know the system call \(name)") }
        let result = conditions.withUnsafeBufferPointer { buffer in
            seccomp_rule_add_array(context, action, number, UInt32(buffer.count), buffer.baseAddress)
        }
        try check(result, "rule for \(name)")
    }

    /// The program as libseccomp exports it, read back through a memory file.
    private static func export(_ context: scmp_filter_ctx) throws(SeccompError) -> [UInt8] {
        let file = wic_memfd_create_cloexec("wic-seccomp-export")
        guard file >= 0 else { throw SeccompError("memfd_create: \(String(cString: strerror(errno)))") }
        defer { close(file) }
        try check(seccomp_export_bpf(context, file), "export")
        let size = Int(lseek(file, 0, SEEK_END))
        guard size > 0 else { throw SeccompError("reading the exported filter back: \(String(cString: strerror(errno)))") }
        var program = [UInt8](repeating: 0, count: size)
        let read = program.withUnsafeMutableBytes { pread(file, $0.baseAddress, size, 0) }
        guard read == size else { throw SeccompError("reading the exported filter back: \(read) of \(size) bytes") }
        return program
    }

    private static func check(_ result: Int32, _ step: String) throws(SeccompError) {
        guard result == 0 else { throw SeccompError("\(step): \(String(cString: strerror(-result)))") }
    }
}

/// libseccomp refused to build the filter; the description names the step.
public struct SeccompError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = "seccomp filter: \(description)"
    }
}
