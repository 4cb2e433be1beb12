import Foundation
import Glibc
import SeccompFilter
import TestSupport
import Testing
import WillItCompile

/// Tries to break out of the very sandbox a compile gets. The worker never runs what it
/// compiled, so these tests give it a catalog whose "compiler" is a shell script: it
/// builds `Tests/Probes/syscalls.c` with gcc inside the sandbox and runs it there, under
/// the worker's own bwrap arguments and seccomp filter (nothing of them is copied here).
@Suite(.serialized) struct SandboxHardeningTests {
    /// What the probe toolchain runs inside the sandbox; the source is `$1`, `PORT` one
    /// the test listens on at the host's loopback, `REFUSED` the filter's refused calls.
    static let probeScript = """
        gcc-12 -o /tmp/probe "$1" -lpthread -lseccomp || exit 90
        /tmp/probe PORT REFUSED
        printf 'unshare_cli='; unshare -Ur true 2>/dev/null; echo $?
        grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
        echo '--- mountinfo'; cat /proc/self/mountinfo
        """

    /// Host paths a sandbox may see: the read-only system binds (docs/SANDBOX.md).
    static let systemBinds: Set = ["/usr/bin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/include", "/etc/ld.so.cache"]

    let listener: LoopbackListener
    let catalog: URL
    let worker: WorkerProcess

    init() throws {
        listener = try LoopbackListener()
        catalog = try Self.writeProbeCatalog(port: listener.port)
        worker = try WorkerProcess(["WORKER_CATALOG": catalog.path])
    }

    /// A catalog of two probe toolchains: `probe` (C) runs the probe script, `probe-go`
    /// (Go, with a program cache like the real Go) prints its mountinfo.
    static func writeProbeCatalog(port: Int) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-probe-catalog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        func entry(_ id: String, _ language: String, _ source: String, _ script: String, cache: String? = nil) -> [String: Any] {
            var entry: [String: Any] = [
                "id": id, "language": language, "executable": "/bin/sh", "version_arguments": ["-c", "echo probe 1"],
                "standards": [String](), "standard_arguments": [String](), "source_file": source,
                "command": ["{executable}", "-c", script, "probe", "{source}"],
                "binds": [String](), "environment": [String: String](), "priority": 1,
            ]
            entry["program_cache"] = cache
            return entry
        }
        let toolchains = [
            entry("probe", "c", "main.c", probeScript.replacingOccurrences(of: "PORT", with: "\(port)")
                .replacingOccurrences(of: "REFUSED", with: SeccompFilter.refused.joined(separator: " "))),
            entry("probe-go", "go", "main.go", "cat /proc/self/mountinfo", cache: "/tmp/go-cache"),
        ]
        let path = directory.appendingPathComponent("catalog.json")
        try JSONSerialization.data(withJSONObject: ["toolchains": toolchains]).write(to: path)
        chmod(path.path, 0o644)
        return path
    }

    /// Runs the probe in the sandbox and returns its `name=result` lines and the rest of its output.
    func probe() throws -> (results: [String: String], output: String) {
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/Probes/syscalls.c"), encoding: .utf8)
        let (job, result) = try worker.compile(source, language: .c, compiler: "probe")
        guard job.status == .completed else {
            throw TestFailure("the probe did not run: \(job.status) \(result.error) \(result.stderr.suffix(2000))")
        }
        var results: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") where !line.hasPrefix("---") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { results[parts[0]] = parts[1] }
        }
        return (results, result.stdout)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func everyRefusedSystemCallFailsWithEPERM() throws {
        let (results, output) = try probe()
        let refused = [
            "unshare", "unshare_mount", "setns", "clone_newuser", "clone_newns", "clone_newpid", "clone_newnet",
            "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fspick",
            "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "keyctl", "add_key", "request_key",
            "perf_event_open", "userfaultfd", "io_uring_setup", "open_by_handle_at", "kexec_load", "init_module",
            "finit_module", "acct", "swapon", "reboot", "syslog", "socket_netlink", "socket_packet",
            "socket_mptcp", "socket_udplite6", "socket_sctp", "socket_icmp",
        ]
        for name in refused {
            #expect(results[name] == "\(EPERM)", "\(name) answered \(results[name] ?? "nothing"), not EPERM: \(output.prefix(3000))")
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func everyCallTheFilterListsAsRefusedAnswersEPERM() throws {
        let (results, _) = try probe()
        #expect(SeccompFilter.refused.count > 50)
        for name in SeccompFilter.refused {
            #expect(results["refused:\(name)"] == "\(EPERM)", "\(name) with zero arguments answered \(results["refused:\(name)"] ?? "nothing")")
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func clone3AndUnknownPersonalitiesAnswerENOSYSAndForeignABIsAreKilled() throws {
        let (results, _) = try probe()
        // ENOSYS makes glibc fall back from clone3 to clone, whose flags the filter can read.
        #expect(results["clone3"] == "\(ENOSYS)")
        #expect(results["personality_no_randomize"] == "\(ENOSYS)")
        #expect(results["i386_abi"] == "signal \(SIGSYS)", "int 0x80: \(results["i386_abi"] ?? "nothing")")
        #expect(results["x32_abi"] == "signal \(SIGSYS)", "x32: \(results["x32_abi"] ?? "nothing")")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func whatACompilerNeedsStillWorks() throws {
        let (results, _) = try probe()
        for name in ["socket_unix", "socket_tcp6", "socket_udp", "setresuid_own", "setresgid_own", "personality_query", "thread", "fork"] {
            #expect(results[name] == "0", "\(name) answered \(results[name] ?? "nothing")")
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func theHostsNetworkIsNotThereNotEvenItsLoopback() throws {
        let (results, _) = try probe()
        // The sandbox's 127.0.0.1 is its own, where nothing listens.
        #expect(results["connect_loopback"] == "\(ECONNREFUSED)", "\(results["connect_loopback"] ?? "nothing")")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func theSandboxRunsUnderSeccompWithNoNewPrivilegesAndNoNestedUserNamespace() throws {
        let (results, output) = try probe()
        #expect(output.contains("Seccomp:\t2\n"), "\(output.suffix(2000))")
        #expect(output.contains("NoNewPrivs:\t1\n"))
        // unshare(1) exits 1 when the kernel refuses the namespace; 0 would mean it worked,
        // anything else that the probe itself went wrong.
        #expect(results["unshare_cli"] == "1", "`unshare -Ur true` inside the sandbox exited \(results["unshare_cli"] ?? "nothing")")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aNestedUserNamespaceIsRefusedEvenWhereTheFilterWouldAllowIt() throws {
        // The worker's own command for a C compile (the probe toolchain: the only C one
        // here), run directly with a filter that allows every call (one BPF instruction,
        // "return ALLOW"), so that only --disable-userns stands in the way.
        let command = try runWorker(["--sandbox-command", "c"])
        guard let argv = try JSONSerialization.jsonObject(with: Data(command.utf8)) as? [String] else {
            throw TestFailure("--sandbox-command printed no argument list: \(command)")
        }
        let allowAll = worker.directory.appendingPathComponent("allow-all.bpf")
        try Data([0x06, 0, 0, 0, 0x00, 0x00, 0xFF, 0x7F]).write(to: allowAll)
        let text = try runCapturingOutput(
            "/bin/bash",
            ["-c", #"exec "$@" 3<"$WIC_SOURCE" 4>/dev/null 5>/dev/null 6<"$WIC_FILTER""#, "bash",
             "/usr/bin/setpriv", "--reuid=\(serviceUser)", "--regid=\(serviceUser)", "--init-groups", "--"] + argv,
            environment: ["PATH": "/usr/bin:/bin", "WIC_FILTER": allowAll.path,
                          "WIC_SOURCE": repositoryRoot.appendingPathComponent("Tests/Probes/syscalls.c").path]).output
        #expect(text.contains("Seccomp:\t2\n"), "the permissive filter was loaded: \(text.suffix(2000))")
        // ENOSPC: bwrap set the sandbox's user-namespace limit to the one it already uses.
        let lines = Set(text.split(separator: "\n"))
        #expect(lines.contains("unshare=\(ENOSPC)"), "\(text.prefix(500))")
        #expect(lines.contains("clone_newuser=\(ENOSPC)"))
    }

    /// Runs another worker with this suite's environment and returns what it printed.
    func runWorker(_ arguments: [String]) throws -> String {
        let (status, output) = try run(
            "/usr/bin/setpriv", ["--reuid=\(serviceUser)", "--regid=\(serviceUser)", "--init-groups", "--",
                                 try WorkerProcess.workerExecutable()] + arguments,
            environment: worker.environment, capturing: .standardOutput)
        guard status == 0 else { throw TestFailure("worker \(arguments) exited with \(status)") }
        return output
    }

    /// Each line of mountinfo whose root is a path on a host file system (not a fresh
    /// tmpfs or proc) must be a read-only system bind, or one of the two device nodes.
    static func hostPaths(inMountinfo output: String) -> [String] {
        let lines = output.components(separatedBy: "--- mountinfo\n").last ?? output
        return lines.split(separator: "\n").map(String.init).filter { line in
            let fields = line.split(separator: " ").map(String.init)
            guard let separator = fields.firstIndex(of: "-"), fields.count > separator + 1 else { return true }
            let root: String = fields[3], mountPoint: String = fields[4], options: String = fields[5]
            let type: String = fields[separator + 1]
            let freshFileSystem = type == "tmpfs" || type == "proc"
            let deviceNode = type == "devtmpfs" && (mountPoint == "/dev/null" || mountPoint == "/dev/urandom")
                && "/dev" + root == mountPoint
            let systemBind = systemBinds.contains(root) && root == mountPoint && options.hasPrefix("ro,")
            return !(freshFileSystem || deviceNode || systemBind)
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func mountinfoShowsNoHostPathButTheReadOnlySystemBinds() throws {
        let (_, output) = try probe()
        #expect(output.contains("--- mountinfo\n"))
        #expect(Self.hostPaths(inMountinfo: output) == [])
    }

    @Test(.runningTimeLimit(minutes: 2))
    func theProgramCacheBindShowsOnlyItsOwnEntry() throws {
        let (job, result) = try worker.compile("package main\n", language: .go, compiler: "probe-go")
        #expect(job.status == .completed, "\(result.error) \(result.stderr)")
        let extra = Self.hostPaths(inMountinfo: "--- mountinfo\n" + result.stdout)
        // A bind mount's root is its path on the host's file system: the cache entry is
        // the one host path a Go compile sees besides the system binds (docs/SANDBOX.md).
        let cacheRoot = worker.directory.appendingPathComponent("program-cache").path
        #expect(extra.count == 1 && extra.allSatisfy { $0.contains(" \(cacheRoot)/") && $0.contains(" /tmp/go-cache rw,") },
                "\(extra)")
    }

    /// scripts/run mounts the cache on a tmpfs of its own: the bind's root is then the
    /// entry's path on that file system, `/<key>`, and no host path shows at all.
    @Test(.runningTimeLimit(minutes: 2))
    func aProgramCacheOnItsOwnFileSystemShowsNoHostPath() throws {
        let worker = try WorkerProcess(["WORKER_CATALOG": catalog.path], programCacheOnItsOwnFileSystem: true)
        let (job, result) = try worker.compile("package main\n", language: .go, compiler: "probe-go")
        #expect(job.status == .completed, "\(result.error) \(result.stderr)")
        #expect(Self.hostPaths(inMountinfo: "--- mountinfo\n" + result.stdout) == [])
        let cacheMount = result.stdout.split(separator: "\n").first { $0.contains(" /tmp/go-cache rw,") }
        let root = cacheMount.map { $0.split(separator: " ")[3] } ?? ""
        #expect(root.count == 65 && root.hasPrefix("/") && root.dropFirst().allSatisfy(\.isHexDigit), "\(cacheMount ?? "no cache mount")")
    }
}

/// A TCP socket listening on the host's 127.0.0.1, on a port the kernel picks.
final class LoopbackListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard descriptor >= 0, bound else { throw TestFailure("cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))") }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit {
        close(descriptor)
    }
}
