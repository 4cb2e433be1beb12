import WillItCompile

/// `POST /api/v1/compile` accepted: `{"job_id","status"}`.
struct SubmitResponse {
    var jobID: JobID
    var status: JobStatus

    var body: [UInt8] {
        var json = JSONObjectWriter(reservingCapacity: 80)
        json.member("job_id", jobID.description)
        json.member("status", status.rawValue)
        return json.finish()
    }
}

/// `GET /api/v1/compile/{id}`: the job's state, and once it is terminal the
/// predecessor's result fields at top level. Written with `JSONObjectWriter`
/// (members in name order, as every other body's sorted keys): this is the
/// body clients poll.
struct JobResponse {
    let job: CompilationJob
    let result: CompilationResult?

    var body: [UInt8] {
        let request = job.request
        var json = JSONObjectWriter(reservingCapacity: 512 + (result.map { $0.stdout.utf8.count + $0.stderr.utf8.count } ?? 0))
        json.member("architecture", request.architecture ?? "x86_64")
        if let result, !result.artifact.isEmpty { json.member("artifact", result.artifact) }
        if let result { json.member("cached", result.cached) }
        if let result { json.member("compiled", result.compiled) }
        if let compiler = request.compiler { json.member("compiler", compiler) }
        if let completedAt = job.completedAt { json.member("completed_at", Timestamp.format(completedAt)) }
        json.member("created_at", Timestamp.format(job.createdAt))
        if let result {
            json.member("diagnostics", json: Diagnostic.json(result.diagnostics))
            json.member("duration", result.durationNanoseconds)
            json.member("error", result.error)
            json.member("error_count", result.errorCount)
            json.member("exit_code", result.exitCode)
        }
        if !request.flags.isEmpty { json.member("flags", request.flags) }
        json.member("job_id", job.id.description)
        json.member("language", request.language.rawValue)
        if !request.link { json.member("link", false) }
        json.member("os", request.os ?? "linux")
        if let standard = request.standard { json.member("standard", standard) }
        if let startedAt = job.startedAt { json.member("started_at", Timestamp.format(startedAt)) }
        json.member("status", job.status.rawValue)
        if let result {
            json.member("stderr", result.stderr)
            json.member("stdout", result.stdout)
            json.member("success", result.success)
        }
        if request.isProject { json.member("translation_units", request.translationUnits) }
        if let result { json.member("warning_count", result.warningCount) }
        return json.finish()
    }
}

/// The elements in first-seen order, each once.
func unique(_ values: [String]) -> [String] {
    var seen: Set<String> = []
    return values.filter { seen.insert($0).inserted }
}
