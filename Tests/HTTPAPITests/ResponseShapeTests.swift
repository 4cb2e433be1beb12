import Foundation
@testable import HTTPAPI
import Testing
import WillItCompile

/// The JSON bodies of `/api/v1/environments`, `/api/v1/toolchains` and `/api/v1/workers/stats`, encoded
/// as the API sends them (`HTTPResponse.json`).
@Suite struct ResponseShapeTests {
    /// As the worker lists a cluster: gcc-12 in two versions on different hosts,
    /// clang-16 with a cross target on one host, rustc only on host c, and a Go
    /// compiler, which has no standards.
    private func clusterToolchains() throws -> [Toolchain] {
        let arm64 = TargetSpec(architecture: "arm64", os: "linux", executable: nil, arguments: [], binds: [], requires: [])
        return [
            Toolchain(spec: try spec("gcc-12", .c, flags: "gcc", standards: ["c17", "gnu17"], defaultStandard: "gnu17"),
                      version: "gcc-12 (Debian 12.2.0-14) 12.2.0", isDefault: true, hosts: ["a", "b"]),
            Toolchain(spec: try spec("gcc-12", .c, flags: "gcc", standards: ["c17", "gnu17"], defaultStandard: "gnu17"),
                      version: "gcc-12 (Debian 12.3.0-1) 12.3.0", isDefault: false, hosts: ["c"]),
            Toolchain(spec: try spec("clang-16", .c, flags: "clang", standards: ["c2x"]), version: "Debian clang version 16.0.6",
                      isDefault: false, targets: [.host, arm64], hosts: ["b"]),
            Toolchain(spec: try spec("go-1.19", .go, flags: "go"), version: "go version go1.19.8 linux/amd64", isDefault: true, hosts: ["a"]),
            Toolchain(spec: try spec("rustc-1.63", .rust, flags: "rustc"), version: "rustc 1.63.0", isDefault: true, hosts: ["c"]),
        ]
    }

    @Test func aClustersToolchainsSayWhichHostsOfferEach() throws {
        let body = try encoded(ToolchainsResponse(toolchains: try clusterToolchains()))
        #expect(Set(body.keys) == ["toolchains", "defaults"])
        let toolchains = try #require(body["toolchains"] as? [[String: Any]])
        #expect(toolchains.map { $0["id"] as? String } == ["gcc-12", "gcc-12", "clang-16", "go-1.19", "rustc-1.63"])
        #expect(toolchains.map { $0["hosts"] as? [String] } == [["a", "b"], ["c"], ["b"], ["a"], ["c"]])
        #expect(toolchains[2]["targets"] as? [String] == ["x86_64/linux", "arm64/linux"])
        #expect(toolchains[0]["default_standard"] as? String == "gnu17" && toolchains[0]["flag_family"] as? String == "gcc")
        let defaults = try #require(body["defaults"] as? [String: String])
        #expect(defaults["architecture"] == "x86_64" && defaults["os"] == "linux")
    }

    /// The predecessor's clients read a bare array of per-language environments.
    @Test func environmentsAreThePredecessorsArraySummarisingTheClustersUnion() throws {
        let response = HTTPResponse.json(200, LanguageEnvironment.all(of: try clusterToolchains()))
        let environments = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]])
        #expect(environments.map { $0["language"] as? String } == ["c", "go", "rust"], "the catalog's language order")
        let c = environments[0]
        #expect(Set(c.keys) == ["language", "compilers", "standards", "oses", "architectures", "default_compiler", "default_standard"])
        #expect(c["compilers"] as? [String] == ["gcc-12", "clang-16"], "each compiler once, whichever hosts offer it")
        #expect(c["standards"] as? [String] == ["c17", "gnu17", "c2x"])
        #expect(c["architectures"] as? [String] == ["x86_64", "arm64"], "a target one host offers is offered")
        #expect(c["oses"] as? [String] == ["linux"])
        #expect(c["default_compiler"] as? String == "gcc-12" && c["default_standard"] as? String == "gnu17")
        let go = environments[1]
        #expect(Set(go.keys) == ["language", "compilers", "standards", "oses", "architectures", "default_compiler"],
                "a default that does not exist is left out, not null: \(go)")
        #expect(go["standards"] as? [String] == [])
        #expect(environments[2]["compilers"] as? [String] == ["rustc-1.63"])
    }

    @Test func aSingleHostsToolchainsNameNoHosts() throws {
        let body = try encoded(ToolchainsResponse(toolchains: [
            Toolchain(spec: try spec("gcc-12", .c, flags: "gcc"), version: "gcc-12 (Debian 12.2.0-14) 12.2.0", isDefault: true),
        ]))
        let toolchains = try #require(body["toolchains"] as? [[String: Any]])
        #expect(toolchains.count == 1 && toolchains[0]["hosts"] == nil, "\(toolchains)")
    }

    @Test func clusterStatsKeepThePredecessorsFieldsAtTheTopAndAddOneRowPerHost() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let now = start + 90
        func stats(_ maxWorkers: Int, active: Int, queued: Int, processed: Int) -> WorkerStats {
            WorkerStats(maxWorkers: maxWorkers, activeWorkers: active, queuedJobs: queued, totalProcessed: processed,
                        totalSuccessful: processed - 1, totalFailed: 1, totalTimeout: 0, totalErrors: 0, startTime: start, now: now)
        }
        var cluster = stats(6, active: 3, queued: 4, processed: 12)
        cluster.hosts = [HostStats(hostID: "host-a", stats: stats(2, active: 2, queued: 1, processed: 5)),
                         HostStats(hostID: "host-b", stats: stats(4, active: 1, queued: 0, processed: 7))]
        let body = try encoded(cluster)

        let predecessorFields: Set = [
            "max_workers", "active_workers", "available_slots", "queued_jobs", "total_processed", "total_successful",
            "total_failed", "total_timeout", "total_errors", "uptime", "uptime_seconds", "start_time",
        ]
        // total_cached: the verdict cache's answers, beside the predecessor's counters.
        #expect(Set(body.keys) == predecessorFields.union(["hosts", "total_cached"]))
        #expect(body["max_workers"] as? Int == 6 && body["available_slots"] as? Int == 3 && body["total_processed"] as? Int == 12)
        #expect(body["uptime"] as? String == "1m30s" && body["start_time"] as? String == Timestamp.format(start))

        let hosts = try #require(body["hosts"] as? [[String: Any]])
        #expect(hosts.count == 2)
        for row in hosts {
            #expect(Set(row.keys) == predecessorFields.union(["host_id", "total_cached"]), "a row is flat: host_id beside the counters")
        }
        #expect(hosts.map { $0["host_id"] as? String } == ["host-a", "host-b"])
        #expect(hosts.map { $0["max_workers"] as? Int } == [2, 4])
        #expect(hosts.map { $0["available_slots"] as? Int } == [0, 3])
        #expect(hosts.map { $0["queued_jobs"] as? Int } == [1, 0])
    }

    @Test func aSingleHostsStatsHaveNoHosts() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let body = try encoded(WorkerStats(maxWorkers: 2, activeWorkers: 0, queuedJobs: 0, totalProcessed: 0, totalSuccessful: 0,
                                           totalFailed: 0, totalTimeout: 0, totalErrors: 0, startTime: start, now: start))
        #expect(body["hosts"] == nil && body["max_workers"] as? Int == 2)
    }
}

/// A catalog entry as `toolchains/catalog/*.json` writes one.
private func spec(_ id: String, _ language: Language, flags: String, standards: [String] = [], defaultStandard: String? = nil) throws -> ToolchainSpec {
    let quoted = standards.map { "\"\($0)\"" }.joined(separator: ", ")
    let json = """
        {"id": "\(id)", "language": "\(language.rawValue)", "executable": "/usr/bin/\(id)", "version_arguments": ["--version"],
         "standards": [\(quoted)], "default_standard": \(defaultStandard.map { "\"\($0)\"" } ?? "null"), "standard_arguments": [], "command": ["{executable}", "{source}"], "source_file": "main",
         "binds": [], "environment": {}, "priority": 1, "flags": "\(flags)"}
        """
    return try JSONDecoder().decode(ToolchainSpec.self, from: Data(json.utf8))
}

/// The body the API sends for `value`, parsed back.
private func encoded(_ value: some Encodable) throws -> [String: Any] {
    let response = HTTPResponse.json(200, value)
    return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
}
