import Foundation
import WillItCompile

/// What the client reads of a matrix (`GET /api/v1/matrix/{id}`); the submission's answer
/// (`{"matrix_id", "status_url", "cells"}`) is read for its id alone.
struct MatrixAnswer: Decodable, Sendable {
    struct Cell: Decodable, Sendable {
        let compiler: String
        let standard: String?
        let architecture: String
        let os: String
        let status: JobStatus
        let compiled: Bool?
        let firstError: Diagnostic?
        let error: String?

        var target: String { "\(architecture)/\(os)" }

        private enum CodingKeys: String, CodingKey {
            case compiler, standard, architecture, os, status, compiled, firstError = "first_error", error
        }
    }

    struct CompilerSummary: Decodable, Sendable {
        let compiler: String
        let oldestStandard: String?
        let accepts: Bool

        private enum CodingKeys: String, CodingKey {
            case compiler, accepts, oldestStandard = "oldest_standard"
        }
    }

    struct StandardSummary: Decodable, Sendable {
        let standard: String
    }

    struct Summary: Decodable, Sendable {
        let cells: Int
        let finished: Int
        let compiled: Int
        let compilers: [CompilerSummary]
        let standards: [StandardSummary]
    }

    let matrixID: String
    let status: JobStatus
    let cells: [Cell]
    let summary: Summary

    private enum CodingKeys: String, CodingKey {
        case matrixID = "matrix_id", status, cells, summary
    }

    /// The matrix in a reply's body, or why the body is not one.
    static func decode(_ reply: ServiceReply) throws(ServiceError) -> MatrixAnswer {
        do {
            return try JSONDecoder().decode(MatrixAnswer.self, from: reply.body)
        } catch {
            throw ServiceError("the service answered \(reply.status) with a body that is not a matrix (\(error)): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
    }

    /// The submission's answer: its matrix's id.
    static func submittedID(_ reply: ServiceReply) throws(ServiceError) -> String {
        struct Accepted: Decodable {
            let matrixID: String
            private enum CodingKeys: String, CodingKey { case matrixID = "matrix_id" }
        }
        do {
            return try JSONDecoder().decode(Accepted.self, from: reply.body).matrixID
        } catch {
            throw ServiceError("the service answered \(reply.status) with a body that names no matrix (\(error)): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
    }
}

/// Submits a matrix and waits for every cell: `POST /api/v1/matrix`, then long polls of
/// `GET /api/v1/matrix/{id}?wait=` until it is `completed` or `seconds` have passed.
struct MatrixWait {
    let client: ServiceClient
    let seconds: Double

    /// The completed matrix and the answer that carried it.
    func completed(_ request: MatrixRequest) async throws(ServiceError) -> (MatrixAnswer, ServiceReply) {
        let poll = LongPoll(client: client, seconds: seconds)
        let submitted = try await client.post("/api/v1/matrix", request, timeout: LongPoll.answerMargin)
        guard submitted.status == 202 else { throw submitted.refusal }
        let id = try MatrixAnswer.submittedID(submitted)
        return try await poll.until(
            "/api/v1/matrix/\(id)", decode: MatrixAnswer.decode, isDone: { $0.status == .completed },
            overdue: { matrix in
                ServiceError("matrix \(id) has \(matrix.summary.finished) of \(matrix.summary.cells) cells finished after \(poll.shownSeconds) s (--wait); it will be at \(client.base)/api/v1/matrix/\(id)")
            })
    }
}
