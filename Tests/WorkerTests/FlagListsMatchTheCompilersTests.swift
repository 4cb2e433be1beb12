import Foundation
import TestSupport
import Testing
import WillItCompile

/// The flag lists are what the installed compilers document: every flag on a list is known to
/// at least one compiler it is listed for. A list edited by hand, or left stale after a compiler
/// changed, fails here (regenerate with scripts/generate-flag-lists and review the diff).
@Suite struct FlagListsMatchTheCompilersTests {
    struct List: CustomTestStringConvertible, Sendable {
        let name: String
        let flags: @Sendable () -> [String]?
        /// Any one of them must know each flag.
        let compilers: [String]
        var testDescription: String { name }
    }

    static let lists: [List] = [
        List(name: "gcc", flags: { FlagFamily.gcc.fullList }, compilers: ["/usr/bin/gcc-12", "/usr/bin/gcc-11"]),
        List(name: "gccgo", flags: { FlagFamily.gccgo.fullList }, compilers: ["/usr/bin/gccgo-12"]),
        List(name: "clang", flags: { FlagFamily.clang.fullList },
             compilers: ["/usr/bin/clang-16", "/usr/bin/clang-15", "/usr/bin/clang-14", "/usr/bin/clang-13", "/opt/swift/usr/bin/clang"]),
        List(name: "x86_64/linux", flags: { FlagFamily.targetList(architecture: "x86_64", os: "linux") },
             compilers: ["/usr/bin/gcc-12", "/usr/bin/gcc-11"]),
        List(name: "x86_64/windows", flags: { FlagFamily.targetList(architecture: "x86_64", os: "windows") },
             compilers: ["/usr/bin/x86_64-w64-mingw32-gcc-win32"]),
        List(name: "arm64/linux", flags: { FlagFamily.targetList(architecture: "arm64", os: "linux") },
             compilers: ["/usr/bin/aarch64-linux-gnu-gcc-12"]),
        List(name: "armhf/linux", flags: { FlagFamily.targetList(architecture: "armhf", os: "linux") },
             compilers: ["/usr/bin/arm-linux-gnueabihf-gcc-12"]),
        List(name: "riscv64/linux", flags: { FlagFamily.targetList(architecture: "riscv64", os: "linux") },
             compilers: ["/usr/bin/riscv64-linux-gnu-gcc-12"]),
    ]

    @Test(.runningTimeLimit(minutes: 2), arguments: lists)
    func everyListedFlagIsKnownToACompilerOfTheList(_ list: List) throws {
        // Flags without a value kind, as the compilers document them; values are checked by CompilerFlagsTests.
        let flags = try #require(list.flags()).filter { !$0.contains("<") && ["-f", "-W", "-g", "-m"].contains(String($0.prefix(2))) }
        #expect(flags.count > 10, "\(flags.count) flags")
        var unknownToAll = Set(flags)
        for compiler in list.compilers {
            let unknown = try unknownFlags(compiler, flags)
            #expect(unknown.count < flags.count / 2, "\(compiler) knows few of the \(list.name) flags: is it the right compiler?")
            unknownToAll.formIntersection(unknown)
        }
        #expect(unknownToAll.isEmpty, "on the \(list.name) list but unknown to \(list.compilers): \(unknownToAll.sorted())")
    }

    /// The flags `compiler` reports as unknown when given all of them at once.
    private func unknownFlags(_ compiler: String, _ flags: [String]) throws -> Set<String> {
        guard FileManager.default.isExecutableFile(atPath: compiler) else {
            throw TestFailure("\(compiler) is not installed: run scripts/setup (scripts/test does)")
        }
        let text = try run(compiler, ["-fsyntax-only", "-x", "c", "/dev/null"] + flags, capturing: .standardError).output
        // gcc: unrecognized command-line option ‘-fx’; clang: unknown argument: '-fx', unknown warning option '-Wx'.
        var unknown: Set<String> = []
        for line in text.split(separator: "\n")
        where line.contains("unrecognized command-line option") || line.contains("unknown argument") || line.contains("unknown warning option") {
            if let flag = line.split(whereSeparator: { "‘’'".contains($0) }).dropFirst().first {
                unknown.insert(String(flag))
            }
        }
        return unknown
    }
}
