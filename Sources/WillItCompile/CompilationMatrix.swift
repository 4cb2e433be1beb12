public import FoundationEssentials

/// One cell of a matrix: the environment it compiles in and its job.
public struct MatrixCell: Sendable, Equatable, Codable, CustomStringConvertible {
    public var compiler: String
    /// nil for a language without standards (Go).
    public var standard: String?
    public var architecture: String
    public var os: String
    public var jobID: JobID

    public init(compiler: String, standard: String?, architecture: String, os: String, jobID: JobID) {
        self.compiler = compiler
        self.standard = standard
        self.architecture = architecture
        self.os = os
        self.jobID = jobID
    }

    /// The cell of `job`, whose request names its compiler and standard (as a stored job's does).
    public init(of job: CompilationJob) {
        self.init(compiler: job.request.compiler ?? "", standard: job.request.standard,
                  architecture: job.request.architecture ?? "x86_64", os: job.request.os ?? "linux", jobID: job.id)
    }

    /// `x86_64/linux`.
    public var target: String { "\(architecture)/\(os)" }

    /// `gcc-12 c++20 x86_64/linux`.
    public var description: String { [compiler, standard, target].compactMap { $0 }.joined(separator: " ") }

    private enum CodingKeys: String, CodingKey {
        case compiler, standard, architecture, os, jobID = "job_id"
    }
}

/// A compile matrix as stored (Redis `matrix:{id}`, for the jobs' TTL): which job compiles
/// which cell. The cells' verdicts are their jobs'.
public struct CompilationMatrix: Sendable, Equatable, Codable {
    /// A UUID, as a job's id is.
    public var id: JobID
    public var language: Language
    public var createdAt: Date
    public var cells: [MatrixCell]

    public init(id: JobID = JobID(), language: Language, createdAt: Date, cells: [MatrixCell]) {
        self.id = id
        self.language = language
        self.createdAt = createdAt
        self.cells = cells
    }

    private enum CodingKeys: String, CodingKey {
        case id, language, createdAt = "created_at", cells
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let created = try container.decode(String.self, forKey: .createdAt)
        guard let createdAt = Timestamp.parse(created) else {
            throw DecodingError.dataCorruptedError(forKey: .createdAt, in: container, debugDescription: "not RFC 3339: \(created)")
        }
        self.init(id: try container.decode(JobID.self, forKey: .id), language: try container.decode(Language.self, forKey: .language),
                  createdAt: createdAt, cells: try container.decode([MatrixCell].self, forKey: .cells))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(language, forKey: .language)
        try container.encode(Timestamp.format(createdAt), forKey: .createdAt)
        try container.encode(cells, forKey: .cells)
    }

    /// The stored form: JSON.
    public var storedJSON: [UInt8] {
        // Strings, ids and a date only: encoding cannot fail.
        Array(try! JSONEncoder().encode(self))
    }

    public init(storedJSON bytes: [UInt8]) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(bytes))
    }
}
