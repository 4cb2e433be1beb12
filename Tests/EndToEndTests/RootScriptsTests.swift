import Foundation
import Glibc
import TestSupport
import Testing

/// scripts/run and scripts/stop run as root; the services run as the service user.
/// Nothing the service user can plant makes the scripts write or signal elsewhere.
@Suite(.serialized) struct RootScriptsTests {
    /// A run directory as an earlier version left it, all the service user's, with
    /// links to root's files where scripts/run writes logs, configuration and pids.
    @Test(.runningTimeLimit(minutes: 2))
    func scriptsRunNeverWritesThroughWhatTheServiceUserPlanted() throws {
        let directory = Stack.freshRunDirectory()
        let victims = try RootFiles(count: 4)
        defer {
            victims.remove()
            try? FileManager.default.removeItem(atPath: directory)
        }
        try asServiceUser("""
            mkdir -p \(directory)/logs \(directory)/pids \(directory)/nginx \(directory)/redis &&
            ln -s \(victims.paths[0]) \(directory)/logs/worker.log &&
            ln -s \(victims.paths[1]) \(directory)/nginx/will-it-compile.conf &&
            ln -s \(victims.paths[2]) \(directory)/pids/redis &&
            ln -s \(victims.paths[3]) \(directory)/logs/nginx-error.log
            """)
        let started = Result { try Stack(runDirectory: directory) }
        try victims.expectUntouched()
        let stack = try started.get()
        #expect(try stack.request("GET", "/health").status == 200)
        for sub in ["logs", "pids", "nginx"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(sub)")
            #expect(attributes[.type] as? FileAttributeType == .typeDirectory && attributes[.ownerAccountID] as? Int == 0,
                    "\(sub) is root's own directory now: \(attributes)")
        }

        // While the stack runs, the service user can plant nothing where root writes.
        for attempt in [
            "ln -s \(victims.paths[0]) \(directory)/logs/redis.log",
            "echo 1 > \(directory)/pids/worker",
            "mv \(directory)/pids \(directory)/pids.old",
            "mv \(directory)/nginx \(directory)/nginx.old && mkdir \(directory)/nginx",
            "rm -f \(directory)/nginx/nginx.conf",
        ] {
            #expect(throws: StackError.self, "the service user could: \(attempt)") { try asServiceUser(attempt) }
        }
        try stack.stop()
        try stack.start()
        #expect(try stack.request("GET", "/health").status == 200)
        try victims.expectUntouched()
    }

    /// The run directory itself a link the service user made (to a directory of
    /// root's): scripts/run refuses it, and neither chowns nor chmods the target.
    @Test(.runningTimeLimit(minutes: 1))
    func aRunDirectoryThatIsALinkIsRefused() throws {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("wic-root-dir-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let link = Stack.freshRunDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: link)
            try? FileManager.default.removeItem(atPath: target)
        }
        try asServiceUser("ln -s \(target) \(link)")
        #expect(throws: StackError.self) { try Stack(runDirectory: link) }
        let attributes = try FileManager.default.attributesOfItem(atPath: target)
        #expect(attributes[.ownerAccountID] as? Int == 0 && attributes[.groupOwnerAccountID] as? Int == 0
                && attributes[.posixPermissions] as? Int == 0o700, "\(attributes)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty, "nothing was created in it")
    }

    /// A service that exits while the stack starts (nginx on a port another program holds) is
    /// named at once, and scripts/run stops what it started instead of leaving it running.
    @Test(.runningTimeLimit(minutes: 2))
    func aServiceThatCannotStartIsNamedAtOnceAndNothingIsLeftRunning() throws {
        let (held, port) = try boundLoopbackSocket()
        defer { close(held) }
        #expect(listen(held, 1) == 0)
        let runDirectory = Stack.freshRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: runDirectory) }
        var environment = ProcessInfo.processInfo.environment
        environment.merge(["WIC_RUN_DIR": runDirectory, "WIC_BIN_DIR": buildDirectory().path, "PORT": String(port),
                           "WIC_SKIP_SETUP": "1", "MAX_WORKERS": "1"]) { $1 }
        environment.removeValue(forKey: "REDIS_ADDR")
        let started = Date()
        let (status, output) = try runScript("run", ["--detach"], environment: environment)
        #expect(status != 0)
        #expect(output.contains("nginx exited while the stack started"), "\(output)")
        #expect(Date().timeIntervalSince(started) < 30, "named after \(Date().timeIntervalSince(started)) s, not when the wait for /health ran out")
        // Every service scripts/run starts inherits WIC_RUN_DIR: none may still run.
        let marker = Array("WIC_RUN_DIR=\(runDirectory)\u{0}".utf8)
        func leftOver() -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter { pid in
                guard isRunning(pid), let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
                return Array(environ).firstRange(of: marker) != nil
            }
        }
        try waitUntil("every service scripts/run started is gone", within: 10) { leftOver().isEmpty }
    }

    /// Pid files naming a root process, and a process of the service user that is
    /// not the stack's (it started at another time): scripts/stop signals neither,
    /// nor does scripts/run, which stops what the pid files name before it starts.
    @Test(.runningTimeLimit(minutes: 2))
    func scriptsStopSignalsOnlyTheServicesTheStackStarted() throws {
        let directory = Stack.freshRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rootProcess = try spawn("/bin/sleep", ["300"], environment: [:], outputPath: "/dev/null")
        let serviceProcess = try spawn("/usr/bin/setpriv", ["--reuid=willitcompile", "--regid=willitcompile", "--init-groups", "--", "/bin/sleep", "300"],
                                       environment: [:], outputPath: "/dev/null")
        defer {
            for pid in [rootProcess, serviceProcess] { kill(pid, SIGKILL); _ = waitForExit(pid) }
        }
        try waitUntil("the sleeps run, one as the service user") { try processUID(serviceProcess) != 0 }
        let rootStart = try processStartTime(rootProcess)
        let serviceStart = try processStartTime(serviceProcess)
        var environment = ProcessInfo.processInfo.environment
        environment["WIC_RUN_DIR"] = directory

        // A run directory of root's, as scripts/run leaves it, whose pids name other processes
        // (a pid reused since, or written by hand).
        try FileManager.default.createDirectory(atPath: "\(directory)/pids", withIntermediateDirectories: true)
        chmod(directory, 0o1770)
        for (name, text) in [("worker", "\(rootProcess)"), ("nginx", "\(rootProcess) \(rootStart)"),
                             ("redis", "\(serviceProcess) \(serviceStart + 1)"), ("stack", "\(rootProcess)")] {
            try "\(text)\n".write(toFile: "\(directory)/pids/\(name)", atomically: false, encoding: .utf8)
        }
        let (status, output) = try runScript("stop", [directory], environment: environment)
        #expect(status == 0, "\(output)")
        #expect(output.contains("not signalled"), "\(output)")
        #expect(isRunning(rootProcess) && isRunning(serviceProcess), "scripts/stop signalled a process it did not start")

        try "\(rootProcess)\n".write(toFile: "\(directory)/pids/worker", atomically: false, encoding: .utf8)
        try "\(rootProcess)\n".write(toFile: "\(directory)/pids/stack", atomically: false, encoding: .utf8)
        let stack = try Stack(runDirectory: directory)
        #expect(try stack.request("GET", "/health").status == 200)
        #expect(isRunning(rootProcess) && isRunning(serviceProcess), "scripts/run signalled a process it did not start")
        let worker = try stack.pid(of: "worker")
        try stack.stop()
        #expect(!isRunning(worker), "the stack's own worker is stopped")
        #expect(isRunning(rootProcess) && isRunning(serviceProcess))
    }

    /// A run directory the service user made (an earlier version's, or one in /tmp made
    /// before root's first run) whose pids/ is a link to a directory of root's: scripts/stop
    /// neither signals, nor removes the files named like pid files there.
    @Test(.runningTimeLimit(minutes: 1))
    func scriptsStopTrustsOnlyARunDirectoryOfRootsOwn() throws {
        let directory = Stack.freshRunDirectory()
        let victims = FileManager.default.temporaryDirectory.appendingPathComponent("wic-root-pids-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: victims, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: victims)
        }
        for name in ["nginx", "responders", "worker", "redis", "stack"] {
            try "root's own file\n".write(toFile: "\(victims)/\(name)", atomically: false, encoding: .utf8)
        }
        try asServiceUser("mkdir \(directory) && ln -s \(victims) \(directory)/pids")
        var environment = ProcessInfo.processInfo.environment
        environment["WIC_RUN_DIR"] = directory
        let (status, output) = try runScript("stop", [directory], environment: environment)
        #expect(status != 0 && output.contains("not a directory of root's own"), "\(output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victims).sorted() == ["nginx", "redis", "responders", "stack", "worker"])
    }

    /// A link the service user plants where the Go program cache is mounted (before the
    /// run directory is root's, or where scripts/run does not mount it) never makes
    /// scripts/run or scripts/stop mount or unmount anything else.
    @Test(.runningTimeLimit(minutes: 2))
    func aProgramCacheLinkNeverMovesAMount() throws {
        let victim = FileManager.default.temporaryDirectory.appendingPathComponent("wic-victim-mount-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: false)
        try #require(try runToExit("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "wic-victim", victim]) == 0, "mount a tmpfs on \(victim)")
        defer {
            _ = try? runToExit("/bin/umount", [victim])
            try? FileManager.default.removeItem(atPath: victim)
        }
        func victimMounted() throws -> Bool { try runToExit("/bin/mountpoint", ["-q", victim]) == 0 }

        // An earlier version's run directory, all the service user's, with the link in it.
        let directory = Stack.freshRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try asServiceUser("mkdir -p \(directory)/pids && ln -s \(victim) \(directory)/program-cache && touch \(directory)/pids/stack")
        let stack = try Stack(runDirectory: directory)
        #expect(try victimMounted(), "scripts/run unmounted what the link pointed to")
        try stack.stop()
        #expect(try victimMounted(), "scripts/stop unmounted what the link pointed to")

        // The cache elsewhere: the run directory has no program-cache of root's, and the
        // service user may create entries in the run directory.
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("wic-cache-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let elsewhere = try Stack(["SANDBOX_PROGRAM_CACHE_DIR": cache])
        try asServiceUser("ln -s \(victim) \(elsewhere.runDirectory)/program-cache")
        try elsewhere.stop()
        #expect(try victimMounted(), "scripts/stop unmounted what the link pointed to")
    }

    /// A directory above the run directory that the service user owns or may write
    /// (sticky or not) would let it swap the run directory after root checked it:
    /// scripts/run refuses such a place.
    @Test(.runningTimeLimit(minutes: 1), arguments: ["sticky parent", "writable grandparent"])
    func aRunDirectoryUnderADirectoryTheServiceUserControlsIsRefused(_ layout: String) throws {
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("wic-user-dir-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: top) }
        let directory: String
        if layout == "sticky parent" {
            try asServiceUser("mkdir -m 1777 \(top)")
            directory = "\(top)/run"
        } else {
            try asServiceUser("mkdir -m 755 \(top)")
            try FileManager.default.createDirectory(atPath: "\(top)/x", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            directory = "\(top)/x/run"
        }
        #expect(throws: StackError.self) { try Stack(runDirectory: directory) }
        #expect(!FileManager.default.fileExists(atPath: directory), "nothing was created there")
    }
}

/// Runs a shell command as the service user; throws when it fails.
private func asServiceUser(_ command: String) throws {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("wic-as-service-\(UUID().uuidString.prefix(8)).log").path
    defer { try? FileManager.default.removeItem(atPath: log) }
    let pid = try spawn("/usr/bin/setpriv", ["--reuid=willitcompile", "--regid=willitcompile", "--init-groups", "--", "/bin/sh", "-c", command],
                        environment: ["PATH": "/usr/bin:/bin"], outputPath: log)
    let status = waitForExit(pid)
    guard status == 0 else {
        throw StackError("`\(command)` as the service user failed (\(status)): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}

/// Files of root's, mode 0600, that nothing may change.
private struct RootFiles {
    let paths: [String]
    let content = "root's own file\n"

    init(count: Int) throws {
        paths = (0..<count).map { _ in FileManager.default.temporaryDirectory.appendingPathComponent("wic-root-file-\(UUID().uuidString.prefix(8))").path }
        for path in paths {
            try content.write(toFile: path, atomically: false, encoding: .utf8)
            chmod(path, 0o600)
        }
    }

    func expectUntouched(sourceLocation: SourceLocation = #_sourceLocation) throws {
        for path in paths {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == content, "\(path) was written", sourceLocation: sourceLocation)
            #expect(attributes[.ownerAccountID] as? Int == 0 && attributes[.posixPermissions] as? Int == 0o600,
                    "\(path) changed owner or mode: \(attributes)", sourceLocation: sourceLocation)
        }
    }

    func remove() {
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot.
private func processStartTime(_ pid: pid_t) throws -> Int {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    guard let close = stat.lastIndex(of: ")"),
          let start = stat[stat.index(after: close)...].split(separator: " ").dropFirst(19).first.flatMap({ Int($0) }) else {
        throw StackError("unreadable /proc/\(pid)/stat: \(stat)")
    }
    return start
}

/// The real uid of a process.
private func processUID(_ pid: pid_t) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
          let uid = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ Int($0) }) else {
        throw StackError("no Uid in /proc/\(pid)/status")
    }
    return uid
}
