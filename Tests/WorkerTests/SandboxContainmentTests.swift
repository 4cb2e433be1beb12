import Foundation
import Glibc
import TestSupport
import Testing
import WillItCompile

/// Hostile sources against the real sandbox. Each case is bounded in time; the
/// worker must stay healthy and leave no process or workspace behind.
@Suite(.serialized) struct SandboxContainmentTests {
    static let secret = "wic-secret-\(UUID().uuidString)"
    /// Short limits so that every hostile case ends quickly.
    let worker: WorkerProcess
    let timeoutSeconds = 5.0

    init() throws {
        worker = try WorkerProcess([
            "COMPILATION_TIMEOUT_SECONDS": "5", "SANDBOX_MEMORY_MB": "512", "SANDBOX_OUTPUT_LIMIT_BYTES": "65536",
            "WIC_TEST_SECRET": Self.secret, "REDIS_PASSWORD": Self.secret,
        ])
    }

    /// Compiles `source` as C, and checks the time bound and that the worker is fine afterwards.
    func compileHostile(_ source: String, language: Language = .c) throws -> (CompilationJob, CompilationResult) {
        let started = Date()
        let verdict = try worker.compile(source, language: language, within: timeoutSeconds + 15)
        #expect(verdict.0.status != .error, "the service itself failed: \(verdict.1.error)")
        #expect(Date().timeIntervalSince(started) < timeoutSeconds + 10, "bounded by the time limit")
        #expect(try worker.client.send(.ping) == .pong)
        try expectNothingLeftBehind()
        return verdict
    }

    func expectNothingLeftBehind() throws {
        // A sandbox being torn down may take a moment to vanish from /proc; one that stays is a leak.
        try? waitUntil("the worker has no child process", within: 3) { worker.children().isEmpty }
        let children = worker.children().map { pid in
            "\(pid): " + ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "?").replacingOccurrences(of: "\u{0}", with: " ")
        }
        #expect(children.isEmpty, "sandbox processes left: \(children)")
        #expect(worker.waitingLaunchers().count <= Int(worker.environment["MAX_WORKERS"] ?? "2")!, "at most one waiting launcher per slot")
        let scratch = try FileManager.default.contentsOfDirectory(atPath: worker.scratchParent)
        for directory in scratch where directory.hasPrefix("wic-worker-") {
            let left = try FileManager.default.contentsOfDirectory(atPath: "\(worker.scratchParent)/\(directory)")
            #expect(left.isEmpty, "workspace files left: \(left)")
        }
    }

    @Test(.runningTimeLimit(minutes: 1), arguments: ["/etc/passwd", "/etc/shadow", "/etc/hostname", "/root/.bashrc"])
    func hostFilesAreNotThere(path: String) throws {
        let (job, result) = try compileHostile("#include \"\(path)\"\nint main(void) { return 0; }\n")
        #expect(job.status == .failed)
        #expect(result.stderr.contains("No such file or directory"), "\(result.stderr)")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func theProjectsFilesAreNotThere() throws {
        for path in [repositoryRoot.appendingPathComponent("Package.swift").path, repositoryRoot.appendingPathComponent("toolchains/catalog/gcc.json").path] {
            let (job, result) = try compileHostile("#include \"\(path)\"\nint main(void) { return 0; }\n")
            #expect(job.status == .failed && result.stderr.contains("No such file or directory"), "\(path): \(result.stderr)")
        }
    }

    @Test(.runningTimeLimit(minutes: 1), arguments: ["/proc/self/environ", "/proc/1/environ"])
    func noVariableOfTheWorkersEnvironmentIsVisible(path: String) throws {
        // gcc trusts st_size and reads nothing from /proc; rustc's include! reads to the
        // end and quotes what it found, so the Rust case shows what the sandbox really holds.
        let (_, cResult) = try compileHostile("#include \"\(path)\"\nint main(void) { return 0; }\n")
        let (rustJob, rustResult) = try compileHostile("fn main() { let _: () = include!(\"\(path)\"); }\n", language: .rust)
        #expect(rustJob.status == .failed)
        if path == "/proc/self/environ" {
            // Proof the file was read: the sandbox's own environment is quoted.
            #expect(rustResult.stderr.contains("HOME=/work"), "\(rustResult.stderr.prefix(500))")
        }
        for output in [cResult.stdout, cResult.stderr, rustResult.stdout, rustResult.stderr] {
            #expect(!output.contains(Self.secret), "the secret leaked: \(output)")
            #expect(!output.contains("WIC_TEST_SECRET") && !output.contains("REDIS_PASSWORD") && !output.contains("WORKER_SOCKET"))
        }
    }

    @Test(.runningTimeLimit(minutes: 1))
    func theSandboxRunsAsTheServiceUserNeverAsHostRoot() throws {
        // rustc's error quotes the included text: the sandbox's own /proc/self/uid_map.
        let (_, result) = try compileHostile("fn main() { let _: () = include!(\"/proc/self/uid_map\"); }\n", language: .rust)
        let uid = try serviceUserID()
        let quoted = result.stderr.split(separator: "\n").first { $0.hasPrefix("1 |") }
        let fields = quoted.map { $0.dropFirst(3).split(whereSeparator: \.isWhitespace).map(String.init) } ?? []
        #expect(fields == ["\(uid)", "\(uid)", "1"], "uid_map as quoted by the compiler: \(result.stderr)")
    }

    @Test(.runningTimeLimit(minutes: 1), arguments: ["/dev/zero", "/dev/urandom", "/dev/sda", "/dev/tty"])
    func deviceFilesEndAsFailedOrTimeout(path: String) throws {
        let (job, result) = try compileHostile("#include \"\(path)\"\nint main(void) { return 0; }\n")
        #expect(job.status == .failed || job.status == .timeout, "\(job.status): \(result.error) \(result.stderr.suffix(300))")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aSelfIncludingFileEndsAsFailed() throws {
        let (job, result) = try compileHostile("#include __FILE__\nint main(void) { return 0; }\n")
        #expect(job.status == .failed, "\(result.stderr.prefix(300))")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aTemplateRecursionBombEndsAsFailedOrTimeout() throws {
        let source = """
            template <int N> struct Bomb { static const long value = Bomb<N + 1>::value + Bomb<N + 2>::value; };
            int main() { return (int)Bomb<0>::value; }
            """
        let (job, _) = try compileHostile(source, language: .cpp)
        #expect(job.status == .failed || job.status == .timeout, "\(job.status)")
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aCompileThatRunsPastTheTimeLimitEndsAsTimeout() throws {
        let (job, result) = try compileHostile(slowCompileSource, language: .cpp)
        #expect(job.status == .timeout, "\(job.status): \(result.stderr.prefix(300))")
        #expect(!result.success && !result.compiled && result.error.contains("time limit"))
    }

    @Test(.runningTimeLimit(minutes: 1))
    func anErrorFloodIsCappedWithAMarker() throws {
        let source = String(repeating: "int x = ;\n", count: 40_000)
        let (job, result) = try compileHostile(source)
        #expect(job.status == .failed || job.status == .timeout)
        #expect(result.stderr.utf8.count < 65536 + 200, "\(result.stderr.utf8.count) bytes")
        #expect(result.stderr.hasSuffix("more bytes were cut]\n"))
    }

    @Test(.runningTimeLimit(minutes: 1))
    func aSourceNeedingMoreThanTheMemoryLimitFailsCleanly() throws {
        // Macro expansion that grows to about 10^8 tokens: far beyond 512 MiB.
        var source = "#define L0 x x x x x x x x x x\n"
        for level in 1...8 { source += "#define L\(level) " + String(repeating: "L\(level - 1) ", count: 10) + "\n" }
        source += "int f(void) { return L8; }\n"
        let (job, result) = try compileHostile(source)
        #expect(job.status == .failed, "\(job.status): \(result.stderr.prefix(300))")
        #expect(result.stderr.contains("memory"), "the compiler says it ran out of memory: \(result.stderr.prefix(300))")
    }
}
