import Dispatch
import FoundationEssentials
import Glibc
import HTTPAPI
import JobStore
import WillItCompile
import WorkerClient

/// A FastCGI responder: started by spawn-fcgi (listening socket on descriptor 0),
/// kept alive by multiwatch, serving the API with `FCGI_THREADS` threads.
/// Only FoundationEssentials is linked, not Foundation: that keeps each of the
/// pool's processes several megabytes smaller.
func fail(_ message: String) -> Never {
    printToStandardError("error: \(message)")
    exit(2)
}

func printToStandardError(_ line: String) {
    let bytes = Array("will-it-compile-responder: \(line)\n".utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Runs `body` on a new detached thread.
func startThread(_ body: @escaping @Sendable () -> Void) {
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
    pthread_detach(thread)
}

signal(SIGPIPE, SIG_IGN)
// multiwatch stops its children with SIGUSR1 (SIGTERM on a second request); a
// signal thread turns either into a graceful stop, so block them everywhere else.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
for stopSignal in [SIGTERM, SIGUSR1, SIGINT] { sigaddset(&stopSignals, stopSignal) }
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
let environment = ProcessInfo.processInfo.environment
let configuration: ServiceConfiguration
let threadCount: Int
do {
    configuration = try ServiceConfiguration(environment: environment)
    threadCount = try EnvironmentReader(environment: environment).integer("FCGI_THREADS", default: 8, in: 1...1024)
} catch {
    fail(error.description)
}
guard FastCGIRequestSlot.initializeLibrary() else { fail("FCGX_Init failed") }

let store: (any JobStore)? = configuration.redis.enabled ? RedisJobStore(configuration: configuration.redis) : nil
// Long polls may hold all threads but two, which stay for quick requests.
let handler = APIHandler(
    configuration: configuration, worker: WorkerClient(socketPath: configuration.worker.socketPath), store: store,
    maxWaitingRequests: max(1, threadCount - 2))

let loop = RequestLoop(handler: handler)
let loopsDone = DispatchGroup()
for _ in 0..<threadCount {
    loopsDone.enter()
    startThread {
        loop.run()
        loopsDone.leave()
    }
}

var received: Int32 = 0
sigwait(&stopSignals, &received)
// Wakes every thread blocked in accept; requests in progress are answered first.
FastCGIRequestSlot.stopAccepting()
if loopsDone.wait(timeout: .now() + 10) == .timedOut {
    printToStandardError("requests still running 10 s after signal \(received); exiting")
}
store?.close()
exit(0)
