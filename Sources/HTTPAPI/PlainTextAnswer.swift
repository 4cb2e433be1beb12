import FoundationEssentials
import WillItCompile

/// A job's answer for a person at a terminal (`Accept: text/plain`): the compiler's output,
/// then one line with the verdict, the toolchain and the time.
///
/// A script branches on the HTTP status, so that `curl --fail-with-body` fails exactly when
/// the code did not compile: 200 compiled (`completed`); 422 it did not (`failed`, or
/// `timeout`: the compile ran out of time); 500 the service failed (`error`); 202 not
/// finished yet (with `Location`). `X-Compile-Status` carries the job's status as the JSON
/// answer names it, and `X-Job-Id` its id.
enum PlainTextAnswer {
    /// Whether `accept` asks for text/plain rather than JSON (see `MediaType.preferred`).
    static func isPreferred(by accept: String?) -> Bool {
        MediaType.preferred(by: accept, among: [MediaType.plainText, MediaType.json]) == MediaType.plainText
    }

    static func response(job: CompilationJob, result: CompilationResult?, location: (String, String)) -> HTTPResponse {
        let request = job.request
        let toolchain = [request.compiler ?? request.language.rawValue, request.language.rawValue, request.standard,
                         "\(request.architecture ?? "x86_64")/\(request.os ?? "linux")"].compactMap { $0 }.joined(separator: " ")
        var text = ""
        let status: Int
        let line: String
        if let result, job.status.isTerminal {
            text = result.stderr + result.stdout
            if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
            let took = "\(result.durationNanoseconds / 1_000_000) ms" + (result.cached ? " (from the verdict cache)" : "")
            switch job.status {
            case .completed:
                status = 200
                line = "compiled: \(toolchain), \(took)"
            case .failed:
                status = 422
                // A limit of the service that stopped the compile (memory, cgo) is said after it.
                line = "did not compile: \(toolchain), exit code \(result.exitCode), \(took)" + (result.error.isEmpty ? "" : ": \(result.error)")
            case .timeout:
                status = 422
                line = "did not compile in time: \(toolchain), \(result.error.isEmpty ? took : result.error)"
            default:
                status = 500
                line = "the service failed: \(result.error.isEmpty ? "no verdict" : result.error)"
            }
        } else {
            status = 202
            line = "\(job.status.rawValue): not finished yet; ask again with GET /api/v1/compile/\(job.id)?wait=30"
        }
        text += "\(line) (job \(job.id))\n"
        // The body repeats what the submitted source made the compiler print: never let a browser read it as HTML.
        var headers = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"),
                       ("X-Compile-Status", job.status.rawValue), ("X-Job-Id", job.id.description)]
        if status == 202 { headers.append(location) }
        return HTTPResponse(status: status, headers: headers, body: Array(text.utf8))
    }
}
