import Foundation
import POSIXSupport
public import WillItCompile

/// Finds out which of the catalog's toolchains this host really has.
public enum ToolchainProbe {
    /// A template entry becomes one entry per toolchain directory found; others stay as they are.
    static func expand(_ spec: ToolchainSpec) -> [ToolchainSpec] {
        guard spec.discover != nil, let directory = spec.discoverIn else { return [spec] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? []
        return names.map { name in
            let root = "\(directory)/\(name)"
            var concrete = spec
            concrete.executable = spec.executable.replacingOccurrences(of: "{toolchain}", with: root)
            concrete.binds = spec.binds.map { $0.replacingOccurrences(of: "{toolchain}", with: root) }
            return concrete
        }
    }

    /// Names a rustup toolchain by the version it reports (`rustc 1.95.0 (…)` → `rustc-1.95`,
    /// nightlies `rustc-1.97-nightly`) and gives it the template's editions that version knows
    /// (`standards_since`), with the template's default edition where it knows that one.
    /// Stable toolchains rank by version; nightlies never become the default.
    static func rustupToolchain(_ template: ToolchainSpec, version: String) -> (ToolchainSpec, String)? {
        let words = version.split(separator: " ")
        guard words.count >= 2, words[0] == "rustc" else { return nil }
        let numbers = words[1].split(separator: "-")[0].split(separator: ".").compactMap { Int($0) }
        guard numbers.count >= 2 else { return nil }
        let (major, minor) = (numbers[0], numbers[1])
        let channel = words[1].contains("nightly") ? "-nightly" : words[1].contains("beta") ? "-beta" : ""
        var spec = template
        spec.discover = nil
        spec.id = "rustc-\(major).\(minor)\(channel)"
        spec.standardsSince = nil
        spec.standards = template.standards.filter { standard in
            let since = (template.standardsSince?[standard] ?? "0.0").split(separator: ".").compactMap { Int($0) }
            return ![major, minor].lexicographicallyPrecedes(since)
        }
        spec.defaultStandard = template.defaultStandard.flatMap { spec.standards.contains($0) ? $0 : nil } ?? spec.standards.last
        spec.priority = channel.isEmpty ? major * 1000 + minor : 0
        return (spec, version)
    }

    /// Runs each entry's version command (outside the sandbox: it is the host's own
    /// binary, run with fixed arguments). Entries that do not answer are left out.
    /// Per language, the installed entry with the highest priority becomes the default.
    public static func probe(_ specs: [ToolchainSpec]) -> [Toolchain] {
        let found: [(ToolchainSpec, String)] = specs.flatMap(expand).compactMap { spec in
            guard FileManager.default.isExecutableFile(atPath: spec.executable),
                  let outcome = try? ProcessRunner.run(
                      executable: spec.executable, arguments: spec.versionArguments,
                      environment: ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp"],
                      collecting: [1: 4096, 2: 4096], timeout: .seconds(20)),
                  outcome.termination == .exited(0)
            else { return nil }
            let text = String(decoding: outcome.stdout.bytes + outcome.stderr.bytes, as: UTF8.self)
            let version = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            return spec.discover == "rustup" ? rustupToolchain(spec, version: version) : (spec, version)
        }
        return found.map { spec, version in
            let best = found.filter { $0.0.language == spec.language }.map(\.0.priority).max()
            let crossTargets = (spec.targets ?? []).filter { target in
                FileManager.default.isExecutableFile(atPath: target.executable ?? spec.executable)
                    && target.requires.allSatisfy { FileManager.default.fileExists(atPath: $0) }
            }
            return Toolchain(spec: spec, version: version, isDefault: spec.priority == best, targets: [.host] + crossTargets)
        }
    }
}
