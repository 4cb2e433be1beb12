import Foundation
@testable import HTTPAPI
import Testing
import WillItCompile

@Suite struct PlainTextAnswerTests {
    @Test(arguments: [
        (nil, false), ("*/*", false), ("application/json", false), ("text/plain", true), ("text/plain; charset=utf-8", true),
        ("application/json, text/plain", false), ("text/plain, application/json", true),
        ("application/json;q=0.5, text/plain", true), ("text/plain;q=0.2, application/json;q=0.9", false),
        ("text/plain;q=0", false), ("text/html, */*", false),
    ] as [(String?, Bool)])
    func theAcceptHeaderChoosesPlainTextOnlyWhenItPrefersIt(accept: String?, plain: Bool) {
        #expect(PlainTextAnswer.isPreferred(by: accept) == plain)
    }

    func job(_ status: JobStatus) -> CompilationJob {
        var request = CompilationRequest(source: [], language: .c)
        request.compiler = "gcc-12"
        request.standard = "gnu17"
        return CompilationJob(request: request, status: status, createdAt: Date())
    }

    func result(of job: CompilationJob, exitCode: Int, stderr: String = "", error: String = "") -> CompilationResult {
        CompilationResult(jobID: job.id, success: exitCode == 0, compiled: exitCode == 0, stdout: "", stderr: stderr,
                          exitCode: exitCode, durationNanoseconds: 41_000_000, error: error)
    }

    /// The status a script branches on, with `curl --fail-with-body`: only a compile is a success.
    @Test func theStatusSaysWhetherItCompiled() {
        let location = ("Location", "/x")
        let done = job(.completed)
        let compiled = PlainTextAnswer.response(job: done, result: result(of: done, exitCode: 0), location: location)
        #expect(compiled.status == 200)
        #expect(String(decoding: compiled.body, as: UTF8.self) == "compiled: gcc-12 c gnu17 x86_64/linux, 41 ms (job \(done.id))\n")
        #expect(compiled.headers.contains { $0 == ("X-Compile-Status", "completed") })
        #expect(compiled.headers.contains { $0 == ("X-Content-Type-Options", "nosniff") })

        let bad = job(.failed)
        let failed = PlainTextAnswer.response(
            job: bad, result: result(of: bad, exitCode: 1, stderr: "main.c:1:1: error: expected ';'"), location: location)
        #expect(failed.status == 422)
        // The status line's reason, which nginx passes on from the responder's Status header.
        #expect(HTTPResponse.reason(422) == "Unprocessable Content")
        #expect(String(decoding: failed.body, as: UTF8.self)
                == "main.c:1:1: error: expected ';'\ndid not compile: gcc-12 c gnu17 x86_64/linux, exit code 1, 41 ms (job \(bad.id))\n")

        let slow = job(.timeout)
        #expect(PlainTextAnswer.response(job: slow, result: result(of: slow, exitCode: -1, error: "timed out after 30 s"), location: location).status == 422)
        let broken = job(.error)
        #expect(PlainTextAnswer.response(job: broken, result: result(of: broken, exitCode: -1, error: "sandbox"), location: location).status == 500)
        let waiting = PlainTextAnswer.response(job: job(.queued), result: nil, location: location)
        #expect(waiting.status == 202 && waiting.headers.contains { $0 == ("Location", "/x") })
    }
}
