/// Reads a compiler's stderr into `Diagnostic`s. Pure: the text in, the list out.
///
/// What is not a message (source snippets, carets, `2 errors generated.`, `In function`
/// headings) is left out; anything the parser does not recognise is left out too, so an
/// unknown line never becomes a wrong diagnostic. `stderr` keeps all of it.
public struct DiagnosticParser: Sendable {
    public let dialect: DiagnosticDialect
    /// The sandbox's workspace: a path inside it is shown relative to it, as the user named it.
    public let workspace: String

    public init(dialect: DiagnosticDialect, workspace: String) {
        self.dialect = dialect
        self.workspace = workspace.hasSuffix("/") ? workspace : workspace + "/"
    }

    /// The text a person reads and the diagnostics in it. Only rustc's JSON changes the text:
    /// it becomes the human text rustc would have printed (see `RustcJSONOutput`).
    public func read(_ text: String) -> (stderr: String, diagnostics: [Diagnostic]) {
        guard dialect == .rustcJSON else { return (text, parse(text)) }
        return RustcJSONOutput.read(text, paths: self)
    }

    /// The diagnostics in a compiler's human text.
    public func parse(_ text: String) -> [Diagnostic] {
        if dialect == .rustcJSON { return RustcJSONOutput.read(text, paths: self).diagnostics }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? line.dropLast() : line
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        var builder = Builder()
        switch dialect {
        case .gcc, .go: parseGCCStyle(lines, into: &builder)
        case .rustc, .rustcJSON: parseRustc(lines, into: &builder)  // JSON was read above
        }
        return builder.finish()
    }

    /// The user's name of a path the compiler printed: relative to the workspace, without `./`,
    /// and with a folder's `..` resolved (`src/../include/util.h` is `include/util.h`: the
    /// workspace holds no link, so the folders are what their names say). A path outside the
    /// workspace (a system header) stays as printed.
    func userPath(_ path: Substring) -> String {
        if path.hasPrefix(workspace) { return Self.resolved(path.dropFirst(workspace.count)) ?? String(path) }
        if path.hasPrefix("/") { return String(path) }
        return Self.resolved(path) ?? String(path)
    }

    /// A relative path without `.` components and with each `..` taking away the folder
    /// before it; nil when a `..` would leave the path's root.
    private static func resolved(_ path: Substring) -> String? {
        var kept: [Substring] = []
        for component in path.split(separator: "/") {
            switch component {
            case ".": continue
            case "..":
                guard kept.popLast() != nil else { return nil }
            default: kept.append(component)
            }
        }
        return kept.joined(separator: "/")
    }

    // MARK: - GCC, Clang, gccgo, swiftc and Go's gc

    private func parseGCCStyle(_ lines: [Substring], into builder: inout Builder) {
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            if let chain = includedFrom(line) {
                builder.context(Diagnostic(file: userPath(chain.file), line: chain.line, column: chain.column,
                                           severity: .note, message: "included from here"))
                continue
            }
            if var located = Located(line) {
                // GCC indents a note that continues the one before it: the blanks are layout.
                let (severity, message) = Self.severity(of: located.rest.drop { $0 == " " })
                // `<command line>:1:9:` and swiftc's `<unknown>:0:` name no file of the user's.
                let file = Self.isPseudoFile(located.file) ? nil : userPath(located.file)
                if file == nil || located.line == 0 { (located.line, located.column) = (nil, nil) }
                if severity != nil || dialect == .go {
                    let (text, option) = severity == nil ? (String(message), nil) : Self.splitOption(message)
                    builder.add(Diagnostic(file: file, line: located.line, column: located.column,
                                           severity: severity ?? .error, message: text, option: option))
                } else {
                    // GCC's template backtrace: `main.cpp:10:17:   required from here`.
                    builder.context(Diagnostic(file: file, line: located.line, column: located.column,
                                               severity: .note, message: String(message)))
                }
                // Clang echoes the source line bare, with a caret line under it: the echo
                // must not be read as a message even when it looks like one.
                if index + 1 < lines.count, Self.isCaretLine(lines[index + 1]) { index += 1 }
                continue
            }
            if let heading = scopeHeading(line) {
                // `main.cpp: In instantiation of ‘…’:` leads to the error it explains;
                // `In function ‘main’:` only names the scope of what follows.
                if heading.text.hasPrefix("In instantiation of") {
                    builder.context(Diagnostic(file: userPath(heading.file), line: nil, column: nil,
                                               severity: .note, message: String(heading.text)))
                }
                continue
            }
            if Self.isLinkerFunctionHeading(line) { continue }
            if let linker = linkerMessage(line) {
                builder.add(linker)
                continue
            }
            if let program = programMessage(line) {
                builder.add(program)
            }
        }
    }

    /// `In file included from /work/main.c:2:` (Clang, and GCC's first line, which ends in
    /// `,` when more follow) and GCC's continuation `                 from /work/main.c:2:`.
    private func includedFrom(_ line: Substring) -> (file: Substring, line: Int?, column: Int?)? {
        let rest: Substring
        if line.hasPrefix("In file included from ") {
            rest = line.dropFirst("In file included from ".count)
        } else if line.hasPrefix(" "), line.drop(while: { $0 == " " }).hasPrefix("from ") {
            rest = line.drop(while: { $0 == " " }).dropFirst("from ".count)
        } else {
            return nil
        }
        guard let last = rest.last, last == ":" || last == "," else { return nil }
        guard let located = Located(rest.dropLast() + ": "), located.rest.isEmpty else { return nil }
        return (located.file, located.line, located.column)
    }

    /// `main.c: In function ‘main’:`, `main.cpp: In instantiation of ‘…’:`, `main.c: At top level:`.
    private func scopeHeading(_ line: Substring) -> (file: Substring, text: Substring)? {
        guard line.hasSuffix(":"), !line.hasPrefix(" ") else { return nil }
        for marker in [": In ", ": At "] {
            if let range = line.firstRange(of: marker) {
                return (line[..<range.lowerBound], line[line.index(range.lowerBound, offsetBy: 2)...].dropLast())
            }
        }
        return nil
    }

    /// `/usr/bin/ld: /tmp/cc.o: in function 'main':`, the heading of the linker's next line.
    private static func isLinkerFunctionHeading(_ line: Substring) -> Bool {
        guard let separator = line.firstRange(of: ": "), isLinker(line[..<separator.lowerBound]) else { return false }
        return line.hasSuffix("':") && line[separator.upperBound...].contains(": in function ")
    }

    /// The linker's messages: `/usr/bin/ld: cannot find -lx`, and an unresolved symbol as
    /// `main.c:(.text+0x5): undefined reference to 'f'` (a file, no line).
    private func linkerMessage(_ line: Substring) -> Diagnostic? {
        if let separator = line.firstRange(of: ": "), Self.isLinker(line[..<separator.lowerBound]) {
            let rest = line[separator.upperBound...]
            if rest.hasPrefix("warning: ") {
                return Diagnostic(file: nil, line: nil, column: nil, severity: .warning, message: String(rest.dropFirst("warning: ".count)))
            }
            return Diagnostic(file: nil, line: nil, column: nil, severity: .error,
                              message: String(rest.hasPrefix("error: ") ? rest.dropFirst("error: ".count) : rest))
        }
        guard let section = line.firstRange(of: ":(."), let close = line[section.upperBound...].firstRange(of: "): ") else { return nil }
        return Diagnostic(file: userPath(line[..<section.lowerBound]), line: nil, column: nil, severity: .error,
                          message: String(line[close.upperBound...]))
    }

    private static func isLinker(_ program: Substring) -> Bool {
        let name = program.split(separator: "/").last ?? program
        return name == "ld" || name.hasSuffix("-ld") || name.hasPrefix("ld.")
    }

    /// A message of a program rather than about a file: `collect2: error: ld returned 1 exit
    /// status`, `clang: error: linker command failed`, `cc1: warning: …`, `error: …`, and Go's
    /// `go: no Go source files`.
    private func programMessage(_ line: Substring) -> Diagnostic? {
        if case let (severity?, message) = Self.severity(of: line) {
            let (text, option) = Self.splitOption(message)
            return Diagnostic(file: nil, line: nil, column: nil, severity: severity, message: text, option: option)
        }
        guard let separator = line.firstRange(of: ": ") else { return nil }
        let program = line[..<separator.lowerBound]
        guard !program.isEmpty, program.allSatisfy(Self.isProgramNameCharacter) || Self.isPseudoFile(program) else { return nil }
        let rest = line[separator.upperBound...]
        let (severity, message) = Self.severity(of: rest)
        if let severity {
            let (text, option) = Self.splitOption(message)
            return Diagnostic(file: nil, line: nil, column: nil, severity: severity, message: text, option: option)
        }
        if dialect == .go, program == "go" {
            return Diagnostic(file: nil, line: nil, column: nil, severity: .error, message: String(rest))
        }
        return nil
    }

    /// `<command-line>`, `<built-in>`, `<unknown>`: what a compiler names instead of a file.
    private static func isPseudoFile(_ name: Substring) -> Bool {
        name.hasPrefix("<") && name.hasSuffix(">") && !name.contains("/")
    }

    private static func isProgramNameCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || "-_.+".contains(character)
    }

    /// The severity a message starts with, and the message after it; nil when it names none.
    static func severity(of text: Substring) -> (Diagnostic.Severity?, Substring) {
        let prefixes: [(String, Diagnostic.Severity)] = [
            ("error: ", .error), ("fatal error: ", .error), ("sorry, unimplemented: ", .error),
            ("warning: ", .warning), ("note: ", .note), ("remark: ", .note),
        ]
        for (prefix, severity) in prefixes where text.hasPrefix(prefix) {
            return (severity, text.dropFirst(prefix.count).drop { $0 == " " })
        }
        return (nil, text)
    }

    /// `message [-Wflag]` → (`message`, `-Wflag`). GCC's `-Werror=flag` and Clang's
    /// `-Werror,-Wflag` both name `-Wflag`, the option that controls the message; swiftc's
    /// `message [#DeprecatedDeclaration]` names its diagnostic group, which `-Werror
    /// DeprecatedDeclaration` controls.
    static func splitOption(_ message: Substring) -> (String, String?) {
        if message.hasSuffix("]"), let open = message.ranges(of: " [#").last {
            let group = message[open.upperBound...].dropLast()
            if !group.isEmpty, group.allSatisfy({ $0.isLetter || $0.isNumber }) {
                return (String(message[..<open.lowerBound]), String(group))
            }
        }
        guard message.hasSuffix("]"), let open = message.ranges(of: " [-").last else {
            return (String(message), nil)
        }
        var option = message[message.index(after: open.lowerBound)...].dropFirst().dropLast()
        guard !option.contains(" ") else { return (String(message), nil) }
        if let last = option.split(separator: ",").last { option = last }
        let text = String(message[..<open.lowerBound])
        if option.hasPrefix("-Werror=") { return (text, "-W" + option.dropFirst("-Werror=".count)) }
        return (text, String(option))
    }

    /// Only blanks, carets, tildes and fix-it text's markers: the line under an echoed source line.
    static func isCaretLine(_ line: Substring) -> Bool {
        line.contains { $0 == "^" || $0 == "~" } && line.allSatisfy { " ^~".contains($0) }
    }

    // MARK: - rustc

    private func parseRustc(_ lines: [Substring], into builder: inout Builder) {
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard let heading = rustHeading(line) else {
                // `   = note: `#[warn(unused_variables)]` on by default` names the lint.
                let trimmed = line.drop { $0 == " " }
                if trimmed.hasPrefix("= note: `#["), let lint = Self.rustLint(trimmed) {
                    builder.setOptionOfLast(lint)
                }
                continue
            }
            var diagnostic = heading
            // The location follows on a ` --> file:line:col` line.
            if index < lines.count, let location = rustLocation(lines[index]) {
                diagnostic.file = location.file
                diagnostic.line = location.line
                diagnostic.column = location.column
                index += 1
            }
            builder.add(diagnostic)
        }
    }

    /// `error[E0425]: message`, `warning: message`, `note: message`; not the summaries
    /// `error: aborting due to …` and `warning: 2 warnings emitted`.
    private func rustHeading(_ line: Substring) -> Diagnostic? {
        var text = line
        var code: Substring?
        for word in ["error", "warning"] where text.hasPrefix(word + "[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            code = text[text.index(text.startIndex, offsetBy: word.count + 1)..<close]
            text = Substring(text[..<text.index(text.startIndex, offsetBy: word.count)] + text[text.index(after: close)...])
        }
        let (severity, message) = Self.severity(of: text)
        guard let severity else { return nil }
        if code == nil, message.hasPrefix("aborting due to") || (severity == .warning && message.hasSuffix(" emitted")) {
            return nil
        }
        return Diagnostic(file: nil, line: nil, column: nil, severity: severity, message: String(message))
    }

    private func rustLocation(_ line: Substring) -> (file: String, line: Int?, column: Int?)? {
        let trimmed = line.drop { $0 == " " }
        guard trimmed.hasPrefix("--> "), let located = Located(trimmed.dropFirst(4) + ": ") else { return nil }
        return (userPath(located.file), located.line, located.column)
    }

    /// `= note: `#[warn(unused_variables)]` on by default` → `unused_variables`.
    private static func rustLint(_ note: Substring) -> String? {
        guard let open = note.firstRange(of: "`#["), let paren = note[open.upperBound...].firstIndex(of: "("),
              let close = note[paren...].firstIndex(of: ")") else { return nil }
        return String(note[note.index(after: paren)..<close])
    }

    // MARK: - Assembling

    /// Keeps notes with the message they belong to: context printed before a message is
    /// held until that message arrives, and a note printed after one follows it.
    private struct Builder {
        private var diagnostics: [Diagnostic] = []
        private var pendingContext: [Diagnostic] = []

        mutating func context(_ note: Diagnostic) {
            pendingContext.append(note)
        }

        mutating func add(_ diagnostic: Diagnostic) {
            diagnostics.append(diagnostic)
            if diagnostic.severity != .note {
                diagnostics += pendingContext
                pendingContext = []
            }
        }

        mutating func setOptionOfLast(_ option: String) {
            guard let last = diagnostics.indices.last(where: { diagnostics[$0].severity != .note }) else { return }
            diagnostics[last].option = option
        }

        consuming func finish() -> [Diagnostic] {
            diagnostics + pendingContext
        }
    }
}

/// `file:line:col: rest` or `file:line: rest`, found at the first `:<digits>:` after a
/// non-empty file name.
private struct Located {
    var file: Substring
    var line: Int?
    var column: Int?
    var rest: Substring

    init?(_ text: Substring) {
        var search = text.startIndex
        while let colon = text[search...].firstIndex(of: ":") {
            search = text.index(after: colon)
            guard colon > text.startIndex, !text[..<colon].hasPrefix(" ") else { continue }
            guard let (line, afterLine) = Located.number(in: text, at: search) else { continue }
            var column: Int?
            var end = afterLine
            if let (value, afterColumn) = Located.number(in: text, at: afterLine) {
                column = value
                end = afterColumn
            }
            // After the last number's colon: end of line, or a blank before the message.
            guard end == text.endIndex || text[end] == " " else { continue }
            self.file = text[..<colon]
            self.line = line
            self.column = column
            self.rest = text[end...].dropFirst()
            return
        }
        return nil
    }

    /// Digits at `start` followed by `:`: the number and the index after the colon.
    private static func number(in text: Substring, at start: Substring.Index) -> (Int, Substring.Index)? {
        let digits = text[start...].prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count < 10, digits.endIndex < text.endIndex, text[digits.endIndex] == ":",
              let value = Int(digits) else { return nil }
        return (value, text.index(after: digits.endIndex))
    }
}
