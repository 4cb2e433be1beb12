import Foundation
import WillItCompile

/// What `compile` sends: the file's bytes in Base64 (`code`, so any byte reaches the compiler
/// as it is), or a project's files (`files`, each in Base64), and the settings given on the
/// command line; the service's defaults for the rest.
struct CompileRequest: Encodable, Sendable {
    /// One file of a project: its name in the project and its bytes in Base64.
    struct File: Encodable, Sendable, Equatable {
        let name: String
        let content: String
        let encoding = "base64"

        init(name: String, content: Data) {
            self.name = name
            self.content = content.base64EncodedString()
        }
    }

    var code: String?
    var files: [File]?
    /// Sent only for a project with `--unit`.
    var translationUnits: [String]?
    let language: String
    var compiler: String?
    var standard: String?
    var architecture: String?
    var os: String?
    var flags: [String]?
    /// Sent only as false (`--no-link`).
    var link: Bool?
    /// Sent only as false (`--no-cache`).
    var cache: Bool?

    private enum CodingKeys: String, CodingKey {
        case code, files, translationUnits = "translation_units", language, compiler, standard, architecture, os, flags, link, cache
    }

    init(source: Data, language: Language) {
        code = source.base64EncodedString()
        self.language = language.rawValue
    }

    init(files: [File], translationUnits: [String], language: Language) {
        self.files = files
        self.translationUnits = translationUnits.isEmpty ? nil : translationUnits
        self.language = language.rawValue
    }

    /// The language `--language` names, else the one the file's extension says.
    static func language(named name: String?, file: String) throws(UsageError) -> Language {
        let names = Language.acceptedNames.joined(separator: ", ")
        if let name {
            guard let language = Language(name: name) else {
                throw UsageError("--language `\(name)` is not a language the service knows: accepted \(names)")
            }
            return language
        }
        let fileName = URL(fileURLWithPath: file).lastPathComponent
        guard let language = Language(fileName: fileName) else {
            throw UsageError("cannot tell the language of `\(fileName)` from its extension (known: \(Language.knownExtensions)); give --language (\(names))")
        }
        return language
    }

    /// The file's bytes, or a usage error that names it and why it cannot be read.
    static func source(at path: String) throws(UsageError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UsageError("cannot read `\(path)`: no such file")
        }
        guard !isDirectory.boolValue else { throw UsageError("cannot read `\(path)`: it is a directory; give a source file") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw UsageError("cannot read `\(path)`: \(error.localizedDescription)")
        }
    }
}

/// Submits a compile and waits for its verdict: `POST …?wait=`, then long polls of the job
/// (`GET /api/v1/compile/{id}?wait=`) until it is finished or `seconds` have passed.
struct VerdictWait {
    let client: ServiceClient
    let seconds: Double

    /// The finished job and the answer that carried it.
    func verdict(of request: CompileRequest) async throws(ServiceError) -> (JobAnswer, ServiceReply) {
        let poll = LongPoll(client: client, seconds: seconds)
        let wait = LongPoll.waitParameter(seconds)
        let reply = try await client.post("/api/v1/compile?wait=\(wait)", request, timeout: Double(wait) + LongPoll.answerMargin)
        guard reply.status == 200 || reply.status == 202 else { throw reply.refusal }
        let job = try JobAnswer.decode(reply)
        return try await poll.until(
            "/api/v1/compile/\(job.jobID)", first: (job, reply), decode: JobAnswer.decode, isDone: { $0.status.isTerminal },
            overdue: { job in
                ServiceError("job \(job.jobID) is still \(job.status.rawValue) after \(poll.shownSeconds) s (--wait); its verdict will be at \(client.base)/api/v1/compile/\(job.jobID)")
            })
    }
}
