import Foundation
import WillItCompile

/// What the client reads of a job's JSON (`GET /api/v1/compile/{id}`, a submission's answer):
/// the accepted answer `{"job_id", "status"}` has only the first two fields.
struct JobAnswer: Decodable, Sendable {
    let jobID: String
    let status: JobStatus
    let language: String?
    let compiler: String?
    let standard: String?
    let architecture: String?
    let os: String?
    let stdout: String?
    let stderr: String?
    let exitCode: Int?
    /// Nanoseconds.
    let duration: Int?
    let error: String?
    let cached: Bool?
    let diagnostics: [Diagnostic]?
    let errorCount: Int?
    let warningCount: Int?

    private enum CodingKeys: String, CodingKey {
        case jobID = "job_id", status, language, compiler, standard, architecture, os, stdout, stderr
        case exitCode = "exit_code", duration, error, cached, diagnostics
        case errorCount = "error_count", warningCount = "warning_count"
    }

    /// The job in a reply's body, or why the body is not one.
    static func decode(_ reply: ServiceReply) throws(ServiceError) -> JobAnswer {
        do {
            return try JSONDecoder().decode(JobAnswer.self, from: reply.body)
        } catch {
            throw ServiceError("the service answered \(reply.status) with a body that is not a job (\(error)): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
    }
}
