import Foundation
import TestSupport
import Testing
import WillItCompile

/// The toolchains this host offers, and programs that need a standard's real
/// features, through the real worker and sandbox. (Every standard of every
/// toolchain is covered through the HTTP API in StandardsEndToEndTests.)
@Suite(.serialized) struct ToolchainMatrixTests {
    /// What Debian 12 (plus the Swift toolchain of this machine kind) is expected to provide,
    /// with the package that brings each.
    static let expected: [String: String] = [
        "c/gcc-11": "gcc-11", "cpp/gcc-11": "g++-11", "c/gcc-12": "gcc-12", "cpp/gcc-12": "g++-12",
        "c/clang-13": "clang-13", "cpp/clang-13": "clang-13", "c/clang-14": "clang-14", "cpp/clang-14": "clang-14",
        "c/clang-15": "clang-15", "cpp/clang-15": "clang-15", "c/clang-16": "clang-16", "cpp/clang-16": "clang-16",
        "go/go-1.19": "golang-go", "go/gccgo-12": "gccgo-12", "rust/rustc-1.63": "rustc",
        "c/swift-clang-21": "the Swift toolchain in /opt/swift", "cpp/swift-clang-21": "the Swift toolchain in /opt/swift",
        "swift/swiftc-6": "the Swift toolchain in /opt/swift",
        "rust/rustc-1.95": "rustup's stable toolchain of this machine's image (scripts/setup mirrors it)",
    ]

    static let trivial: [Language: String] = [
        .c: "int main(void) { return 0; }\n",
        .cpp: "int main() { return 0; }\n",
        .go: "package main\nfunc main() {}\n",
        .rust: "fn main() {}\n",
        .swift: "print(1)\n",
    ]

    let worker: WorkerProcess

    init() throws {
        worker = try WorkerProcess(["MAX_WORKERS": "2", "QUEUE_SIZE": "500"])
    }

    func installed() throws -> [Toolchain] {
        guard case let .toolchains(list, _) = try worker.client.send(.toolchains) else {
            throw HarnessError("the worker did not list its toolchains")
        }
        return list
    }

    @Test func everyToolchainExpectedHereIsInstalledAndReportsItsVersion() throws {
        let list = try installed()
        let found = Set(list.map { "\($0.spec.language.rawValue)/\($0.spec.id)" })
        for (entry, package) in Self.expected.sorted(by: { $0.key < $1.key }) where !found.contains(entry) {
            Issue.record("\(entry) is not installed: install \(package) (scripts/setup does)")
        }
        for toolchain in list {
            #expect(!toolchain.version.isEmpty, "\(toolchain.spec.id) reported no version")
        }
        #expect(list.filter { $0.spec.language == .c && $0.isDefault }.map(\.spec.id) == ["gcc-12"], "the newest gcc is the C default")
        #expect(list.filter { $0.spec.language == .cpp && $0.isDefault }.map(\.spec.id) == ["gcc-12"])
        #expect(list.filter { $0.spec.language == .rust && $0.isDefault }.map(\.spec.id) == ["rustc-1.95"], "the newest stable Rust is the default")
        #expect(list.first { $0.spec.id == "rustc-1.95" }?.spec.standards == ["2015", "2018", "2021", "2024"])
        #expect(list.first { $0.spec.id == "rustc-1.63" }?.spec.standards == ["2015", "2018", "2021"])
    }

    /// Every toolchain found here compiles under the sandbox's seccomp filter: gcc, g++,
    /// every clang, go, gccgo, every rustc, swiftc.
    @Test(.runningTimeLimit(minutes: 5))
    func everyInstalledToolchainCompilesATrivialProgram() throws {
        let list = try installed()
        #expect(list.count >= Self.expected.count)
        let submitted = try list.map { toolchain in
            (toolchain, try worker.submit(Self.trivial[toolchain.spec.language]!, language: toolchain.spec.language, compiler: toolchain.spec.id))
        }
        for (toolchain, id) in submitted {
            let (job, result) = try worker.waitForVerdict(id, within: 240)
            #expect(job.status == .completed, "\(toolchain.spec.language.rawValue)/\(toolchain.spec.id): \(result.error) \(result.stderr.prefix(500))")
        }
    }

    struct FeatureCase: Sendable, CustomTestStringConvertible {
        let language: Language
        let compilers: [String]
        let needs: String
        let below: String
        let source: String
        var testDescription: String { "\(language.rawValue) \(needs) vs \(below)" }
    }

    /// A program that needs the standard compiles with it and fails with the one before
    /// (`-pedantic-errors` makes C and C++ compilers refuse later features as errors).
    static let features: [FeatureCase] = [
        FeatureCase(language: .c, compilers: ["gcc-11", "gcc-12", "clang-13", "clang-16"], needs: "c99", below: "c89",
                    source: "int main(void) { for (int i = 0; i < 1; i++) {} return 0; }\n"),
        FeatureCase(language: .c, compilers: ["gcc-12", "clang-16"], needs: "c11", below: "c99",
                    source: "#define kind(x) _Generic((x), int: 1, default: 0)\nint main(void) { return kind(1) - 1; }\n"),
        FeatureCase(language: .c, compilers: ["swift-clang-21"], needs: "c23", below: "c17",
                    source: "int main(void) { int *p = nullptr; return p != nullptr; }\n"),
        FeatureCase(language: .cpp, compilers: ["gcc-11", "clang-13"], needs: "c++11", below: "c++98",
                    source: "int main() { auto f = [](int x) { return x; }; return f(0); }\n"),
        FeatureCase(language: .cpp, compilers: ["gcc-12", "clang-14"], needs: "c++17", below: "c++14",
                    source: "template <class T> int f(T) { if constexpr (sizeof(T) > 0) return 0; else return 1; }\nint main() { return f(1); }\n"),
        FeatureCase(language: .cpp, compilers: ["gcc-12", "clang-16", "swift-clang-21"], needs: "c++20", below: "c++17",
                    source: "#include <concepts>\ntemplate <std::integral T> T twice(T x) { return 2 * x; }\nint main() { return twice(0); }\n"),
        FeatureCase(language: .rust, compilers: ["rustc-1.63", "rustc-1.95"], needs: "2021", below: "2018",
                    source: "fn main() { let x: u8 = u8::try_from(300i32).unwrap_or(0); let _ = x; }\n"),
        FeatureCase(language: .rust, compilers: ["rustc-1.95"], needs: "2024", below: "2021",
                    source: "fn ready() -> impl IntoFuture<Output = ()> { async {} }\nfn main() { let _ = ready(); }\n"),
        FeatureCase(language: .swift, compilers: ["swiftc-6"], needs: "5", below: "6",
                    source: "final class Box { var n = 0 }\nstruct S: Sendable { let box = Box() }\nprint(S().box.n)\n"),
    ]

    @Test(.runningTimeLimit(minutes: 3), arguments: features)
    func aProgramThatNeedsTheStandardCompilesWithItAndFailsBelowIt(_ feature: FeatureCase) throws {
        let flags = feature.language == .c || feature.language == .cpp ? ["-pedantic-errors"] : []
        for compiler in feature.compilers {
            let (with, withResult) = try worker.compile(feature.source, language: feature.language, compiler: compiler, standard: feature.needs, flags: flags)
            #expect(with.status == .completed, "\(compiler) \(feature.needs): \(withResult.stderr.prefix(400))")
            let (without, _) = try worker.compile(feature.source, language: feature.language, compiler: compiler, standard: feature.below, flags: flags)
            #expect(without.status == .failed, "\(compiler) \(feature.below) must refuse it")
        }
    }
}
