import Foundation
import Glibc
import HTTPAPI
import JobStore
import WillItCompile
import WorkerClient

/// A FastCGI responder: started by spawn-fcgi (listening socket on descriptor 0),
/// kept alive by multiwatch, serving the API with `FCGI_THREADS` threads.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("will-it-compile-responder: error: \(message)\n".utf8))
    exit(2)
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
for index in 0..<threadCount {
    loopsDone.enter()
    let thread = Thread {
        loop.run()
        loopsDone.leave()
    }
    thread.name = "fcgi-\(index)"
    thread.start()
}

var received: Int32 = 0
sigwait(&stopSignals, &received)
// Wakes every thread blocked in accept; requests in progress are answered first.
FastCGIRequestSlot.stopAccepting()
if loopsDone.wait(timeout: .now() + 10) == .timedOut {
    FileHandle.standardError.write(Data("will-it-compile-responder: requests still running 10 s after signal \(received); exiting\n".utf8))
}
store?.close()
exit(0)
