import Foundation
import Glibc
import JobStore
import TestSupport
import Testing
import WillItCompile
import WorkerClient
@testable import WorkerService

/// Real workers sharing one Redis of the test's own: one cluster on one machine.
@Suite struct ClusterWorkerTests {
    let redis: PrivateRedis
    let store: RedisJobStore

    init() throws {
        redis = try PrivateRedis()
        store = RedisJobStore(configuration: RedisConfiguration(enabled: true, address: .unix(path: redis.socketPath)))
    }

    func worker(_ host: String, slots: Int = 1, _ environment: [String: String] = [:]) throws -> WorkerProcess {
        try WorkerProcess([
            "REDIS_ENABLED": "true", "REDIS_ADDR": redis.socketPath, "WORKER_HOST_ID": host,
            "MAX_WORKERS": String(slots), "COMPILATION_TIMEOUT_SECONDS": "4",
        ].merging(environment) { $1 })
    }

    func hostOf(_ id: JobID) throws -> String? { try store.job(id)?.host }

    /// Two hosts, `full` and `lacking` (whose catalog has no clang-16), once each sees the other.
    func hostsWithAndWithoutClang() throws -> (full: WorkerProcess, lacking: WorkerProcess) {
        let full = try worker("full")
        let catalog = try catalog(without: "clang-16")
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let lacking = try worker("lacking", ["WORKER_CATALOG": catalog])
        try waitUntil("each host sees the other") {
            guard case let .toolchains(list, _) = try lacking.client.send(.toolchains) else { return false }
            return list.first { $0.spec.id == "clang-16" && $0.spec.language == .c }?.hosts == ["full"]
                && list.first { $0.spec.id == "gcc-12" && $0.spec.language == .c }?.hosts == ["full", "lacking"]
        }
        return (full, lacking)
    }

    /// A host takes a job for a toolchain only another host has; that host compiles it.
    /// Each host answers for what the cluster offers, naming who offers what.
    @Test(.runningTimeLimit(minutes: 2))
    func aJobGoesOnlyToAHostThatHasItsToolchain() throws {
        let (full, lacking) = try hostsWithAndWithoutClang()
        let ids = try (0..<4).map { _ in try lacking.submit("int main(void){return 0;}", language: .c, compiler: "clang-16") }
        for id in ids {
            #expect(try lacking.waitForVerdict(id, store: store).0.status == .completed)
            #expect(try hostOf(id) == "full")
        }
        _ = full
    }

    /// A matrix submitted to one host spreads over the cluster as its cells are taken: a cell
    /// for a toolchain only the other host offers is compiled there, the rest by whichever is free.
    @Test(.runningTimeLimit(minutes: 2))
    func aMatrixsCellsSpreadOverTheHostsLikeJobs() throws {
        let (full, lacking) = try hostsWithAndWithoutClang()
        let cells = ["clang-16", "gcc-12", "clang-16", "gcc-12"].map { compiler in
            CompilationJob(request: CompilationRequest(source: Array("int main(void){return 0;}".utf8), language: .c, compiler: compiler,
                                                       useCache: false),
                           createdAt: Date())
        }
        let matrix = CompilationMatrix(language: .c, createdAt: Date(), cells: cells.map(MatrixCell.init(of:)))
        #expect(try lacking.client.send(.submitMatrix(matrix, cells: cells)) == .accepted(matrix.id))
        for cell in cells {
            #expect(try lacking.waitForVerdict(cell.id, store: store).0.status == .completed)
            if cell.request.compiler == "clang-16" { #expect(try hostOf(cell.id) == "full") }
        }
        #expect(try store.matrix(matrix.id)?.cells.map(\.jobID) == cells.map(\.id))
        _ = full
    }

    /// A busy host's jobs go to an idle one: the cluster, not the host that took the
    /// request, decides where a job compiles. Stats show both hosts and their totals.
    @Test(.runningTimeLimit(minutes: 2))
    func anIdleHostTakesTheJobsABusyHostAccepted() throws {
        let busy = try worker("busy")
        let idle = try worker("idle")
        let slow = try busy.submit(slowCompileSource, language: .cpp)
        try waitUntil("a host compiles the slow job") { try store.job(slow)?.status == .processing }
        let slowHost = try #require(try hostOf(slow))
        let quick = try busy.submit("int main(void){return 0;}", language: .c)
        #expect(try busy.waitForVerdict(quick, store: store, within: 30).0.status == .completed)
        #expect(try hostOf(quick) != slowHost, "compiled by the host that was free")
        // The other host's row is as of the last heartbeat's reading, a second or two old.
        try waitUntil("the stats show both hosts: one compiling, one compile done", within: 10) {
            let stats = try busy.stats()
            return stats.hosts?.map(\.hostID) == ["busy", "idle"] && stats.maxWorkers == 2
                && stats.activeWorkers == 1 && stats.totalProcessed == 1
        }
        _ = idle
    }

    /// A host that dies holding a job loses it to another after the lease; a job whose
    /// hosts keep dying ends as error after JOB_MAX_CLAIMS takes.
    @Test(.runningTimeLimit(minutes: 2))
    func aLostHostsJobIsClaimedAfterItsLeaseAndAJobThatKeepsKillingHostsEnds() throws {
        let lease = ["JOB_LEASE_SECONDS": "2", "JOB_MAX_CLAIMS": "2"]
        let first = try worker("first", lease)
        let job = try first.submit(slowCompileSource, language: .cpp)
        try waitUntil("the first host compiles it") { try store.job(job)?.status == .processing }
        first.stop(signal: SIGKILL)
        let second = try worker("second", lease)
        try waitUntil("the second host claims it after the lease", within: 15) { try hostOf(job) == "second" }
        // The take marks the job as the second host's before that host logs it: wait for the line.
        try waitUntil("the second host logs the take-over", within: 10) {
            second.log().contains("job \(job): its host's lease ran out; taken over (take 2)")
        }
        second.stop(signal: SIGKILL)

        let third = try worker("third", lease)
        let (ended, result) = try third.waitForVerdict(job, store: store, within: 30)
        #expect(ended.status == .error)
        #expect(result.error.contains("taken 2 times") && result.error.contains("JOB_MAX_CLAIMS=2"), "\(result.error)")
        #expect(try hostOf(job) == "second", "not compiled a third time")
    }

    /// Jobs for an offer no live host has (the only hosts with it are gone), waiting or
    /// held by a host that died, end as error once a lease has passed: their clients hear
    /// of it, and their places in the queue and in the client's share come back.
    @Test(.runningTimeLimit(minutes: 1))
    func jobsNoLiveHostCanCompileEndAsError() throws {
        let survivor = try worker("survivor", ["JOB_LEASE_SECONDS": "2"])
        let gone = RedisWorkQueue(store: store, consumer: "gone", leaseSeconds: 2)
        func job() -> CompilationJob {
            var request = CompilationRequest(source: Array("int main(){}".utf8), language: .c)
            request.compiler = "clang-99"
            return CompilationJob(request: request, createdAt: Date())
        }
        let client = ClientIdentity("10.9.9.9")
        let held = job(), waiting = job()
        #expect(try gone.submit(held, client: client, perClientLimit: 2, capacity: 0) == .accepted)
        #expect(try gone.take(offers: ["c/clang-99/x86_64-linux"], claiming: false, ownIdle: .seconds(60), maxTakes: 3, at: Date()) != nil)
        #expect(try gone.submit(waiting, client: client, perClientLimit: 2, capacity: 0) == .accepted)
        for id in [held.id, waiting.id] {
            let (ended, result) = try survivor.waitForVerdict(id, store: store, within: 20)
            #expect(ended.status == .error && result.error.contains("c/clang-99/x86_64-linux"), "\(result.error)")
        }
        #expect(try gone.waitingCount() == 0)
        #expect(try gone.submit(job(), client: client, perClientLimit: 2, capacity: 0) == .accepted, "the client's places are back")
    }

    /// The counters behind the stats are in Redis: a restarted worker goes on from them.
    @Test(.runningTimeLimit(minutes: 1))
    func countersSurviveARestart() throws {
        let worker = try worker("counted")
        let id = try worker.submit("int main(void){return 0;}", language: .c)
        #expect(try worker.waitForVerdict(id, store: store).0.status == .completed)
        worker.stop(signal: SIGKILL)
        try worker.start()
        let stats = try worker.stats()
        #expect(stats.totalProcessed == 1 && stats.totalSuccessful == 1, "\(stats)")
    }
}

/// `Retry-After` of the cluster's `queue_full`: when the next slot frees, at the pace measured.
@Suite struct ClusterRetryAfterTests {
    func host(slots: Int, compiles: Int, seconds: Double) -> HostRecord {
        var counters = HostCounters()
        counters.processed = compiles
        counters.compileNanoseconds = Int64(seconds * 1e9)
        return HostRecord(hostID: UUID().uuidString, startTime: Date(), maxWorkers: slots, queueSize: 10, activeWorkers: slots,
                          queuedJobs: 0, counters: counters, toolchains: [])
    }

    @Test func theNextPlaceFreesAtTheClustersMeasuredPace() {
        // Two one-slot hosts at 1.6 s a compile free a slot every 0.8 s.
        #expect(ClusterWorkSource.secondsUntilASlotFrees(in: [host(slots: 1, compiles: 10, seconds: 16), host(slots: 1, compiles: 5, seconds: 8)]) == 1)
        // One slot at 7.5 s a compile: 8 s; a second such host halves it.
        #expect(ClusterWorkSource.secondsUntilASlotFrees(in: [host(slots: 1, compiles: 2, seconds: 15)]) == 8)
        #expect(ClusterWorkSource.secondsUntilASlotFrees(in: [host(slots: 1, compiles: 2, seconds: 15), host(slots: 1, compiles: 2, seconds: 15)]) == 4)
        // Nothing measured yet: a second a compile. Never more than a minute.
        #expect(ClusterWorkSource.secondsUntilASlotFrees(in: [host(slots: 2, compiles: 0, seconds: 0)]) == 1)
        #expect(ClusterWorkSource.secondsUntilASlotFrees(in: [host(slots: 1, compiles: 1, seconds: 600)]) == 60)
    }
}
