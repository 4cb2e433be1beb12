import Foundation
import Glibc
import JobStore
import TestSupport
import WorkerService
import Testing
import WillItCompile
import WorkerClient

/// The service user the worker runs as; scripts/setup creates it.
let serviceUser = "willitcompile"

typealias HarnessError = TestFailure

/// A real worker daemon, started as the service user on a socket in its own
/// temporary directory, with its own TMPDIR (so its scratch space can be inspected).
final class WorkerProcess {
    let directory: URL
    let socketPath: String
    let environment: [String: String]
    /// The running worker (`setpriv`, which execs it); nil once stopped.
    private(set) var pid: pid_t?
    /// One client for the worker's whole life, so its kept connections meet restarts.
    let client: WorkerClient
    var logPath: String { directory.appendingPathComponent("worker.log").path }
    var scratchParent: String { directory.appendingPathComponent("tmp").path }

    /// The program cache on a tmpfs of its own, as scripts/run mounts it; unmounted in deinit.
    private var mountedProgramCache: String?

    /// - Parameters:
    ///   - environment: added to (and overriding) the defaults below.
    ///   - programCacheOnItsOwnFileSystem: mount a tmpfs on the program cache first, as scripts/run does:
    ///     exactly SANDBOX_PROGRAM_CACHE_MB large when the environment sets it, else 64 MB.
    init(_ environment: [String: String] = [:], directory reuse: URL? = nil, programCacheOnItsOwnFileSystem: Bool = false) throws {
        directory = reuse ?? FileManager.default.temporaryDirectory.appendingPathComponent("wic-worker-test-\(UUID().uuidString.prefix(8))")
        socketPath = directory.appendingPathComponent("worker.sock").path
        client = WorkerClient(socketPath: socketPath, timeoutMilliseconds: 10_000)
        var defaults = [
            "PATH": "/usr/bin:/bin",
            "WORKER_SOCKET": socketPath,
            "WORKER_CATALOG": repositoryRoot.appendingPathComponent("toolchains/catalog").path,
            "WORKER_HOST_ID": "test-\(UUID().uuidString.prefix(8))",
            "TMPDIR": directory.appendingPathComponent("tmp").path,
            "MAX_WORKERS": "2",
            "QUEUE_SIZE": "50",
            "COMPILATION_TIMEOUT_SECONDS": "30",
        ]
        defaults.merge(environment) { $1 }
        self.environment = defaults
        if reuse == nil {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
            for path in [directory.path, scratchParent] {
                try chownToServiceUser(path)
            }
        }
        if programCacheOnItsOwnFileSystem {
            let cache = directory.appendingPathComponent("program-cache").path
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            let account = try account(named: serviceUser)
            let status = try runToExit("/bin/mount", ["-t", "tmpfs", "-o", "size=\(environment["SANDBOX_PROGRAM_CACHE_MB"] ?? "64")m,mode=0700,uid=\(account.uid),gid=\(account.gid)",
                                               "wic-test-program-cache", cache])
            guard status == 0 else { throw HarnessError("mount a tmpfs on \(cache): status \(status)") }
            mountedProgramCache = cache
        }
        try start()
    }

    deinit {
        stop(signal: SIGKILL)
        if let mountedProgramCache { _ = try? runToExit("/bin/umount", [mountedProgramCache]) }
        try? FileManager.default.removeItem(at: directory)
    }

    func start() throws {
        let worker = try Self.workerExecutable()
        var executable = "/usr/bin/setpriv"
        var arguments = ["--reuid=\(serviceUser)", "--regid=\(serviceUser)", "--init-groups", "--", worker]
        // On cgroup v2 the worker must start inside the delegated subtree, as scripts/run starts it.
        if case .unified? = CgroupLayout.detect(), environment["SANDBOX_CGROUPS"] != "false" {
            let leaf = "\(CgroupLayout.detect()!.subtrees[0])/\(CgroupLayout.serviceLeaf)/cgroup.procs"
            arguments = ["-c", #"echo 0 >"$1" && shift && exec "$@""#, "enter-cgroup", leaf, executable] + arguments
            executable = "/bin/sh"
        }
        let pid = try spawn(executable, arguments, environment: environment, outputPath: logPath)
        self.pid = pid
        let deadline = Date() + 30
        while Date() < deadline {
            guard isRunning(pid) else {
                throw HarnessError("worker exited at start: \(log())")
            }
            if case .pong? = try? client.send(.ping) { return }
            usleep(20_000)
        }
        throw HarnessError("worker did not answer ping within 30 s: \(log())")
    }

    /// Sends `signal` and waits for the process to end.
    func stop(signal: Int32 = SIGTERM) {
        guard let pid else { return }
        kill(pid, signal)
        _ = waitForExit(pid)
        self.pid = nil
    }

    /// Runs a second worker with this one's environment (plus `overrides`) until it
    /// exits, and returns its status and what it logged. For start-ups meant to fail:
    /// one that starts after all is killed after 20 s (status 137), so the test fails, not hangs.
    func runAnotherUntilExit(_ overrides: [String: String] = [:], asServiceUser: Bool = true,
                             user: String = serviceUser) throws -> (status: Int32, output: String) {
        let worker = try Self.workerExecutable()
        var arguments = ["-s", "KILL", "20"]
        if asServiceUser {
            arguments += ["/usr/bin/setpriv", "--reuid=\(user)", "--regid=\(try account(named: user).gid)", "--init-groups", "--"]
        }
        return try run("/usr/bin/timeout", arguments + [worker], environment: environment.merging(overrides) { $1 },
                       capturing: .standardError)
    }

    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no log)"
    }

    /// Submits a job and returns its id, or fails the test with the reply.
    func submit(_ source: String, language: Language, compiler: String? = nil, standard: String? = nil,
                flags: [String] = [], link: Bool = true, useCache: Bool = true,
                sourceLocation: SourceLocation = #_sourceLocation) throws -> JobID {
        try submit(CompilationRequest(source: Array(source.utf8), language: language, compiler: compiler, standard: standard,
                                      flags: flags, link: link, useCache: useCache))
    }

    /// Submits a job of `request` as it is, unchecked, and returns its id.
    func submit(_ request: CompilationRequest) throws -> JobID {
        let job = CompilationJob(request: request, createdAt: Date())
        let reply = try client.send(.submit(job))
        switch reply {
        case let .accepted(id): return id
        case let .answered(job, _): return job.id
        default: throw HarnessError("submit refused: \(reply)")
        }
    }

    /// Long-polls until the job is terminal; reads through `store`, or the worker's own memory store.
    func waitForVerdict(_ id: JobID, store: (any JobStore)? = nil, within seconds: Double = 60) throws -> (CompilationJob, CompilationResult) {
        let deadline = Date() + seconds
        while Date() < deadline {
            // Slices well inside the client's 10 s timeout.
            let wait = Duration.milliseconds(Int64(min(5, deadline.timeIntervalSinceNow) * 1000) + 1)
            let found: (CompilationJob, CompilationResult?)?
            if let store {
                found = try store.jobWithResult(id, waitingUpTo: wait)
            } else {
                let reply = try client.send(.readJob(id, waitMilliseconds: wait.roundedUpMilliseconds))
                guard case let .job(job, result) = reply else { throw HarnessError("read_job answered \(reply)") }
                found = job.map { ($0, result) }
            }
            guard let (job, result) = found else { throw HarnessError("job \(id) is not in the store") }
            if job.status.isTerminal, let result { return (job, result) }
        }
        throw HarnessError("job \(id) not terminal within \(seconds) s; worker log: \(log().suffix(2000))")
    }

    func compile(_ source: String, language: Language, compiler: String? = nil, standard: String? = nil,
                 flags: [String] = [], link: Bool = true, useCache: Bool = true,
                 within seconds: Double = 60) throws -> (CompilationJob, CompilationResult) {
        try waitForVerdict(submit(source, language: language, compiler: compiler, standard: standard, flags: flags, link: link,
                                  useCache: useCache),
                           within: seconds)
    }

    func stats() throws -> WorkerStats {
        guard case let .stats(stats) = try client.send(.stats) else { throw HarnessError("no stats") }
        return stats
    }

    /// Processes whose parent is the worker (sandboxes in flight), without the launchers that
    /// wait in the next jobs' cgroups (see `waitingLaunchers`), nor one being started (between
    /// its spawn and its exec it is a copy of the worker, with the worker's command line).
    func children() -> [Int32] {
        guard let pid else { return [] }
        func commandLine(_ process: Int32) -> String? { try? String(contentsOfFile: "/proc/\(process)/cmdline", encoding: .utf8) }
        let worker = commandLine(pid)
        return TestSupport.children(of: pid).filter { !isWaitingSandboxLauncher($0, of: pid) && commandLine($0) != worker }
    }

    /// The processes each compile slot keeps waiting in its next job's cgroup (one per slot at most).
    func waitingLaunchers() -> [Int32] {
        guard let pid else { return [] }
        return TestSupport.children(of: pid).filter { isWaitingSandboxLauncher($0, of: pid) }
    }

    static func workerExecutable() throws -> String {
        var directory = buildDirectory()
        // The test bundle may sit inside a .xctest directory on some layouts.
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("will-it-compile-worker").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw HarnessError("will-it-compile-worker not built next to the tests in \(buildDirectory().path): run `swift build` (scripts/test does)")
    }
}

/// A user's ids, read with getpwnam_r: getpwnam's record is one static buffer shared by every
/// thread, and tests run in parallel (another test's lookup of `nobody` once changed the ids a
/// test was giving the service user's files, midway through).
func account(named name: String) throws -> (uid: uid_t, gid: gid_t) {
    var record = passwd()
    var found: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 1 << 14)
    let code = getpwnam_r(name, &record, &buffer, buffer.count, &found)
    guard code == 0, found != nil else {
        throw HarnessError("user \(name) does not exist\(code == 0 ? "" : " (\(String(cString: strerror(code))))"): run scripts/setup (scripts/test does)")
    }
    return (record.pw_uid, record.pw_gid)
}

func chownToServiceUser(_ path: String) throws {
    let account = try account(named: serviceUser)
    guard chown(path, account.uid, account.gid) == 0 else {
        throw HarnessError("chown \(path): \(String(cString: strerror(errno)))")
    }
}

func serviceUserID() throws -> uid_t {
    try account(named: serviceUser).uid
}

/// The repository's catalog without one toolchain id, a directory readable by the service user.
func catalog(without id: String) throws -> String {
    let original = repositoryRoot.appendingPathComponent("toolchains/catalog")
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-without-\(id)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
    for name in try FileManager.default.contentsOfDirectory(atPath: original.path) where name.hasSuffix(".json") {
        var file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: original.appendingPathComponent(name))) as? [String: Any])
        let toolchains = try #require(file["toolchains"] as? [[String: Any]])
        file["toolchains"] = toolchains.filter { $0["id"] as? String != id }
        try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: "\(path)/\(name)"))
        chmod("\(path)/\(name)", 0o644)
    }
    return path
}
