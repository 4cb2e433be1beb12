import Foundation
@testable import JobStore
import TestSupport
import Testing
import WillItCompile

@Suite struct RedisJobStoreTests {
    @Test func writesThePredecessorsFieldLayout() throws {
        let configuration = try sharedRedisConfiguration()
        let store = RedisJobStore(configuration: configuration)
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        _ = try store.transition(job.id, to: .processing, at: Date(), result: nil)
        _ = try store.transition(job.id, to: .completed, at: Date(), result: makeResult(for: job.id, status: .completed))

        // What `redis-cli HGETALL job:<id>` shows.
        let connection = try RedisConnection(configuration: configuration)
        let jobHash = try hash(JobKeys.job(job.id), on: connection)
        #expect(Set(jobHash.keys) == ["id", "request", "status", "created_at", "started_at", "completed_at"])
        #expect(jobHash["id"] == job.id.description && jobHash["status"] == "completed")
        for field in ["created_at", "started_at", "completed_at"] {
            let text = try #require(jobHash[field])
            #expect(text.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z/) != nil, "\(field)=\(text)")
        }
        let request = try JSONSerialization.jsonObject(with: Data(try #require(jobHash["request"]).utf8)) as? [String: String]
        #expect(request == ["code": Data(job.request.source).base64EncodedString(), "language": "c",
                            "compiler": "gcc-12", "standard": "c11"])

        let resultHash = try hash(JobKeys.result(job.id), on: connection)
        #expect(resultHash == [
            "job_id": job.id.description, "success": "1", "compiled": "1", "stdout": "", "stderr": "",
            "exit_code": "0", "duration": "12345678", "error": "", "artifact": "",
            "diagnostics": "[]", "error_count": "0", "warning_count": "0",
        ])
        #expect(try connection.command(["SISMEMBER", JobKeys.statusIndex(.completed), job.id.description]) == .integer(1))
    }

    @Test func commandArgumentsAndRepliesAreBinarySafe() throws {
        let connection = try RedisConnection(configuration: try sharedRedisConfiguration())
        let key = Array("wic:test:binary:\(UUID())".utf8)
        let value: [UInt8] = [0x00, 0xFF, 0xFE, 0xC3, 0x28, 0x0D, 0x0A, 0x00] + Array(repeating: 0x80, count: 100_000)
        #expect(try connection.command([Array("SET".utf8), key, value, Array("EX".utf8), Array("60".utf8)]) == .status("OK"))
        #expect(try connection.command([Array("GET".utf8), key]) == .bulk(value))
    }

    @Test func aJobHashWrittenByAnotherProgramIsReadAsThePredecessorWroteIt() throws {
        // go-redis writes bools as 1/0, time.Time as RFC3339Nano with trimmed zeros.
        let configuration = try sharedRedisConfiguration()
        let connection = try RedisConnection(configuration: configuration)
        let id = JobID()
        _ = try connection.command(["HSET", JobKeys.job(id), "id", id.description,
                                    "request", #"{"code":"aW50IG1haW4oKXt9","language":"cpp","compiler":"gcc-13"}"#,
                                    "status", "failed", "created_at", "2025-01-19T10:04:05.1Z",
                                    "started_at", "0001-01-01T00:00:00Z", "completed_at", "2025-01-19T10:04:06Z"])
        _ = try connection.command(["HSET", JobKeys.result(id), "job_id", id.description, "success", "true",
                                    "compiled", "false", "stderr", "error: x", "exit_code", "1", "duration", "250000000"])
        _ = try connection.command(["EXPIRE", JobKeys.job(id), "60"])
        _ = try connection.command(["EXPIRE", JobKeys.result(id), "60"])
        let store = RedisJobStore(configuration: configuration)
        defer { store.close() }
        let job = try #require(try store.job(id))
        #expect(job.request.language == .cpp && job.request.source == Array("int main(){}".utf8))
        #expect(job.status == .failed && job.startedAt == nil)
        #expect(job.createdAt == Date(timeIntervalSince1970: 1_737_281_045.1))
        let result = try #require(try store.result(id))
        #expect(result.success && !result.compiled && result.stderr == "error: x" && result.stdout == "")
        #expect(result.durationNanoseconds == 250_000_000)
        #expect(result.diagnostics == [] && result.errorCount == 0 && result.warningCount == 0)
    }

    @Test func aResultKeepsItsDiagnosticsAndCounts() throws {
        let store = RedisJobStore(configuration: try sharedRedisConfiguration())
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        _ = try store.transition(job.id, to: .processing, at: Date(), result: nil)
        var result = makeResult(for: job.id, status: .failed)
        let summary = DiagnosticSummary([
            Diagnostic(file: "main.c", line: 6, column: 9, severity: .warning, message: "unused variable ‘x’", option: "-Wunused-variable"),
            Diagnostic(file: "main.c", line: 7, column: 27, severity: .error, message: "‘y’ undeclared \"quoted\"\n"),
            Diagnostic(file: nil, line: nil, column: nil, severity: .note, message: "ld returned 1 exit status"),
        ])
        result.diagnostics = summary.diagnostics
        result.errorCount = summary.errorCount
        result.warningCount = summary.warningCount
        _ = try store.transition(job.id, to: .failed, at: Date(), result: result)
        let read = try #require(try store.result(job.id))
        #expect(read == result)
        #expect(read.errorCount == 1 && read.warningCount == 1 && read.diagnostics.count == 3)
    }

    @Test func aKeyOfTheWrongShapeIsReportedAsCorruptNotMissing() throws {
        let configuration = try sharedRedisConfiguration()
        let connection = try RedisConnection(configuration: configuration)
        let id = JobID()
        _ = try connection.command(["HSET", JobKeys.job(id), "id", id.description, "status", "queued"])
        _ = try connection.command(["EXPIRE", JobKeys.job(id), "60"])
        let store = RedisJobStore(configuration: configuration)
        defer { store.close() }
        #expect(throws: JobStoreError.corrupt(key: JobKeys.job(id), reason: "field request is missing")) {
            try store.job(id)
        }
        // A key of another type altogether is corrupt too, not an outage.
        let other = JobID()
        _ = try connection.command(["SET", JobKeys.job(other), "not a hash", "EX", "60"])
        for read in [{ _ = try store.job(other) }, { _ = try store.jobWithResult(other) }] as [() throws -> Void] {
            do {
                try read()
                Issue.record("a string at \(JobKeys.job(other)) was read as a job")
            } catch let JobStoreError.corrupt(key, reason) {
                #expect(key == JobKeys.job(other) && reason.contains("WRONGTYPE"), "\(reason)")
            }
        }
    }

    /// An error Redis answers is no outage: callers that wait out outages (the
    /// worker's verdict write) must be able to tell it apart from one.
    @Test func anErrorReplyIsARefusalNotAnOutage() throws {
        // Its own Redis: the status index it spoils is every job's.
        let redis = try PrivateRedis()
        let configuration = RedisConfiguration(enabled: true, address: .unix(path: redis.socketPath))
        let store = RedisJobStore(configuration: configuration)
        defer { store.close() }
        let job = CompilationJob(request: CompilationRequest(source: Array("int main(){}".utf8), language: .c), createdAt: Date())
        try store.create(job)
        _ = try redis.command(["SET", JobKeys.statusIndex(.processing), "not a set"])
        do {
            _ = try store.transition(job.id, to: .processing, at: Date(), result: nil)
            Issue.record("a transition into a status index that is a string was applied")
        } catch let JobStoreError.rejected(reason) {
            #expect(reason.contains("WRONGTYPE") && reason.contains(configuration.address.description), "\(reason)")
        }
    }

    @Test(.runningTimeLimit(minutes: 1))
    func reportsTheOutageWhileRedisIsDownThenReconnectsAndKeepsItsJobs() throws {
        let server = try PrivateRedis()
        let store = RedisJobStore(configuration: RedisConfiguration(enabled: true, address: server.address, poolSize: 4))
        defer { store.close() }
        let jobs = (0..<5).map { _ in makeJob() }
        for job in jobs { try store.create(job) }
        _ = try store.transition(jobs[0].id, to: .processing, at: Date(), result: nil)
        _ = try store.transition(jobs[0].id, to: .completed, at: Date(), result: makeResult(for: jobs[0].id, status: .completed))

        server.kill()
        let started = Date()
        let reason = outageReason { _ = try store.job(jobs[1].id) }
        #expect(reason?.contains(server.socketPath) == true, "a read while Redis is down is an outage naming the address: \(reason ?? "none")")
        let createReason = outageReason { try store.create(makeJob()) }
        #expect(createReason?.contains(server.socketPath) == true, "a write while Redis is down is an outage too: \(createReason ?? "none")")
        #expect(Date().timeIntervalSince(started) < 2, "an outage is reported at once, not after a hang")

        try server.start()
        // The same store, no new object: it reconnects by itself.
        for job in jobs {
            #expect(try store.job(job.id)?.id == job.id)
        }
        #expect(try store.job(jobs[0].id)?.status == .completed)
        #expect(try store.result(jobs[0].id)?.compiled == true)
        #expect(try store.jobIDs(withStatus: .queued).isSuperset(of: jobs.dropFirst().map(\.id)))
        let after = makeJob()
        try store.create(after)
        #expect(try store.job(after.id) != nil)
    }

    /// After a restart every idle connection is dead; the first call must not fail
    /// because its one retry happened to pick another dead one.
    @Test(.runningTimeLimit(minutes: 1))
    func aCallAfterARestartSucceedsWhateverNumberOfDeadConnectionsSatIdle() throws {
        let server = try PrivateRedis()
        let pool = RedisConnectionPool(configuration: RedisConfiguration(enabled: true, address: server.address, poolSize: 4))
        defer { pool.close() }
        // Nested calls hold three connections at once; all three then sit idle.
        func hold(_ depth: Int) throws(JobStoreError) {
            guard depth > 0 else { return }
            var inner: JobStoreError?
            try pool.withConnection { connection throws(RedisConnectionError) in
                _ = try connection.command(["PING"])
                do throws(JobStoreError) { try hold(depth - 1) } catch { inner = error }
            }
            if let inner { throw inner }
        }
        try hold(3)
        server.kill()
        try server.start()
        let reply = try pool.withConnection { connection throws(RedisConnectionError) in try connection.command(["PING"]) }
        #expect(reply == .status("PONG"))
    }

    @Test func authenticatesAndSelectsTheConfiguredDatabase() throws {
        let server = try PrivateRedis(arguments: ["--requirepass", "s3cret"])
        let wrong = RedisJobStore(configuration: RedisConfiguration(address: server.address, password: "wrong"))
        defer { wrong.close() }
        let reason = outageReason { try wrong.ping() }
        #expect(reason?.contains("REDIS_PASSWORD") == true, "\(reason ?? "no outage")")

        let store = RedisJobStore(configuration: RedisConfiguration(address: server.address, password: "s3cret", database: 3))
        defer { store.close() }
        let job = makeJob()
        try store.create(job)
        let inDatabase3 = try RedisConnection(configuration: RedisConfiguration(address: server.address, password: "s3cret", database: 3))
        #expect(try inDatabase3.command(["EXISTS", JobKeys.job(job.id)]) == .integer(1))
        let inDatabase0 = try RedisConnection(configuration: RedisConfiguration(address: server.address, password: "s3cret"))
        #expect(try inDatabase0.command(["EXISTS", JobKeys.job(job.id)]) == .integer(0))
    }

    @Test func aRedisThatNeverExistedIsAnOutageNamingTheAddress() throws {
        let store = RedisJobStore(configuration: RedisConfiguration(address: .tcp(host: "127.0.0.1", port: 1)))
        defer { store.close() }
        let reason = outageReason { _ = try store.job(JobID()) }
        #expect(reason?.contains("127.0.0.1:1") == true, "\(reason ?? "no outage")")
    }

    /// A Redis at its maxmemory (noeviction, as scripts/run starts it) refuses a new
    /// job whole, with `.full`; every job it accepted before still moves to its verdict.
    @Test(.runningTimeLimit(minutes: 1))
    func aFullRedisRefusesANewJobWholeAndStillStoresTheVerdictsOfAcceptedJobs() throws {
        let server = try PrivateRedis(arguments: ["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"])
        let configuration = RedisConfiguration(enabled: true, address: server.address, poolSize: 2)
        let store = RedisJobStore(configuration: configuration)
        defer { store.close() }
        let source = [UInt8](repeating: 0x61, count: 50_000)
        var accepted: [JobID] = []
        var refused: (job: CompilationJob, reason: String)?
        for _ in 0..<200 where refused == nil {
            let job = makeJob(source: source)
            do {
                try store.create(job)
                accepted.append(job.id)
            } catch let JobStoreError.full(reason) {
                refused = (job, reason)
            }
        }
        let (job, reason) = try #require(refused, "200 jobs of 50 kB fit in a 3 MB Redis?")
        #expect(!accepted.isEmpty)
        #expect(reason.contains("maxmemory") && reason.contains(server.socketPath), "\(reason)")
        let connection = try RedisConnection(configuration: configuration)
        #expect(try connection.command(["EXISTS", JobKeys.job(job.id)]) == .integer(0), "nothing of a refused job is stored")
        #expect(try connection.command(["SISMEMBER", JobKeys.statusIndex(.queued), job.id.description]) == .integer(0))
        #expect(throws: JobStoreError.self) { try store.create(makeJob(source: source)) }

        // Still full, every accepted job gets its verdict, with a sizeable result.
        let stderr = String(repeating: "error: x\n", count: 2_000)
        for id in accepted {
            #expect(try store.transition(id, to: .processing, at: Date(), result: nil) == .applied)
            #expect(try store.transition(id, to: .failed, at: Date(), result: makeResult(for: id, status: .failed, stderr: stderr)) == .applied)
        }
        #expect(try store.jobIDs(withStatus: .failed) == Set(accepted))
        #expect(try store.jobIDs(withStatus: .queued).isEmpty && store.jobIDs(withStatus: .processing).isEmpty)
        #expect(try store.result(accepted[0])?.stderr == stderr)
    }

    /// Every write renews an index's TTL: without pruning a busy index keeps the
    /// ids of expired jobs for as long as traffic continues.
    @Test(.runningTimeLimit(minutes: 1))
    func pruningRemovesExpiredIdsFromTheIndexesInBoundedBatchesAndKeepsThemSets() throws {
        let server = try PrivateRedis(arguments: ["--appendfsync", "no"])
        let configuration = RedisConfiguration(enabled: true, address: server.address, poolSize: 2)
        let store = RedisJobStore(configuration: configuration)
        defer { store.close() }
        // More than one SSCAN batch, and past the small-set encodings.
        let expiring = (0..<(RedisJobStore.pruneBatch * 2 + 500)).map { _ in makeJob() }
        let live = (0..<3).map { _ in makeJob() }
        for job in expiring + live { try store.create(job) }
        for job in [expiring[0], live[0]] {
            _ = try store.transition(job.id, to: .completed, at: Date(), result: makeResult(for: job.id, status: .completed))
        }
        let connection = try RedisConnection(configuration: configuration)
        // The job hashes expire; the indexes, renewed by every write, do not.
        _ = try connection.pipeline(expiring.map { [Array("PEXPIRE".utf8), Array(JobKeys.job($0.id).utf8), Array("1".utf8)] })
        let expiryDeadline = Date() + 10
        while try connection.command(["EXISTS", JobKeys.job(expiring[0].id), JobKeys.job(expiring.last!.id)]) != .integer(0) {
            #expect(Date() < expiryDeadline, "the job hashes expire within 10 s")
            if Date() >= expiryDeadline { return }
            usleep(10_000)
        }

        var rounds = 0
        var removed = 0
        while rounds < 50, removed < expiring.count {
            let batch = try store.pruneIndexes()
            #expect(batch <= RedisJobStore.pruneBatch * 2, "one call is bounded")
            removed += batch
            rounds += 1
        }
        #expect(removed == expiring.count && rounds > 1, "\(removed) removed in \(rounds) calls")
        #expect(try store.jobIDs(withStatus: .queued) == Set(live.dropFirst().map(\.id)))
        #expect(try store.jobIDs(withStatus: .completed) == [live[0].id])
        for status in [JobStatus.queued, .completed] {
            #expect(try connection.command(["TYPE", JobKeys.statusIndex(status)]) == .status("set"))
        }
        #expect(try store.pruneIndexes() == 0, "nothing left to remove")
    }

    /// A submission's request is stored as the bytes its `submit` frame carried, not encoded
    /// again: here a request whose members another writer ordered and spaced its own way.
    @Test func aSubmittedRequestIsStoredAsTheBytesItArrivedWith() throws {
        let configuration = try sharedRedisConfiguration()
        let store = RedisJobStore(configuration: configuration)
        defer { store.close() }
        let connection = try RedisConnection(configuration: configuration)
        let queue = RedisWorkQueue(store: store, consumer: "stored-bytes", leaseSeconds: 15)
        let key = freshVerdictKey()
        try store.cacheVerdict(makeResult(for: JobID(), status: .completed), status: .completed, under: key)
        for answered in [false, true] {
            let request = #"{ "standard":"c11","compiler":"gcc-12", "language":"c","code":"aW50IG1haW4oKXt9" }"#
            let id = JobID()
            let frame = #"{"type":"submit","job":{"id":"\#(id)","request":\#(request),"status":"queued","created_at":"2026-11-28T01:02:03.5Z"}}"#
            guard case let .submit(job, _) = try WorkerCodec.decodeRequest(Array(frame.utf8)) else {
                Issue.record("not a submit")
                return
            }
            if answered {
                #expect(try store.answerFromCache(job, key: key, at: Date()) != nil)
            } else {
                #expect(try queue.submit(job, client: nil, perClientLimit: 10, capacity: 0) == .accepted)
            }
            #expect(try connection.command(["HGET", JobKeys.job(id), "request"]).text == request)
            #expect(try store.job(id)?.request == job.request)
        }
    }

    private func hash(_ key: String, on connection: RedisConnection) throws -> [String: String] {
        guard case let .array(items) = try connection.command(["HGETALL", key]) else { return [:] }
        var hash: [String: String] = [:]
        for pair in stride(from: 0, to: items.count - 1, by: 2) {
            hash[items[pair].text ?? ""] = items[pair + 1].text
        }
        return hash
    }
}
