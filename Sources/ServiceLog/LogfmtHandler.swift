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
        if let extra = event.metadata { fields = fields.isEmpty ? extra : fields.merging(extra) { $1 } }
        Self.write(Self.lineBytes(time: Date(), level: event.level, program: program, message: event.message.description, fields: fields))
    }

    static func write(_ line: [UInt8]) {
        // One write per line: lines of concurrent threads never interleave in the log file (O_APPEND).
        _ = line.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func line(time: Date, level: Logger.Level, program: String, message: String, fields: Logger.Metadata) -> String {
        String(decoding: lineBytes(time: time, level: level, program: program, message: message, fields: fields), as: UTF8.self)
    }

    /// The line's UTF-8, written into one buffer: every request of a responder logs one.
    static func lineBytes(time: Date, level: Logger.Level, program: String, message: String, fields: Logger.Metadata) -> [UInt8] {
        lineBytes(time: time, level: level, program: program, message: message,
                  fields: fields.keys.sorted().map { LogField($0, fields[$0]!.description) })
    }

    /// The line of `fields` given in key order, as the metadata's are written.
    static func lineBytes(time: Date, level: Logger.Level, program: String, message: String, fields: [LogField]) -> [UInt8] {
        assert(zip(fields, fields.dropFirst()).allSatisfy { $0.key < $1.key }, "fields out of key order")
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line += "time=".utf8
        line += Timestamp.format(time).utf8
        line += " level=".utf8
        line += level.rawValue.utf8
        line += " program=".utf8
        append(value: program, to: &line)
        line += " msg=".utf8
        append(value: message, to: &line)
        for field in fields {
            line.append(UInt8(ascii: " "))
            append(key: field.key, to: &line)
            line.append(UInt8(ascii: "="))
            append(value: field.value, to: &line)
        }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// `key(_:)`'s UTF-8, byte by byte for an ASCII key (every key the service logs):
    /// Unicode's properties are looked up only for the others.
    static func append(key text: String, to line: inout [UInt8]) {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 < 0x80 }) else {
            line += key(text).utf8
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                line.append(byte)
            default:
                line.append(UInt8(ascii: "_"))
            }
        }
    }

    /// `value(_:)`'s UTF-8, byte by byte for an ASCII value (nearly every value the service
    /// logs): in ASCII, the control characters are below 0x20 and 0x7F.
    static func append(value text: String, to line: inout [UInt8]) {
        var needsQuotes = text.isEmpty
        for byte in text.utf8 {
            guard byte < 0x80 else {
                line += value(text).utf8
                return
            }
            switch byte {
            case ...0x20, 0x7F, UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "\\"): needsQuotes = true
            default: break
            }
        }
        guard needsQuotes else {
            line += text.utf8
            return
        }
        line.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): line += [UInt8(ascii: "\\"), byte]
            case UInt8(ascii: "\n"): line += "\\n".utf8
            case UInt8(ascii: "\r"): line += "\\r".utf8
            case UInt8(ascii: "\t"): line += "\\t".utf8
            case ..<0x20, 0x7F:
                let digits = Array("0123456789abcdef".utf8)
                line += "\\u00".utf8
                line += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }

    /// Letters, digits, `_`, `.` and `-`; anything else becomes `_`.
    static func key(_ text: String) -> String {
        let safe = String(text.unicodeScalars.map { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
        return safe.isEmpty ? "_" : safe
    }

    static func value(_ text: String) -> String {
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

/// One key and value of a line written by `EventLog`.
public struct LogField: Sendable {
    public let key: String
    public let value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// Writes the lines of an event logged for every request (a responder's `request` line) as
/// `LogfmtHandler` writes them, at the same level threshold, without a `Logger.Metadata`:
/// building that dictionary of interpolated strings, and sorting its keys, cost each request
/// more than writing the line.
public struct EventLog: Sendable {
    let program: String
    /// The lowest level written: the one `ServiceLog.bootstrap` gave the handler (`LOG_LEVEL`).
    let threshold: Logger.Level

    /// Writes at the level and for the program of the process's `LogfmtHandler`, which
    /// `logger` (made after `ServiceLog.bootstrap`) uses.
    public init(program: String, sameLevelAs logger: Logger) {
        self.program = program
        threshold = logger.logLevel
    }

    /// Whether a line at `level` is written: when it is not, the caller need not build its fields.
    public func writes(_ level: Logger.Level) -> Bool {
        level >= threshold
    }

    /// - Parameter fields: in key order, as `LogfmtHandler` writes a metadata's.
    public func log(_ level: Logger.Level, _ message: String, _ fields: [LogField]) {
        guard writes(level) else { return }
        LogfmtHandler.write(LogfmtHandler.lineBytes(time: Date(), level: level, program: program, message: message, fields: fields))
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
