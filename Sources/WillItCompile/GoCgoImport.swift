/// Finds `import "C"` in a Go file: the import that turns on cgo, which the service does not
/// offer (Go compiles with `CGO_ENABLED=0`, and `go build` then skips such a file and says
/// only `no Go source files`).
///
/// Reads the file's head as Go's scanner does (comments, interpreted and raw strings) up to
/// the first declaration that is not an import, so `"C"` in a comment, a string or code
/// after the imports is not taken for one.
public enum GoCgoImport {
    /// Where the `"C"` of `import "C"` stands (1-based line and column, the column counted in
    /// bytes as Go counts it); nil when the file does not import "C".
    public static func location(in source: [UInt8]) -> (line: Int, column: Int)? {
        func word(_ token: Token?, _ expected: String) -> Bool {
            token.map { $0.text.elementsEqual(expected.utf8) } ?? false
        }
        var scanner = Scanner(source)
        guard word(scanner.next(), "package"), scanner.next() != nil else { return nil }
        while let token = scanner.next() {
            if word(token, ";") { continue }
            guard word(token, "import"), var spec = scanner.next() else { return nil }
            if !word(spec, "(") {
                if !spec.isString, let path = scanner.next() { spec = path }  // a named import: `import c "C"`
                if spec.isC { return (spec.line, spec.column) }
                continue
            }
            while let spec = scanner.next(), !word(spec, ")") {
                if spec.isC { return (spec.line, spec.column) }
            }
        }
        return nil
    }

    /// What a Go program that imports "C" is told, in the result's `error` and as the first
    /// diagnostic (the compiler's own message says only `no Go source files`, or with gccgo
    /// `import file ‘C’ not found`).
    public static let notOffered = "cgo is not offered: Go is compiled here without cgo (CGO_ENABLED=0) and without a C compiler, so a program that imports \"C\" cannot be built; remove the import and the C code it uses"

    /// The error diagnostic at the first `import "C"` among a Go request's files (its single
    /// source being named `sourceFile`); nil for any other request.
    public static func diagnostic(for request: CompilationRequest, sourceFile: String) -> Diagnostic? {
        guard request.language == .go else { return nil }
        for file in request.sourceFiles(singleName: sourceFile) where Language.go.isSource(file.name) {
            guard let place = location(in: file.content) else { continue }
            return Diagnostic(file: file.name, line: place.line, column: place.column, severity: .error, message: notOffered)
        }
        return nil
    }

    private struct Token {
        var text: ArraySlice<UInt8>
        var isString: Bool
        var line: Int
        var column: Int

        /// `"C"` or `` `C` ``.
        var isC: Bool { isString && text.count == 3 && text[text.startIndex + 1] == UInt8(ascii: "C") }
    }

    /// Go's tokens, as far as the imports need them: identifiers, strings, and any other byte alone.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var lineStart = 0

        init(_ source: [UInt8]) { bytes = source }

        mutating func next() -> Token? {
            skipBlanksAndComments()
            guard index < bytes.count else { return nil }
            let start = index
            let (startLine, startColumn) = (line, index - lineStart + 1)
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "`") {
                index += 1
                while index < bytes.count, bytes[index] != byte, bytes[index] != UInt8(ascii: "\n") || byte == UInt8(ascii: "`") {
                    if byte == UInt8(ascii: "\""), bytes[index] == UInt8(ascii: "\\") { index += 1 }
                    if index < bytes.count, bytes[index] == UInt8(ascii: "\n") { line += 1; lineStart = index + 1 }
                    index += 1
                }
                if index < bytes.count, bytes[index] == byte { index += 1 }
                return Token(text: bytes[start..<index], isString: true, line: startLine, column: startColumn)
            }
            if Self.isWordByte(byte) {
                while index < bytes.count, Self.isWordByte(bytes[index]) { index += 1 }
            } else {
                index += 1
            }
            return Token(text: bytes[start..<index], isString: false, line: startLine, column: startColumn)
        }

        /// Letters, digits and `_`, and every byte of a non-ASCII letter.
        private static func isWordByte(_ byte: UInt8) -> Bool {
            byte >= 0x80 || byte == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }

        private mutating func skipBlanksAndComments() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\n"):
                    index += 1
                    line += 1
                    lineStart = index
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                    index += 1
                case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "/"):
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
                case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                    index += 2
                    while index < bytes.count, !(bytes[index] == UInt8(ascii: "*") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "/")) {
                        if bytes[index] == UInt8(ascii: "\n") { line += 1; lineStart = index + 1 }
                        index += 1
                    }
                    index = min(index + 2, bytes.count)
                default:
                    return
                }
            }
        }
    }
}
