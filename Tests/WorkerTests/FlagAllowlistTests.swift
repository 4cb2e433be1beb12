import Foundation
import TestSupport
import Testing
import WillItCompile

/// The compiler flag allowlist through the real worker, sandbox and compilers: flags that ran
/// programs through the gcc driver (issue 10) are refused at submit by every gcc-driver toolchain
/// and by clang, and the flags people ask about still reach the compiler and do what they say.
@Suite(.serialized) struct FlagAllowlistTests {
    struct Driver: CustomTestStringConvertible, Sendable {
        let compiler: String
        let language: Language
        var architecture: String? = nil
        var os: String? = nil
        /// Compiles with no flags.
        let program: String
        /// Flags it takes, all at once; the program still compiles with them.
        let accepted: [String]
        var testDescription: String { "\(compiler) \(language.rawValue) \(architecture ?? "x86_64")/\(os ?? "linux")" }
    }

    static let cProgram = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n"
    static let cppProgram = "#include <vector>\nint main() { std::vector<int> v{1, 2}; return static_cast<int>(v.size()) - 2; }\n"
    static let goProgram = "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hi\") }\n"

    static let drivers: [Driver] = [
        Driver(compiler: "gcc-11", language: .c, program: cProgram,
               accepted: ["-O2", "-Wall", "-Wextra", "-Werror", "-Wshadow=local", "-g", "-fno-omit-frame-pointer", "-march=x86-64-v2", "-DX=1"]),
        Driver(compiler: "gcc-12", language: .c, program: cProgram,
               accepted: ["-O3", "-Wall", "-Werror=format", "-fstack-protector-strong", "-fvisibility=hidden", "-mtune=generic", "-mavx2", "-UX",
                        "--param=max-inline-insns-auto=50"]),
        Driver(compiler: "gcc-12", language: .cpp, program: cppProgram,
               accepted: ["-Os", "-Wall", "-Werror", "-fno-exceptions", "-fno-rtti", "-fmodules-ts", "-ftemplate-depth=100", "-g3"]),
        Driver(compiler: "gccgo-12", language: .go, program: goProgram,
               accepted: ["-O2", "-g", "-Wall", "-fgo-check-divide-zero", "-march=x86-64-v2"]),
        Driver(compiler: "gcc-12", language: .c, architecture: "arm64", program: cProgram,
               accepted: ["-O2", "-Wall", "-Werror", "-march=armv8-a+crc", "-mtune=cortex-a72", "-mstrict-align"]),
        Driver(compiler: "gcc-12", language: .cpp, architecture: "arm64", program: cppProgram,
               accepted: ["-O2", "-Wall", "-Werror", "-fno-exceptions", "-mcpu=cortex-a53", "-mno-outline-atomics"]),
        Driver(compiler: "gcc-12", language: .c, architecture: "armhf", program: cProgram,
               accepted: ["-O2", "-Wall", "-Werror", "-mthumb", "-mfloat-abi=hard", "-mfpu=neon"]),
        Driver(compiler: "gcc-12", language: .c, architecture: "riscv64", program: cProgram,
               accepted: ["-O2", "-Wall", "-Werror", "-march=rv64gc", "-mabi=lp64d", "-mcmodel=medany"]),
        Driver(compiler: "gcc-12", language: .c, os: "windows", program: cProgram,
               accepted: ["-O2", "-Wall", "-Werror", "-mconsole", "-march=x86-64-v2"]),
        Driver(compiler: "clang-16", language: .c, program: cProgram,
               accepted: ["-O2", "-Wall", "-Werror", "-Wshorten-64-to-32", "-march=x86-64-v3", "-fno-omit-frame-pointer", "-gdwarf-4"]),
        Driver(compiler: "clang-16", language: .cpp, program: cppProgram,
               accepted: ["-Oz", "-Weverything", "-Wno-c++98-compat", "-Wno-c++98-compat-pedantic", "-fno-exceptions", "-fvisibility=hidden"]),
        Driver(compiler: "clang-16", language: .c, architecture: "arm64", program: cProgram,
               accepted: ["-O2", "-Wall", "-Werror", "-march=armv8-a+crc", "-mcpu=cortex-a72"]),
    ]

    /// The issue's vectors exactly as they were sent: each ran a program or loaded code.
    static let vectors: [[String]] = [
        ["-fcompare-debug=%:include(main.c)"],
        ["-fcompare-debug=-fplugin=/usr/lib/x86_64-linux-gnu/libc.so.6"],
        ["-fmodules-ts", "-fmodule-mapper=|sh?-c?id"],
        ["-fmodule-file=x=/abs"],
    ]

    let worker: WorkerProcess

    init() throws {
        worker = try WorkerProcess()
    }

    private func job(_ driver: Driver, _ source: String, flags: [String]) -> CompilationJob {
        CompilationJob(request: CompilationRequest(
            source: Array(source.utf8), language: driver.language, compiler: driver.compiler,
            architecture: driver.architecture, os: driver.os, flags: flags), createdAt: Date())
    }

    @Test(arguments: drivers)
    func theIssuesVectorsAreRefusedAtSubmitNamingTheFlag(_ driver: Driver) throws {
        // A specs file: with -fcompare-debug=%:include(main.c) gcc ran this source as a shell script.
        let specs = "%rename cc1 x\n*cc1:\n%:include(main.c)\n.c:\nsh %i\n"
        for flags in Self.vectors {
            guard case let .failure(failure) = try worker.client.send(.submit(job(driver, specs, flags: flags))) else {
                Issue.record("\(driver.testDescription) accepted \(flags)")
                continue
            }
            let refused = flags.last!
            #expect(failure.code == .unsupportedJob)
            #expect(failure.message.contains("Flag `\(refused)` is refused"), "\(failure.message.prefix(300))")
            #expect(failure.message.contains("GET /api/v1/flags/"), "says where the whole list is: \(failure.message.prefix(600))")
            // -fmodules-ts alone is a harmless C++ flag; gccgo does not take it at all.
            #expect(failure.message.contains("Flag `-fmodules-ts`") == (flags.contains("-fmodules-ts") && driver.language == .go),
                    "\(failure.message.prefix(300))")
        }
    }

    @Test(.runningTimeLimit(minutes: 3), arguments: drivers)
    func acceptedFlagsReachTheCompiler(_ driver: Driver) throws {
        guard case let .accepted(id) = try worker.client.send(.submit(job(driver, driver.program, flags: driver.accepted))) else {
            Issue.record("\(driver.testDescription) refused \(driver.accepted)")
            return
        }
        let (done, result) = try worker.waitForVerdict(id)
        #expect(done.status == .completed, "\(driver.testDescription) \(driver.accepted): \(result.stderr.prefix(800)) \(result.error)")
    }

    /// -Werror from the request reaches the compiler: a warning alone fails the compile.
    @Test(.runningTimeLimit(minutes: 3), arguments: drivers.filter { $0.language != .go })
    func werrorFromTheRequestFailsAWarning(_ driver: Driver) throws {
        let warns = "int main(void) { int unused; return 0; }\n"
        let (plain, _) = try worker.waitForVerdict(try submit(job(driver, warns, flags: [])))
        #expect(plain.status == .completed)
        let (strict, result) = try worker.waitForVerdict(try submit(job(driver, warns, flags: ["-Wall", "-Werror"])))
        #expect(strict.status == .failed && result.stderr.contains("unused"), "\(driver.testDescription): \(result.stderr.prefix(500))")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func goAndRustcFlagsKeepToTheirLists() throws {
        let go = Driver(compiler: "go-1.19", language: .go, program: Self.goProgram,
                        accepted: ["-trimpath", "-gcflags=-N", "-gcflags=-d=checkptr", "-ldflags=-s", "-tags=netgo"])
        let rust = Driver(compiler: "rustc-1.63", language: .rust, program: "fn main() { println!(\"hi\"); }\n",
                          accepted: ["-Copt-level=3", "-Ctarget-feature=+avx2", "--cfg=feature=\"x\"", "-Dwarnings"])
        for driver in [go, rust] {
            let (done, result) = try worker.waitForVerdict(try submit(job(driver, driver.program, flags: driver.accepted)))
            #expect(done.status == .completed, "\(driver.testDescription) \(driver.accepted): \(result.stderr.prefix(800)) \(result.error)")
        }
        for (driver, flag) in [(go, "-gcflags=-importcfg=main.go"), (go, "-toolexec=/bin/sh"), (go, "-a"), (go, "-gcflags=all=-S"), (rust, "-Clinker=/bin/sh"), (rust, "-Cllvm-args=-x")] {
            guard case let .failure(failure) = try worker.client.send(.submit(job(driver, driver.program, flags: [flag]))) else {
                Issue.record("\(driver.testDescription) accepted \(flag)")
                continue
            }
            #expect(failure.message.contains("Flag `\(flag)` is refused"), "\(failure.message.prefix(300))")
        }
    }

    private func submit(_ job: CompilationJob) throws -> JobID {
        guard case let .accepted(id) = try worker.client.send(.submit(job)) else { throw HarnessError("refused: \(job.request.flags)") }
        return id
    }
}
