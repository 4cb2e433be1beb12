import Foundation
public import WillItCompile

/// Reads the catalog and finds out which of its toolchains this host really has.
public enum ToolchainProbe {
    private struct Catalog: Decodable {
        var toolchains: [ToolchainSpec]
    }

    public struct CatalogError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func loadCatalog(at path: String) throws(CatalogError) -> [ToolchainSpec] {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode(Catalog.self, from: data).toolchains
        } catch {
            throw CatalogError(description: "cannot read the toolchain catalog \(path) (WORKER_CATALOG): \(error)")
        }
    }

    /// Runs each entry's version command (outside the sandbox: it is the host's own
    /// binary, run with fixed arguments). Entries that do not answer are left out.
    /// Per language, the installed entry with the highest priority becomes the default.
    public static func probe(_ specs: [ToolchainSpec]) -> [Toolchain] {
        let found: [(ToolchainSpec, String)] = specs.compactMap { spec in
            guard FileManager.default.isExecutableFile(atPath: spec.executable),
                  let outcome = try? ProcessRunner.run(
                      executable: spec.executable, arguments: spec.versionArguments,
                      environment: ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp"], input: nil,
                      wantsStatusPipe: false, timeout: .seconds(20), outputLimit: 4096),
                  outcome.termination == .exited(0)
            else { return nil }
            let text = String(decoding: outcome.stdout.bytes + outcome.stderr.bytes, as: UTF8.self)
            let version = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            return (spec, version)
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
