import WillItCompile

/// ANSI colours as compilers use them on a terminal, or none.
struct Palette: Sendable {
    let enabled: Bool

    /// Colour only on a terminal, and never with `NO_COLOR` set to anything (no-color.org's
    /// convention) or on a `TERM=dumb` terminal.
    static func forOutput(isTerminal: Bool, environment: [String: String]) -> Palette {
        Palette(enabled: isTerminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb")
    }

    func bold(_ text: String) -> String { paint(text, "1") }
    func severity(_ severity: Diagnostic.Severity) -> String {
        switch severity {
        case .error: paint("error:", "1;31")
        case .warning: paint("warning:", "1;35")
        case .note: paint("note:", "1;36")
        }
    }
    func verdict(_ text: String, good: Bool) -> String { paint(text, good ? "1;32" : "1;31") }

    private func paint(_ text: String, _ code: String) -> String {
        enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}

/// What `compile` prints for a finished job: the compiler's messages the way a compiler
/// prints them, then one line with the verdict.
enum VerdictReport {
    /// How the compiler's output is shown.
    enum OutputMode: Sendable {
        /// One line per diagnostic (`file:line:col: error: message [-Wflag]`); the compiler's
        /// output as it is when it printed something no diagnostic was read from.
        case diagnostics
        /// The compiler's standard output and error as they are.
        case raw
    }

    /// One diagnostic as a compiler prints it: `main.cpp:3:5: error: message [-Wflag]`.
    /// Without a line or column those parts are left out; a message about no file (the
    /// driver's, the linker's) is named after the compiler, as `gcc: error: …` is.
    static func line(_ diagnostic: Diagnostic, compiler: String, palette: Palette) -> String {
        var place = diagnostic.file ?? compiler
        if diagnostic.file != nil, let line = diagnostic.line {
            place += ":\(line)"
            if let column = diagnostic.column { place += ":\(column)" }
        }
        let option = diagnostic.option.map { " [\($0)]" } ?? ""
        // The message is the compiler's own text: it may not carry a line break of its own.
        let message = diagnostic.message.replacingOccurrences(of: "\n", with: " ")
        return "\(palette.bold(place + ":")) \(palette.severity(diagnostic.severity)) \(message)\(option)"
    }

    /// The whole report of a finished job, ending in a line break.
    static func text(of job: JobAnswer, mode: OutputMode, palette: Palette) -> String {
        let compiler = job.compiler ?? job.language ?? "compiler"
        var lines: [String] = []
        let diagnostics = job.diagnostics ?? []
        let compilerOutput = (job.stderr ?? "") + (job.stdout ?? "")
        if mode == .raw || (diagnostics.isEmpty && job.status != .error) {
            if !compilerOutput.isEmpty { lines.append(compilerOutput.hasSuffix("\n") ? String(compilerOutput.dropLast()) : compilerOutput) }
        } else {
            lines += diagnostics.map { line($0, compiler: compiler, palette: palette) }
            let listed = diagnostics.filter { $0.severity != .note }.count
            let reported = (job.errorCount ?? 0) + (job.warningCount ?? 0)
            if reported > listed {
                lines.append("… and \(reported - listed) more errors and warnings the service does not list; --raw-output shows the compiler's whole output")
            }
        }
        lines.append(summary(of: job, palette: palette))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The verdict, the toolchain and the time: `did not compile: gcc-12 cpp gnu++17
    /// x86_64/linux, exit code 1, 2 errors, 52 ms (job …)`.
    static func summary(of job: JobAnswer, palette: Palette) -> String {
        let toolchain = [job.compiler, job.language, job.standard, "\(job.architecture ?? "x86_64")/\(job.os ?? "linux")"]
            .compactMap { $0 }.joined(separator: " ")
        let took = "\((job.duration ?? 0) / 1_000_000) ms" + (job.cached == true ? " (from the verdict cache)" : "")
        let error = job.error.flatMap { $0.isEmpty ? nil : $0 }
        let counts = [counted(job.errorCount ?? 0, "error"), counted(job.warningCount ?? 0, "warning")].compactMap { $0 }
        let details = ([toolchain] + (job.status == .failed ? ["exit code \(job.exitCode ?? 0)"] : []) + counts + [took])
            .joined(separator: ", ")
        let line = switch job.status {
        case .completed: "\(palette.verdict("compiled:", good: true)) \(details)"
        // A limit of the service that stopped the compile (memory, cgo) is said after it.
        case .failed: "\(palette.verdict("did not compile:", good: false)) \(details)" + (error.map { ": \($0)" } ?? "")
        case .timeout: "\(palette.verdict("did not compile in time:", good: false)) \(details)" + (error.map { ": \($0)" } ?? "")
        case .error: "\(palette.verdict("the service failed:", good: false)) \(error ?? "no verdict")"
        case .queued, .processing: "\(job.status.rawValue): not finished yet"
        }
        return "\(line) (job \(job.jobID))"
    }

    private static func counted(_ count: Int, _ noun: String) -> String? {
        count == 0 ? nil : "\(count) \(noun)\(count == 1 ? "" : "s")"
    }
}
