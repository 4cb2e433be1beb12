import Foundation
import Glibc
public import SeccompFilter
public import WillItCompile
import POSIXSupport

/// What one sandboxed compile came to.
public struct CompileVerdict: Sendable, Equatable {
    public var status: JobStatus
    public var result: CompilationResult
}

/// Runs one compile inside bubblewrap with hard limits (see docs/SANDBOX.md).
///
/// The sandbox sees only: read-only toolchain paths, a fresh size-limited tmpfs
/// as `/work` holding the source, a fresh `/tmp`, `/proc`, `/dev/null` and
/// `/dev/urandom`. No network, no host files, no variable of the worker's
/// environment. Nothing compiled is ever run.
public struct Sandbox: Sendable {
    public let configuration: SandboxConfiguration
    public let timeout: Duration
    /// The system-call filter every sandboxed process runs under.
    public let seccomp: SeccompFilter
    /// The limits every compile here runs under, which key its verdicts.
    public let limits: CompileLimits

    /// Paths every toolchain needs: compilers, assemblers, linkers, their libraries and headers.
    static let commonBinds = ["/usr/bin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/include", "/etc/ld.so.cache"]
    static let workspace = "/work"
    static let output = "/work/out"

    /// The descriptors the sandbox's bwrap gets: the source to copy into the workspace, the
    /// pipes it writes its status (`--json-status-fd`) and the compiled file's head to, and
    /// the seccomp filter.
    static let sourceDescriptor: Int32 = 3
    static let statusDescriptor: Int32 = 4
    static let artifactDescriptor: Int32 = 5
    static let seccompDescriptor: Int32 = 6
    /// A project's files are descriptors 7 and up, in the order of its `files`, in place of the source's 3.
    static let firstFileDescriptor: Int32 = 7

    /// Where each compile gets its own cgroup; nil only when the operator turned cgroups off.
    let cgroups: SandboxCgroups?

    /// The program cache of Go-like toolchains (`program_cache` in the catalog), shared by
    /// every compile of this worker so it knows which entries running compiles hold.
    let programCacheStore: ProgramCache

    public init(configuration: SandboxConfiguration, timeout: Duration, seccomp: SeccompFilter, cgroups: SandboxCgroups?) {
        self.configuration = configuration
        self.timeout = timeout
        self.seccomp = seccomp
        self.cgroups = cgroups
        limits = CompileLimits(sandbox: configuration, timeout: timeout)
        programCacheStore = ProgramCache(root: configuration.programCacheDirectory, maxBytes: configuration.programCacheMegabytes << 20,
                                         maxEntries: configuration.programCacheEntries)
    }

    /// A compile slot's way into per-job cgroups, which keeps the next job's ready; nil
    /// when cgroups are off.
    public func makeSlot(named name: String) -> SandboxSlot? {
        cgroups.map { SandboxSlot(cgroups: $0, name: name) }
    }

    /// Compiles `job`'s source with `toolchain`, in `slot`'s prepared cgroup (without a slot,
    /// in one made now). Never throws: a failure of the service becomes an `error` verdict
    /// that says what happened.
    public func compile(_ job: CompilationJob, with toolchain: Toolchain, in slot: SandboxSlot? = nil) -> CompileVerdict {
        let started = ContinuousClock.now
        func verdict(_ status: JobStatus, exitCode: Int, stdout: String = "", stderr: String = "", error: String = "",
                     artifact: String = "") -> CompileVerdict {
            let elapsed = ContinuousClock.now - started
            let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            return CompileVerdict(status: status, result: CompilationResult(
                jobID: job.id, success: status != .timeout && status != .error, compiled: status == .completed,
                stdout: stdout, stderr: stderr, exitCode: exitCode, durationNanoseconds: nanoseconds, error: error,
                artifact: artifact))
        }
        guard let target = toolchain.target(architecture: job.request.architecture, os: job.request.os) else {
            return verdict(.error, exitCode: -1, error: "toolchain \(toolchain.spec.id) cannot build for \(job.request.architecture ?? "x86_64")/\(job.request.os ?? "linux") on this host")
        }
        guard FileManager.default.isExecutableFile(atPath: toolchain.spec.executable) else {
            return verdict(.error, exitCode: -1, error: "toolchain \(toolchain.spec.id) is not installed on this host any more (\(toolchain.spec.executable) missing)")
        }
        if let refusal = job.request.workspaceRefusal {
            return verdict(.error, exitCode: -1, error: "the job's files cannot be placed in the workspace: \(refusal)")
        }
        // The sources and the filter are memory files: bwrap copies the sources into the workspace
        // and reads the filter from them, and none is ever on the host's disk.
        var sources: [Int32: Int32] = [:]
        defer { sources.values.forEach { close($0) } }
        do {
            if job.request.isProject {
                for (offset, file) in job.request.files.enumerated() {
                    sources[Self.firstFileDescriptor + Int32(offset)] = try memoryFile(named: "source", holding: file.content)
                }
            } else {
                sources[Self.sourceDescriptor] = try memoryFile(named: "source", holding: job.request.source)
            }
        } catch {
            return verdict(.error, exitCode: -1, error: "could not prepare the workspace: \(error)")
        }
        let filter: Int32
        do {
            // A fresh copy for each bwrap, which reads it to the end.
            filter = try memoryFile(named: "seccomp", holding: seccomp.program)
        } catch {
            return verdict(.error, exitCode: -1, error: "could not prepare the sandbox: \(error)")
        }
        defer { close(filter) }

        // The sandbox's first process, already in the job's cgroup: nothing of it runs outside.
        var launch: (cgroup: JobCgroup, process: PreparedProcess)?
        if cgroups != nil {
            do {
                launch = try (slot ?? makeSlot(named: job.id.description))?.take()
            } catch {
                return verdict(.error, exitCode: -1, error: "could not create the job's cgroup: \(error)")
            }
        }
        let cgroup = launch?.cgroup
        let cache = toolchain.spec.programCache.flatMap { _ in programCache(for: job, toolchain: toolchain, target: target) }
        let command = ["/usr/bin/prlimit"] + arguments(for: job, toolchain: toolchain, target: target, programCache: cache?.path)
        let outcome: ProcessOutcome
        do {
            outcome = try ProcessRunner.run(
                executable: command[0], arguments: Array(command.dropFirst()), environment: [],
                descriptors: sources.merging([Self.seccompDescriptor: filter]) { $1 },
                collecting: [1: configuration.outputLimitBytes, 2: configuration.outputLimitBytes,
                             Self.statusDescriptor: 1 << 16, Self.artifactDescriptor: 4096],
                // The slot's next job gets its cgroup and launcher while this one compiles: with
                // jobs waiting, the move into the cgroup would otherwise be on the next one's path.
                timeout: timeout, in: launch?.process, started: { slot?.prepare() })
        } catch {
            launch?.process.discard()
            cgroup?.remove()
            if let cache { programCacheStore.release(cache, keep: false) }
            return verdict(.error, exitCode: -1, error: "sandbox failed to start: \(error)")
        }
        let counters = cgroup?.counters() ?? JobCgroup.Counters()
        if let cgroup, let slot {
            slot.retire(cgroup)
        } else if let problem = cgroup?.remove() {
            log("job \(job.id): could not remove its cgroup: \(problem)", level: .warning)
        }
        let memoryLimit = "the sandbox's processes together reached its memory limit of \(configuration.cgroupMemoryMegabytes) MB (SANDBOX_CGROUP_MEMORY_MB), and the kernel killed \(counters.oomKills == 1 ? "one" : "\(counters.oomKills)") of them"
        let processLimit = "the sandbox reached its limit of \(configuration.pids) processes and threads (SANDBOX_PIDS)"
        let stdout = CompilerOutput.text(from: outcome.stdout.bytes, omittedByteCount: outcome.stdout.omitted)
        // What a person reads (rustc's JSON becomes its human text) and the messages in it.
        let messages = DiagnosticParser(dialect: DiagnosticDialect(toolchain.spec), workspace: Self.workspace)
            .read(CompilerOutput.text(from: outcome.stderr.bytes, omittedByteCount: outcome.stderr.omitted))
        let stderr = messages.stderr
        let status = BwrapStatus(outcome.collected[Self.statusDescriptor]?.bytes ?? [])

        let decided = withDiagnostics(decide())
        // Only a compile that ran to its end leaves a cache worth keeping; a timed-out, killed or
        // starved one may have left anything, up to the whole cache.
        if let cache {
            programCacheStore.release(cache, keep: [.completed, .failed].contains(decided.status) && counters.oomKills == 0)
        }
        return decided

        /// The compiler's messages added to a verdict of the compiler's; an `error` verdict's
        /// stderr, if any, is the sandbox's.
        func withDiagnostics(_ verdict: CompileVerdict) -> CompileVerdict {
            guard verdict.status != .error else { return verdict }
            var verdict = verdict
            var diagnostics = messages.diagnostics
            // Without cgo, `go build` leaves a project's file that imports "C" out and builds the
            // rest: the project as written was not compiled, so it did not compile.
            let cgo = GoCgoImport.diagnostic(for: job.request, sourceFile: toolchain.spec.sourceFile)
            if cgo != nil, verdict.status == .completed, job.request.isProject {
                verdict.status = .failed
                verdict.result.compiled = false
                verdict.result.artifact = ""
            }
            if verdict.status == .failed, let cgo {
                diagnostics.insert(cgo, at: 0)
                if verdict.result.error.isEmpty { verdict.result.error = GoCgoImport.notOffered }
            }
            let summary = DiagnosticSummary(diagnostics)
            verdict.result.diagnostics = summary.diagnostics
            verdict.result.errorCount = summary.errorCount
            verdict.result.warningCount = summary.warningCount
            return verdict
        }

        func decide() -> CompileVerdict {
            switch outcome.termination {
            case .timedOut:
                return verdict(.timeout, exitCode: -1, stdout: stdout, stderr: stderr,
                               error: "compilation exceeded the time limit of \(timeout)")
            case .signaled where counters.oomKills > 0:
                return verdict(.failed, exitCode: -1, stdout: stdout, stderr: stderr, error: memoryLimit)
            case let .signaled(signal):
                return verdict(.error, exitCode: -1, stdout: stdout, stderr: stderr,
                               error: "sandbox killed by signal \(signal)")
            case let .exited(code):
                guard status.childStarted else {
                    return verdict(.error, exitCode: Int(code), stdout: stdout, stderr: stderr,
                                   error: "sandbox failed to start: \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
                }
                let exitCode = Int(status.exitCode ?? code)
                switch exitCode {
                case 0:
                    return verdict(.completed, exitCode: 0, stdout: stdout, stderr: stderr,
                                   artifact: ArtifactDescription.describe(outcome.collected[Self.artifactDescriptor]?.bytes ?? []))
                case _ where counters.oomKills > 0:
                    return verdict(.failed, exitCode: exitCode, stdout: stdout, stderr: stderr, error: memoryLimit)
                case 128 + Int(SIGXCPU), 128 + Int(SIGKILL):
                    return verdict(.timeout, exitCode: exitCode, stdout: stdout, stderr: stderr,
                                   error: "compilation exceeded the CPU time limit of \(configuration.cpuSeconds) s")
                default:
                    return verdict(.failed, exitCode: exitCode, stdout: stdout, stderr: stderr,
                                   error: counters.pidsRefused > 0 ? processLimit : "")
                }
            }
        }
    }

    /// After a successful compile, the first 4 KiB of the output (`out`, or `out.exe`
    /// where MinGW adds the suffix) go to descriptor 5, so the result can say what was built.
    static let reportArtifact = """
        "$@"; status=$?
        if [ $status -eq 0 ]; then for f in /work/out /work/out.exe; do [ -f "$f" ] && head -c 4096 "$f" >&\(Self.artifactDescriptor) && break; done; fi
        exit $status
        """

    /// The whole command one compile runs (without a program cache), for benchmarks
    /// and tests that run it directly: the source must be open as descriptor 3,
    /// descriptors 4 and 5 must be writable, and descriptor 6 must hold the seccomp
    /// filter (`will-it-compile-worker --seccomp-filter` prints it).
    public func command(for job: CompilationJob, with toolchain: Toolchain) -> [String] {
        let target = toolchain.target(architecture: job.request.architecture, os: job.request.os) ?? .host
        return ["/usr/bin/prlimit"] + arguments(for: job, toolchain: toolchain, target: target)
    }

    /// prlimit's arguments, then bwrap's, then the compiler's.
    func arguments(for job: CompilationJob, toolchain: Toolchain, target: TargetSpec = .host, programCache: String? = nil) -> [String] {
        let megabyte = 1 << 20
        let addressSpace = (toolchain.spec.addressSpaceMegabytes ?? configuration.addressSpaceMegabytes) * megabyte
        var arguments = [
            "--cpu=\(configuration.cpuSeconds)", "--as=\(addressSpace)",
            "--fsize=\(configuration.fileSizeMegabytes * megabyte)",
        ]
        // In a job cgroup, pids.max limits the sandbox's processes. RLIMIT_NPROC counts every
        // process of the service user on the host, so it would let one job starve the others.
        if cgroups == nil { arguments.append("--nproc=\(configuration.processes)") }
        arguments += [
            "--core=0", "--nofile=256", "--",
            configuration.bwrapPath,
            // --disable-userns: no namespace the sandbox could make would give it capabilities
            // (bwrap 0.8 wants --unshare-user spelt out with it). The seccomp filter on
            // descriptor 6 refuses the calls that make one, too.
            "--unshare-all", "--unshare-user", "--disable-userns", "--seccomp", "\(Self.seccompDescriptor)",
            "--die-with-parent", "--new-session", "--hostname", "sandbox",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", Self.workspace,
            "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
        ]
        for (name, value) in toolchain.spec.environment.sorted(by: { $0.key < $1.key }) {
            arguments += ["--setenv", name, value]
        }
        for path in Self.commonBinds + toolchain.spec.binds + target.binds {
            arguments += ["--ro-bind-try", path, path]
        }
        arguments += [
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            // Single device nodes, not `--dev`: bwrap's --dev makes a nested user
            // namespace whose map hides the host uid from the sandbox.
            "--dev-bind", "/dev/null", "/dev/null", "--dev-bind", "/dev/urandom", "/dev/urandom",
            "--size", String(configuration.workspaceMegabytes * megabyte), "--tmpfs", "/tmp",
        ]
        if let programCache, let mountPoint = toolchain.spec.programCache {
            arguments += ["--bind", programCache, mountPoint]
        }
        arguments += ["--size", String(configuration.workspaceMegabytes * megabyte), "--tmpfs", Self.workspace]
        arguments += Self.workspaceFiles(of: job.request, sourceFile: toolchain.spec.sourceFile)
        arguments += [
            "--chdir", Self.workspace,
            "--json-status-fd", "\(Self.statusDescriptor)",
            "--",
        ]
        let sources = job.request.isProject ? job.request.translationUnits : [toolchain.spec.sourceFile]
        return arguments + ["/bin/sh", "-c", Self.reportArtifact, "sh"] + toolchain.spec.commandLine(
            standard: job.request.standard, flags: job.request.flags, link: job.request.link, target: target,
            sources: sources.map { "\(Self.workspace)/\($0)" }, output: Self.output)
    }

    /// bwrap's arguments that put the request's sources into the fresh workspace tmpfs: the single
    /// source from descriptor 3, or each file of a project from its descriptor, after `--dir` for
    /// each of its folders. The names passed `ProjectFile.problem(withName:)`: relative, without
    /// `.` or `..`, so each lands inside the workspace, where nothing else (no link) exists yet.
    static func workspaceFiles(of request: CompilationRequest, sourceFile: String) -> [String] {
        guard request.isProject else { return ["--file", "\(sourceDescriptor)", "\(workspace)/\(sourceFile)"] }
        var arguments: [String] = []
        var made: Set<String> = []
        for (offset, file) in request.files.enumerated() {
            for folder in file.folders where made.insert(folder).inserted {
                arguments += ["--dir", "\(workspace)/\(folder)"]
            }
            arguments += ["--file", "\(firstFileDescriptor + Int32(offset))", "\(workspace)/\(file.name)"]
        }
        return arguments
    }

    /// Creates the program cache's root if missing, and trims what an earlier worker left
    /// to the low-water mark; throws, naming the problem, when it exists but is not a
    /// directory of the worker's own that no one else can write.
    public func prepareProgramCache() throws {
        guard configuration.programCacheEntries > 0, configuration.programCacheMegabytes > 0 else { return }
        try programCacheStore.prepareRoot()
        programCacheStore.trim()
    }

    /// What names the verdict of compiling `request` with `toolchain` in this sandbox, its limits included.
    public func verdictKey(for request: CompilationRequest, with toolchain: Toolchain) -> VerdictKey {
        VerdictKey(request: request, toolchain: toolchain, limits: limits)
    }

    /// The persistent cache directory of exactly this program with exactly these
    /// settings (its SHA-256 names it), created if new and held for this compile. nil
    /// when caching is off or the directory cannot be used safely (the compile then runs uncached).
    func programCache(for job: CompilationJob, toolchain: Toolchain, target: TargetSpec) -> ProgramCache.Lease? {
        guard configuration.programCacheEntries > 0, configuration.programCacheMegabytes > 0 else { return nil }
        var identity = CanonicalForm(tag: "will-it-compile program cache 1")
        identity.append("language", toolchain.spec.language.rawValue)
        identity.append("toolchain", toolchain.spec.id)
        identity.append("toolchain_version", toolchain.version)
        identity.append("standard", job.request.standard ?? "")
        identity.append("target", target.name)
        identity.append("flags", list: job.request.flags)
        identity.append("link", job.request.link)
        identity.append("source", job.request.source)
        identity.appendProject(of: job.request)
        return programCacheStore.acquire(identity.sha256Hex)
    }
}

/// bwrap's `--json-status-fd` stream: `{"child-pid": N}` once the sandbox is up,
/// `{"exit-code": N}` when its command ended.
struct BwrapStatus {
    var childStarted = false
    var exitCode: Int32?

    init(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        childStarted = text.contains("\"child-pid\"")
        if let range = text.range(of: #""exit-code"\s*:\s*(\d+)"#, options: .regularExpression) {
            exitCode = Int32(text[range].split(separator: ":").last!.trimmingCharacters(in: .whitespaces))
        }
    }
}
