import Foundation
@testable import HTTPAPI
import JobStore
import Testing
import TestSupport
import WillItCompile

/// Every route of the API driven in-process through `APIHandler.handle`, against a
/// fake worker and the memory store: what each answers, and the answers the route
/// table gives every route (404, 405 with `Allow`, the body limit).
@Suite struct APIHandlerTests {
    static let maxSourceSize = 2000

    /// The API in memory mode (no store: jobs are read through the worker), or
    /// reading jobs from `store` as with Redis.
    static func api(_ worker: FakeWorker, store: (any JobStore)? = nil) -> APIHandler {
        APIHandler(configuration: ServiceConfiguration(compilation: .init(maxSourceSize: maxSourceSize)),
                   workers: WorkerChannels(requests: worker, longPolls: worker, healthProbe: worker),
                   store: store, maxWaitingRequests: 4)
    }

    static func worker(compiles: Bool = true) throws -> FakeWorker {
        FakeWorker(toolchains: [
            Toolchain(spec: try spec("gcc-12", .c, standards: ["c17", "gnu17"], defaultStandard: "gnu17", flags: "gcc"),
                      version: "gcc-12 (Debian 12.2.0-14) 12.2.0", isDefault: true),
            Toolchain(spec: try spec("go-1.19", .go, standards: [], defaultStandard: nil, flags: "go"),
                      version: "go version go1.19.8 linux/amd64", isDefault: true),
        ], compiles: compiles)
    }

    static let job = #"{"source_code":"int main(void){return 0;}","language":"c"}"#

    // MARK: - Each route's answer

    @Test func aJSONSubmissionIsQueuedWithTheToolchainItWillUse() throws {
        let worker = try Self.worker(compiles: false)
        let reply = Self.api(worker).handle(HTTPRequest(method: "POST", path: "/api/v1/compile", body: Array(Self.job.utf8),
                                                        contentType: "application/json"))
        #expect(reply.status == 202, "\(reply.text)")
        let id = try #require(reply.json["job_id"] as? String)
        #expect(Set(reply.json.keys) == ["job_id", "status"] && reply.json["status"] as? String == "queued")
        #expect(reply.header("Location") == "/api/v1/compile/\(id)")
        let submitted = try #require(worker.submissions.first)
        #expect(submitted.id.description == id && submitted.request.compiler == "gcc-12" && submitted.request.standard == "gnu17")
    }

    /// In memory mode the matrix is read through the worker: every cell and the summary.
    @Test func aMatrixIsSubmittedAllAtOnceAndReadThroughTheWorker() throws {
        let worker = try Self.worker()
        let api = Self.api(worker)
        let body = #"{"source_code":"int main(void){return 0;}","language":"c","environments":"all","compilers":["gcc"]}"#
        let reply = api.handle(HTTPRequest(method: "POST", path: "/api/v1/matrix", body: Array(body.utf8), contentType: "application/json"))
        #expect(reply.status == 202, "\(reply.text)")
        let id = try #require(reply.json["matrix_id"] as? String)
        #expect(reply.header("Location") == "/api/v1/matrix/\(id)" && reply.json["status_url"] as? String == "/api/v1/matrix/\(id)")
        #expect((reply.json["cells"] as? [[String: Any]])?.compactMap { $0["standard"] as? String } == ["c17", "gnu17"])
        #expect(worker.requests.filter { if case .submitMatrix = $0 { true } else { false } }.count == 1, "one request for every cell")

        let read = api.handle(HTTPRequest(method: "GET", path: "/api/v1/matrix/\(id)", query: "wait=5"))
        #expect(read.status == 200 && read.json["status"] as? String == "completed", "\(read.text)")
        let compilers = (read.json["summary"] as? [String: Any])?["compilers"] as? [[String: Any]]
        #expect(compilers?.first?["oldest_standard"] as? String == "c17", "\(read.text)")
        #expect(api.handle(HTTPRequest(method: "GET", path: "/api/v1/matrix/\(UUID())")).status == 404)
        let raw = api.handle(HTTPRequest(method: "POST", path: "/api/v1/matrix", body: Array("int main(){}\n".utf8), contentType: "text/plain"))
        #expect(raw.status == 400 && (raw.json["message"] as? String ?? "").contains("A matrix is a JSON object"), "\(raw.text)")
    }

    @Test func aRawSubmissionWithWaitAnswersWithTheVerdict() throws {
        let worker = try Self.worker()
        let reply = Self.api(worker).handle(HTTPRequest(
            method: "POST", path: "/api/v1/compile", query: "language=c&standard=c17&wait=5",
            body: Array("int main(void){return 0;}\n".utf8), contentType: "text/plain"))
        #expect(reply.status == 200, "\(reply.text)")
        #expect(reply.json["status"] as? String == "completed" && reply.json["compiled"] as? Bool == true, "\(reply.text)")
        #expect(reply.json["standard"] as? String == "c17" && reply.header("Location") == nil)
    }

    @Test func aSubmissionWhoseWaitRunsOutAnswers202WithTheJobAsItIs() throws {
        let worker = try Self.worker(compiles: false)
        let reply = Self.api(worker).handle(HTTPRequest(method: "POST", path: "/api/v1/compile", query: "wait=0.2",
                                                        body: Array(Self.job.utf8)))
        #expect(reply.status == 202 && reply.json["status"] as? String == "queued", "\(reply.text)")
        let id = try #require(reply.json["job_id"] as? String)
        #expect(reply.header("Location") == "/api/v1/compile/\(id)")
        #expect(reply.json["created_at"] != nil, "the job's body, not the bare acceptance")
    }

    @Test(arguments: [false, true])
    func aJobIsReadWithItsVerdict(throughTheStore: Bool) throws {
        let worker = try Self.worker()
        let api = Self.api(worker, store: throughTheStore ? worker.jobs : nil)
        let id = try #require(api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile", body: Array(Self.job.utf8))).json["job_id"] as? String)
        for query in ["", "wait=1"] {
            let reply = api.handle(HTTPRequest(method: "GET", path: "/api/v1/compile/\(id)", query: query))
            #expect(reply.status == 200 && reply.json["job_id"] as? String == id, "\(reply.text)")
            #expect(reply.json["status"] as? String == "completed" && reply.json["exit_code"] as? Int == 0, "\(reply.text)")
        }
        #expect(worker.reads == (throughTheStore ? 0 : 2), "with a store, jobs are read from it, not through the worker")
        let unknown = api.handle(HTTPRequest(method: "GET", path: "/api/v1/compile/\(UUID().uuidString)"))
        #expect(unknown.status == 404 && unknown.json["error"] as? String == "job_not_found", "\(unknown.text)")
        let malformed = api.handle(HTTPRequest(method: "GET", path: "/api/v1/compile/not-a-uuid"))
        #expect(malformed.status == 400 && malformed.json["error"] as? String == "invalid_job_id", "\(malformed.text)")
    }

    @Test func theEnvironmentsAreThePredecessorsArray() throws {
        let reply = Self.api(try Self.worker()).handle(HTTPRequest(method: "GET", path: "/api/v1/environments"))
        #expect(reply.status == 200 && reply.header("Content-Type") == "application/json; charset=utf-8")
        let environments = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]], "\(reply.text)")
        #expect(environments.map { $0["language"] as? String } == ["c", "go"])
        #expect(environments[0]["default_compiler"] as? String == "gcc-12" && environments[0]["default_standard"] as? String == "gnu17")
        #expect(environments[1]["default_standard"] == nil)
    }

    @Test func theToolchainsListEachWithItsVersionAndTheDefaults() throws {
        let reply = Self.api(try Self.worker()).handle(HTTPRequest(method: "GET", path: "/api/v1/toolchains"))
        #expect(reply.status == 200 && Set(reply.json.keys) == ["toolchains", "defaults"], "\(reply.text)")
        let toolchains = reply.json["toolchains"] as? [[String: Any]] ?? []
        #expect(toolchains.map { $0["id"] as? String } == ["gcc-12", "go-1.19"])
        #expect(toolchains.first?["version"] as? String == "gcc-12 (Debian 12.2.0-14) 12.2.0")
    }

    @Test func aFlagFamilyIsListedAndAnUnknownOneIs404NamingTheFamilies() throws {
        let api = Self.api(try Self.worker())
        let gcc = api.handle(HTTPRequest(method: "GET", path: "/api/v1/flags/gcc"))
        #expect(gcc.status == 200 && gcc.json["family"] as? String == "gcc" && (gcc.json["flags"] as? [String] ?? []).contains("-Wall"))
        let unknown = api.handle(HTTPRequest(method: "GET", path: "/api/v1/flags/cc"))
        #expect(unknown.status == 404 && unknown.json["error"] as? String == "not_found", "\(unknown.text)")
        #expect((unknown.json["message"] as? String ?? "").contains("gccgo") && (unknown.json["message"] as? String ?? "").contains("GET /api/v1/toolchains"))
    }

    @Test func statsAndHealthAnswerFromTheWorker() throws {
        let api = Self.api(try Self.worker())
        let stats = api.handle(HTTPRequest(method: "GET", path: "/api/v1/workers/stats"))
        #expect(stats.status == 200 && stats.json["max_workers"] as? Int == 2 && stats.json["uptime"] as? String == "1m30s", "\(stats.text)")
        for path in ["/health", "/api/v1/health", "/health/"] {
            let health = api.handle(HTTPRequest(method: "GET", path: path))
            #expect(health.status == 200 && health.json["status"] as? String == "healthy" && health.json["redis"] as? String == "disabled",
                    "\(path): \(health.text)")
        }
    }

    @Test func aWorkerThatIsDownIs503OnEveryRouteThatNeedsIt() throws {
        let worker = try Self.worker()
        worker.reachable.store(false, ordering: .relaxed)
        let api = Self.api(worker)
        for (method, path) in [("POST", "/api/v1/compile"), ("GET", "/api/v1/environments"), ("GET", "/api/v1/toolchains"),
                               ("GET", "/api/v1/workers/stats"), ("GET", "/health"), ("GET", "/api/v1/compile/\(UUID().uuidString)")] {
            let reply = api.handle(HTTPRequest(method: method, path: path, body: method == "POST" ? Array(Self.job.utf8) : []))
            #expect(reply.status == 503, "\(method) \(path): \(reply.text)")
            #expect((reply.json["error"] as? String ?? reply.json["message"] as? String) != nil, "\(method) \(path): \(reply.text)")
        }
        #expect(api.handle(HTTPRequest(method: "GET", path: "/api/v1/flags/gcc")).status == 200, "the flag lists are compiled in")
    }

    // MARK: - What the route table answers for every route

    @Test func anUnknownPathIs404ListingEveryEndpoint() throws {
        let api = Self.api(try Self.worker())
        for path in ["/", "/api/v2/compile", "/api/v1/flags", "/api/v1/environments/c", "/api/v1/compilex", "/healthz"] {
            let reply = api.handle(HTTPRequest(method: "GET", path: path))
            #expect(reply.status == 404 && reply.json["error"] as? String == "not_found", "\(path): \(reply.text)")
            #expect(reply.json["message"] as? String == "No endpoint at \(path). Endpoints: POST /api/v1/compile, GET /api/v1/compile/{job_id}, POST /api/v1/matrix, GET /api/v1/matrix/{matrix_id}, GET /api/v1/environments, GET /api/v1/toolchains, GET /api/v1/flags/{family}, GET /api/v1/workers/stats, GET /health, GET /api/v1/openapi.yaml.")
        }
    }

    /// The route is looked up once per request, on the path's bytes: the name it gives with the
    /// answer is `routeName(of:)`'s, one trailing `/` is dropped, and a path that only starts
    /// like a pattern (or is not ASCII) is not taken for it.
    @Test func theAnswerNamesTheRouteThatGaveIt() throws {
        let api = Self.api(try Self.worker())
        let id = UUID().uuidString.lowercased()
        let cases: [(method: String, path: String, route: String, status: Int?)] = [
            ("GET", "/health", "/health", 200), ("GET", "/health/", "/health", 200), ("GET", "/api/v1/health", "/health", 200),
            ("GET", "/api/v1/health/", "/health", 200), ("GET", "/health//", "none", 404), ("GET", "/healthz", "none", 404),
            ("GET", "/", "none", 404), ("GET", "//", "none", 404), ("GET", "", "none", 404),
            ("GET", "/api/v1/compile/\(id)", "/api/v1/compile/{job_id}", nil), ("GET", "/api/v1/compile/\(id)/", "/api/v1/compile/{job_id}", nil),
            ("DELETE", "/api/v1/compile/\(id)", "/api/v1/compile/{job_id}", 405), ("GET", "/api/v1/compile", "/api/v1/compile", 405),
            ("GET", "/api/v1/compile/", "/api/v1/compile", 405), ("GET", "/api/v1/compilé", "none", 404),
            ("GET", "/api/v1/compile/é", "/api/v1/compile/{job_id}", nil), ("GET", "/api/v1/compile/\u{301}", "/api/v1/compile/{job_id}", nil),
            ("GET", "/heal\u{0}th", "none", 404), ("GET", "/api/v1/flags/gcc", "/api/v1/flags/{family}", 200),
            ("GET", "/api/v1/flags/", "none", 404), ("GET", "/metrics", "/metrics", nil),
        ]
        for (method, path, route, status) in cases {
            let (reply, named) = api.handleNamingRoute(HTTPRequest(method: method, path: path))
            #expect(named == route && api.routeName(of: path) == route, "\(method) \(path.debugDescription): \(named)")
            if let status {
                #expect(reply.status == status, "\(method) \(path.debugDescription): \(reply.text)")
                #expect(api.handle(HTTPRequest(method: method, path: path)).status == status, "\(method) \(path.debugDescription)")
            }
        }
    }

    @Test(arguments: [
        ("/api/v1/compile", "POST"), ("/api/v1/compile/", "POST"), ("/api/v1/compile/\(UUID().uuidString)", "GET, HEAD"),
        ("/api/v1/environments", "GET, HEAD"), ("/api/v1/toolchains", "GET, HEAD"), ("/api/v1/flags/gcc", "GET, HEAD"),
        ("/api/v1/workers/stats", "GET, HEAD"), ("/health", "GET, HEAD"), ("/api/v1/health", "GET, HEAD"),
    ])
    func anotherMethodIs405WithAllow(path: String, allowed: String) throws {
        let worker = try Self.worker()
        let api = Self.api(worker)
        let refused = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].filter { !allowed.contains($0) }
        for method in refused {
            let reply = api.handle(HTTPRequest(method: method, path: path, body: Array(Self.job.utf8)))
            #expect(reply.status == 405 && reply.json["error"] as? String == "method_not_allowed", "\(method) \(path): \(reply.text)")
            #expect(reply.header("Allow") == allowed && reply.json["message"] as? String == "This endpoint accepts \(allowed) only.",
                    "\(method) \(path): \(reply.headers)")
        }
        for method in allowed.split(separator: ", ").map(String.init) {
            #expect(api.handle(HTTPRequest(method: method, path: path, body: Array(Self.job.utf8))).status != 405, "\(method) \(path)")
        }
        #expect(worker.submissions.count == (allowed == "POST" ? 1 : 0), "a refused method never reaches the worker")
    }

    @Test func aBodyOverTheLimitIs413AndTheLimitIsTheOneNginxIsGiven() throws {
        let worker = try Self.worker()
        let api = Self.api(worker)
        let limit = BodyLimit.bytes(forSourceSize: Self.maxSourceSize)
        #expect(limit == Self.maxSourceSize / 3 * 4 + 65536)
        #expect(api.bodyTooLarge(length: limit) == nil)
        let tooLarge = try #require(api.bodyTooLarge(length: limit + 1))
        #expect(tooLarge.status == 413 && tooLarge.json["error"] as? String == "source_too_large", "\(tooLarge.text)")
        #expect((tooLarge.json["message"] as? String ?? "").contains("at most \(limit) bytes"), "\(tooLarge.text)")
        let submitted = api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile", body: [UInt8](repeating: 0x61, count: limit + 1)))
        #expect(submitted == tooLarge)
        let longSource = #"{"source_code":"\#(String(repeating: "x", count: Self.maxSourceSize + 1))","language":"c"}"#
        let overSource = api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile", body: Array(longSource.utf8)))
        #expect(overSource.status == 413 && (overSource.json["message"] as? String ?? "").contains("\(Self.maxSourceSize)"), "\(overSource.text)")
        #expect(worker.submissions.isEmpty)
    }

    /// nginx answers paths outside /api/v1/ itself: its 404 names the same endpoints.
    @Test func nginxsOwn404ListsTheRouteTablesEndpoints() throws {
        let site = try String(contentsOf: repositoryRoot.appendingPathComponent("nginx/will-it-compile.conf"), encoding: .utf8)
        #expect(site.contains(#"No endpoint here. Endpoints: \#(APIHandler.routes.listing)."}"#), "nginx/will-it-compile.conf's 404")
    }

    @Test func anInvalidWaitIs400BeforeAnythingIsSubmittedOrLookedUp() throws {
        let worker = try Self.worker()
        let api = Self.api(worker)
        for wait in ["0x10", "3%00999", "31", "-1", "1e1", "inf"] {
            let submit = api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile", query: "wait=\(wait)", body: Array(Self.job.utf8)))
            #expect(submit.status == 400 && submit.json["error"] as? String == "invalid_wait", "POST wait=\(wait): \(submit.text)")
            let read = api.handle(HTTPRequest(method: "GET", path: "/api/v1/compile/\(UUID().uuidString)", query: "wait=\(wait)"))
            #expect(read.status == 400 && read.json["error"] as? String == "invalid_wait", "GET wait=\(wait): \(read.text)")
        }
        let twice = api.handle(HTTPRequest(method: "GET", path: "/api/v1/compile/\(UUID().uuidString)", query: "wait=1&wait=2"))
        #expect(twice.status == 400 && twice.json["error"] as? String == "invalid_wait", "\(twice.text)")
        #expect(worker.requests.isEmpty, "\(worker.requests)")
    }

    @Test func anUnknownFieldOrParameterIs400SuggestingTheKnownName() throws {
        let worker = try Self.worker()
        let api = Self.api(worker)
        let json = api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile",
                                          body: Array(#"{"source_code":"int main(){}","language":"c","std":"c17"}"#.utf8)))
        #expect(json.status == 400 && json.json["error"] as? String == "invalid_request", "\(json.text)")
        #expect((json.json["message"] as? String ?? "").contains("`std` is not a field; did you mean `standard`?"), "\(json.text)")
        let raw = api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile", query: "language=c&compilr=gcc-12",
                                         body: Array("int main(){}".utf8), contentType: "text/plain"))
        #expect(raw.status == 400 && (raw.json["message"] as? String ?? "").contains("did you mean `compiler`?"), "\(raw.text)")
        #expect(worker.submissions.isEmpty)
    }

    @Test func textPlainAnswersWithTheCompilersOutputAndTheVerdictLine() throws {
        let worker = try Self.worker()
        let api = Self.api(worker)
        let good = api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile", query: "language=c&wait=5",
                                          body: Array("int main(void){return 0;}".utf8), contentType: "text/plain", accept: "text/plain"))
        #expect(good.status == 200 && good.header("Content-Type") == "text/plain; charset=utf-8", "\(good.text)")
        #expect(good.header("X-Compile-Status") == "completed" && good.text.hasPrefix("compiled: gcc-12 c gnu17 x86_64/linux, 42 ms"), "\(good.text)")
        let bad = api.handle(HTTPRequest(method: "POST", path: "/api/v1/compile", query: "language=c&wait=5",
                                         body: Array("void f(void){}".utf8), contentType: "text/plain", accept: "text/plain"))
        #expect(bad.status == 422 && bad.header("X-Compile-Status") == "failed", "\(bad.text)")
        #expect(bad.text.hasPrefix("main.c:1:1: error: expected a main\ndid not compile: gcc-12 c gnu17 x86_64/linux, exit code 1"), "\(bad.text)")
        let id = try #require(bad.header("X-Job-Id"))
        let read = api.handle(HTTPRequest(method: "GET", path: "/api/v1/compile/\(id)", accept: "text/plain"))
        #expect(read == bad, "the GET answers as the POST with wait did")
        let json = api.handle(HTTPRequest(method: "GET", path: "/api/v1/compile/\(id)", accept: "application/json, text/plain;q=0.5"))
        #expect(json.status == 200 && json.json["status"] as? String == "failed")
    }
}

extension HTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A catalog entry as `toolchains/catalog/*.json` writes one.
private func spec(_ id: String, _ language: Language, standards: [String], defaultStandard: String?, flags: String) throws -> ToolchainSpec {
    let entry: [String: Any] = [
        "id": id, "language": language.rawValue, "executable": "/usr/bin/\(id)", "version_arguments": ["--version"],
        "standards": standards, "default_standard": defaultStandard ?? NSNull(), "standard_arguments": ["-std={standard}"],
        "command": ["{executable}", "{standard_arguments}", "{flags}", "-o", "{output}", "{source}"], "compile_only_arguments": ["-c"],
        "source_file": "main.c", "binds": [], "environment": [:], "priority": 1, "flags": flags,
    ]
    return try JSONDecoder().decode(ToolchainSpec.self, from: JSONSerialization.data(withJSONObject: entry))
}
