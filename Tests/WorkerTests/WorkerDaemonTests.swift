import Foundation
import Glibc
import JobStore
import POSIXSupport
import TestSupport
import Testing
import WillItCompile
import WorkerClient

let quickSource = "int main(void) { return 0; }\n"

@Suite(.serialized) struct WorkerDaemonTests {
    @Test(.runningTimeLimit(minutes: 2))
    func statsCountEveryVerdict() throws {
        let worker = try WorkerProcess(["MAX_WORKERS": "2", "COMPILATION_TIMEOUT_SECONDS": "2"])
        let before = try worker.stats()
        #expect(before.maxWorkers == 2 && before.availableSlots == 2 && before.totalProcessed == 0)
        #expect(try worker.compile(quickSource, language: .c).0.status == .completed)
        #expect(try worker.compile("int main(void) { return }\n", language: .c).0.status == .failed)
        #expect(try worker.compile(slowCompileSource, language: .cpp).0.status == .timeout)
        let stats = try worker.stats()
        #expect(stats.totalProcessed == 3 && stats.totalSuccessful == 1 && stats.totalFailed == 1)
        #expect(stats.totalTimeout == 1 && stats.totalErrors == 0)
        #expect(stats.activeWorkers == 0 && stats.queuedJobs == 0 && stats.availableSlots == 2)
        #expect(stats.uptimeSeconds > 0 && Timestamp.parse(stats.startTime) != nil)
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aSandboxThatCannotStartIsTheServicesErrorSaidPlainly() throws {
        let worker = try WorkerProcess(["SANDBOX_BWRAP": "/nonexistent/bwrap"])
        let (job, result) = try worker.compile(quickSource, language: .c)
        #expect(job.status == .error)
        #expect(!result.success && !result.compiled)
        #expect(result.error.contains("sandbox failed to start") && result.error.contains("/nonexistent/bwrap"), "\(result.error)")
        #expect(try worker.stats().totalErrors == 1)
    }

    /// In memory mode the host's queue; in Redis mode the cluster's, here of one host.
    @Test(.runningTimeLimit(minutes: 1), arguments: [false, true])
    func aFullQueueRefusesAtOnceAndEveryAcceptedJobCompletes(inRedis: Bool) throws {
        let redis = inRedis ? try PrivateRedis() : nil
        var environment = ["MAX_WORKERS": "1", "QUEUE_SIZE": "2", "COMPILATION_TIMEOUT_SECONDS": "3"]
        if let redis { environment.merge(["REDIS_ENABLED": "true", "REDIS_ADDR": redis.socketPath]) { $1 } }
        let worker = try WorkerProcess(environment)
        let slow = try worker.submit(slowCompileSource, language: .cpp)
        try waitUntil("the slow job occupies the only slot") { try worker.stats().activeWorkers == 1 }
        var accepted: [JobID] = [slow]
        var refused = 0
        for _ in 0..<5 {
            let started = Date()
            let job = CompilationJob(request: CompilationRequest(source: Array(quickSource.utf8), language: .c), createdAt: Date())
            switch try worker.client.send(.submit(job)) {
            case let .accepted(id): accepted.append(id)
            case let .queueFull(capacity, retryAfter):
                refused += 1
                #expect(capacity == 2 && retryAfter >= 1)
            case let other: Issue.record("unexpected reply \(other)")
            }
            #expect(Date().timeIntervalSince(started) < 1, "a refusal is immediate, never a wait")
        }
        #expect(accepted.count == 3 && refused == 3)
        #expect(try worker.waitForVerdict(slow).0.status == .timeout)
        for id in accepted.dropFirst() {
            #expect(try worker.waitForVerdict(id).0.status == .completed)
        }
    }

    /// Each client holds at most MAX_JOBS_PER_CLIENT jobs, queued or compiling, and
    /// has a place back as soon as it can read a verdict. Memory mode (this harness's).
    @Test(.runningTimeLimit(minutes: 1))
    func aClientHoldsAtMostItsShareAndHasAPlaceBackWithEachVerdict() throws {
        let worker = try WorkerProcess(["MAX_WORKERS": "1", "MAX_JOBS_PER_CLIENT": "2", "COMPILATION_TIMEOUT_SECONDS": "3"])
        let flooder = ClientIdentity("127.0.0.2")!
        func submit(_ source: String, _ language: Language, as client: ClientIdentity?) throws -> WorkerReply {
            let job = CompilationJob(request: CompilationRequest(source: Array(source.utf8), language: language), createdAt: Date())
            return try worker.client.send(.submit(job, client: client))
        }
        guard case let .accepted(slow) = try submit(slowCompileSource, .cpp, as: flooder) else {
            throw HarnessError("the first job was refused")
        }
        try waitUntil("the slow job occupies the only slot") { try worker.stats().activeWorkers == 1 }
        guard case let .accepted(queued) = try submit(quickSource, .c, as: flooder) else {
            throw HarnessError("the second job was refused")
        }
        let started = Date()
        guard case let .tooManyJobs(share, retryAfter) = try submit(quickSource, .c, as: flooder) else {
            throw HarnessError("a third job of the same client was not refused as too many")
        }
        #expect(Date().timeIntervalSince(started) < 1, "a refusal is immediate, never a wait")
        #expect(share == ClientShare(jobs: 2, waiting: 1, limit: 2) && retryAfter >= 1)
        guard case let .accepted(other) = try submit(quickSource, .c, as: ClientIdentity("127.0.0.1")),
              case let .accepted(unnamed) = try submit(quickSource, .c, as: nil) else {
            throw HarnessError("another client's job was refused")
        }
        #expect(try worker.waitForVerdict(slow).0.status == .timeout)
        guard case let .accepted(again) = try submit(quickSource, .c, as: flooder) else {
            throw HarnessError("the client was refused after it had the verdict of one of its two jobs")
        }
        for id in [queued, other, unnamed, again] {
            #expect(try worker.waitForVerdict(id).0.status == .completed)
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func afterSIGKILLARestartedWorkerFinishesEveryQueuedAndProcessingJob() throws {
        let (worker, store, redis) = try redisBackedWorker(timeoutSeconds: 3)
        // The private Redis lives until the test ends: released, it would stop.
        defer { withExtendedLifetime(redis) { store.close() } }
        let slow = try worker.submit(slowCompileSource, language: .cpp)
        let quick = try (0..<3).map { _ in try worker.submit(quickSource, language: .c) }
        try waitUntil("the slow job is processing") { try store.job(slow)?.status == .processing }
        // A job is `processing` before its cgroup and sandbox are made: wait for bwrap itself
        // (the slot's launcher, waiting in the job's cgroup, execs prlimit, then bwrap).
        try waitUntil("the slow job's sandbox runs") {
            worker.children().contains { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) == "bwrap\n" }
        }
        let sandboxes = worker.children()

        worker.stop(signal: SIGKILL)
        // bwrap's --die-with-parent takes the sandbox down with the worker.
        try waitUntil("the killed worker's sandboxes are gone", within: 10) {
            sandboxes.allSatisfy { !isRunning($0) }
        }
        for id in quick { #expect(try store.job(id)?.status == .queued) }

        // Same host id and socket path: the stale socket is replaced, the job it held taken back at once.
        try worker.start()
        #expect(try worker.waitForVerdict(slow, store: store, within: 30).0.status == .timeout)
        for id in quick {
            #expect(try worker.waitForVerdict(id, store: store, within: 30).0.status == .completed)
        }
        #expect(worker.log().contains("job \(slow): taken back from before this worker restarted"), "\(worker.log())")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func sigtermFinishesTheRunningJobAndLeavesQueuedOnesForTheNextStart() throws {
        let (worker, store, redis) = try redisBackedWorker(timeoutSeconds: 2)
        defer { withExtendedLifetime(redis) { store.close() } }
        let slow = try worker.submit(slowCompileSource, language: .cpp)
        let queued = try worker.submit(quickSource, language: .c)
        try waitUntil("the slow job is processing") { try store.job(slow)?.status == .processing }
        worker.stop(signal: SIGTERM)
        #expect(try store.job(slow)?.status == .timeout, "the job in hand is finished before exit")
        #expect(try store.job(queued)?.status == .queued)
        #expect(!FileManager.default.fileExists(atPath: worker.socketPath), "the socket file is removed")
        try worker.start()
        #expect(try worker.waitForVerdict(queued, store: store).0.status == .completed)
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aLiveWorkersSocketIsNotStolen() throws {
        let first = try WorkerProcess()
        let second = try first.runAnotherUntilExit()
        #expect(second.status == 2)
        #expect(second.output.contains("another worker is already listening"), "\(second.output)")
        #expect(try first.client.send(.ping) == .pong)
    }

    /// The socket's name appears once, already with mode 0660, and its mode is never
    /// changed afterwards: there is no moment when it has the mode of the umask.
    @Test(.runningTimeLimit(minutes: 1))
    func theSocketAppearsWithItsFinalMode() throws {
        let worker = try WorkerProcess()
        worker.stop(signal: SIGTERM)  // removes the socket file
        let watch = try DirectoryWatch(worker.directory.path)
        try worker.start()  // returns once the worker answers on its socket
        let socketName = URL(fileURLWithPath: worker.socketPath).lastPathComponent
        let events = try watch.events().filter { $0.name == socketName }
        #expect(events.map(\.mask) == [UInt32(IN_CREATE)], "events on \(socketName): \(events)")
        var info = stat()
        #expect(lstat(worker.socketPath, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK && info.st_mode & 0o7777 == 0o660, "mode \(String(info.st_mode, radix: 8))")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: worker.directory.path).filter { $0.hasPrefix(".ws") }
        #expect(leftovers.isEmpty, "the private directory it was bound in is removed")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func garbageTruncatedOversizedAndSlowPeersNeitherCrashNorBlockTheWorker() throws {
        let worker = try WorkerProcess()
        func reply(to bytes: [UInt8]) throws -> WorkerReply? {
            let socket = try UnixSocket.connect(to: worker.socketPath)
            try socket.setTimeout(milliseconds: 5000)
            try socket.write(bytes)
            var decoder = WorkerFrameDecoder()
            while true {
                if let payload = try decoder.next() { return try WorkerCodec.decodeReply(payload) }
                let chunk = try socket.read()
                if chunk.isEmpty { return nil }
                decoder.append(chunk)
            }
        }
        func isMalformed(_ reply: WorkerReply?) -> Bool {
            if case let .failure(failure)? = reply { return failure.code == .malformedRequest }
            return false
        }
        // Text where a header belongs announces a gigantic frame: refused before reading it.
        #expect(isMalformed(try reply(to: Array("hello worker, here is some text\n".utf8))))
        #expect(isMalformed(try reply(to: [0, 0, 0, 8] + Array("not json".utf8))))
        #expect(isMalformed(try reply(to: [0, 0, 0, 19] + Array(#"{"type":"shutdown"}"#.utf8))))

        // A truncated frame, then the peer leaves.
        do {
            let socket = try UnixSocket.connect(to: worker.socketPath)
            try socket.write([0, 0, 1, 0, 0x7B])
        }
        // Slow peers hold their own connections only.
        let slowPeers = try (0..<50).map { _ in
            let socket = try UnixSocket.connect(to: worker.socketPath)
            try socket.write([0, 0])
            return socket
        }
        let started = Date()
        #expect(try worker.client.send(.ping) == .pong)
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(try worker.compile(quickSource, language: .c).0.status == .completed)
        withExtendedLifetime(slowPeers) {}
    }

    @Test(.runningTimeLimit(minutes: 1))
    func theWorkerRefusesToRunAsRoot() throws {
        let worker = try WorkerProcess()
        let asRoot = try worker.runAnotherUntilExit(["WORKER_SOCKET": worker.socketPath + ".root"], asServiceUser: false)
        #expect(asRoot.status == 2)
        #expect(asRoot.output.contains("refusing to run as root"), "\(asRoot.output)")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aMalformedVariableStopsStartUpNamingIt() throws {
        let worker = try WorkerProcess()
        let run = try worker.runAnotherUntilExit(["QUEUE_SIZE": "lots", "WORKER_SOCKET": worker.socketPath + ".bad"])
        #expect(run.status == 2)
        // A logfmt line (README, "Logs"): the message is quoted, its quotes escaped.
        #expect(run.output.contains(#"level=critical program=will-it-compile-worker msg="QUEUE_SIZE=\"lots\" is invalid"#), "\(run.output)")
    }

    /// Every write renews a status index's TTL, so the worker prunes the ids of
    /// expired jobs from the indexes itself: memory follows the live jobs.
    @Test(.runningTimeLimit(minutes: 1))
    func theWorkerPrunesExpiredJobsFromTheStatusIndexes() throws {
        let (worker, store, redis) = try redisBackedWorker(timeoutSeconds: 10)
        defer { store.close() }
        let id = try worker.submit(quickSource, language: .c)
        #expect(try worker.waitForVerdict(id, store: store).0.status == .completed)
        #expect(try store.jobIDs(withStatus: .completed).contains(id))
        // The job's TTL ends (REDIS_JOB_TTL_HOURS is at least an hour: expire it by hand).
        _ = try redis.command(["PEXPIRE", JobKeys.job(id), "1"])
        try waitUntil("the job has expired") { try store.job(id) == nil }
        // One batch per index per second: the shared test Redis may hold thousands of live ids.
        try waitUntil("the worker pruned it from the completed index", within: 30) {
            try !store.jobIDs(withStatus: .completed).contains(id)
        }
    }

    /// Only an outage is worth waiting out: a verdict the store refuses for good
    /// (the job's hash unreadable, or Redis answering the write with an error) is
    /// logged and its slot moves on. Two such jobs on a one-slot worker, then a
    /// job that must still compile.
    @Test(.runningTimeLimit(minutes: 2))
    func aVerdictTheStoreRefusesForGoodDoesNotHoldItsSlot() throws {
        let (worker, store, redis) = try redisBackedWorker(timeoutSeconds: 4)
        defer { store.close() }
        // While each compiles (until its timeout), its job key is spoilt under it.
        let unknownStatus = try worker.submit(slowCompileSource, language: .cpp)
        try waitUntil("the first job is processing") { try store.job(unknownStatus)?.status == .processing }
        _ = try redis.command(["HSET", JobKeys.job(unknownStatus), "status", "pondering"])
        let notAHash = try worker.submit(slowCompileSource, language: .cpp)
        try waitUntil("the second job is processing", within: 30) {
            if case .processing? = try? store.job(notAHash)?.status { return true }
            return false
        }
        _ = try redis.command(["SET", JobKeys.job(notAHash), "not a hash", "EX", "60"])

        let quick = try worker.submit(quickSource, language: .c)
        #expect(try worker.waitForVerdict(quick, store: store, within: 30).0.status == .completed)
        let log = worker.log()
        #expect(log.contains("job \(unknownStatus): its verdict timeout cannot be stored") && log.contains("pondering"), "\(log)")
        #expect(log.contains("job \(notAHash): its verdict timeout cannot be stored") && log.contains("WRONGTYPE"), "\(log)")
        #expect(try worker.stats().activeWorkers == 0)
    }

    /// A job in the queue whose stored data is unreadable (its key is not a hash) is
    /// taken out of the queue and logged, not retried for ever: the host's other jobs still compile.
    @Test(.runningTimeLimit(minutes: 1))
    func aQueuedJobThatCannotBeReadIsTakenOutOfTheQueue() throws {
        let redis = try PrivateRedis()
        let store = RedisJobStore(configuration: RedisConfiguration(enabled: true, address: .unix(path: redis.socketPath)))
        defer { store.close() }
        let host = "test-\(UUID().uuidString.prefix(8))"
        let queue = RedisWorkQueue(store: store, consumer: host, leaseSeconds: 15)
        var spoilt = CompilationJob(request: CompilationRequest(source: Array(quickSource.utf8), language: .c), createdAt: Date())
        spoilt.request.compiler = "gcc-12"
        #expect(try queue.submit(spoilt, client: nil, perClientLimit: 10, capacity: 0) == .accepted)
        _ = try redis.command(["SET", JobKeys.job(spoilt.id), "not a hash", "EX", "60"])

        let worker = try WorkerProcess([
            "REDIS_ENABLED": "true", "REDIS_ADDR": redis.socketPath, "MAX_WORKERS": "1", "WORKER_HOST_ID": host,
        ])
        let good = try worker.submit(quickSource, language: .c)
        #expect(try worker.waitForVerdict(good, store: store, within: 30).0.status == .completed)
        try waitUntil("the spoilt job left the queue") {
            try redis.command(["XPENDING", "wic:queue:c/gcc-12/x86_64-linux:0", "workers"]).hasPrefix("0")
        }
        #expect(worker.log().contains("job \(spoilt.id)") && worker.log().contains("unreadable"), "\(worker.log())")
    }

    /// A one-slot worker on a Redis of its own, and a store reading the same Redis.
    private func redisBackedWorker(timeoutSeconds: Int) throws -> (WorkerProcess, RedisJobStore, PrivateRedis) {
        let redis = try PrivateRedis()
        let configuration = RedisConfiguration(enabled: true, address: .unix(path: redis.socketPath))
        let worker = try WorkerProcess([
            "REDIS_ENABLED": "true", "REDIS_ADDR": redis.socketPath,
            "MAX_WORKERS": "1", "COMPILATION_TIMEOUT_SECONDS": String(timeoutSeconds),
        ])
        return (worker, RedisJobStore(configuration: configuration), redis)
    }
}
/// What happens to the names in one directory (inotify), read without blocking.
final class DirectoryWatch {
    struct Event: CustomStringConvertible {
        let mask: UInt32
        let name: String
        var description: String { "\(name): 0x\(String(mask, radix: 16))" }
    }

    private let descriptor: Int32

    init(_ directory: String) throws {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0, inotify_add_watch(descriptor, directory, 0xFFF) >= 0 else {  // every event
            throw HarnessError("inotify on \(directory): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        close(descriptor)
    }

    /// Every event queued so far.
    func events() throws -> [Event] {
        var events: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0, errno == EAGAIN { return events }
            guard count > 0 else { throw HarnessError("reading inotify events: \(String(cString: strerror(errno)))") }
            var offset = 0
            while offset < count {
                let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                let length = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
                let name = String(decoding: buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
                events.append(Event(mask: mask, name: name))
                offset += 16 + length
            }
        }
    }
}
