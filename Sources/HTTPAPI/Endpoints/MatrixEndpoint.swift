import FoundationEssentials
import JobStore
import WillItCompile
import WorkerClient

/// `POST /api/v1/matrix`: one source compiled in many environments, a job per cell, all
/// created or none; `GET /api/v1/matrix/{matrix_id}[?wait=S]`: every cell's verdict and a summary.
extension APIHandler {
    func submitMatrix(_ http: HTTPRequest) -> HTTPResponse {
        let body = http.body
        if let tooLarge = bodyTooLarge(length: body.count) { return tooLarge }
        switch SubmissionForm(contentType: http.contentType) {
        case .json: break
        case .form where body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{"): break
        default:
            return .error(400, "invalid_request", "A matrix is a JSON object (`Content-Type: application/json`) with `code` or `source_code`, `language` and `environments`; the source alone as the body is taken by POST /api/v1/compile only.")
        }
        let submission: MatrixSubmission
        let cells: [CompilationRequest]
        do {
            try RawSubmission.checkQuery(ofJSONBody: http, accepting: [])
            submission = try validator.validateMatrix(json: Data(body))
            // Every cell is checked against what the workers offer, as a job of its own would be.
            cells = try submission.cells(offered: try toolchains.current(), maxCells: configuration.compilation.maxMatrixCells)
        } catch let error as RequestValidationError {
            return invalid(error)
        } catch {
            return workerUnavailable(error)
        }
        let client = client(of: http)
        if let refused = checkRate(of: client, cells: cells.count) { return refused }
        let now = Date()
        let jobs = cells.map { cell in
            var job = CompilationJob(request: cell, createdAt: now)
            job.requestID = http.requestID  // the host that compiles a cell logs the request that made it
            return job
        }
        let matrix = CompilationMatrix(language: submission.template.language, createdAt: now, cells: jobs.map(MatrixCell.init(of:)))
        let reply: WorkerReply
        do {
            reply = try workers.requests.send(.submitMatrix(matrix, cells: jobs, client: client))
        } catch {
            return workerUnavailable(error)
        }
        guard reply == .accepted(matrix.id) else { return refusal(reply, cells: jobs.count) }
        return .json(202, MatrixAccepted(matrixID: matrix.id, statusURL: location(ofMatrix: matrix.id).1, cells: matrix.cells),
                     headers: [location(ofMatrix: matrix.id)])
    }

    func matrix(_ idText: String, _ request: HTTPRequest) -> HTTPResponse {
        guard let id = JobID(idText) else {
            return .error(400, "invalid_matrix_id", "`\(SubmissionBody.shortened(idText))` is not a matrix id; matrix ids are UUIDs such as 3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c.")
        }
        let wait: Duration
        do {
            wait = try WaitParameter.duration(from: request.queryValues("wait")) ?? .zero
        } catch {
            return invalidWait(error)
        }
        let found: CompilationMatrix?
        var states: [JobID: (JobStatus, CompilationResult?)] = [:]
        do {
            found = try readMatrix(id)
            let cells = found?.cells.map(\.jobID) ?? []
            // With Redis every cell in one round trip first; then each unfinished one is waited
            // for in turn, all within the one deadline.
            if let store {
                for (cell, (job, result)) in try store.jobsWithResults(cells) { states[cell] = (job.status, result) }
            }
            let deadline = ContinuousClock.now + wait
            for cell in cells {
                let left = max(.zero, deadline - ContinuousClock.now)
                // Read already: only an unfinished cell, with time left, is read again.
                if store != nil, states[cell].map({ $0.0.isTerminal || left == .zero }) ?? true { continue }
                if let (job, result) = try readJob(cell, wait: left) { states[cell] = (job.status, result) }
            }
        } catch let error as JobStoreError {
            return redisUnavailable("\(error)")
        } catch {
            return workerUnavailable(error)
        }
        guard let found else {
            return .error(404, "matrix_not_found", "No matrix \(id): it never existed or expired after \(configuration.redis.jobTTLHours) h.")
        }
        var standardOrder: [String: [String]] = [:]
        for toolchain in (try? toolchains.current()) ?? [] where toolchain.spec.language == found.language {
            standardOrder[toolchain.spec.id] = standardOrder[toolchain.spec.id] ?? toolchain.spec.standards
        }
        return .json(200, MatrixReport(matrix: found, states: states, standardOrder: standardOrder))
    }

    func location(ofMatrix id: JobID) -> (String, String) {
        ("Location", "/api/v1/matrix/\(id)")
    }

    private func readMatrix(_ id: JobID) throws -> CompilationMatrix? {
        if let store { return try store.matrix(id) }
        switch try workers.requests.send(.readMatrix(id)) {
        case let .matrix(matrix): return matrix
        case let .failure(failure): throw WorkerUnreachable(description: failure.message)
        case let other: throw WorkerUnreachable(description: "unexpected reply \(other)")
        }
    }
}

/// `POST /api/v1/matrix` accepted: the matrix's id, where to read it, and each cell's job.
struct MatrixAccepted: Encodable {
    var matrixID: JobID
    var statusURL: String
    var cells: [MatrixCell]

    private enum CodingKeys: String, CodingKey {
        case cells, matrixID = "matrix_id", statusURL = "status_url"
    }
}
