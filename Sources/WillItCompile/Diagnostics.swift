/// One message of a compiler, as a tool reads it.
///
/// A result's diagnostics are a flat list in the compiler's order, except that every note
/// follows the error or warning it belongs to: the notes a compiler prints after a message,
/// and also the context it prints before one (`In file included from`, GCC's `In
/// instantiation of` and `required from here`), which become notes after the message they
/// lead to.
public struct Diagnostic: Sendable, Equatable {
    public enum Severity: String, Sendable, Codable {
        case error, warning, note
    }

    /// The user's name for the file (`main.c`), a system header's own path
    /// (`/usr/include/stdio.h`), or nil when the message is about no file (the driver's or
    /// the linker's own).
    public var file: String?
    /// 1-based; nil when the compiler named no line.
    public var line: Int?
    /// 1-based; nil when the compiler named no column.
    public var column: Int?
    public var severity: Severity
    /// The message without its location, severity and option.
    public var message: String
    /// The option that controls the message, e.g. `-Wunused-variable`, or rustc's lint name
    /// (`unused_variables`); nil when none was named.
    public var option: String?

    public init(file: String?, line: Int?, column: Int?, severity: Severity, message: String, option: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.severity = severity
        self.message = message
        self.option = option
    }
}

extension Diagnostic: Codable {
    private enum CodingKeys: String, CodingKey {
        case file, line, column, severity, message, option
    }

    /// Every key is written, absent values as null, so each entry has the same shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file, forKey: .file)
        try container.encode(line, forKey: .line)
        try container.encode(column, forKey: .column)
        try container.encode(severity, forKey: .severity)
        try container.encode(message, forKey: .message)
        try container.encode(option, forKey: .option)
    }
}

/// What a result keeps of a compile's messages: the first `maxListed`, each cut to a bounded
/// size, so a result (and the worker's frame carrying it) stays bounded whatever a source
/// makes its compiler print; the counts count every message.
public struct DiagnosticSummary: Sendable, Equatable {
    public static let maxListed = 500
    public static let maxMessageBytes = 1024
    public static let maxFileBytes = 512

    public var diagnostics: [Diagnostic]
    public var errorCount: Int
    public var warningCount: Int

    public init(diagnostics: [Diagnostic] = [], errorCount: Int = 0, warningCount: Int = 0) {
        self.diagnostics = diagnostics
        self.errorCount = errorCount
        self.warningCount = warningCount
    }

    public init(_ all: [Diagnostic]) {
        errorCount = all.filter { $0.severity == .error }.count
        warningCount = all.filter { $0.severity == .warning }.count
        diagnostics = all.prefix(Self.maxListed).map { diagnostic in
            var kept = diagnostic
            kept.message = Self.cut(diagnostic.message, to: Self.maxMessageBytes)
            kept.file = diagnostic.file.map { Self.cut($0, to: Self.maxFileBytes) }
            kept.option = diagnostic.option.map { Self.cut($0, to: Self.maxFileBytes) }
            // Lines and columns count from 1 (openapi.yaml and SARIF say so); a source's `#line 0`
            // makes a compiler name line 0, which is no place at all.
            kept.line = diagnostic.line.flatMap { $0 >= 1 ? $0 : nil }
            kept.column = kept.line == nil ? nil : diagnostic.column.flatMap { $0 >= 1 ? $0 : nil }
            return kept
        }
    }

    /// At most `limit` bytes of UTF-8, cut between characters, with `…` where it was cut.
    static func cut(_ text: String, to limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var kept = ""
        for character in text {
            if kept.utf8.count + character.utf8.count + 3 > limit { break }
            kept.append(character)
        }
        return kept + "…"
    }
}

// MARK: - JSON

extension Diagnostic {
    /// The list as a JSON array of objects with every key (absent values as null), keys in
    /// name order like every body of the API.
    public static func json(_ diagnostics: [Diagnostic]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        for (position, diagnostic) in diagnostics.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            var object = JSONObjectWriter(reservingCapacity: 96 + diagnostic.message.utf8.count)
            object.member("column", diagnostic.column)
            object.member("file", diagnostic.file)
            object.member("line", diagnostic.line)
            object.member("message", diagnostic.message)
            object.member("option", diagnostic.option)
            object.member("severity", diagnostic.severity.rawValue)
            bytes += object.finish()
        }
        bytes.append(UInt8(ascii: "]"))
        return bytes
    }

    /// The list `json(_:)` wrote; nil when `bytes` is not such a list.
    public static func list(fromJSON bytes: [UInt8]) -> [Diagnostic]? {
        guard case let .array(elements)? = try? JSONValue(parsing: bytes) else { return nil }
        var diagnostics: [Diagnostic] = []
        diagnostics.reserveCapacity(elements.count)
        for element in elements {
            guard let severity = element["severity"]?.string.flatMap(Severity.init(rawValue:)),
                  let message = element["message"]?.string else { return nil }
            func number(_ key: String) -> Int? {
                if case let .number(text)? = element[key] { Int(text) } else { nil }
            }
            diagnostics.append(Diagnostic(file: element["file"]?.string, line: number("line"), column: number("column"),
                                          severity: severity, message: message, option: element["option"]?.string))
        }
        return diagnostics
    }
}

/// How a toolchain writes its messages.
public enum DiagnosticDialect: String, Sendable {
    /// `file:line:col: severity: message [-Wflag]`: GCC, Clang, gccgo and swiftc.
    case gcc
    /// Go's gc: `./main.go:3:8: message`, every located message an error.
    case go
    /// rustc's human format: `error[E0425]: message` then ` --> file:line:col`.
    case rustc
    /// rustc's `--error-format=json`: one JSON object a line, each with its human text in `rendered`.
    case rustcJSON

    /// The dialect of a toolchain's compiler: its catalog command says whether rustc writes JSON.
    public init(_ spec: ToolchainSpec) {
        switch (spec.language, spec.flags) {
        case (.rust, _): self = spec.command.contains("--error-format=json") ? .rustcJSON : .rustc
        case (.go, .gccgo): self = .gcc
        case (.go, _): self = .go
        default: self = .gcc
        }
    }
}
