import FoundationEssentials
import Glibc
public import Logging
import WillItCompile

/// Writes each log event as one logfmt line on standard error:
///
///     time=2026-11-27T22:44:00.123456789Z level=info program=will-it-compile-worker msg=compiled job_id=… verdict=failed
///
/// `time`, `level`, `program` and `msg` come first, then the event's metadata sorted by
/// key. A value with a space, `=`, `"`, `\` or a control character is quoted, with `"`
/// and `\` escaped and control characters written as `\n`, `\t` or `\u00XX`, so that no
/// value can start a line or a field of its own.
public struct LogfmtHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let program: String

    public init(program: String, level: Logger.Level) {
        self.program = program
        logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let line = Self.line(time: Date(), level: event.level, program: program, message: event.message.description, fields: fields)
        let bytes = Array(line.utf8)
        // One write per line: lines of concurrent threads never interleave in the log file (O_APPEND).
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func line(time: Date, level: Logger.Level, program: String, message: String, fields: Logger.Metadata) -> String {
        var line = "time=\(Timestamp.format(time)) level=\(level.rawValue) program=\(value(program)) msg=\(value(message))"
        for key in fields.keys.sorted() {
            line += " \(self.key(key))=\(value(fields[key]!.description))"
        }
        return line + "\n"
    }

    /// Letters, digits, `_`, `.` and `-`; anything else becomes `_`.
    static func key(_ text: String) -> String {
        // Keys are ASCII names nearly always: kept as they are without looking up Unicode properties.
        if !text.isEmpty, text.utf8.allSatisfy({ Self.isKeyByte($0) }) { return text }
        let safe = String(text.unicodeScalars.map { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
        return safe.isEmpty ? "_" : safe
    }

    /// A byte `key` keeps: an ASCII letter or digit, `_`, `.` or `-`.
    private static func isKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"): true
        default: false
        }
    }

    /// Whether an ASCII byte makes a value need quotes: a space, `=`, `"`, `\` or a control character.
    private static func needsQuotes(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
            || byte < 0x20 || byte == 0x7F
    }

    static func value(_ text: String) -> String {
        // Plain ASCII, the usual value, is decided byte by byte; the rest by its Unicode properties.
        if !text.isEmpty, text.utf8.allSatisfy({ $0 < 0x80 && !Self.needsQuotes($0) }) { return text }
        let needsQuotes = text.isEmpty || text.unicodeScalars.contains { scalar in
            scalar == " " || scalar == "=" || scalar == "\"" || scalar == "\\" || scalar.properties.generalCategory == .control
                || scalar == "\u{2028}" || scalar == "\u{2029}"
        }
        guard needsQuotes else { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            case _ where scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}":
                let hex = String(scalar.value, radix: 16)
                quoted += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}

/// The process's logs: logfmt on standard error, at `LOG_LEVEL`.
public enum ServiceLog {
    /// What `LOG_LEVEL` accepts, lowest first.
    public static let levels = Logger.Level.allCases.map(\.rawValue)

    /// The level `LOG_LEVEL` names (`info` when it is unset or empty).
    /// - Throws: a sentence naming the value and the accepted ones.
    public static func level(from environment: [String: String]) throws(LogLevelError) -> Logger.Level {
        guard let text = environment["LOG_LEVEL"], !text.isEmpty else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw LogLevelError(description: "LOG_LEVEL=\"\(text.prefix(80))\" is invalid: expected one of \(levels.joined(separator: ", "))")
        }
        return level
    }

    /// Makes every `Logger` of this process write logfmt lines for `program`, at the level
    /// `LOG_LEVEL` of `environment` names.
    /// - Throws: when `LOG_LEVEL` names no level; the logs are then at `info`, so that the
    ///   caller can say so in them.
    public static func bootstrap(program: String, environment: [String: String]) throws(LogLevelError) {
        let chosen = Result { () throws(LogLevelError) in try Self.level(from: environment) }
        LoggingSystem.bootstrap { _ in LogfmtHandler(program: program, level: (try? chosen.get()) ?? .info) }
        _ = try chosen.get()
    }
}

public struct LogLevelError: Error, CustomStringConvertible {
    public let description: String
}
