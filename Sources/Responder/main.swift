import CoreMetrics
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization
import HTTPAPI
import JobStore
import Logging
import POSIXSupport
import ServiceLog
import ServiceMetrics
import WillItCompile
import WorkerClient

/// A FastCGI responder: started by spawn-fcgi (listening socket on descriptor 0),
/// kept alive by multiwatch, serving the API with `FCGI_THREADS` threads.
/// Only FoundationEssentials is linked, not Foundation: that keeps each of the
/// pool's processes several megabytes smaller.

/// The process's log; made at each use, so that it is ServiceLog's once that is bootstrapped.
func log() -> Logger {
    Logger(label: "will-it-compile-responder")
}

func fail(_ message: String) -> Never {
    log().critical("\(message)")
    exit(2)
}

/// Runs `body` on a new thread. Not detached: `pthread_kill` stays safe on a
/// thread that has ended, which the stop relies on.
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let status = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    guard status == 0 else { fail("cannot start a thread: \(String(cString: strerror(status)))") }
    return thread
}

signal(SIGPIPE, SIG_IGN)
// multiwatch stops its children with SIGUSR1 (SIGTERM on a second request); a
// signal thread turns either into a graceful stop, so block them everywhere else.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
for stopSignal in [SIGTERM, SIGUSR1, SIGINT] { sigaddset(&stopSignals, stopSignal) }
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
// SIGUSR2 interrupts a request thread's accept at stop time. Its handler does
// nothing; installed without SA_RESTART, so accept fails with EINTR.
var interrupt = sigaction()
interrupt.__sigaction_handler.sa_handler = { _ in }
sigaction(SIGUSR2, &interrupt, nil)
let environment = ProcessInfo.processInfo.environment
let configuration: ServiceConfiguration
let threadCount: Int
do {
    try ServiceLog.bootstrap(program: "will-it-compile-responder", environment: environment)
    configuration = try ServiceConfiguration(environment: environment)
    threadCount = try EnvironmentReader(environment: environment).integer("FCGI_THREADS", default: 8, in: 1...1024)
} catch {
    fail("\(error)")
}
// `--body-limit`: the largest body, for nginx's client_max_body_size (scripts/run),
// so that nginx and the responders refuse at the same size.
if CommandLine.arguments.dropFirst() == ["--body-limit"] {
    print(BodyLimit.bytes(forSourceSize: configuration.compilation.maxSourceSize))
    exit(0)
}
// Before the request threads start: each would otherwise get a malloc arena (a heap) of its own.
MallocArenas.limit(to: 2, environment: environment)
guard FastCGIRequestSlot.initializeLibrary() else { fail("FCGX_Init failed") }
// Before anything measures: this process's measurements go to the worker (RequestRecord).
let forwarding = ForwardingMetrics()
MetricsSystem.bootstrap(forwarding)

let store: (any JobStore)? = configuration.redis.enabled ? RedisJobStore(configuration: configuration.redis) : nil
// Long polls may hold all threads but two, which stay for quick requests (with
// FCGI_THREADS of 2 or less, `?wait=` answers at once).
let rateLimiter = configuration.redis.enabled && configuration.worker.clientSubmitsPerSecond > 0
    ? ClientRateLimiter(
        configuration: configuration.redis, submitsPerSecond: configuration.worker.clientSubmitsPerSecond,
        burst: configuration.worker.clientSubmitBurst)
    : nil
let handler = APIHandler(
    configuration: configuration, worker: WorkerClient(socketPath: configuration.worker.socketPath), store: store,
    rateLimiter: rateLimiter, maxWaitingRequests: max(0, threadCount - 2))

let record = RequestRecord(
    forwarding: forwarding, worker: WorkerClient(socketPath: configuration.worker.socketPath, timeoutMilliseconds: 1000),
    log: EventLog(program: "will-it-compile-responder", sameLevelAs: log()))
_ = startThread { record.flushPeriodically() }
let loop = RequestLoop(handler: handler, record: record)
let loopsDone = DispatchGroup()
let stopping = Atomic<Bool>(false)
let acceptStates = (0..<threadCount).map { _ in AcceptState() }
let threads = acceptStates.map { state in
    loopsDone.enter()
    return startThread {
        loop.run(state)
        // Accepting failed for another reason than a stop: a process without request
        // threads must go, so that multiwatch starts a fresh one.
        if !stopping.load(ordering: .sequentiallyConsistent) {
            fail("accepting FastCGI requests failed: \(String(cString: strerror(errno)))")
        }
        loopsDone.leave()
    }
}

var received: Int32 = 0
sigwait(&stopSignals, &received)
// Only this process stops: the listening socket stays open for the pool's others.
// Requests in progress are answered first (long polls at their next slice); a
// thread that reaches accept after a round is interrupted on the next one.
stopping.store(true, ordering: .sequentiallyConsistent)
FastCGIRequestSlot.stopAccepting()
handler.stopLongPolls()
let deadline = DispatchTime.now() + 10
repeat {
    for (thread, state) in zip(threads, acceptStates) where state.accepting.load(ordering: .sequentiallyConsistent) {
        pthread_kill(thread, SIGUSR2)
    }
} while loopsDone.wait(timeout: min(deadline, .now() + .milliseconds(50))) == .timedOut && DispatchTime.now() < deadline
if DispatchTime.now() >= deadline {
    log().warning("requests still running 10 s after signal \(received); exiting")
}
// What the last requests measured: a process multiwatch replaces loses none of it.
record.flush()
store?.close()
rateLimiter?.close()
exit(0)
