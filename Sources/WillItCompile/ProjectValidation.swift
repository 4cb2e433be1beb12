/// The checks of a multi-file project (`files` and `translation_units`): each name against
/// the allowlist of `ProjectFile`, the names against each other, the count and total size,
/// and which files the compiler is given.
extension RequestValidator {
    /// The project's files and translation units, or nil after adding every problem found.
    /// - Parameter besides: `code` or `source_code` was given too.
    func checkProject(
        _ submitted: [SubmissionBody.SubmittedFile], translationUnits named: [String]?, language: Language?, link: Bool,
        besides: Bool, into problems: inout [ValidationProblem]
    ) -> (files: [ProjectFile], translationUnits: [String])? {
        if besides {
            problems.append(ValidationProblem(
                field: "files", kind: .conflicting,
                message: "Send either `files` (a project) or `code`/`source_code` (one source), not both."))
            return nil
        }
        guard !submitted.isEmpty else {
            problems.append(ValidationProblem(
                field: "files", kind: .missing,
                message: "`files` is empty; a project needs at least one file such as {\"name\": \"main.c\", \"content\": \"…\"}."))
            return nil
        }
        guard submitted.count <= maxFiles else {
            problems.append(ValidationProblem(
                field: "files", kind: .unsupported(accepted: []),
                message: "\(submitted.count) files given; a project may have at most \(maxFiles) (MAX_FILES)."))
            return nil
        }
        let before = problems.count
        var files: [ProjectFile] = []
        var total = 0
        for (position, file) in submitted.enumerated() {
            let field = "files[\(position)].name"
            if let reason = ProjectFile.problem(withName: file.name) {
                problems.append(ValidationProblem(
                    field: field, kind: .unsupported(accepted: []),
                    message: "File \(position) (\(shownName(file.name))): \(reason). A file's name must be \(ProjectFile.acceptedNames)."))
                continue
            }
            guard let content = decode(file, position: position, remaining: maxSourceSize - total, into: &problems) else {
                // Once over the size limit, the files after it would only say so again.
                if case .tooLarge = problems.last?.kind { break }
                continue
            }
            total += content.count
            files.append(ProjectFile(name: file.name, content: content))
        }
        guard problems.count == before else { return nil }
        if let clash = nameClash(in: files) {
            problems.append(clash)
            return nil
        }
        guard let language else { return nil }
        guard let units = translationUnits(named, of: files, language: language, link: link, into: &problems) else { return nil }
        return (files, units)
    }

    /// A name as a message quotes it: shortened, and with a NUL or a line break visible.
    private func shownName(_ name: String) -> String {
        let visible = SubmissionBody.shortened(name).unicodeScalars.map { scalar in
            scalar.value < 0x20 || scalar.value == 0x7F ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }.joined()
        return "`\(visible)`"
    }

    /// A file's content as bytes: its text, or its Base64 decoded; nil (with a problem) when
    /// its encoding is unknown or it would take the total over `maxSourceSize`.
    private func decode(
        _ file: SubmissionBody.SubmittedFile, position: Int, remaining: Int, into problems: inout [ValidationProblem]
    ) -> [UInt8]? {
        let field = "files[\(position)].content"
        switch file.encoding {
        case nil, "", "utf-8":
            guard file.content.utf8.count <= remaining else {
                problems.append(tooLarge(field: "files", size: maxSourceSize - remaining + file.content.utf8.count))
                return nil
            }
            return Array(file.content.utf8)
        case "base64":
            let bytes: [UInt8]
            do {
                bytes = try decodeBase64(file.content, field: field, limit: remaining)
            } catch {
                for problem in error.problems {
                    guard case let .tooLarge(_, actual) = problem.kind else {
                        problems.append(problem)
                        continue
                    }
                    problems.append(tooLarge(field: "files", size: maxSourceSize - remaining + actual))
                }
                return nil
            }
            guard bytes.count <= remaining else {
                problems.append(tooLarge(field: "files", size: maxSourceSize - remaining + bytes.count))
                return nil
            }
            return bytes
        case let other?:
            problems.append(ValidationProblem(
                field: "files[\(position)].encoding", kind: .unsupported(accepted: ["utf-8", "base64"]),
                message: "File \(position) (\(shownName(file.name))) has encoding `\(SubmissionBody.shortened(other))`; accepted: `utf-8` (the default) or `base64`."))
            return nil
        }
    }

    /// The first two names that cannot both be in one folder tree: the same name twice, or a
    /// name that is another's folder (`a` and `a/b`).
    private func nameClash(in files: [ProjectFile]) -> ValidationProblem? {
        var positions: [String: Int] = [:]
        for (position, file) in files.enumerated() {
            if let first = positions[file.name] {
                return ValidationProblem(
                    field: "files[\(position)].name", kind: .conflicting,
                    message: "File \(position) (\(shownName(file.name))) has the name of file \(first); each name may be given once.")
            }
            positions[file.name] = position
        }
        for (position, file) in files.enumerated() {
            for folder in file.folders {
                guard let other = positions[folder] else { continue }
                return ValidationProblem(
                    field: "files[\(other)].name", kind: .conflicting,
                    message: "File \(other) (\(shownName(folder))) is also the folder of file \(position) (\(shownName(file.name))); a name cannot be a file and a folder.")
            }
        }
        return nil
    }

    /// The files the compiler is given: those named (each a listed file of a source extension
    /// of the language), or by default every source file (a Rust crate's root only). Go's must
    /// all be in one folder: one package.
    private func translationUnits(
        _ named: [String]?, of files: [ProjectFile], language: Language, link: Bool, into problems: inout [ValidationProblem]
    ) -> [String]? {
        let extensions = language.sourceExtensions.map { "." + $0 }.joined(separator: ", ")
        var units: [String]
        if let named {
            let before = problems.count
            let listed = Set(files.map(\.name))
            for (position, name) in named.enumerated() {
                let field = "translation_units[\(position)]"
                if !listed.contains(name) {
                    problems.append(ValidationProblem(
                        field: field, kind: .unsupported(accepted: []),
                        message: "Translation unit \(position) (\(shownName(name))) is not the name of a file in `files`."))
                } else if !language.isSource(name) {
                    problems.append(ValidationProblem(
                        field: field, kind: .unsupported(accepted: language.sourceExtensions),
                        message: "Translation unit \(position) (\(shownName(name))) is not a \(language.rawValue) source; accepted: names ending in \(extensions)."))
                } else if named.prefix(position).contains(name) {
                    problems.append(ValidationProblem(
                        field: field, kind: .conflicting,
                        message: "Translation unit \(position) (\(shownName(name))) is named twice; name each file once."))
                }
            }
            guard problems.count == before else { return nil }
            if named.isEmpty {
                problems.append(ValidationProblem(
                    field: "translation_units", kind: .missing,
                    message: "`translation_units` is empty; name at least one file, or leave it out to compile every file ending in \(extensions)."))
                return nil
            }
            if language == .rust, named.count > 1 {
                problems.append(ValidationProblem(
                    field: "translation_units", kind: .unsupported(accepted: []),
                    message: "rustc compiles one crate from its root and finds its modules (`mod util;`) itself; name one file, such as `src/main.rs`."))
                return nil
            }
            units = named
        } else if language == .rust {
            let roots = Language.rustCrateRoots(link: link).filter { root in files.contains { $0.name == root } }
            guard roots.count == 1 else {
                let candidates = Language.rustCrateRoots(link: link).map { "`\($0)`" }.joined(separator: ", ")
                problems.append(ValidationProblem(
                    field: "translation_units", kind: roots.isEmpty ? .missing : .conflicting,
                    message: roots.isEmpty
                        ? "A Rust project needs its crate root, one of \(candidates)\(link ? " (`lib.rs` or `src/lib.rs` with `link: false`)" : ""); or name it in `translation_units`."
                        : "The project has several crate roots (\(roots.joined(separator: ", "))); name the one to compile in `translation_units`."))
                return nil
            }
            units = roots
        } else {
            units = files.map(\.name).filter(language.isSource)
            guard !units.isEmpty else {
                problems.append(ValidationProblem(
                    field: "files", kind: .missing,
                    message: "No file of the project is a \(language.rawValue) source (names ending in \(extensions)); add one, or name the files to compile in `translation_units`."))
                return nil
            }
        }
        if language == .go, Set(units.map(ProjectFile.folder(of:))).count > 1 {
            let folders = Set(units.map { ProjectFile.folder(of: $0).isEmpty ? "the project's root" : "`\(ProjectFile.folder(of: $0))`" }).sorted()
            problems.append(ValidationProblem(
                field: named == nil ? "files" : "translation_units", kind: .unsupported(accepted: []),
                message: "Go builds one package, whose .go files are all in one folder; these are in \(folders.joined(separator: " and ")). Name the package's files in `translation_units`."))
            return nil
        }
        return units
    }
}
