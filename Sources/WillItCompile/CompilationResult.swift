/// The verdict of a finished job, field for field the predecessor's result.
public struct CompilationResult: Sendable, Equatable {
    public var jobID: JobID
    /// The job ran to a verdict; false only for `timeout` and `error`.
    public var success: Bool
    /// The code compiled (and linked).
    public var compiled: Bool
    public var stdout: String
    public var stderr: String
    /// The compiler's exit code; -1 when it never exited on its own.
    public var exitCode: Int
    /// Wall-clock compile time in nanoseconds.
    public var durationNanoseconds: Int64
    /// What went wrong on the service's side; empty otherwise.
    public var error: String
    /// What the compile produced, e.g. `ELF 64-bit executable, AArch64`; empty when nothing was.
    public var artifact: String
    /// The compiler's messages read from `stderr` (see `DiagnosticSummary` for the bounds).
    public var diagnostics: [Diagnostic]
    public var errorCount: Int
    public var warningCount: Int
    /// The verdict came from the verdict cache: an earlier job with the same `VerdictKey`
    /// was compiled, this one was not (its `duration` is that compile's).
    public var cached: Bool

    public init(
        jobID: JobID, success: Bool, compiled: Bool, stdout: String = "", stderr: String = "",
        exitCode: Int, durationNanoseconds: Int64, error: String = "", artifact: String = "",
        diagnostics: DiagnosticSummary = DiagnosticSummary(),
        cached: Bool = false
    ) {
        self.cached = cached
        self.artifact = artifact
        self.diagnostics = diagnostics.diagnostics
        self.errorCount = diagnostics.errorCount
        self.warningCount = diagnostics.warningCount
        self.jobID = jobID
        self.success = success
        self.compiled = compiled
        self.stdout = stdout
        self.stderr = stderr
        self.exitCode = exitCode
        self.durationNanoseconds = durationNanoseconds
        self.error = error
    }
}

/// JSON as the predecessor's result: `job_id`, `success`, `compiled`, `stdout`, `stderr`,
/// `exit_code`, `duration` (nanoseconds), `error`; then `artifact`, `diagnostics`,
/// `error_count` and `warning_count`, absent in what the predecessor wrote.
extension CompilationResult: Codable {
    private enum CodingKeys: String, CodingKey {
        case jobID = "job_id", success, compiled, stdout, stderr
        case exitCode = "exit_code", durationNanoseconds = "duration", error, artifact
        case diagnostics, errorCount = "error_count", warningCount = "warning_count"
        case cached
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            jobID: try container.decode(JobID.self, forKey: .jobID),
            success: try container.decode(Bool.self, forKey: .success),
            compiled: try container.decode(Bool.self, forKey: .compiled),
            stdout: try container.decodeIfPresent(String.self, forKey: .stdout) ?? "",
            stderr: try container.decodeIfPresent(String.self, forKey: .stderr) ?? "",
            exitCode: try container.decode(Int.self, forKey: .exitCode),
            durationNanoseconds: try container.decode(Int64.self, forKey: .durationNanoseconds),
            error: try container.decodeIfPresent(String.self, forKey: .error) ?? "",
            artifact: try container.decodeIfPresent(String.self, forKey: .artifact) ?? "",
            diagnostics: DiagnosticSummary(
                diagnostics: try container.decodeIfPresent([Diagnostic].self, forKey: .diagnostics) ?? [],
                errorCount: try container.decodeIfPresent(Int.self, forKey: .errorCount) ?? 0,
                warningCount: try container.decodeIfPresent(Int.self, forKey: .warningCount) ?? 0),
            cached: try container.decodeIfPresent(Bool.self, forKey: .cached) ?? false)
    }
}
