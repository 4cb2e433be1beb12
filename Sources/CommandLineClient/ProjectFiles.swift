import Foundation
import WillItCompile

/// The files of a multi-file project as the command line names them: each file's name in the
/// project (its path relative to `--root DIR`, else to the files' deepest common folder, so
/// that the files keep their places relative to each other), checked here against the
/// service's own allowlist of names before anything is sent.
struct ProjectFiles: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        /// The name the service gives the file, and its diagnostics use.
        let name: String
        /// Where the file is on this machine.
        let path: String
    }

    let entries: [Entry]

    /// Names `paths` relative to `root`, or to their deepest common folder without one; a
    /// usage error for a file outside the root, a name the service would refuse, or a name twice.
    init(paths: [String], root: String?, currentDirectory: String) throws(UsageError) {
        let absolute = paths.map { Self.standardized($0, in: currentDirectory) }
        let base = root.map { Self.standardized($0, in: currentDirectory) } ?? Self.commonFolder(of: absolute)
        var entries: [Entry] = []
        for (given, path) in zip(paths, absolute) {
            let prefix = base == "/" ? "/" : base + "/"
            guard path.hasPrefix(prefix) else {
                throw UsageError("`\(given)` is not inside the project's root `\(root ?? base)`: with --root DIR every file must be in DIR")
            }
            let name = String(path.dropFirst(prefix.count))
            if let reason = ProjectFile.problem(withName: name) {
                throw UsageError("`\(given)` would be named `\(name)` in the project, which the service refuses: \(reason). A name must be \(ProjectFile.acceptedNames)")
            }
            if entries.contains(where: { $0.name == name }) {
                throw UsageError("`\(given)` is given twice (as `\(name)`)")
            }
            entries.append(Entry(name: name, path: path))
        }
        self.entries = entries
    }

    /// `path` made absolute against `directory`, without `.`, `..` or repeated `/`.
    static func standardized(_ path: String, in directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : directory + "/" + path
        var components: [Substring] = []
        for component in joined.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": _ = components.popLast()
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    /// The deepest folder that holds every one of `paths` (absolute and standardized).
    static func commonFolder(of paths: [String]) -> String {
        let folders = paths.map { $0.split(separator: "/").dropLast() }
        guard var common = folders.first.map(Array.init) else { return "/" }
        for folder in folders.dropFirst() {
            common = Array(zip(common, folder).prefix { $0 == $1 }.map(\.0))
        }
        return "/" + common.joined(separator: "/")
    }

    /// The language the project's sources say by their extensions; headers and other files
    /// do not decide. A usage error when no file is a source, or sources of two languages are given.
    func language() throws(UsageError) -> Language {
        var found: [Language: String] = [:]
        for entry in entries {
            for language in Language.allCases where language.isSource(entry.name.lowercased()) && found[language] == nil {
                found[language] = entry.name
            }
        }
        let sources = Language.allCases.flatMap(\.sourceExtensions).map { "." + $0 }.joined(separator: ", ")
        let names = Language.acceptedNames.joined(separator: ", ")
        guard !found.isEmpty else {
            throw UsageError("none of the files is a source that tells the project's language (sources: \(sources); headers do not decide); give --language (\(names))")
        }
        guard found.count == 1, let language = found.keys.first else {
            let seen = Language.allCases.compactMap { language in found[language].map { "\(language.rawValue) (`\($0)`)" } }
            throw UsageError("the sources are of several languages: \(seen.joined(separator: ", ")); a project is of one, give --language (\(names))")
        }
        return language
    }

    /// `--unit NAME`s checked: each is one of the project's names.
    func translationUnits(_ units: [String]) throws(UsageError) -> [String] {
        for unit in units where !entries.contains(where: { $0.name == unit }) {
            throw UsageError("--unit `\(unit)` is not one of the project's files: \(entries.map { "`\($0.name)`" }.joined(separator: ", "))")
        }
        return units
    }

    /// Each file's name and bytes, as `files` sends them.
    func contents() throws(UsageError) -> [CompileRequest.File] {
        var files: [CompileRequest.File] = []
        for entry in entries {
            files.append(CompileRequest.File(name: entry.name, content: try CompileRequest.source(at: entry.path)))
        }
        return files
    }
}
