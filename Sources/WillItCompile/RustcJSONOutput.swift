/// rustc's `--error-format=json` stderr: one JSON object a line for each message, whose
/// `rendered` field is the text rustc prints without the option. The service asks for JSON
/// because it names each message's place, level and lint exactly; the person reading
/// `stderr` gets the `rendered` texts, which are byte for byte rustc's human output.
enum RustcJSONOutput {
    static func read(_ text: String, paths: DiagnosticParser) -> (stderr: String, diagnostics: [Diagnostic]) {
        var human = ""
        var diagnostics: [Diagnostic] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let isLast = index == lines.count - 1
            guard line.hasPrefix("{") else {
                // Not a message (an internal compiler error's panic, the output cap's marker): as it is.
                human += line + (isLast ? "" : "\n")
                continue
            }
            guard case let .object(members)? = try? JSONValue(parsing: Array(line.utf8)),
                  members.contains(where: { $0.name == "level" }) else {
                // The last message, cut by the output cap, is left out: the marker after it says so.
                if index + 1 < lines.count, lines[index + 1].hasPrefix("[output truncated:") { continue }
                human += line + (isLast ? "" : "\n")
                continue
            }
            let message = JSONValue.object(members)
            human += message["rendered"]?.string ?? ""
            diagnostics += Self.diagnostics(of: message, paths: paths)
        }
        return (human, diagnostics)
    }

    /// The message and its notes and help, each a note after it; nothing for the closing
    /// summaries (`aborting due to …`, `2 warnings emitted`, `For more information …`).
    private static func diagnostics(of message: JSONValue, paths: DiagnosticParser) -> [Diagnostic] {
        guard let level = message["level"]?.string, let text = message["message"]?.string else { return [] }
        let severity: Diagnostic.Severity
        switch level {
        case "error", "error: internal compiler error": severity = .error
        case "warning": severity = .warning
        case "note", "help": severity = .note
        default: return []  // failure-note: the closing `For more information` line
        }
        let spans = array(message["spans"])
        let code = message["code"]?["code"]?.string
        if spans.isEmpty, code == nil, text.hasPrefix("aborting due to") || (severity == .warning && text.hasSuffix(" emitted")) {
            return []
        }
        // Error codes (E0425) are not options; lint names (unused_variables) are.
        let option = code.flatMap { $0.first == "E" && $0.dropFirst().allSatisfy(\.isNumber) ? nil : $0 }
        var diagnostic = Diagnostic(file: nil, line: nil, column: nil, severity: severity, message: text, option: option)
        if let span = spans.first(where: { $0["is_primary"] == JSONValue.bool(true) }) ?? spans.first {
            diagnostic.file = span["file_name"]?.string.map { paths.userPath(Substring($0)) }
            diagnostic.line = number(span["line_start"])
            diagnostic.column = number(span["column_start"])
        }
        var all = [diagnostic]
        for child in array(message["children"]) {
            all += diagnostics(of: child, paths: paths).map { var note = $0; note.severity = .note; return note }
        }
        return all
    }

    private static func array(_ value: JSONValue?) -> [JSONValue] {
        if case let .array(elements)? = value { elements } else { [] }
    }

    private static func number(_ value: JSONValue?) -> Int? {
        if case let .number(text)? = value { Int(text) } else { nil }
    }
}
