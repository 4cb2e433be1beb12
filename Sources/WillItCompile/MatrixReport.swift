/// What `GET /api/v1/matrix/{id}` answers: every cell's status and verdict, and a summary
/// of the finished cells.
public struct MatrixReport: Sendable, Equatable, Encodable {
    /// A cell as it is now.
    public struct Cell: Sendable, Equatable, Encodable {
        public var compiler: String
        public var standard: String?
        public var architecture: String
        public var os: String
        public var jobID: JobID
        public var status: JobStatus
        /// Once the cell is finished:
        public var compiled: Bool?
        public var cached: Bool?
        public var errorCount: Int?
        public var warningCount: Int?
        /// The first error diagnostic, if the compiler printed one.
        public var firstError: Diagnostic?
        /// The service's own explanation (`error`, `timeout`, cgo), when there is one.
        public var error: String?

        private enum CodingKeys: String, CodingKey {
            case compiler, standard, architecture, os, status, compiled, cached, error
            case jobID = "job_id", errorCount = "error_count", warningCount = "warning_count", firstError = "first_error"
        }
    }

    /// Per compiler: the standards its finished cells compiled and did not compile the code
    /// with, in the order its catalog entry lists them, and the oldest that compiled it.
    public struct CompilerSummary: Sendable, Equatable, Encodable {
        public var compiler: String
        public var acceptedStandards: [String]
        public var rejectedStandards: [String]
        /// The first of `acceptedStandards`; nil when none compiled it (or it has no standards).
        public var oldestStandard: String?
        /// Whether any of its finished cells compiled the code.
        public var accepts: Bool

        private enum CodingKeys: String, CodingKey {
            case compiler, accepts
            case acceptedStandards = "accepted_standards", rejectedStandards = "rejected_standards", oldestStandard = "oldest_standard"
        }
    }

    /// A standard or a target: the compilers whose finished cells with it compiled the code, and those that did not.
    public struct Verdicts: Sendable, Equatable, Encodable {
        public var standard: String?
        public var architecture: String?
        public var os: String?
        public var acceptedBy: [String]
        public var rejectedBy: [String]

        private enum CodingKeys: String, CodingKey {
            case standard, architecture, os, acceptedBy = "accepted_by", rejectedBy = "rejected_by"
        }
    }

    /// A finished cell that did not compile: why, in its first error.
    public struct Failure: Sendable, Equatable, Encodable {
        public var compiler: String
        public var standard: String?
        public var architecture: String
        public var os: String
        public var status: JobStatus
        public var firstError: Diagnostic?
        public var error: String?

        private enum CodingKeys: String, CodingKey {
            case compiler, standard, architecture, os, status, error, firstError = "first_error"
        }
    }

    public struct Summary: Sendable, Equatable, Encodable {
        public var cells: Int
        public var finished: Int
        public var compiled: Int
        public var compilers: [CompilerSummary]
        public var standards: [Verdicts]
        public var targets: [Verdicts]
        public var failures: [Failure]
    }

    public var matrixID: JobID
    /// `queued` while no cell has started, `processing` until every cell is finished, then `completed`.
    public var status: JobStatus
    public var language: Language
    public var createdAt: String
    public var cells: [Cell]
    public var summary: Summary

    private enum CodingKeys: String, CodingKey {
        case status, language, cells, summary, matrixID = "matrix_id", createdAt = "created_at"
    }

    /// - Parameters:
    ///   - states: each cell's job and result (nil for a job that has expired or has no verdict yet).
    ///   - standardOrder: each compiler's standards in its catalog order; a compiler not in it
    ///     keeps its cells' order.
    public init(matrix: CompilationMatrix, states: [JobID: (JobStatus, CompilationResult?)], standardOrder: [String: [String]]) {
        matrixID = matrix.id
        language = matrix.language
        createdAt = Timestamp.format(matrix.createdAt)
        cells = matrix.cells.map { cell in
            let (status, result) = states[cell.jobID] ?? (.error, nil)
            let finished = status.isTerminal ? result : nil
            return Cell(
                compiler: cell.compiler, standard: cell.standard, architecture: cell.architecture, os: cell.os, jobID: cell.jobID,
                status: status, compiled: finished?.compiled, cached: finished?.cached, errorCount: finished?.errorCount,
                warningCount: finished?.warningCount, firstError: finished?.diagnostics.first { $0.severity == .error },
                error: finished.flatMap { $0.error.isEmpty ? nil : $0.error }
                    ?? (states[cell.jobID] == nil ? "the cell's job has expired" : nil))
        }
        status = cells.allSatisfy { $0.status.isTerminal } ? .completed
            : cells.allSatisfy { $0.status == .queued } ? .queued : .processing
        summary = Self.summarize(cells, standardOrder: standardOrder)
    }

    private static func summarize(_ cells: [Cell], standardOrder: [String: [String]]) -> Summary {
        let finished = cells.filter { $0.status.isTerminal }
        func accepted(_ cell: Cell) -> Bool { cell.status == .completed }
        func split(_ chosen: [Cell]) -> (accepted: [String], rejected: [String]) {
            (chosen.filter(accepted).map(\.compiler).distinct, chosen.filter { !accepted($0) }.map(\.compiler).distinct)
        }
        let compilers = cells.map(\.compiler).distinct.map { compiler in
            let own = finished.filter { $0.compiler == compiler }
            let order = standardOrder[compiler] ?? cells.filter { $0.compiler == compiler }.compactMap(\.standard).distinct
            let acceptedStandards = own.filter(accepted).compactMap(\.standard).distinct.sorted { Self.rank($0, in: order) < Self.rank($1, in: order) }
            let rejectedStandards = own.filter { !accepted($0) }.compactMap(\.standard).distinct.sorted { Self.rank($0, in: order) < Self.rank($1, in: order) }
            return CompilerSummary(
                compiler: compiler, acceptedStandards: acceptedStandards, rejectedStandards: rejectedStandards,
                oldestStandard: acceptedStandards.first, accepts: own.contains(where: accepted))
        }
        let standards = cells.compactMap(\.standard).distinct.map { standard in
            let (yes, no) = split(finished.filter { $0.standard == standard })
            return Verdicts(standard: standard, acceptedBy: yes, rejectedBy: no)
        }
        let targets = cells.map { "\($0.architecture)/\($0.os)" }.distinct.map { target in
            let chosen = finished.filter { "\($0.architecture)/\($0.os)" == target }
            let (yes, no) = split(chosen)
            let parts = target.split(separator: "/").map(String.init)
            return Verdicts(architecture: parts[0], os: parts[1], acceptedBy: yes, rejectedBy: no)
        }
        let failures = finished.filter { !accepted($0) }.map {
            Failure(compiler: $0.compiler, standard: $0.standard, architecture: $0.architecture, os: $0.os,
                    status: $0.status, firstError: $0.firstError, error: $0.error)
        }
        return Summary(cells: cells.count, finished: finished.count, compiled: finished.filter(accepted).count,
                       compilers: compilers, standards: standards, targets: targets, failures: failures)
    }

    /// Where `standard` stands in a catalog list; one the list lacks comes after all it has.
    private static func rank(_ standard: String, in order: [String]) -> Int {
        order.firstIndex(of: standard) ?? order.count
    }
}
