/// What `matrix` prints for a completed matrix: a table (a row per compiler, and per target
/// when there are several; a column per standard) of ✓ and ✗, then the summary: the oldest
/// standard each compiler accepts, and each failing cell's first error as a compiler prints it.
enum MatrixTable {
    /// A cell's mark: ✓ compiled, ✗ did not compile (or not in time), ! the service failed,
    /// … not finished, · no such cell.
    static func mark(_ cell: MatrixAnswer.Cell?, palette: Palette) -> String {
        guard let cell else { return "·" }
        return switch cell.status {
        case .completed: palette.verdict("✓", good: true)
        case .failed, .timeout: palette.verdict("✗", good: false)
        case .error: palette.verdict("!", good: false)
        case .queued, .processing: "…"
        }
    }

    /// The whole report, ending in a line break.
    static func text(of matrix: MatrixAnswer, palette: Palette) -> String {
        let severalTargets = Set(matrix.cells.map(\.target)).count > 1
        func rowName(_ cell: MatrixAnswer.Cell) -> String { severalTargets ? "\(cell.compiler) \(cell.target)" : cell.compiler }
        var rows: [String] = []
        for cell in matrix.cells where !rows.contains(rowName(cell)) { rows.append(rowName(cell)) }
        // A language without standards (Go) has one column, the compiler's own.
        var columns = matrix.summary.standards.map(\.standard)
        for cell in matrix.cells where !columns.contains(cell.standard ?? "default") { columns.append(cell.standard ?? "default") }

        let nameWidth = rows.map(\.count).max() ?? 0
        func padded(_ text: String, _ width: Int, shown: String? = nil) -> String {
            (shown ?? text) + String(repeating: " ", count: max(0, width - text.count))
        }
        var lines = [padded("", nameWidth) + columns.map { "  " + $0 }.joined()]
        for row in rows {
            var line = palette.bold(padded(row, nameWidth))
            for column in columns {
                let cell = matrix.cells.first { rowName($0) == row && ($0.standard ?? "default") == column }
                let mark = mark(cell, palette: palette)
                line += "  " + padded("·", column.count, shown: mark)
            }
            lines.append(line.trimmingTrailingBlanks())
        }

        lines.append("")
        let compilerWidth = matrix.summary.compilers.map(\.compiler.count).max() ?? 0
        lines.append("oldest standard each compiler accepts:")
        for compiler in matrix.summary.compilers {
            let oldest = compiler.oldestStandard ?? (compiler.accepts ? "its default" : "none: no cell compiled")
            lines.append("  " + padded(compiler.compiler, compilerWidth) + "  " + oldest)
        }
        let failing = matrix.cells.filter { $0.status != .completed && $0.status.isTerminal }
        if !failing.isEmpty {
            lines.append("first error of each cell that did not compile:")
            for cell in failing {
                let environment = [cell.compiler, cell.standard, cell.target].compactMap { $0 }.joined(separator: " ")
                let why = cell.firstError.map { VerdictReport.line($0, compiler: cell.compiler, palette: palette) }
                    ?? cell.error.map { "\(cell.status.rawValue): \($0)" } ?? cell.status.rawValue
                lines.append("  \(environment): \(why)")
            }
        }
        let summary = matrix.summary
        lines.append(palette.verdict("\(summary.compiled) of \(summary.cells) cells compiled", good: summary.compiled == summary.cells)
                     + " (matrix \(matrix.matrixID))")
        return lines.joined(separator: "\n") + "\n"
    }
}

private extension String {
    func trimmingTrailingBlanks() -> String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
