import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

/// nginx in front of the API under abuse: many connections, slow clients, floods.
/// The attacker and the victim are two addresses of this host (all of 127/8 is local).
@Suite(.serialized) struct FrontDoorEndToEndTests {
    static let attacker = "127.0.0.2"
    static let victim = "127.0.0.1"

    /// Slowloris: thousands of connections that send part of a request header, then nothing.
    @Test(.runningTimeLimit(minutes: 3))
    func oneClientHoldingTwoThousandHalfOpenConnectionsCannotStopAnother() throws {
        let stack = try Stack()
        // Room for the attack beside what the tests running in parallel hold.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        try raiseOpenFileLimit(to: open + 2_500)
        let attack = try HalfOpenConnections(count: 2_000, from: Self.attacker, to: stack.port)
        defer { attack.closeAll() }
        let established = attack.waitUntilEstablished(within: 10)
        #expect(established == 2_000, "nginx took every connection (\(established) established)")

        func duringTheAttack(_ what: String, _ send: () throws -> HTTPReply) throws -> HTTPReply {
            do {
                return try send()
            } catch {
                throw StackError("\(what) from another client failed while one client held \(established) connections: \(error)")
            }
        }
        let health = try duringTheAttack("/health") { try stack.request("GET", "/health", from: Self.victim, timeoutSeconds: 5) }
        #expect(health.status == 200, "\(health.text)")
        let submitted = try duringTheAttack("a submit") {
            try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#,
                              from: Self.victim, timeoutSeconds: 5)
        }
        #expect(submitted.status == 202, "\(submitted.text)")
        let held = attack.stillOpen()
        #expect(held >= established - 10, "the attack was still on: \(held) of \(established) connections open")
        let id = try #require(submitted.json["job_id"] as? String)
        #expect(try stack.verdict(of: id)["status"] as? String == "completed")

        // And nginx lets go of them: a header not finished within client_header_timeout ends the connection.
        try waitUntil("nginx closed every half-open connection", within: 30) { attack.stillOpen() == 0 }
    }

    /// Requests in progress per address are bounded (long polls hold a connection for up to 30 s).
    @Test(.runningTimeLimit(minutes: 2))
    func requestsInProgressAreLimitedPerClientAddress() throws {
        let stack = try Stack(["CONN_LIMIT_PER_CLIENT": "3", "FCGI_THREADS": "8"])
        let id = try stack.submitFewSecondsCompile()
        let answers = Mutex<[HTTPReply]>([])
        let port = stack.port
        for _ in 0..<3 {
            Thread {
                if let reply = try? HTTPReply.send("GET", "/api/v1/compile/\(id)?wait=30", body: nil, headers: [:], port: port,
                                                   source: Self.attacker) {
                    answers.withLock { $0.append(reply) }
                }
            }.start()
        }
        try waitUntil("three long polls wait for the verdict") { try stack.verdictSubscribers(id) >= 3 }
        let fourth = try stack.request("GET", "/api/v1/compile/\(id)", from: Self.attacker)
        #expect(fourth.status == 429 && fourth.json["error"] as? String == "rate_limited", "\(fourth.text)")
        #expect(fourth.headers["retry-after"] == "1")
        #expect((fourth.json["message"] as? String ?? "").contains("3 requests at once"), "\(fourth.text)")
        let other = try stack.request("GET", "/api/v1/compile/\(id)", from: Self.victim)
        #expect(other.status == 200, "another address is not limited: \(other.text)")
        try waitUntil("the long polls are answered by the verdict", within: 60) { answers.withLock { $0.count } == 3 }
        #expect(answers.withLock { $0 }.allSatisfy { $0.status == 200 && $0.json["status"] as? String == "failed" })
    }

    /// Every request that reaches the responders is rate limited per address, whatever its
    /// method: GET and HEAD by the read limit, every other method by the submit limit.
    @Test(.runningTimeLimit(minutes: 3))
    func everyAPILocationIsRateLimitedPerClient() throws {
        let stack = try Stack(["READ_RATE_LIMIT_PER_SECOND": "1", "READ_RATE_LIMIT_BURST": "2",
                               "RATE_LIMIT_PER_SECOND": "1", "RATE_LIMIT_BURST": "2"])
        let paths = ["/health", "/api/v1/environments", "/api/v1/toolchains", "/api/v1/workers/stats", "/api/v1/flags/gcc",
                     "/api/v1/compile/\(UUID().uuidString)", "/api/v1/compile"]
        let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
        // Each method and path from an address of its own: each is limited by itself.
        var sources: [String: String] = [:]
        for (index, (path, method)) in paths.flatMap({ path in methods.map { (path, $0) } }).enumerated() {
            let source = "127.0.1.\(index + 1)"
            sources["\(method) \(path)"] = source
            let body = ["GET", "HEAD"].contains(method) ? nil : #"{"source_code":"int main(){}","language":"c"}"#
            let replies = try (0..<8).map { _ in try stack.request(method, path, body: body, from: source) }
            let limited = replies.filter { $0.status == 429 }
            #expect(!limited.isEmpty, "\(method) \(path) is rate limited: \(replies.map(\.status))")
            if method != "HEAD" {
                #expect(limited.allSatisfy { $0.json["error"] as? String == "rate_limited" && $0.headers["retry-after"] == "1" },
                        "\(method) \(path): \(limited.map(\.text))")
            }
            if path == "/health", !["GET", "HEAD"].contains(method) {
                let refused = replies.filter { $0.status != 429 }
                #expect(refused.allSatisfy { $0.status == 405 && $0.json["error"] as? String == "method_not_allowed"
                                             && $0.headers["allow"] == "GET, HEAD" },
                        "\(method) /health: \(refused.map { "\($0.status) \($0.text)" })")
            }
        }
        #expect(try stack.request("GET", "/health", from: Self.victim).status == 200, "per address: another client is not limited")
        let submitted = try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#,
                                          from: try #require(sources["GET /api/v1/environments"]))
        #expect(submitted.status == 202, "submissions have their own limit: \(submitted.text)")
        let read = try stack.request("GET", "/health", from: try #require(sources["POST /health"]))
        #expect(read.status == 200, "reads have their own limit: \(read.text)")
    }

    /// /health takes no body: nginx answers another method at once, without waiting for
    /// (buffering) the body and handing it to a responder.
    @Test(.runningTimeLimit(minutes: 2))
    func aBodySentToHealthIsNeitherWaitedForNorForwarded() throws {
        let stack = try Stack()
        // The header announces 1 MB that never comes: nginx buffering it would wait client_body_timeout (10 s).
        let reply = try stack.request("POST", "/health", headers: ["Content-Length": "1000000"], from: Self.attacker,
                                      timeoutSeconds: 5)
        #expect(reply.status == 405 && reply.json["error"] as? String == "method_not_allowed", "\(reply.status) \(reply.text)")
        #expect(reply.headers["allow"] == "GET, HEAD")
        #expect((reply.json["message"] as? String ?? "").contains("GET, HEAD"), "\(reply.text)")
    }

    /// Errors nginx makes itself, before a responder sees the request, answer in the API's
    /// JSON shape too: the status, `application/json` and a body naming the error.
    @Test(.runningTimeLimit(minutes: 2))
    func errorsNginxMakesItselfAnswerInJSON() throws {
        let stack = try Stack()
        let long = String(repeating: "a", count: 9_000)
        struct Case {
            let what: String, method: String, path: String, headers: [String: String]
            let status: Int, error: String, allow: String?
        }
        let cases = [
            Case(what: "TRACE on the submit path", method: "TRACE", path: "/api/v1/compile", headers: [:],
                 status: 405, error: "method_not_allowed", allow: "POST"),
            Case(what: "TRACE on a job", method: "TRACE", path: "/api/v1/compile/\(UUID().uuidString)", headers: [:],
                 status: 405, error: "method_not_allowed", allow: "GET, HEAD"),
            Case(what: "TRACE on the matrix submit path", method: "TRACE", path: "/api/v1/matrix", headers: [:],
                 status: 405, error: "method_not_allowed", allow: "POST"),
            Case(what: "TRACE on a matrix", method: "TRACE", path: "/api/v1/matrix/\(UUID().uuidString)", headers: [:],
                 status: 405, error: "method_not_allowed", allow: "GET, HEAD"),
            Case(what: "TRACE on /health", method: "TRACE", path: "/health", headers: [:],
                 status: 405, error: "method_not_allowed", allow: "GET, HEAD"),
            Case(what: "%00 in the path", method: "GET", path: "/api/v1/compile/%00", headers: [:],
                 status: 400, error: "bad_request", allow: nil),
            Case(what: "a Content-Length that is not a number", method: "POST", path: "/api/v1/compile",
                 headers: ["Content-Length": "ten"], status: 400, error: "bad_request", allow: nil),
            Case(what: "a Content-Length given twice", method: "POST", path: "/health",
                 headers: ["Content-Length": "1, 1"], status: 400, error: "bad_request", allow: nil),
            Case(what: "a URI over 8 KB", method: "GET", path: "/api/v1/compile/\(long)", headers: [:],
                 status: 414, error: "uri_too_long", allow: nil),
            Case(what: "a header over 8 KB", method: "GET", path: "/health", headers: ["X-Padding": long],
                 status: 400, error: "header_too_large", allow: nil),
            Case(what: "a Transfer-Encoding other than chunked", method: "POST", path: "/api/v1/compile",
                 headers: ["Transfer-Encoding": "gzip"], status: 501, error: "not_implemented", allow: nil),
            Case(what: "nginx's internal error URI asked for directly", method: "GET", path: "/.will-it-compile/error/400",
                 headers: [:], status: 404, error: "not_found", allow: nil),
        ]
        for test in cases {
            let reply = try HTTPReply.send(test.method, test.path, body: nil, headers: test.headers, port: stack.port)
            let shown = "\(test.what): \(reply.status) \(reply.headers) \(reply.text.prefix(300))"
            #expect(reply.status == test.status, "\(shown)")
            #expect(reply.headers["content-type"] == "application/json", "\(shown)")
            #expect(reply.json["error"] as? String == test.error, "\(shown)")
            #expect(!(reply.json["message"] as? String ?? "").isEmpty, "\(shown)")
            if let allow = test.allow {
                #expect(reply.headers["allow"] == allow, "\(shown)")
                #expect((reply.json["message"] as? String ?? "").contains(allow), "\(shown)")
            }
        }
    }
}

/// Raises this process's soft RLIMIT_NOFILE to at least `count`, within its hard limit.
func raiseOpenFileLimit(to count: Int) throws {
    var limit = rlimit()
    getrlimit(RLIMIT_NOFILE_VALUE, &limit)
    guard limit.rlim_cur < rlim_t(count) else { return }
    guard limit.rlim_max >= rlim_t(count) else {
        throw StackError("this test needs \(count) open files; the hard limit is \(limit.rlim_max)")
    }
    limit.rlim_cur = rlim_t(count)
    guard setrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { throw StackError("setrlimit: errno \(errno)") }
}

private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

/// TCP connections from one address to the stack that each send the start of a
/// request header and then nothing: what a slowloris client holds.
final class HalfOpenConnections {
    private var descriptors: [Int32] = []
    private var pending: Set<Int32> = []
    private var connected: [Int32] = []
    private let unfinishedHeader = Array("GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".utf8)

    /// Opens them one after the other, each sending the start of its header as soon
    /// as it is established, as a slowloris client does. What keeps another client
    /// served is room: each nginx worker has far more connections than these. Were
    /// they all taken, nginx would close connections still waiting for their
    /// header, these included ("worker_connections are not enough, reusing
    /// connections"), while a client that sends its whole request at once is
    /// answered before its own connection could be; client_header_timeout ends
    /// the rest.
    init(count: Int, from source: String, to port: Int) throws {
        descriptors.reserveCapacity(count)
        do {
            for _ in 0..<count {
                let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                guard descriptor >= 0 else { throw StackError("socket: errno \(errno) after \(descriptors.count)") }
                descriptors.append(descriptor)
                try bind(descriptor, to: source)
                var address = loopbackAddress(port: port)
                let started = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard started == 0 || errno == EINPROGRESS else { throw StackError("connect: errno \(errno) after \(descriptors.count)") }
                pending.insert(descriptor)
                pollPending(milliseconds: 5)
            }
        } catch {
            closeAll()
            throw error
        }
    }

    deinit { closeAll() }

    /// Waits until every connection is established (and has started its header)
    /// or `seconds` have passed; returns how many are.
    func waitUntilEstablished(within seconds: Double) -> Int {
        let deadline = Date() + seconds
        while !pending.isEmpty, Date() < deadline { pollPending(milliseconds: 100) }
        return connected.count
    }

    /// Sends the unfinished header on each pending connection that is established now.
    private func pollPending(milliseconds: Int32) {
        var polled = pending.map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
        guard poll(&polled, nfds_t(polled.count), milliseconds) > 0 else { return }
        for entry in polled where entry.revents != 0 {
            pending.remove(entry.fd)
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { continue }
            connected.append(entry.fd)
            _ = unfinishedHeader.withUnsafeBytes { send(entry.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// How many established connections the server has not closed.
    func stillOpen() -> Int {
        connected.filter { descriptor in
            var byte: UInt8 = 0
            return recv(descriptor, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK)) == -1 && errno == EAGAIN
        }.count
    }

    func closeAll() {
        for descriptor in descriptors { close(descriptor) }
        descriptors = []
        pending = []
        connected = []
    }
}
