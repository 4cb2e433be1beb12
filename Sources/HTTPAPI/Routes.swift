import WillItCompile

/// One endpoint: where it is, which methods it takes, and what answers it.
struct Route: Sendable {
    /// A path, or a path whose last segment is a `{name}`: that segment is then the
    /// rest of the path, slashes and all, handed to `answer` as its parameter.
    let pattern: String
    /// Further paths (without a parameter) that answer the same; the 404 names `pattern` only.
    let aliases: [String]
    /// The first is the one the 404 names; all are the 405's `Allow`.
    let methods: [String]
    /// The request and the path's parameter (empty for a pattern without one).
    let answer: @Sendable (APIHandler, HTTPRequest, String) -> HTTPResponse
    /// Whether the 404 names it: not an operator's endpoint that nginx keeps from the public.
    let listed: Bool
    /// The pattern up to and without its `{name}`; nil for a pattern without one.
    private let parameterPrefix: String?

    init(_ pattern: String, aliases: [String] = [], methods: [String], listed: Bool = true,
         answer: @escaping @Sendable (APIHandler, HTTPRequest, String) -> HTTPResponse) {
        self.pattern = pattern
        self.aliases = aliases
        self.methods = methods
        self.listed = listed
        self.answer = answer
        parameterPrefix = pattern.utf8.firstIndex(of: UInt8(ascii: "{")).map { String(pattern[..<$0]) }
    }

    /// The path's parameter when the path is this route's, else nil. Compared byte by byte:
    /// every pattern is ASCII, and a path is whatever bytes the client sent.
    func parameter(in path: String) -> String? {
        guard let prefix = parameterPrefix else {
            return path.utf8.elementsEqual(pattern.utf8) || aliases.contains { path.utf8.elementsEqual($0.utf8) } ? "" : nil
        }
        guard path.utf8.starts(with: prefix.utf8) else { return nil }
        return String(Substring(path.utf8.dropFirst(prefix.utf8.count)))
    }
}

/// The endpoints, in the order the 404 lists them: what answers a path, and the
/// only place the 404's list and the 405's `Allow` come from.
struct RouteTable: Sendable {
    let routes: [Route]

    /// The route that answers `path` (without a trailing `/`), and its parameter.
    func route(for path: String) -> (Route, String)? {
        for route in routes {
            if let parameter = route.parameter(in: path) { return (route, parameter) }
        }
        return nil
    }

    /// What nginx answers itself, never passing it on: listed so that a 404 names it too.
    static let servedByNginx = ["GET /api/v1/openapi.yaml"]

    /// `POST /api/v1/compile, GET /api/v1/compile/{job_id}, …`: each route by its first
    /// method, then what nginx serves itself.
    var listing: String {
        (routes.filter(\.listed).map { "\($0.methods[0]) \($0.pattern)" } + Self.servedByNginx).joined(separator: ", ")
    }
}

extension APIHandler {
    static let routes = RouteTable(routes: [
        Route("/api/v1/compile", methods: ["POST"]) { api, request, _ in api.submit(request) },
        Route("/api/v1/compile/{job_id}", methods: ["GET", "HEAD"]) { api, request, id in api.job(id, request).about(JobID(id)) },
        Route("/api/v1/matrix", methods: ["POST"]) { api, request, _ in api.submitMatrix(request) },
        Route("/api/v1/matrix/{matrix_id}", methods: ["GET", "HEAD"]) { api, request, id in api.matrix(id, request) },
        Route("/api/v1/environments", methods: ["GET", "HEAD"]) { api, _, _ in api.environments() },
        Route("/api/v1/toolchains", methods: ["GET", "HEAD"]) { api, _, _ in api.toolchainList() },
        Route("/api/v1/flags/{family}", methods: ["GET", "HEAD"]) { api, _, family in api.flagList(family) },
        Route("/api/v1/workers/stats", methods: ["GET", "HEAD"]) { api, _, _ in api.workerStats() },
        Route("/health", aliases: ["/api/v1/health"], methods: ["GET", "HEAD"]) { api, _, _ in api.health() },
        Route("/metrics", methods: ["GET", "HEAD"], listed: false) { api, _, _ in api.metrics() },
    ])
}
