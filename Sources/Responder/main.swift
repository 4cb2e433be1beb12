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
let handler = APIHandler(
    configuration: configuration, worker: WorkerClient(socketPath: configuration.worker.socketPath), store: store)

let loop = RequestLoop(handler: handler)
for index in 1..<threadCount {
    let thread = Thread { loop.run() }
    thread.name = "fcgi-\(index)"
    thread.start()
}
loop.run()
exit(0)
