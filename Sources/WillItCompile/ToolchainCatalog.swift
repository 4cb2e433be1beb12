import FoundationEssentials

/// Reads the toolchain catalog: a directory of JSON files, one per toolchain family
/// (`toolchains/catalog/gcc.json`, `clang.json`, …), each `{"toolchains": [entry, …]}`. A path to
/// one such file is a catalog of that file alone. Entries come in file-name order, then in
/// each file's order.
///
/// The catalog is the only place that knows what the service compiles, so it is read strictly:
/// a field the worker does not know (a misspelt `standard` would otherwise be a toolchain
/// without standards), a key written twice, or an id in two files is refused, naming the file.
public enum ToolchainCatalog {
    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public static func load(at path: String) throws(LoadError) -> [ToolchainSpec] {
        var specs: [ToolchainSpec] = []
        var fileOfID: [String: String] = [:]
        for file in try files(at: path) {
            for spec in try entries(of: file) {
                if let other = fileOfID[spec.id], other != file {
                    throw failure(file, "the toolchain id `\(spec.id)` is also in \(other); an id belongs to one file")
                }
                if specs.contains(where: { $0.id == spec.id && $0.language == spec.language }) {
                    throw failure(file, "`\(spec.id)` for \(spec.language.rawValue) is there twice")
                }
                fileOfID[spec.id] = file
                specs.append(spec)
            }
        }
        return specs
    }

    /// The `*.json` files of a catalog directory, by name; a file path stands for itself.
    private static func files(at path: String) throws(LoadError) -> [String] {
        let type: FileAttributeType?
        do {
            type = try FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType
        } catch {
            throw failure(path, "no such file or directory")
        }
        guard type == .typeDirectory else { return [path] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".json") }.sorted()
        } catch {
            throw failure(path, "cannot list the directory: \(error)")
        }
        guard !names.isEmpty else { throw failure(path, "the directory holds no *.json file") }
        return names.map { "\(path)/\($0)" }
    }

    private struct File: Decodable {
        var toolchains: [ToolchainSpec]
    }

    private static func entries(of file: String) throws(LoadError) -> [ToolchainSpec] {
        guard FileManager.default.fileExists(atPath: file) else { throw failure(file, "no such file (a link to nowhere?)") }
        guard FileManager.default.isReadableFile(atPath: file) else { throw failure(file, "this user may not read it") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw failure(file, "cannot read it: \(error)")
        }
        let document: JSONValue
        do {
            document = try JSONValue(parsing: Array(data))
        } catch {
            throw failure(file, error.description)
        }
        if let problem = strayKeys(document) { throw failure(file, problem) }
        let specs: [ToolchainSpec]
        do {
            specs = try JSONDecoder().decode(File.self, from: data).toolchains
        } catch let DecodingError.keyNotFound(key, context) {
            throw failure(file, "\(location(of: context.codingPath)) lacks the field `\(key.stringValue)`")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw failure(file, "\(location(of: context.codingPath)): \(context.debugDescription)")
        } catch {
            throw failure(file, "\(error)")
        }
        for (index, spec) in specs.enumerated() {
            if let problem = inconsistency(in: spec) { throw failure(file, "entry \(index + 1) (`\(spec.id)`) \(problem)") }
        }
        return specs
    }

    /// What an entry says that contradicts itself, described.
    private static func inconsistency(in spec: ToolchainSpec) -> String? {
        if let standard = spec.defaultStandard, !spec.standards.contains(standard) {
            return "has the default standard `\(standard)`, which is not among its standards"
        }
        // A project's sources are one argument each: `{source}` cannot be part of a longer one.
        if let element = spec.command.first(where: { $0.contains("{source}") && $0 != "{source}" }) {
            return "has `{source}` inside the command's element `\(element)`; `{source}` must be an element of its own"
        }
        for (standard, version) in (spec.standardsSince ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard spec.standards.contains(standard) else {
                return "gives `standards_since` for `\(standard)`, which is not among its standards"
            }
            let numbers = version.split(separator: ".", omittingEmptySubsequences: false)
            guard numbers.count == 2, numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy { ("0"..."9").contains($0) } }) else {
                return "gives `standards_since` `\(version)` for `\(standard)`; a version is written major.minor, e.g. 1.85"
            }
        }
        return nil
    }

    /// The first key that is written twice or that the worker does not know, described.
    private static func strayKeys(_ document: JSONValue) -> String? {
        guard case let .object(members) = document else { return "the file is not a JSON object" }
        if let problem = check(members, known: ["toolchains"], at: "the top level") { return problem }
        guard case let .array(entries)? = document["toolchains"] else { return "`toolchains` must be an array of entries" }
        for (index, entry) in entries.enumerated() {
            guard case let .object(fields) = entry else { return "entry \(index + 1) is not an object" }
            let name = "entry \(index + 1)" + (entry["id"]?.string.map { " (`\($0)`)" } ?? "")
            if let problem = check(fields, known: ToolchainSpec.fieldNames, at: name) { return problem }
            guard case let .array(targets)? = entry["targets"] else { continue }
            for (number, target) in targets.enumerated() {
                guard case let .object(targetFields) = target else { continue }
                if let problem = check(targetFields, known: TargetSpec.fieldNames, at: "\(name), target \(number + 1)") {
                    return problem
                }
            }
        }
        return nil
    }

    private static func check(_ members: [JSONMember], known: [String], at place: String) -> String? {
        var seen: Set<String> = []
        for member in members {
            guard known.contains(member.name) else {
                return "\(place) has the unknown field `\(member.name)` (known: \(known.joined(separator: ", ")))"
            }
            guard seen.insert(member.name).inserted else { return "\(place) has the field `\(member.name)` twice" }
        }
        return nil
    }

    /// `entry 3, target 1, field `architecture`` for a decoding error's path.
    private static func location(of path: [any CodingKey]) -> String {
        var words: [String] = []
        for (key, next) in zip(path, path.dropFirst().map(Optional.some) + [nil]) where key.intValue == nil {
            let number = next?.intValue.map { " \($0 + 1)" } ?? ""
            switch key.stringValue {
            case "toolchains": words.append("entry\(number)")
            case "targets" where !number.isEmpty: words.append("target\(number)")
            default: words.append("field `\(key.stringValue)`" + (number.isEmpty ? "" : ", element\(number)"))
            }
        }
        return words.isEmpty ? "the file" : words.joined(separator: ", ")
    }

    private static func failure(_ path: String, _ problem: String) -> LoadError {
        LoadError(description: "toolchain catalog (WORKER_CATALOG) \(path): \(problem)")
    }
}
