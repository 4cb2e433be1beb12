import Foundation
import TestSupport
import Testing
@testable import WillItCompile

/// The verdict cache's key: every input that can change a verdict changes it, and the
/// canonical form cannot be read two ways.
@Suite struct VerdictKeyTests {
    static let specs = try! ToolchainCatalog.load(at: repositoryRoot.appendingPathComponent("toolchains/catalog").path)
    static let gcc = Toolchain(spec: specs.first { $0.id == "gcc-12" }!, version: "gcc (Debian 12.2.0-14) 12.2.0", isDefault: true)

    static let request = CompilationRequest(
        source: Array("int main(void) { return 0; }\n".utf8), language: .c, compiler: "gcc-12", standard: "c11",
        architecture: "x86_64", os: "linux", flags: ["-O2", "-Wall"], link: true)

    func key(
        _ request: CompilationRequest = request, toolchain: Toolchain = gcc, sandbox: SandboxConfiguration = SandboxConfiguration(),
        timeout: Duration = .seconds(30)
    ) -> VerdictKey {
        VerdictKey(request: request, toolchain: toolchain, limits: CompileLimits(sandbox: sandbox, timeout: timeout))
    }

    @Test func isTheSameForTheSameInputsAndIgnoresTheCacheChoice() {
        var bypassing = Self.request
        bypassing.useCache = false
        #expect(key() == key(Self.request))
        #expect(key(bypassing) == key())
        #expect(key().digest.count == 64 && key().digest.allSatisfy { "0123456789abcdef".contains($0) })
    }

    /// One changed input at a time, each must give a key of its own.
    @Test func everyInputChangesTheKey() {
        var variants: [(String, VerdictKey)] = []
        func request(_ change: (inout CompilationRequest) -> Void) -> CompilationRequest {
            var changed = Self.request
            change(&changed)
            return changed
        }
        func sandbox(_ change: (inout SandboxConfiguration) -> Void) -> SandboxConfiguration {
            var changed = SandboxConfiguration()
            change(&changed)
            return changed
        }
        variants.append(("unchanged", key()))
        variants.append(("source", key(request { $0.source.append(0x20) })))
        variants.append(("language", key(request { $0.language = .cpp })))
        // The request's compiler is the toolchain's id once resolved: the toolchain's fields below key it.
        variants.append(("standard", key(request { $0.standard = "c17" })))
        variants.append(("architecture", key(request { $0.architecture = "arm64" })))
        variants.append(("os", key(request { $0.os = "windows" })))
        variants.append(("flags", key(request { $0.flags = ["-O2"] })))
        variants.append(("flag order", key(request { $0.flags = ["-Wall", "-O2"] })))
        variants.append(("link", key(request { $0.link = false })))
        var otherVersion = Self.gcc
        otherVersion.version = "gcc (Debian 12.2.0-15) 12.2.0"
        variants.append(("toolchain version", key(toolchain: otherVersion)))
        var otherID = Self.gcc
        otherID.spec.id = "gcc-12-other"
        variants.append(("toolchain id", key(toolchain: otherID)))
        var otherCommand = Self.gcc
        otherCommand.spec.command.append("-fno-builtin")
        variants.append(("toolchain command", key(toolchain: otherCommand)))
        variants.append(("timeout", key(timeout: .seconds(31))))
        variants.append(("timeout in ms", key(timeout: .milliseconds(30_001))))
        variants.append(("cpu", key(sandbox: sandbox { $0.cpuSeconds += 1 })))
        variants.append(("address space", key(sandbox: sandbox { $0.addressSpaceMegabytes += 1 })))
        variants.append(("file size", key(sandbox: sandbox { $0.fileSizeMegabytes += 1 })))
        variants.append(("processes", key(sandbox: sandbox { $0.processes += 1 })))
        variants.append(("cgroups", key(sandbox: sandbox { $0.cgroups.toggle() })))
        variants.append(("cgroup memory", key(sandbox: sandbox { $0.cgroupMemoryMegabytes += 1 })))
        variants.append(("pids", key(sandbox: sandbox { $0.pids += 1 })))
        variants.append(("workspace", key(sandbox: sandbox { $0.workspaceMegabytes += 1 })))
        variants.append(("output cap", key(sandbox: sandbox { $0.outputLimitBytes += 1 })))
        for (index, (name, variant)) in variants.enumerated() {
            for (otherName, other) in variants[..<index] {
                #expect(variant != other, "\(name) gives the key of \(otherName)")
            }
        }
    }

    /// The catalog entry's encoding is kept per id: an entry of the same id with other
    /// contents (another host's catalog) is keyed by its own contents, each time it comes back.
    @Test func anEntryOfTheSameIdWithOtherContentsIsKeyedByItsOwnContents() {
        var otherCommand = Self.gcc
        otherCommand.spec.command.append("-fno-builtin")
        let first = key()
        let other = key(toolchain: otherCommand)
        #expect(other != first)
        #expect(key() == first)
        #expect(key(toolchain: otherCommand) == other)
        #expect(VerdictKey.canonicalForm(request: Self.request, toolchain: otherCommand, limits: CompileLimits(sandbox: SandboxConfiguration(), timeout: .seconds(30))).bytes
            != VerdictKey.canonicalForm(request: Self.request, toolchain: Self.gcc, limits: CompileLimits(sandbox: SandboxConfiguration(), timeout: .seconds(30))).bytes)
    }

    /// Settings that only change where caches live, or which bwrap runs, give no other verdict.
    @Test func settingsThatCannotChangeAVerdictKeepTheKey() {
        var sandbox = SandboxConfiguration()
        sandbox.programCacheDirectory = "/elsewhere"
        sandbox.programCacheMegabytes = 1
        sandbox.programCacheEntries = 1
        #expect(key(sandbox: sandbox) == key())
    }

    /// Bytes moved from one field to the next, or from one flag to the next, give another key.
    @Test func bytesShiftedBetweenFieldsGiveAnotherKey() {
        func request(_ change: (inout CompilationRequest) -> Void) -> CompilationRequest {
            var changed = Self.request
            change(&changed)
            return changed
        }
        let flags = [["-O2", "-Wall"], ["-O2-Wall"], ["-O2-", "Wall"], ["-O2", "", "-Wall"], ["", "-O2", "-Wall"]]
        let keys = flags.map { list in key(request { $0.flags = list }) }
        #expect(Set(keys).count == flags.count)
        // The standard's last byte moved into the architecture, and the architecture's into the OS.
        let a = key(request { $0.standard = "c1"; $0.architecture = "1x86_64" })
        let b = key(request { $0.architecture = "x86_6"; $0.os = "4linux" })
        #expect(Set([key(), a, b]).count == 3)
        // A byte fewer in the source and one more in the version: the total length is the same, the key is not.
        var version = Self.gcc
        version.version = "\n" + Self.gcc.version
        #expect(key(request { $0.source.removeLast() }, toolchain: version) != key())
    }

    /// The form is what the documentation says: each name and value after its length, 8 bytes big-endian.
    @Test func theCanonicalFormIsLengthPrefixed() {
        var form = CanonicalForm(tag: "t")
        form.append("ab", "xyz")
        form.append("l", list: ["", "q"])
        let expected: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1] + Array("t".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 2] + Array("ab".utf8) + [0, 0, 0, 0, 0, 0, 0, 3] + Array("xyz".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 1] + Array("l".utf8) + [0, 0, 0, 0, 0, 0, 0, 25]
            + [0, 0, 0, 0, 0, 0, 0, 2] + [0, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 1] + Array("q".utf8)
        #expect(form.bytes == expected)
        // The digest is the SHA-256 of exactly these bytes (computed elsewhere, by Python's hashlib).
        #expect(CanonicalForm(tag: "abc").sha256Hex == "c3494ca1a2cf8eeb8a11ded316fb55b83c3bbbedb6313cd50415251e5d09e12f")
    }
}
