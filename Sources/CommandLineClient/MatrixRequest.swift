import Foundation

/// What `matrix` sends (`POST /api/v1/matrix`): the source part and settings of a compile
/// request, and the environments: a list (`--env`), or `"all"` narrowed by the filters.
struct MatrixRequest: Encodable, Sendable {
    /// One cell's environment, `COMPILER[:STANDARD[:ARCH/OS]]` on the command line.
    struct Environment: Encodable, Sendable, Equatable {
        let compiler: String
        var standard: String?
        var architecture: String?
        var os: String?

        init(compiler: String, standard: String? = nil, architecture: String? = nil, os: String? = nil) {
            self.compiler = compiler
            self.standard = standard
            self.architecture = architecture
            self.os = os
        }

        static let accepted = "COMPILER[:STANDARD[:ARCH/OS]], e.g. gcc-12, gcc-12:c++17 or clang-16:c++20:arm64/linux"

        /// Reads `--env`'s value; an empty standard (`gcc-12::arm64/linux`) is the compiler's default.
        init(parsing text: String) throws(UsageError) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (1...3).contains(parts.count), !parts[0].isEmpty else {
                throw UsageError("--env `\(text)` is not an environment: expected \(Self.accepted)")
            }
            compiler = parts[0]
            if parts.count > 1, !parts[1].isEmpty { standard = parts[1] }
            if parts.count == 3 {
                let target = parts[2].split(separator: "/", omittingEmptySubsequences: false)
                guard target.count == 2, !target[0].isEmpty, !target[1].isEmpty else {
                    throw UsageError("--env `\(text)`: the target `\(parts[2])` is not ARCH/OS: expected \(Self.accepted)")
                }
                architecture = String(target[0])
                os = String(target[1])
            }
        }
    }

    enum Environments: Encodable, Sendable, Equatable {
        /// Every offered toolchain of the language × each of its standards.
        case all
        case list([Environment])

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .all: try container.encode("all")
            case .list(let environments): try container.encode(environments)
            }
        }
    }

    let source: CompileRequest
    let environments: Environments
    /// With `.all` only: flag families or toolchain ids, standards, `arch/os` targets.
    var compilers: [String]?
    var standards: [String]?
    var targets: [String]?

    private enum CodingKeys: String, CodingKey {
        case code, files, translationUnits = "translation_units", language, flags, link, cache
        case environments, compilers, standards, targets
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(source.code, forKey: .code)
        try container.encodeIfPresent(source.files, forKey: .files)
        try container.encodeIfPresent(source.translationUnits, forKey: .translationUnits)
        try container.encode(source.language, forKey: .language)
        try container.encodeIfPresent(source.flags, forKey: .flags)
        try container.encodeIfPresent(source.link, forKey: .link)
        try container.encodeIfPresent(source.cache, forKey: .cache)
        try container.encode(environments, forKey: .environments)
        try container.encodeIfPresent(compilers, forKey: .compilers)
        try container.encodeIfPresent(standards, forKey: .standards)
        try container.encodeIfPresent(targets, forKey: .targets)
    }

    /// The environments and filters the command line names: `--env`s (no filter beside them),
    /// else `"all"` with the filters given (each a list, comma-separated or repeated).
    init(source: CompileRequest, all: Bool, environments: [String], compilers: [String], standards: [String], targets: [String]) throws(UsageError) {
        self.source = source
        let filters = [("--compilers", compilers), ("--standards", standards), ("--targets", targets)].filter { !$0.1.isEmpty }
        if environments.isEmpty {
            self.environments = .all
            self.compilers = Self.list(compilers)
            self.standards = Self.list(standards)
            self.targets = Self.list(targets)
            return
        }
        if all { throw UsageError("--all and --env are two ways to name the cells: give one of them") }
        if let (option, _) = filters.first {
            throw UsageError("\(option) narrows --all; with --env the environments are the cells: give \(option) without --env, or only --env")
        }
        var list: [Environment] = []
        for text in environments { list.append(try Environment(parsing: text)) }
        self.environments = .list(list)
    }

    /// A filter's names, each value split at commas: nil when none is given.
    private static func list(_ values: [String]) -> [String]? {
        let names = values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
        return names.isEmpty ? nil : names
    }
}
