import Foundation
import Glibc
import POSIXSupport

/// Where the kernel offers the memory, pids and cpu controllers, and so where the service
/// user's delegated subtree (by default `will-it-compile`, made by scripts/setup-cgroups;
/// `SANDBOX_CGROUP_SUBTREE` names another path below each hierarchy's root) lives.
/// memory and pids are required; cpu is used where the host offers it.
public enum CgroupLayout: Sendable, Equatable {
    /// cgroup v2: one hierarchy, mounted here, has memory and pids, and cpu if `cpu`.
    case unified(mount: String, cpu: Bool)
    /// cgroup v1: each controller has its own hierarchy, mounted at these paths (`cpuMount`
    /// nil where the host has no cpu hierarchy).
    case legacy(memoryMount: String, pidsMount: String, cpuMount: String?)

    /// The controllers a job's cgroup is limited by.
    public enum Controller: Sendable, CaseIterable {
        case memory, pids, cpu
    }

    public static let subtreeName = "will-it-compile"
    /// On v2, the leaf of the subtree the worker itself runs in (put there by scripts/run as root):
    /// v2 moves a process only between cgroups below one that the mover may write.
    public static let serviceLeaf = "service"

    /// The delegated subtree (`name`, a path below the hierarchy's root) of the hierarchy that
    /// has `controller`; nil for cpu on a host without it.
    public func subtree(of controller: Controller, named name: String = subtreeName) -> String? {
        let mount: String? = switch (self, controller) {
        case let (.unified(mount, cpu), .cpu): cpu ? mount : nil
        case let (.unified(mount, _), _): mount
        case let (.legacy(memory, _, _), .memory): memory
        case let (.legacy(_, pids, _), .pids): pids
        case let (.legacy(_, _, cpu), .cpu): cpu
        }
        return mount.map { "\($0)/\(name)" }
    }

    /// Whether each job gets its own share of the CPU (weighted equally with the other jobs).
    public var sharesCPU: Bool { subtree(of: .cpu) != nil }

    /// The delegated subtree's directories, each once: one on v2; memory's, pids' and cpu's on v1.
    public var subtrees: [String] { subtrees(named: Self.subtreeName) }

    /// The same for the subtree `name`.
    public func subtrees(named name: String) -> [String] {
        Controller.allCases.compactMap { subtree(of: $0, named: name) }.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Reads the layout from `/proc/self/mountinfo` text. v2 is chosen where one of its
    /// mounts lists both `memory` and `pids` in `cgroup.controllers` (read through
    /// `controllers`, given the mount point); otherwise v1, where both have a hierarchy.
    /// cpu is taken from the same hierarchy (v2) or its own (v1) where there is one.
    /// nil when neither holds.
    public static func detect(mountinfo: String, controllers: (String) -> String?) -> CgroupLayout? {
        var memoryMount: String?
        var pidsMount: String?
        var cpuMount: String?
        for line in mountinfo.split(separator: "\n") {
            // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPEROPTIONS"
            let fields = line.split(separator: " ")
            guard let separator = fields.firstIndex(of: "-"), separator >= 5, fields.count >= separator + 4 else { continue }
            let mountPoint = unescapeMountPoint(fields[4])
            switch fields[separator + 1] {
            case "cgroup2":
                let names = (controllers(mountPoint) ?? "").split(whereSeparator: \.isWhitespace)
                if names.contains("memory"), names.contains("pids") { return .unified(mount: mountPoint, cpu: names.contains("cpu")) }
            case "cgroup":
                let options = fields[separator + 3].split(separator: ",")
                if options.contains("memory") { memoryMount = memoryMount ?? mountPoint }
                if options.contains("pids") { pidsMount = pidsMount ?? mountPoint }
                if options.contains("cpu") { cpuMount = cpuMount ?? mountPoint }
            default:
                continue
            }
        }
        guard let memoryMount, let pidsMount else { return nil }
        return .legacy(memoryMount: memoryMount, pidsMount: pidsMount, cpuMount: cpuMount)
    }

    /// This host's layout.
    public static func detect() -> CgroupLayout? {
        detect(mountinfo: JobCgroup.read("/proc/self/mountinfo")) { JobCgroup.read("\($0)/cgroup.controllers") }
    }

    /// On v2, the directory of the cgroup a process is in, from its `/proc/PID/cgroup` text
    /// (the `0::PATH` line; paths are relative to the mount's root).
    public func unifiedDirectory(procCgroup: String) -> String? {
        guard case let .unified(mount, _) = self else { return nil }
        for line in procCgroup.split(separator: "\n") where line.hasPrefix("0::") {
            let path = line.dropFirst(3)
            return path == "/" ? mount : mount + path
        }
        return nil
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes.
    private static func unescapeMountPoint(_ field: Substring) -> String {
        field.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }
}

/// The cgroup subtree could not be used; says what to do about it.
public struct CgroupError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// The worker's use of the delegated subtree: one cgroup per compile, holding the whole
/// sandbox, with a memory limit and a process/thread limit for all of it together, and
/// (where the host has the cpu controller) one CPU weight for all of it, equal to every
/// other job's: CPU is shared per job, however many processes or sessions a sandbox makes.
public struct SandboxCgroups: Sendable {
    public let layout: CgroupLayout
    /// The delegated subtree's path below each hierarchy's root (`SANDBOX_CGROUP_SUBTREE`).
    public let subtree: String
    let memoryBytes: Int
    let pids: Int
    /// Names this worker's job cgroups (`w<pid>-<job>`), so a later worker can tell
    /// which were left by one that is gone.
    let prefix: String

    private static let advice = "run scripts/setup as root (it creates the subtree; cgroup directories do not survive a reboot), or set SANDBOX_CGROUPS=false to run without whole-sandbox limits"

    /// Finds the subtree, checks that this process can use it (by making, limiting and
    /// removing one cgroup), and removes what workers that are gone left behind.
    public static func open(
        memoryMegabytes: Int, pids: Int, subtree name: String = CgroupLayout.subtreeName, layout detected: CgroupLayout? = CgroupLayout.detect()
    ) throws(CgroupError) -> SandboxCgroups {
        guard let layout = detected else {
            throw CgroupError(description: "this host offers neither cgroup v2 with the memory and pids controllers nor cgroup v1 memory and pids hierarchies; mount them, or set SANDBOX_CGROUPS=false to run without whole-sandbox limits")
        }
        if !layout.sharesCPU {
            // Memory and pids are what keep one job from breaking others; without cpu a job can
            // only slow the others down, so the worker runs, and says so.
            log("this host offers no cpu cgroup controller (no v1 cpu hierarchy, or no cpu in the v2 cgroup.controllers): CPU is not shared per job, so a sandbox with many processes or sessions can slow the compiles beside it", level: .warning)
        }
        for subtree in layout.subtrees(named: name) where access(subtree, W_OK | X_OK) != 0 {
            let problem = errno == ENOENT ? "is missing" : "is not writable by uid \(getuid())"
            throw CgroupError(description: "the delegated cgroup subtree \(subtree) \(problem): \(advice)")
        }
        if case .unified = layout {
            let own = layout.unifiedDirectory(procCgroup: JobCgroup.read("/proc/self/cgroup")) ?? "?"
            let subtree = layout.subtrees(named: name)[0]
            guard own.hasPrefix(subtree + "/") else {
                throw CgroupError(description: "on cgroup v2 the worker must run inside \(subtree) (it runs in \(own)), or it may not move a sandbox into a job's cgroup: scripts/run starts it in \(subtree)/\(CgroupLayout.serviceLeaf), the systemd unit moves it into \(CgroupLayout.serviceLeaf) below its own cgroup")
            }
        }
        let cgroups = SandboxCgroups(layout: layout, subtree: name, memoryBytes: memoryMegabytes << 20, pids: pids, prefix: "w\(getpid())-")
        cgroups.removeLeftovers()
        do {
            try cgroups.create(named: "check").remove()
        } catch {
            throw CgroupError(description: "cannot make a job's cgroup in the delegated subtree: \(error.description): \(advice)")
        }
        return cgroups
    }

    /// False for a process that is gone or a zombie: a worker killed where nothing reaps
    /// orphans (PID 1 in some VMs and containers) stays a zombie, and `kill(pid, 0)` succeeds on it.
    private static func isRunning(_ pid: Int32) -> Bool {
        let stat = JobCgroup.read("/proc/\(pid)/stat")
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].dropFirst().first
        return state != nil && state != "Z" && state != "X"
    }

    /// A fresh cgroup for one compile, its limits set.
    func create(for job: String) throws(CgroupError) -> JobCgroup {
        try create(named: job)
    }

    /// The cgroup named `name` of this worker (not made yet).
    func cgroup(named name: String) -> JobCgroup {
        JobCgroup(layout: layout, subtree: subtree, name: prefix + name)
    }

    private func create(named name: String) throws(CgroupError) -> JobCgroup {
        let cgroup = cgroup(named: name)
        var made: [String] = []
        do {
            for directory in cgroup.directories {
                try systemCall("mkdir \(directory)") { mkdir(directory, 0o755) }
                made.append(directory)
            }
            for (file, value) in limitFiles(of: cgroup) {
                try JobCgroup.write(value, to: file)
            }
        } catch {
            for directory in made.reversed() { rmdir(directory) }
            throw CgroupError(description: error.description)
        }
        return cgroup
    }

    /// The limit files and their values, in the order the kernel needs (v1 refuses a
    /// memory+swap limit below the memory limit). Swap is limited where the kernel offers it.
    /// The CPU weight is the kernel's default, the same for every job, written so that a
    /// subtree whose children lack the cpu controller fails here rather than goes unnoticed.
    func limitFiles(of cgroup: JobCgroup, exists: (String) -> Bool = { access($0, F_OK) == 0 }) -> [(String, String)] {
        let memory = cgroup.directory(of: .memory)!, pidsDirectory = cgroup.directory(of: .pids)!
        var files: [(String, String)]
        switch layout {
        case .unified:
            files = [("\(memory)/memory.max", "\(memoryBytes)")]
            if exists("\(memory)/memory.swap.max") { files.append(("\(memory)/memory.swap.max", "0")) }
        case .legacy:
            files = [("\(memory)/memory.limit_in_bytes", "\(memoryBytes)")]
            if exists("\(memory)/memory.memsw.limit_in_bytes") {
                files.append(("\(memory)/memory.memsw.limit_in_bytes", "\(memoryBytes)"))
            }
        }
        files.append(("\(pidsDirectory)/pids.max", "\(pids)"))
        if let cpu = cgroup.directory(of: .cpu) {
            switch layout {
            case .unified: files.append(("\(cpu)/cpu.weight", "100"))
            case .legacy: files.append(("\(cpu)/cpu.shares", "1024"))
            }
        }
        return files
    }

    /// Job cgroups of workers whose process no longer exists (killed before they could
    /// clean up): whatever still runs in them is killed, and they are removed.
    private func removeLeftovers() {
        let subtrees = layout.subtrees(named: subtree)
        let names = Set(subtrees.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] })
        for name in names where name.hasPrefix("w") {
            guard let dash = name.firstIndex(of: "-"), let pid = Int32(name[name.index(after: name.startIndex)..<dash]),
                  pid == getpid() || !Self.isRunning(pid) else { continue }
            if let problem = JobCgroup(layout: layout, subtree: subtree, name: name).remove() {
                log("could not remove the cgroup \(name) left by a worker that is gone: \(problem)", level: .warning)
            }
        }
    }
}

/// One compile's cgroup.
struct JobCgroup: Sendable {
    let layout: CgroupLayout
    /// The delegated subtree it is made in.
    let subtree: String
    /// `w<worker pid>-<job>`, its directory's name in each hierarchy.
    let name: String

    /// v2: the one directory; v1: memory's, pids' and cpu's (each hierarchy once).
    var directories: [String] { layout.subtrees(named: subtree).map { "\($0)/\(name)" } }

    /// The directory in the hierarchy of `controller`; nil for cpu on a host without it.
    func directory(of controller: CgroupLayout.Controller) -> String? {
        layout.subtree(of: controller, named: subtree).map { "\($0)/\(name)" }
    }

    /// What the kernel counted while the compile ran.
    struct Counters: Equatable {
        /// Processes the kernel's OOM killer killed because the cgroup reached its memory limit.
        var oomKills = 0
        /// Forks and clones refused because the cgroup reached its process limit.
        var pidsRefused = 0
    }

    func counters() -> Counters {
        let memory = directory(of: .memory)!, pids = directory(of: .pids)!
        switch layout {
        case .unified:
            return Counters(oomKills: Self.count("oom_kill", in: "\(memory)/memory.events"),
                            pidsRefused: Self.count("max", in: "\(pids)/pids.events"))
        case .legacy:
            return Counters(oomKills: Self.count("oom_kill", in: "\(memory)/memory.oom_control"),
                            pidsRefused: Self.count("max", in: "\(pids)/pids.events"))
        }
    }

    /// Kills every process still in the cgroup and removes it; waits at most 5 s for the
    /// processes to be gone. nil when done, else what went wrong.
    @discardableResult
    func remove() -> String? {
        if case .unified = layout {
            // cgroup.kill (Linux 5.14) kills the whole cgroup at once, forks in flight included.
            try? Self.write("1", to: "\(directories[0])/cgroup.kill")
        }
        let deadline = ContinuousClock.now + .seconds(5)
        var left = directories
        while true {
            // v1 has no cgroup.kill: kill what is listed, again until nothing is. The pids
            // limit bounds how many a fork loop can make between two rounds.
            for directory in left {
                for pid in Self.processes(in: directory) { kill(pid, SIGKILL) }
            }
            var busy: [String] = []
            // ENOENT: not made (a worker killed while making it) or already removed.
            for directory in left where rmdir(directory) != 0 && errno != ENOENT {
                guard errno == EBUSY else { return "rmdir \(directory): \(String(cString: strerror(errno)))" }
                busy.append(directory)
            }
            left = busy
            if left.isEmpty { return nil }
            if ContinuousClock.now > deadline {
                return "\(left.joined(separator: ", ")) still busy after 5 s (processes \(left.flatMap(Self.processes)))"
            }
            usleep(2_000)
        }
    }

    static func processes(in directory: String) -> [pid_t] {
        read("\(directory)/cgroup.procs").split(separator: "\n").compactMap { pid_t($0) }
    }

    /// The number after `key` in a flat-keyed cgroup file (`memory.events`, `pids.events`, …); 0 if absent.
    static func count(_ key: String, in file: String) -> Int {
        let text = read(file)
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count == 2, words[0] == key { return Int(words[1]) ?? 0 }
        }
        return 0
    }

    /// A cgroup file's text ("" if it cannot be read). Read by hand: Foundation's
    /// `String(contentsOfFile:)` leaks 4 KiB for each file that reports size 0, as every
    /// cgroup file does, and the worker reads a few per compile.
    static func read(_ file: String) -> String {
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes += buffer.prefix(count)
            } else if count == 0 || errno != EINTR {
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ value: String, to file: String) throws(SystemCallError) {
        let descriptor = try systemCall("open \(file)") { open(file, O_WRONLY | O_CLOEXEC) }
        defer { close(descriptor) }
        let bytes = Array(value.utf8)
        _ = try systemCall("write \(value) to \(file)") { Glibc.write(descriptor, bytes, bytes.count) }
    }
}
