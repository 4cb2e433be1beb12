import WillItCompile

/// The body of `GET /api/v1/compile/{id}` written from the stored hashes as Redis holds
/// them: the same bytes `JobResponse` writes from the models, without building them.
/// It knows the fields only in the forms the store reads; for anything else it gives up
/// (nil), and the caller takes the model path, which reads or refuses the data as it always has.
enum StoredStatusBody {
    /// - Parameters:
    ///   - job: the fields of `job:{id}` (not empty).
    ///   - result: the fields of `result:{id}`, none when there is no result.
    static func write(job: BorrowedHash, result: BorrowedHash) -> [UInt8]? {
        guard let id = job["id"].flatMap({ JobID(utf8: $0) }),
              let status = job["status"].flatMap({ JobStatus(rawValue: String(decoding: $0, as: UTF8.self)) }),
              let createdAt = job["created_at"].flatMap(timestamp),
              let requestJSON = job["request"],
              let request = try? CompilationRequest(storedJSON: Array(requestJSON), withSource: false)
        else { return nil }
        // As the model path reads them: a terminal job without a result hash shows none;
        // a job that is not terminal shows none whatever is stored.
        var shown: StoredResult?
        if status.isTerminal, !result.isEmpty {
            guard let stored = StoredResult(result) else { return nil }
            shown = stored
        }
        var json = JSONObjectWriter(reservingCapacity: 512 + (shown.map { $0.stdout.count + $0.stderr.count } ?? 0))
        json.member("architecture", request.architecture ?? "x86_64")
        if let shown, !shown.artifact.isEmpty { json.member("artifact", utf8: shown.artifact) }
        if let shown {
            json.member("cached", shown.cached)
            json.member("compiled", shown.compiled)
        }
        if let compiler = request.compiler { json.member("compiler", compiler) }
        if let completedAt = job["completed_at"].flatMap(timestamp) { json.member("completed_at", completedAt) }
        json.member("created_at", createdAt)
        if let shown {
            json.member("diagnostics", json: shown.diagnosticsJSON)
            json.member("duration", shown.duration)
            json.member("error", utf8: shown.error)
            json.member("error_count", shown.errorCount)
            json.member("exit_code", shown.exitCode)
        }
        if !request.flags.isEmpty { json.member("flags", request.flags) }
        json.member("job_id", id.description)
        json.member("language", request.language.rawValue)
        if !request.link { json.member("link", false) }
        json.member("os", request.os ?? "linux")
        if let standard = request.standard { json.member("standard", standard) }
        if let startedAt = job["started_at"].flatMap(timestamp) { json.member("started_at", startedAt) }
        json.member("status", status.rawValue)
        if let shown {
            json.member("stderr", utf8: shown.stderr)
            json.member("stdout", utf8: shown.stdout)
            json.member("success", shown.success)
        }
        if request.isProject { json.member("translation_units", request.translationUnits) }
        if let shown { json.member("warning_count", shown.warningCount) }
        return json.finish()
    }

    /// A stored timestamp as the model path shows it: parsed, then formatted again
    /// (which is not always the stored text: a `Date` keeps less than nanoseconds).
    private static func timestamp(_ stored: UnsafeRawBufferPointer) -> String? {
        Timestamp.parse(utf8: stored).map(Timestamp.format)
    }
}

/// The `result:{id}` fields a status shows, read as `ResultHash.result` reads them;
/// nil where that would refuse the hash.
private struct StoredResult {
    let success: Bool
    let compiled: Bool
    let exitCode: Int
    let duration: Int64
    let cached: Bool
    let errorCount: Int
    let warningCount: Int
    let stdout, stderr, error, artifact: UnsafeRawBufferPointer
    let diagnosticsJSON: [UInt8]

    init?(_ hash: BorrowedHash) {
        func text(_ field: StaticString) -> String? { hash[field].map { String(decoding: $0, as: UTF8.self) } }
        guard hash["job_id"].flatMap({ JobID(utf8: $0) }) != nil,
              let success = text("success").flatMap(ResultHash.parseBool),
              let compiled = text("compiled").flatMap(ResultHash.parseBool),
              let exitCode = text("exit_code").flatMap({ Int($0) }),
              let duration = text("duration").flatMap({ Int64($0) })
        else { return nil }
        self.success = success
        self.compiled = compiled
        self.exitCode = exitCode
        self.duration = duration
        cached = text("cached").flatMap(ResultHash.parseBool) ?? false
        errorCount = text("error_count").flatMap { Int($0) } ?? 0
        warningCount = text("warning_count").flatMap { Int($0) } ?? 0
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        stdout = hash["stdout"] ?? none
        stderr = hash["stderr"] ?? none
        error = hash["error"] ?? none
        artifact = hash["artifact"] ?? none
        // What a job without diagnostics stores is written as it is; anything else as the model reads it.
        if let stored = hash["diagnostics"], !stored.elementsEqual("[]".utf8) {
            diagnosticsJSON = Diagnostic.json(Diagnostic.list(fromJSON: Array(stored)) ?? [])
        } else {
            diagnosticsJSON = Array("[]".utf8)
        }
    }
}
