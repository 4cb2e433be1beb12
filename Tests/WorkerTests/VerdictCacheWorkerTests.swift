import Foundation
import Glibc
import JobStore
import TestSupport
import Testing
import WillItCompile

/// The verdict cache of a worker in memory mode (`REDIS_ENABLED=false`): its own memory
/// store keeps the verdicts it compiled.
@Suite struct VerdictCacheWorkerTests {
    @Test(.runningTimeLimit(minutes: 2))
    func aRepeatedRequestIsAnsweredFromTheMemoryStoreWithoutACompile() throws {
        let worker = try WorkerProcess()
        let source = "int main(void) { return 0; }\n"
        let (first, firstResult) = try worker.compile(source, language: .c)
        #expect(first.status == .completed && !firstResult.cached, "\(firstResult.error) \(firstResult.stderr)")
        let (again, againResult) = try worker.compile(source, language: .c)
        #expect(again.status == .completed && againResult.cached && again.id != first.id)
        #expect(againResult.durationNanoseconds == firstResult.durationNanoseconds && againResult.artifact == firstResult.artifact)
        var stats = try worker.stats()
        #expect(stats.totalProcessed == 1 && stats.totalCached == 1, "\(stats)")

        // Bypassed: compiled again, and counted as a compile.
        let (_, bypassed) = try worker.compile(source, language: .c, useCache: false)
        #expect(!bypassed.cached)
        // Another flag: another key.
        let (_, flagged) = try worker.compile(source, language: .c, flags: ["-O2"])
        #expect(!flagged.cached)
        stats = try worker.stats()
        #expect(stats.totalProcessed == 3 && stats.totalCached == 1, "\(stats)")
    }

    /// Hosts of one Redis share their verdicts: any host answers with what another compiled,
    /// also for a toolchain only the other offers, while a host with other limits misses.
    @Test(.runningTimeLimit(minutes: 3))
    func hostsShareVerdictsAndAHostWithOtherLimitsMisses() throws {
        let redis = try PrivateRedis()
        let store = RedisJobStore(configuration: RedisConfiguration(enabled: true, address: .unix(path: redis.socketPath)))
        defer { store.close() }
        func worker(_ host: String, _ environment: [String: String] = [:]) throws -> WorkerProcess {
            try WorkerProcess([
                "REDIS_ENABLED": "true", "REDIS_ADDR": redis.socketPath, "WORKER_HOST_ID": host, "MAX_WORKERS": "1",
                "COMPILATION_TIMEOUT_SECONDS": "20",
            ].merging(environment) { $1 })
        }
        let catalog = try catalog(without: "clang-16")
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let full = try worker("full")
        let lacking = try worker("lacking", ["WORKER_CATALOG": catalog])
        try waitUntil("the hosts see each other") {
            guard case let .toolchains(list, _) = try lacking.client.send(.toolchains) else { return false }
            return list.first { $0.spec.id == "clang-16" && $0.spec.language == .c }?.hosts == ["full"]
                && list.first { $0.spec.id == "gcc-12" && $0.spec.language == .c }?.hosts == ["full", "lacking"]
        }
        func counters(_ host: String) throws -> HostStats? {
            try full.stats().hosts?.first { $0.hostID == host }
        }

        // Compiled by one host (whichever took it from the shared queue), answered by the other.
        let source = "int main(void) { return 2 - 2; }\n"
        let compiledID = try full.submit(source, language: .c)
        let (compiledJob, compiled) = try full.waitForVerdict(compiledID, store: store)
        #expect(!compiled.cached)
        let compiler = try #require(compiledJob.host)
        let (answering, other) = compiler == "full" ? (lacking, "lacking") : (full, "full")
        let answered = try answering.submit(source, language: .c)
        let (answeredJob, answeredResult) = try answering.waitForVerdict(answered, store: store)
        #expect(answeredJob.status == .completed && answeredResult.cached)
        #expect(answeredJob.host == other, "the host that answered it")
        try waitUntil("the counters show one compile and one answer from the cache") {
            try counters(compiler)?.stats.totalProcessed == 1 && counters(other)?.stats.totalCached == 1
                && counters(other)?.stats.totalProcessed == 0
        }

        // A toolchain only another host offers: the host that takes the submission keys it as the compiling host does.
        let clangSource = "int main(void) { return 3 - 3; }\n"
        let remote = try lacking.submit(clangSource, language: .c, compiler: "clang-16")
        let (remoteJob, remoteResult) = try lacking.waitForVerdict(remote, store: store)
        #expect(remoteJob.status == .completed && !remoteResult.cached && remoteJob.host == "full")
        let again = try lacking.submit(clangSource, language: .c, compiler: "clang-16")
        #expect(try lacking.waitForVerdict(again, store: store).1.cached, "the second submission at the host without clang-16")

        // Another timeout is another sandbox limit: a host with it compiles (it may take the job
        // from the shared queue itself, or another may: the verdict is cached under the compiling host's key).
        let longer = try worker("longer", ["COMPILATION_TIMEOUT_SECONDS": "21", "WORKER_CATALOG": catalog])
        try waitUntil("the new host is live") { try counters("longer") != nil }
        let other21 = try longer.submit(source, language: .c)
        #expect(try !longer.waitForVerdict(other21, store: store).1.cached)
    }
}
