import CoreMetrics
import Foundation
import Glibc
import JobStore
import SeccompFilter
import ServiceLog
import ServiceMetrics
import WillItCompile
import WorkerService

/// The compile worker daemon: reads configuration, probes toolchains, opens the
/// job store, serves the socket, and shuts down gracefully on SIGTERM or SIGINT.

// The process a compile slot keeps waiting in the next job's cgroup (SandboxSlot): nothing
// of the worker's start-up runs in it.
if CommandLine.arguments.count >= 2, CommandLine.arguments[1] == SandboxLauncher.flag {
    SandboxLauncher.main(arguments: Array(CommandLine.arguments.dropFirst(2)))
}

func fail(_ message: String) -> Never {
    log(message, level: .critical)
    exit(2)
}

// Handled by sigwait below, in this thread only: block them before any thread starts.
var shutdownSignals = sigset_t()
sigemptyset(&shutdownSignals)
sigaddset(&shutdownSignals, SIGTERM)
sigaddset(&shutdownSignals, SIGINT)
pthread_sigmask(SIG_BLOCK, &shutdownSignals, nil)
signal(SIGPIPE, SIG_IGN)

let configuration: ServiceConfiguration
do {
    try ServiceLog.bootstrap(program: "will-it-compile-worker", environment: ProcessInfo.processInfo.environment)
    configuration = try ServiceConfiguration(environment: ProcessInfo.processInfo.environment)
} catch {
    fail("\(error)")
}
if getuid() == 0 {
    fail("refusing to run as root: bwrap run by root maps the sandbox to host root. Run the worker as the service user (scripts/setup creates `willitcompile`).")
}

// Built once: every sandbox gets a copy of the same program.
let seccomp: SeccompFilter
do {
    seccomp = try SeccompFilter.forSandbox()
} catch {
    fail(error.description)
}
// `--seccomp-filter`: write that program to standard output, for whoever runs the
// `--sandbox-command` directly (it reads it on descriptor 6).
if CommandLine.arguments.count == 2, CommandLine.arguments[1] == "--seccomp-filter" {
    FileHandle.standardOutput.write(Data(seccomp.program))
    exit(0)
}

let toolchains: [Toolchain]
do {
    toolchains = ToolchainProbe.probe(try ToolchainCatalog.load(at: configuration.worker.catalogPath))
} catch {
    fail(error.description)
}
if toolchains.isEmpty { fail("no toolchain of \(configuration.worker.catalogPath) is installed on this host") }
for toolchain in toolchains {
    log("toolchain \(toolchain.spec.language.rawValue)/\(toolchain.spec.id)\(toolchain.isDefault ? " (default)" : ""): \(toolchain.version)")
}

// `--sandbox-command LANGUAGE [COMPILER [STANDARD]]`: print the exact command a compile of that
// language runs (a JSON array), by the language's default compiler and standard or those named,
// for scripts/bench to run the same sandbox without the service.
if (3...5).contains(CommandLine.arguments.count), CommandLine.arguments[1] == "--sandbox-command" {
    let named = Array(CommandLine.arguments.dropFirst(3))
    guard let language = Language(name: CommandLine.arguments[2]),
          let toolchain = toolchains.find(language: language, id: named.first) else {
        let installed = Language.allCases.filter { language in toolchains.contains { $0.spec.language == language } }
        fail("--sandbox-command needs a language with an installed toolchain (\(installed.map(\.rawValue).joined(separator: ", "))) and optionally one of its compilers, not \(CommandLine.arguments.dropFirst(2).joined(separator: " "))")
    }
    if let standard = named.dropFirst().first, !toolchain.spec.standards.contains(standard) {
        fail("--sandbox-command: \(toolchain.spec.id) has no standard \(standard) (it has: \(toolchain.spec.standards.joined(separator: ", ")))")
    }
    let job = CompilationJob(
        request: CompilationRequest(source: [], language: language, compiler: named.first, standard: named.dropFirst().first), createdAt: Date())
    let sandbox = Sandbox(configuration: configuration.sandbox, timeout: .seconds(configuration.compilation.timeoutSeconds),
                          seccomp: seccomp, cgroups: nil)
    let data = try! JSONEncoder().encode(sandbox.command(for: job, with: toolchain))
    print(String(decoding: data, as: UTF8.self))
    exit(0)
}

// Each compile's whole sandbox goes into a cgroup of its own; never silently without.
let cgroups: SandboxCgroups?
if configuration.sandbox.cgroups {
    do {
        cgroups = try SandboxCgroups.open(
            memoryMegabytes: configuration.sandbox.cgroupMemoryMegabytes, pids: configuration.sandbox.pids,
            subtree: configuration.sandbox.cgroupSubtree)
    } catch {
        fail(error.description)
    }
    log("a cgroup per compile (\(cgroups!.layout.subtrees(named: cgroups!.subtree).joined(separator: ", "))): \(configuration.sandbox.cgroupMemoryMegabytes) MB, \(configuration.sandbox.pids) processes and threads")
} else {
    cgroups = nil
    log("SANDBOX_CGROUPS=false: sandboxes run without whole-sandbox memory and process limits; RLIMIT_NPROC (SANDBOX_PROCESSES=\(configuration.sandbox.processes)) counts all of the service user's processes", level: .warning)
}

let store: any JobStore
if configuration.redis.enabled {
    store = RedisJobStore(configuration: configuration.redis)
    log("jobs in Redis at \(configuration.redis.address), TTL \(configuration.redis.jobTTLHours) h")
} else {
    store = MemoryJobStore(ttlHours: configuration.redis.jobTTLHours, maxBytes: configuration.worker.memoryStoreMegabytes << 20)
    log("REDIS_ENABLED=false: jobs live in this worker's memory; they are lost when it stops, and only this one host can serve them")
}

let timeout = Duration.seconds(configuration.compilation.timeoutSeconds)
let sandbox = Sandbox(configuration: configuration.sandbox, timeout: timeout, seccomp: seccomp, cgroups: cgroups)
if toolchains.contains(where: { $0.spec.programCache != nil }) {
    do {
        try sandbox.prepareProgramCache()
    } catch {
        fail("\(error)")
    }
}
// Before anything measures: the worker keeps the host's metrics (the responders' too).
let metrics = HostMetrics()
MetricsSystem.bootstrap(metrics.factory)
let daemon = WorkerDaemon(configuration: configuration, store: store, toolchains: toolchains, sandbox: sandbox, metrics: metrics)
let server = SocketServer(path: configuration.worker.socketPath) { daemon.handle($0) }
do {
    try server.start()
} catch {
    fail(error.description)
}
daemon.start()
log("listening on \(configuration.worker.socketPath): \(configuration.worker.maxWorkers) slot(s), queue of \(configuration.worker.queueSize), host \(configuration.worker.hostID)")

var received: Int32 = 0
sigwait(&shutdownSignals, &received)
log("signal \(received): no new jobs; finishing the ones in hand")
server.stop()
daemon.shutDown(waitingAtMost: timeout + .seconds(5))
store.close()
log("stopped")
exit(0)
