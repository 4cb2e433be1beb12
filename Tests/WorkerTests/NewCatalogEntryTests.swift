import Foundation
import TestSupport
import Testing
import WillItCompile
import WorkerService

/// A standard and a target that no code names, added only in a catalog, are accepted by the
/// responder's checks and compiled by a real worker: the catalog alone knows toolchains.
@Suite struct NewCatalogEntryTests {
    /// gcc-12 under another id, with a spelling of C11 the repository's catalog does not list
    /// and big-endian AArch64 (`aarch64_be`), which the aarch64 cross gcc builds with `-mbig-endian`.
    static let family = #"""
        {"toolchains": [{
          "id": "gcc-12-future", "language": "c", "executable": "/usr/bin/gcc-12", "version_arguments": ["--version"],
          "standards": ["iso9899:2011"], "default_standard": "iso9899:2011", "standard_arguments": ["-std={standard}"],
          "command": ["{executable}", "{standard_arguments}", "{flags}", "-fdiagnostics-color=never", "-o", "{output}", "{source}"],
          "compile_only_arguments": ["-c"], "source_file": "main.c", "binds": [], "environment": {}, "priority": 1, "flags": "gcc",
          "targets": [{"architecture": "aarch64_be", "os": "linux", "executable": "/usr/bin/aarch64-linux-gnu-gcc-12",
                       "arguments": ["-mbig-endian"], "binds": ["/usr/aarch64-linux-gnu"], "requires": ["/usr/bin/aarch64-linux-gnu-gcc-12"]}]
        }]}
        """#
    static let source = "#if !defined(__AARCH64EB__) || __STDC_VERSION__ != 201112L\n#error not big-endian C11\n#endif\nint answer(void) { return 42; }\n"
    static let body = #"{"source_code": "int answer(void) { return 42; }", "language": "c", "standard": "iso9899:2011", "architecture": "aarch64_be", "link": false}"#

    let catalog: String

    init() throws {
        catalog = FileManager.default.temporaryDirectory.appendingPathComponent("wic-new-entry-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: catalog, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        try Self.family.write(toFile: "\(catalog)/future.json", atomically: true, encoding: .utf8)
        chmod("\(catalog)/future.json", 0o644)
    }

    /// What the responder does with a submission: the validator, then the offered toolchains.
    @Test func theResponderAcceptsTheNewStandardAndTarget() throws {
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let offered = ToolchainProbe.probe(try ToolchainCatalog.load(at: catalog))
        #expect(offered.first?.targets.map(\.name) == ["x86_64/linux", "aarch64_be/linux"])
        let request = try RequestValidator(maxSourceSize: 1024).validate(json: Data(Self.body.utf8))
        let toolchain = try offered.resolve(request)
        #expect(toolchain.spec.id == "gcc-12-future")
        #expect(toolchain.target(architecture: "aarch64_be", os: "linux")?.arguments == ["-mbig-endian"])

        // The same request is refused where the catalog lacks them, naming what it has.
        let repository = ToolchainProbe.probe(try ToolchainCatalog.load(at: repositoryRoot.appendingPathComponent("toolchains/catalog").path))
        #expect(throws: RequestValidationError.self) { try repository.resolve(request) }
        do {
            _ = try repository.resolve(request)
        } catch {
            #expect(error.problems.map(\.field) == ["standard", "architecture"])
            #expect(error.problems.last?.message.hasPrefix("Unknown architecture `aarch64_be` (accepted for c: x86_64, arm64") == true,
                    "\(error.problems)")
        }
    }

    /// The rustup template's editions and the version each needs are the catalog's
    /// (`standards_since`): a toolchain found gets those its version reaches.
    @Test func aDiscoveredToolchainGetsTheStandardsItsVersionReaches() throws {
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let found = "\(catalog)/rustup"
        for (name, version) in [("old", "rustc 1.40.0 (73528e339 2019-12-16)"), ("new", "rustc 1.90.0 (1159e78c4 2025-09-14)")] {
            try FileManager.default.createDirectory(atPath: "\(found)/\(name)/bin", withIntermediateDirectories: true)
            try "#!/bin/sh\necho '\(version)'\n".write(toFile: "\(found)/\(name)/bin/rustc", atomically: true, encoding: .utf8)
            chmod("\(found)/\(name)/bin/rustc", 0o755)
        }
        var template = try #require(try ToolchainCatalog.load(at: repositoryRoot.appendingPathComponent("toolchains/catalog/rustc.json").path)
            .first { $0.discover == "rustup" })
        template.discoverIn = found
        let offered = ToolchainProbe.probe([template])
        #expect(offered.map(\.spec.id) == ["rustc-1.90", "rustc-1.40"])
        #expect(offered.map(\.spec.standards) == [["2015", "2018", "2021", "2024"], ["2015", "2018"]])
        #expect(offered.map(\.spec.defaultStandard) == ["2021", "2018"])
        #expect(offered.map(\.isDefault) == [true, false] && offered.allSatisfy { $0.spec.standardsSince == nil })
    }

    @Test(.runningTimeLimit(minutes: 2)) func aWorkerWithTheCatalogCompilesForThem() throws {
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let worker = try WorkerProcess(["WORKER_CATALOG": catalog])
        let job = CompilationJob(request: CompilationRequest(
            source: Array(Self.source.utf8), language: .c, standard: "iso9899:2011", architecture: "aarch64_be", os: "linux", link: false),
            createdAt: Date())
        guard case let .accepted(id) = try worker.client.send(.submit(job)) else {
            Issue.record("the worker refused the job")
            return
        }
        let (done, result) = try worker.waitForVerdict(id)
        #expect(done.status == .completed, "\(result.stderr.prefix(500)) \(result.error)")
        #expect(done.request.compiler == "gcc-12-future")
        #expect(result.artifact.contains("AArch64"), "\(result.artifact)")
    }
}
