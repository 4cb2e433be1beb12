public import FoundationEssentials

/// One environment of a matrix: a compiler, and optionally a standard and a target.
public struct MatrixEnvironment: Sendable, Hashable {
    public var compiler: String
    public var standard: String?
    public var architecture: String?
    public var os: String?

    public init(compiler: String, standard: String? = nil, architecture: String? = nil, os: String? = nil) {
        self.compiler = compiler
        self.standard = standard
        self.architecture = architecture
        self.os = os
    }
}

/// A `POST /api/v1/matrix` body, read as strictly as a job's: the job's own fields (the
/// source, `language`, `flags`, `link`, `cache`) and the environments to compile it in.
public struct MatrixSubmission: Sendable, Equatable {
    public enum Environments: Sendable, Equatable {
        case listed([MatrixEnvironment])
        /// Every offered toolchain of the language × every standard it accepts, narrowed by
        /// the filters (nil: no filter); `targets` (`arch/os`) default to x86_64/linux.
        case all(compilers: [String]?, standards: [String]?, targets: [String]?)
    }

    /// Every cell's request but its compiler, standard and target.
    public var template: CompilationRequest
    public var environments: Environments

    public init(template: CompilationRequest, environments: Environments) {
        self.template = template
        self.environments = environments
    }

    /// The fields a matrix body takes besides a job's own.
    static let matrixFields: [(name: String, accepts: String)] = [
        ("environments", "an array of objects such as {\"compiler\": \"gcc-12\", \"standard\": \"c++20\"}, or the string \"all\""),
        ("compilers", "an array of compiler families or ids such as [\"gcc\", \"clang-16\"]"),
        ("standards", "an array of standards such as [\"c++17\", \"c++20\"]"),
        ("targets", "an array of targets such as [\"x86_64/linux\", \"arm64/linux\"]"),
    ]
    /// A job's fields that a matrix takes per environment instead.
    static let environmentFields = ["compiler", "standard", "architecture", "os"]

    static var fieldNames: [String] {
        SubmissionBody.fieldNames.filter { !environmentFields.contains($0) } + matrixFields.map(\.name)
    }
}

extension RequestValidator {
    /// Reads a matrix body: the job's fields are checked by `validate(object:)` exactly as a
    /// job's are, the environments here; every problem of the body at once.
    public func validateMatrix(json: Data) throws(RequestValidationError) -> MatrixSubmission {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: Array(json))
        } catch {
            throw RequestValidationError(problems: [Self.matrixNotAnObject(json.isEmpty ? "the body is empty" : "\(error)")])
        }
        guard case let .object(members) = document else {
            throw RequestValidationError(problems: [Self.matrixNotAnObject("got \(SubmissionBody.describe(document))")])
        }
        // A key given twice anywhere (in an environment too) is refused before anything is read.
        var problems = SubmissionBody.duplicateKeys(in: document, path: "")
        guard problems.isEmpty else { throw RequestValidationError(problems: SubmissionBody.capped(problems)) }
        var jobMembers: [JSONMember] = []
        var environments: JSONValue?
        var filters: [String: [String]] = [:]
        for member in members {
            if MatrixSubmission.environmentFields.contains(member.name) {
                problems.append(ValidationProblem(
                    field: member.name, kind: .unknownField(suggestion: "environments"),
                    message: "`\(member.name)` is given per environment in a matrix: put it in each of `environments`, or use `environments: \"all\"` with the filters `compilers`, `standards` and `targets`."))
            } else if member.name == "environments" {
                environments = member.value
            } else if ["compilers", "standards", "targets"].contains(member.name) {
                if case .null = member.value { continue }
                if let names = Self.names(member.value, field: member.name, into: &problems) { filters[member.name] = names }
            } else if SubmissionBody.fieldNames.contains(member.name) {
                jobMembers.append(member)
            } else {
                let field = SubmissionBody.shortened(member.name)
                let accepted = MatrixSubmission.fieldNames
                let suggestion = SubmissionBody.suggestion(for: member.name, among: accepted)
                let message = suggestion.map { "`\(field)` is not a field; did you mean `\($0)`?" }
                    ?? "`\(field)` is not a field (accepted: \(accepted.joined(separator: ", ")))."
                problems.append(ValidationProblem(field: field, kind: .unknownField(suggestion: suggestion), message: message))
            }
        }
        var template: CompilationRequest?
        do {
            template = try validate(object: .object(jobMembers))
        } catch {
            problems += error.problems
        }
        let chosen = Self.environments(environments, filters: filters, into: &problems)
        guard problems.isEmpty, let template, let chosen else { throw RequestValidationError(problems: SubmissionBody.capped(problems)) }
        return MatrixSubmission(template: template, environments: chosen)
    }

    private static func matrixNotAnObject(_ reason: String) -> ValidationProblem {
        ValidationProblem(
            field: "body", kind: .malformedBody,
            message: "The body must be a JSON object with `code` (Base64) or `source_code` (plain text), `language` and `environments`; \(reason).")
    }

    private static func environments(
        _ value: JSONValue?, filters: [String: [String]], into problems: inout [ValidationProblem]
    ) -> MatrixSubmission.Environments? {
        let accepts = MatrixSubmission.matrixFields[0].accepts
        switch value {
        case nil, .null?:
            problems.append(ValidationProblem(field: "environments", kind: .missing, message: "Field `environments` is required: \(accepts)."))
            return nil
        case .string("all")?:
            return .all(compilers: filters["compilers"], standards: filters["standards"], targets: filters["targets"])
        case let .array(elements)?:
            if !filters.isEmpty {
                let names = filters.keys.sorted().map { "`\($0)`" }.joined(separator: ", ")
                problems.append(ValidationProblem(
                    field: filters.keys.sorted()[0], kind: .conflicting,
                    message: "\(names) narrow `environments: \"all\"` only; with a list of environments, list exactly the ones wanted."))
            }
            if elements.isEmpty {
                problems.append(ValidationProblem(field: "environments", kind: .missing, message: "`environments` is empty: \(accepts)."))
                return nil
            }
            var listed: [MatrixEnvironment] = []
            for (position, element) in elements.enumerated() {
                if let environment = Self.environment(element, field: "environments[\(position)]", into: &problems) {
                    listed.append(environment)
                }
            }
            return .listed(listed)
        case let other?:
            problems.append(ValidationProblem(
                field: "environments", kind: .wrongType,
                message: "Field `environments` must be \(accepts); got \(SubmissionBody.describe(other))."))
            return nil
        }
    }

    private static func environment(_ value: JSONValue, field: String, into problems: inout [ValidationProblem]) -> MatrixEnvironment? {
        let accepted = MatrixSubmission.environmentFields
        guard case let .object(members) = value else {
            problems.append(ValidationProblem(
                field: field, kind: .wrongType,
                message: "`\(field)` must be an object with `compiler` and optionally `standard`, `architecture`, `os`; got \(SubmissionBody.describe(value))."))
            return nil
        }
        var strings: [String: String] = [:]
        var valid = true
        for member in members {
            guard accepted.contains(member.name) else {
                let name = SubmissionBody.shortened(member.name)
                let hint = SubmissionBody.suggestion(for: member.name, among: accepted).map { "did you mean `\($0)`?" }
                    ?? "accepted: \(accepted.joined(separator: ", "))"
                problems.append(ValidationProblem(
                    field: "\(field).\(name)", kind: .unknownField(suggestion: nil), message: "`\(field).\(name)` is not a field; \(hint)."))
                valid = false
                continue
            }
            switch member.value {
            case .null: continue
            case let .string(text):
                let trimmed = text.trimmingBlanks
                if !trimmed.isEmpty { strings[member.name] = trimmed }
            default:
                problems.append(ValidationProblem(
                    field: "\(field).\(member.name)", kind: .wrongType,
                    message: "`\(field).\(member.name)` must be a string; got \(SubmissionBody.describe(member.value))."))
                valid = false
            }
        }
        guard let compiler = strings["compiler"] else {
            problems.append(ValidationProblem(
                field: "\(field).compiler", kind: .missing,
                message: "`\(field)` names no `compiler`; every environment names one (see GET /api/v1/environments)."))
            return nil
        }
        guard valid else { return nil }
        let architecture = strings["architecture"].map { architectureAliases[$0.lowercased()] ?? $0.lowercased() }
        return MatrixEnvironment(compiler: compiler, standard: strings["standard"], architecture: architecture, os: strings["os"]?.lowercased())
    }

    private static func names(_ value: JSONValue, field: String, into problems: inout [ValidationProblem]) -> [String]? {
        let accepts = MatrixSubmission.matrixFields.first { $0.name == field }!.accepts
        guard case let .array(elements) = value, !elements.isEmpty else {
            problems.append(ValidationProblem(
                field: field, kind: .wrongType, message: "Field `\(field)` must be \(accepts); got \(SubmissionBody.describe(value))."))
            return nil
        }
        var names: [String] = []
        for (position, element) in elements.enumerated() {
            guard case let .string(text) = element, !text.trimmingBlanks.isEmpty else {
                problems.append(ValidationProblem(
                    field: "\(field)[\(position)]", kind: .wrongType,
                    message: "`\(field)[\(position)]` must be a name such as in \(accepts); got \(SubmissionBody.describe(element))."))
                continue
            }
            names.append(text.trimmingBlanks)
        }
        return names
    }
}

extension MatrixSubmission {
    /// Every cell's request, each checked against `offered` exactly as a job of its own would
    /// be (its compiler and standard named, as a job stores them), in the order listed; for
    /// `all`, toolchain by toolchain in the catalog's order, each target, each standard in the
    /// order the toolchain lists them.
    /// - Throws: every bad cell, named; more cells than `maxCells`, with the count and the limit.
    public func cells(offered: [Toolchain], maxCells: Int) throws(RequestValidationError) -> [CompilationRequest] {
        let wanted = try environments(offered: offered)
        guard wanted.count <= maxCells else {
            let narrowing = if case .all = environments { "narrow it with `compilers`, `standards` or `targets`" } else { "list fewer environments" }
            throw RequestValidationError(problems: [ValidationProblem(
                field: "environments", kind: .unsupported(accepted: []),
                message: "The matrix makes \(wanted.count) cells; at most \(maxCells) are accepted (MAX_MATRIX_CELLS): \(narrowing).")])
        }
        let sourceBytes = template.sourceByteCount
        let stored = wanted.count * sourceBytes
        guard stored <= Self.maxStoredSourceBytes else {
            throw RequestValidationError(problems: [ValidationProblem(
                field: "environments", kind: .unsupported(accepted: []),
                message: "The matrix stores its source with each of its \(wanted.count) cells: \(wanted.count) × \(sourceBytes) bytes is \(stored) bytes, and at most \(Self.maxStoredSourceBytes) (64 MiB) are accepted: make fewer cells or send a smaller source.")])
        }
        var problems: [ValidationProblem] = []
        var cells: [CompilationRequest] = []
        var seen: [MatrixEnvironment: Int] = [:]
        for (position, (field, environment)) in wanted.enumerated() {
            var cell = template
            cell.compiler = environment.compiler
            cell.standard = environment.standard
            cell.architecture = environment.architecture
            cell.os = environment.os
            let name = Self.name(of: environment)
            do {
                let toolchain = try offered.resolve(cell)
                cell.standard = cell.standard ?? toolchain.spec.defaultStandard
            } catch {
                problems += error.problems.map {
                    ValidationProblem(field: "\(field).\($0.field)", kind: $0.kind, message: "Cell \(field) (\(name)): \($0.message)")
                }
                continue
            }
            let resolved = MatrixEnvironment(compiler: environment.compiler, standard: cell.standard,
                                             architecture: cell.architecture ?? "x86_64", os: cell.os ?? "linux")
            if let earlier = seen[resolved] {
                problems.append(ValidationProblem(
                    field: field, kind: .conflicting,
                    message: "Cell \(field) (\(name)) is the same as environments[\(earlier)]; list each environment once."))
                continue
            }
            seen[resolved] = position
            cells.append(cell)
        }
        guard problems.isEmpty else { throw RequestValidationError(problems: SubmissionBody.capped(problems, more: "The cells have")) }
        return cells
    }

    /// The most of its source one matrix stores, once per cell: all of it goes to the store in
    /// one step (one Lua script), which must stay well within a Redis command's timeout.
    public static let maxStoredSourceBytes = 64 << 20

    /// `gcc-12 c++20 x86_64/linux`, as answers name a cell.
    static func name(of environment: MatrixEnvironment) -> String {
        [environment.compiler, environment.standard, "\(environment.architecture ?? "x86_64")/\(environment.os ?? "linux")"]
            .compactMap { $0 }.joined(separator: " ")
    }

    /// The environments with the field each is named by in an answer.
    private func environments(offered: [Toolchain]) throws(RequestValidationError) -> [(String, MatrixEnvironment)] {
        switch environments {
        case let .listed(list):
            return list.enumerated().map { ("environments[\($0.offset)]", $0.element) }
        case let .all(compilers, standards, targets):
            let all = try Self.expand(language: template.language, offered: offered, compilers: compilers, standards: standards, targets: targets)
            return all.map { ("environments[\(Self.name(of: $0))]", $0) }
        }
    }

    /// `all` for `language`: every offered toolchain (once per id) × its standards × the
    /// targets, narrowed by the filters, each of which must name something offered.
    static func expand(
        language: Language, offered: [Toolchain], compilers: [String]?, standards: [String]?, targets: [String]?
    ) throws(RequestValidationError) -> [MatrixEnvironment] {
        var problems: [ValidationProblem] = []
        var ids: Set<String> = []
        let mine = offered.filter { $0.spec.language == language && ids.insert($0.spec.id).inserted }
        let families = mine.compactMap { $0.spec.flags?.rawValue }
        var selected = mine
        if let compilers {
            let accepted = (families + mine.map(\.spec.id)).distinct
            for name in compilers where !accepted.contains(name) {
                problems.append(ValidationProblem(
                    field: "compilers", kind: .unsupported(accepted: accepted),
                    message: "`compilers` names `\(SubmissionBody.shortened(name))`, which is no \(language.rawValue) compiler family or id offered here (accepted: \(accepted.joined(separator: ", ")))."))
            }
            selected = mine.filter { compilers.contains($0.spec.id) || $0.spec.flags.map { compilers.contains($0.rawValue) } == true }
        }
        // When the compilers named are not offered, the other filters are checked against every one.
        let basis = selected.isEmpty ? mine : selected
        if let standards {
            let accepted = basis.flatMap(\.spec.standards).distinct
            for name in standards where !accepted.contains(name) {
                let list = accepted.isEmpty ? "these compilers take no standard; omit `standards`" : "accepted: \(accepted.joined(separator: ", "))"
                problems.append(ValidationProblem(
                    field: "standards", kind: .unsupported(accepted: accepted),
                    message: "`standards` names `\(SubmissionBody.shortened(name))`, which none of the chosen compilers accepts (\(list))."))
            }
        }
        var chosenTargets = [TargetSpec.host.name]
        if let targets {
            let accepted = basis.flatMap(\.targets).map(\.name).distinct
            for name in targets where !accepted.contains(name) {
                problems.append(ValidationProblem(
                    field: "targets", kind: .unsupported(accepted: accepted),
                    message: "`targets` names `\(SubmissionBody.shortened(name))`, which none of the chosen compilers builds (accepted: \(accepted.joined(separator: ", ")))."))
            }
            chosenTargets = targets.distinct
        }
        guard problems.isEmpty else { throw RequestValidationError(problems: problems) }
        var cells: [MatrixEnvironment] = []
        for toolchain in selected {
            let languageStandards: [String?] = toolchain.spec.standards.isEmpty ? [nil] : toolchain.spec.standards
            let wanted = standards.map { chosen in languageStandards.filter { $0.map(chosen.contains) ?? false } } ?? languageStandards
            for target in toolchain.targets where chosenTargets.contains(target.name) {
                for standard in wanted {
                    cells.append(MatrixEnvironment(compiler: toolchain.spec.id, standard: standard, architecture: target.architecture, os: target.os))
                }
            }
        }
        guard !cells.isEmpty else {
            throw RequestValidationError(problems: [ValidationProblem(
                field: "environments", kind: .unsupported(accepted: []),
                message: "`environments: \"all\"` makes no cell for \(language.rawValue) with these filters: no offered compiler of the chosen ones has the chosen standards and targets.")])
        }
        return cells
    }
}

