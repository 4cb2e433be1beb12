/// A small JSON reader and writer for the two hot paths of a status read: the
/// stored request (read) and the response body (written). `JSONDecoder` and
/// `JSONEncoder` spent most of a status read's CPU in their generic machinery;
/// everything else keeps using them.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's text as written, so no precision is lost on the way through.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order. Objects here are small, so lookups search
    /// linearly instead of hashing every name.
    case object([JSONMember])

    /// Parses one JSON document (RFC 8259); whitespace around it is allowed, anything else is not.
    public init(parsing bytes: [UInt8]) throws(JSONSyntaxError) {
        var parser = JSONParser(bytes: bytes)
        self = try parser.document()
    }

    /// The member named `key`; with duplicate names, the last one (as `JSONDecoder` does).
    public subscript(key: String) -> JSONValue? {
        if case let .object(members) = self { members.last { $0.name == key }?.value } else { nil }
    }

    public var string: String? {
        if case let .string(text) = self { text } else { nil }
    }

    /// The members of the JSON object at `range` of `bytes` (nil: the whole document, with
    /// nothing but whitespace around it), each with the range of its value's bytes. Every
    /// value is checked as `init(parsing:)` checks it. For readers that keep a member's own
    /// bytes (the stored request a `submit` carries) or read only some members.
    public static func memberRanges(
        of bytes: [UInt8], in range: Range<Int>? = nil
    ) throws(JSONSyntaxError) -> [(name: String, value: Range<Int>)] {
        var parser = JSONParser(bytes: bytes)
        parser.index = range?.lowerBound ?? 0
        let members = try parser.memberRanges()
        if let range {
            guard parser.index == range.upperBound else { throw JSONSyntaxError(offset: parser.index, problem: "the object does not end where its value does") }
        } else {
            try parser.end()
        }
        return members
    }
}

public struct JSONMember: Equatable, Sendable {
    public var name: String
    public var value: JSONValue

    public init(_ name: String, _ value: JSONValue) {
        self.name = name
        self.value = value
    }
}

public struct JSONSyntaxError: Error, CustomStringConvertible, Equatable {
    public let offset: Int
    public let problem: String
    public var description: String { "invalid JSON at byte \(offset): \(problem)" }
}

private struct JSONParser {
    let bytes: [UInt8]
    var index = 0
    /// Deeper nesting than any document this service stores is refused rather than recursed into.
    static let maximumDepth = 64

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func document() throws(JSONSyntaxError) -> JSONValue {
        let value = try self.value(depth: 0)
        try end()
        return value
    }

    /// Only whitespace is left.
    mutating func end() throws(JSONSyntaxError) {
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected data after the document") }
    }

    /// An object's members with where each value's bytes are, the values checked but not kept.
    mutating func memberRanges() throws(JSONSyntaxError) -> [(name: String, value: Range<Int>)] {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw failure("expected an object") }
        var members: [(name: String, value: Range<Int>)] = []
        try forEachMember(depth: 0) { name, range, _ in members.append((name, range)) }
        return members
    }

    private func failure(_ problem: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: index, problem: problem)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw failure("nested deeper than \(Self.maximumDepth) levels") }
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        var members: [JSONMember] = []
        try forEachMember(depth: depth) { name, _, value in members.append(JSONMember(name, value)) }
        return .object(members)
    }

    /// Reads the object whose `{` is at `index`, handing over each member: its name, where
    /// its value's bytes are, and the value.
    private mutating func forEachMember(depth: Int, _ body: (String, Range<Int>, JSONValue) -> Void) throws(JSONSyntaxError) {
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a member name") }
            let key = try string()
            skipWhitespace()
            try expect(":")
            skipWhitespace()
            let start = index
            let value = try value(depth: depth + 1)
            body(key, start..<index, value)
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end inside an object") }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return
            }
            try expect(",")
        }
    }

    private mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end inside an array") }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            try expect(",")
        }
    }

    private mutating func expect(_ character: Unicode.Scalar) throws(JSONSyntaxError) {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else {
            throw failure("expected `\(character)`")
        }
        index += 1
    }

    private mutating func literal(_ word: String) throws(JSONSyntaxError) {
        for byte in word.utf8 {
            guard index < bytes.count, bytes[index] == byte else { throw failure("expected `\(word)`") }
            index += 1
        }
    }

    private mutating func number() throws(JSONSyntaxError) -> String {
        let start = index
        func digits(_ parser: inout JSONParser) -> Int {
            let first = parser.index
            while parser.index < parser.bytes.count, (0x30...0x39).contains(parser.bytes[parser.index]) { parser.index += 1 }
            return parser.index - first
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits(&self)
        guard integerDigits > 0 else { throw failure("expected a value") }
        guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else { throw failure("leading zero in a number") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw failure("expected digits after `.`") }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw failure("expected digits in the exponent") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// A string starting at the opening quote. Runs without escapes are copied whole.
    private mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        var result: [UInt8] = []
        var runStart = index
        while true {
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw failure("control character in a string") }
            if byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            result.append(contentsOf: bytes[runStart..<index])
            index += 1
            guard index < bytes.count else { throw failure("unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): result.append(escape)
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "u"): result.append(contentsOf: try unicodeEscape())
            default: throw failure("unknown escape")
            }
            runStart = index
        }
        let text: String
        if result.isEmpty {
            text = try validated(bytes[runStart..<index])
        } else {
            result.append(contentsOf: bytes[runStart..<index])
            text = try validated(result[...])
        }
        index += 1
        return text
    }

    private func validated(_ utf8: ArraySlice<UInt8>) throws(JSONSyntaxError) -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else { throw failure("a string is not valid UTF-8") }
        return text
    }

    /// `\uXXXX` after the `u`, joining a surrogate pair; returns the scalar's UTF-8.
    private mutating func unicodeEscape() throws(JSONSyntaxError) -> [UInt8] {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw failure("lone surrogate in a \\u escape")
            }
            index += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure("lone surrogate in a \\u escape") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw failure("lone surrogate in a \\u escape") }
        return Array(String(Character(unicode)).utf8)
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for byte in bytes[index..<index + 4] {
            guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { throw failure("bad \\u escape") }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }
}

/// Writes one JSON object member by member, in the order given: callers list
/// members sorted by name, as `JSONEncoder` with `.sortedKeys` does, so the
/// bytes match what the rest of the API sends.
public struct JSONObjectWriter {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    /// Whether `/` is written `\/`, as `JSONEncoder` writes it without `.withoutEscapingSlashes`.
    private let escapingSlashes: Bool

    public init(reservingCapacity capacity: Int = 512, escapingSlashes: Bool = false) {
        bytes.reserveCapacity(capacity)
        self.escapingSlashes = escapingSlashes
    }

    public mutating func member(_ name: String, _ value: String) {
        key(name)
        Self.append(string: value, to: &bytes, escapingSlashes: escapingSlashes)
    }

    public mutating func member(_ name: String, _ value: Int) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func member(_ name: String, _ value: Int64) {
        member(name, Int(value))
    }

    public mutating func member(_ name: String, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// The value, or null when it is nil.
    public mutating func member(_ name: String, _ value: String?) {
        guard let value else { return member(name, json: Array("null".utf8)) }
        member(name, value)
    }

    /// The value, or null when it is nil.
    public mutating func member(_ name: String, _ value: Int?) {
        guard let value else { return member(name, json: Array("null".utf8)) }
        member(name, value)
    }

    /// A string given as its UTF-8 bytes, written from them without making a `String`.
    /// Bytes that are not valid UTF-8 are written as `String(decoding:as:)` reads them
    /// (each bad sequence a U+FFFD), as a member given that `String` would be.
    public mutating func member(_ name: String, utf8 value: UnsafeRawBufferPointer) {
        guard Self.isValidUTF8(value) else { return member(name, String(decoding: value, as: UTF8.self)) }
        key(name)
        Self.append(utf8: value, to: &bytes, escapingSlashes: escapingSlashes)
    }

    /// A value already written as JSON.
    public mutating func member(_ name: String, json value: [UInt8]) {
        key(name)
        bytes += value
    }

    public mutating func member(_ name: String, _ values: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (position, value) in values.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.append(string: value, to: &bytes, escapingSlashes: escapingSlashes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// The finished object.
    public consuming func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func key(_ name: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.append(string: name, to: &bytes, escapingSlashes: escapingSlashes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// Escapes what JSON requires (quote, backslash, control characters) and
    /// nothing else, like `JSONEncoder` with `.withoutEscapingSlashes`; with
    /// `escapingSlashes`, also `/`, as `JSONEncoder` does by default.
    private static func append(string: String, to bytes: inout [UInt8], escapingSlashes: Bool) {
        append(utf8: string.utf8, to: &bytes, escapingSlashes: escapingSlashes)
    }

    private static func append(utf8: some Sequence<UInt8>, to bytes: inout [UInt8], escapingSlashes: Bool) {
        bytes.append(UInt8(ascii: "\""))
        for byte in utf8 {
            let escaped: UInt8
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): escaped = byte
            case UInt8(ascii: "/") where escapingSlashes: escaped = byte
            case 0x0A: escaped = UInt8(ascii: "n")
            case 0x0D: escaped = UInt8(ascii: "r")
            case 0x09: escaped = UInt8(ascii: "t")
            case 0x08: escaped = UInt8(ascii: "b")
            case 0x0C: escaped = UInt8(ascii: "f")
            case ..<0x20: escaped = UInt8(ascii: "u")
            default:
                bytes.append(byte)
                continue
            }
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(escaped)
            if escaped == UInt8(ascii: "u") {
                let low = byte & 0x0F
                bytes.append(contentsOf: "00".utf8)
                bytes.append(UInt8(ascii: "0") + byte >> 4)
                bytes.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Whether the bytes are UTF-8 as `String(validating:as:)` takes it (no overlong
    /// forms, no surrogates, nothing above U+10FFFF), without making the `String`.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            // The sequence's length and the range its second byte must be in.
            let length: Int, second: ClosedRange<UInt8>
            switch lead {
            case 0xC2...0xDF: (length, second) = (2, 0x80...0xBF)
            case 0xE0: (length, second) = (3, 0xA0...0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (length, second) = (3, 0x80...0xBF)
            case 0xED: (length, second) = (3, 0x80...0x9F)
            case 0xF0: (length, second) = (4, 0x90...0xBF)
            case 0xF1...0xF3: (length, second) = (4, 0x80...0xBF)
            case 0xF4: (length, second) = (4, 0x80...0x8F)
            default: return false
            }
            guard index + length <= bytes.count, second.contains(bytes[index + 1]) else { return false }
            for offset in 2..<length where !(0x80...0xBF).contains(bytes[index + offset]) { return false }
            index += length
        }
        return true
    }
}
