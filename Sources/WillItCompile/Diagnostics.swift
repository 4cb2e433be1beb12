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

extension [Diagnostic] {
    public var errorCount: Int { filter { $0.severity == .error }.count }
    public var warningCount: Int { filter { $0.severity == .warning }.count }
}

/// How a toolchain writes its messages.
public enum DiagnosticDialect: String, Sendable {
    /// `file:line:col: severity: message [-Wflag]`: GCC, Clang, gccgo and swiftc.
    case gcc
    /// Go's gc: `./main.go:3:8: message`, every located message an error.
    case go
    /// rustc's human format: `error[E0425]: message` then ` --> file:line:col`.
    case rustc

    /// The dialect of a toolchain's compiler.
    public init(_ spec: ToolchainSpec) {
        switch (spec.language, spec.flags) {
        case (.rust, _): self = .rustc
        case (.go, .gccgo): self = .gcc
        case (.go, _): self = .go
        default: self = .gcc
        }
    }
}
