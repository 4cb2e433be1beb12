import Foundation
import TestSupport
import Testing
import WillItCompile

/// Cross targets: a program that only the target accepts compiles, the file built
/// is for that target, and a header only the other OS has fails.
@Suite(.serialized) struct CrossTargetTests {
    struct Target: Sendable, CustomTestStringConvertible {
        let compiler: String
        let language: Language
        let architecture: String
        let os: String
        /// A macro only this target defines.
        let macro: String
        /// What the artifact description must contain.
        let artifact: String
        var testDescription: String { "\(compiler) \(language.rawValue) \(architecture)/\(os)" }
    }

    static let targets: [Target] = [
        Target(compiler: "gcc-12", language: .c, architecture: "x86_64", os: "linux", macro: "__x86_64__", artifact: "ELF 64-bit executable (PIE) or shared object, x86-64"),
        Target(compiler: "gcc-12", language: .c, architecture: "arm64", os: "linux", macro: "__aarch64__", artifact: "ELF 64-bit executable (PIE) or shared object, AArch64"),
        Target(compiler: "gcc-12", language: .c, architecture: "armhf", os: "linux", macro: "__ARM_PCS_VFP", artifact: "ELF 32-bit executable (PIE) or shared object, ARM"),
        Target(compiler: "gcc-12", language: .c, architecture: "riscv64", os: "linux", macro: "__riscv", artifact: "ELF 64-bit executable (PIE) or shared object, RISC-V"),
        Target(compiler: "gcc-12", language: .c, architecture: "x86_64", os: "windows", macro: "_WIN64", artifact: "PE32+ executable, x86-64"),
        Target(compiler: "gcc-12", language: .cpp, architecture: "arm64", os: "linux", macro: "__aarch64__", artifact: "AArch64"),
        Target(compiler: "gcc-12", language: .cpp, architecture: "x86_64", os: "windows", macro: "_WIN64", artifact: "PE32+ executable, x86-64"),
        Target(compiler: "clang-16", language: .c, architecture: "arm64", os: "linux", macro: "__aarch64__", artifact: "AArch64"),
        Target(compiler: "clang-16", language: .c, architecture: "armhf", os: "linux", macro: "__ARM_PCS_VFP", artifact: "ELF 32-bit"),
        Target(compiler: "clang-16", language: .c, architecture: "riscv64", os: "linux", macro: "__riscv", artifact: "RISC-V"),
        Target(compiler: "clang-16", language: .cpp, architecture: "arm64", os: "linux", macro: "__aarch64__", artifact: "AArch64"),
    ]

    let worker: WorkerProcess

    init() throws {
        worker = try WorkerProcess()
    }

    func compile(_ source: String, for target: Target) throws -> (CompilationJob, CompilationResult) {
        let job = CompilationJob(request: CompilationRequest(
            source: Array(source.utf8), language: target.language, compiler: target.compiler,
            architecture: target.architecture, os: target.os), createdAt: Date())
        guard case let .accepted(id) = try worker.client.send(.submit(job)) else {
            throw HarnessError("\(target.testDescription) was refused")
        }
        return try worker.waitForVerdict(id)
    }

    @Test(.runningTimeLimit(minutes: 2), arguments: targets)
    func buildsForTheTargetAndOnlyForIt(_ target: Target) throws {
        let include = target.language == .cpp ? "#include <vector>\n" : "#include <stdio.h>\n"
        let onlyHere = "\(include)#if !defined(\(target.macro))\n#error not built for \(target.testDescription)\n#endif\nint main(void) { return 0; }\n"
        let (job, result) = try compile(onlyHere, for: target)
        #expect(job.status == .completed, "\(result.stderr.prefix(500)) \(result.error)")
        #expect(result.artifact.contains(target.artifact), "artifact: \(result.artifact)")

        let otherOSHeader = target.os == "windows" ? "#include <sys/epoll.h>\n" : "#include <windows.h>\n"
        let (wrong, wrongResult) = try compile(otherOSHeader + "int main(void) { return 0; }\n", for: target)
        #expect(wrong.status == .failed, "\(wrongResult.stderr.prefix(300))")
    }

    @Test func aTargetTheCompilerCannotBuildForIsRefusedListingItsTargets() throws {
        let job = CompilationJob(request: CompilationRequest(
            source: Array("int main(void){}".utf8), language: .c, compiler: "clang-14", architecture: "arm64"), createdAt: Date())
        guard case let .failure(failure) = try worker.client.send(.submit(job)) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.code == .unsupportedJob)
        #expect(failure.message.contains("arm64/linux") && failure.message.contains("x86_64/linux"), "\(failure.message)")
    }
}
