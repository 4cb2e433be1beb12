import Foundation
import Glibc
import TestSupport
import Testing

typealias StackError = TestFailure

/// A whole stack — nginx, spawn-fcgi + multiwatch + responders, worker, and a
/// private redis unless told otherwise — started by `scripts/run --detach` on a
/// free port in its own run directory, with the binaries this test run built.
final class Stack {
    let runDirectory: String
    let port: Int
    let environment: [String: String]

    /// - Parameter runDirectory: a run directory prepared by the test; a fresh one by default.
    init(_ overrides: [String: String] = [:], runDirectory: String? = nil) throws {
        self.runDirectory = runDirectory ?? Self.freshRunDirectory()
        port = try freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["WIC_RUN_DIR"] = self.runDirectory
        environment["WIC_BIN_DIR"] = Self.binaryDirectory()
        environment["PORT"] = String(port)
        environment["WIC_SKIP_SETUP"] = "1"  // scripts/test has set the machine up
        environment["MAX_WORKERS"] = "2"
        environment.removeValue(forKey: "REDIS_ADDR")
        environment.removeValue(forKey: "REDIS_ENABLED")
        environment.merge(overrides) { $1 }
        self.environment = environment
        try start()
    }

    deinit {
        _ = try? script("stop", [runDirectory])
        try? FileManager.default.removeItem(atPath: runDirectory)
    }

    func start() throws {
        let (status, output) = try script("run", ["--detach"])
        guard status == 0 else { throw StackError("scripts/run --detach failed (\(status)):\n\(output)") }
    }

    func stop() throws {
        _ = try script("stop", [runDirectory])
    }

    func pid(of service: String) throws -> Int32 {
        // "PID START" (scripts/run's record_pid), or only the pid.
        let text = try String(contentsOfFile: "\(runDirectory)/pids/\(service)", encoding: .utf8)
        guard let pid = text.split(whereSeparator: \.isWhitespace).first.flatMap({ Int32($0) }) else {
            throw StackError("no pid for \(service)")
        }
        return pid
    }

    /// Sends `signal` to a service and waits until it is gone.
    func kill(_ service: String, signal: Int32 = SIGKILL) throws {
        let pid = try pid(of: service)
        Glibc.kill(pid, signal)
        try waitUntil("\(service) exits", within: 30) { !isRunning(pid) }
    }

    /// Submits a C++ source that gcc refuses after a few seconds (one constant
    /// evaluation over its operation limit, about 4 s of CPU); returns the job id.
    func submitFewSecondsCompile() throws -> String {
        let source = slowCompileSource.split(separator: "\n").prefix(2).joined(separator: "\n") + "\nint main() {}\n"
        let body = try JSONSerialization.data(withJSONObject: ["source_code": source, "language": "cpp"])
        let submitted = try request("POST", "/api/v1/compile", bytes: Array(body))
        guard submitted.status == 202, let id = submitted.json["job_id"] as? String else {
            throw StackError("submit answered \(submitted.status): \(submitted.text)")
        }
        return id
    }

    /// How many long polls are subscribed to the job's verdict in the stack's private Redis.
    func verdictSubscribers(_ id: String) throws -> Int {
        let text = try redisCLI(["PUBSUB", "NUMSUB", "job:verdict:\(id)"])
        guard let count = text.split(separator: "\n").last.flatMap({ Int($0) }) else {
            throw StackError("redis-cli PUBSUB NUMSUB answered: \(text)")
        }
        return count
    }

    /// The keys of the stack's private Redis that match a glob pattern.
    func redisKeys(matching pattern: String) throws -> [Substring] {
        try redisCLI(["--scan", "--pattern", pattern]).split(separator: "\n")
    }

    /// One field of a hash in the stack's private Redis, as stored.
    func redisHashField(_ key: String, _ field: String) throws -> String {
        String(try redisCLI(["--raw", "HGET", key, field]).dropLast())  // redis-cli ends it with a line feed
    }

    /// A string key of the stack's private Redis, as stored; empty when it does not exist.
    func redisString(_ key: String) throws -> String {
        String(try redisCLI(["--raw", "GET", key]).dropLast())
    }

    /// What redis-cli prints for `arguments` against the stack's private Redis.
    private func redisCLI(_ arguments: [String]) throws -> String {
        try TestSupport.redisCLI(socket: "\(runDirectory)/redis.sock", arguments)
    }

    /// Starts the private redis-server again exactly as scripts/run does.
    func restartRedis() throws {
        let pid = try spawn("/usr/bin/setpriv", [
            "--reuid=willitcompile", "--regid=willitcompile", "--init-groups", "--", "redis-server",
            "--port", "0", "--unixsocket", "\(runDirectory)/redis.sock", "--unixsocketperm", "700",
            "--dir", "\(runDirectory)/redis", "--appendonly", "yes", "--save", "", "--daemonize", "no",
            "--maxmemory", "\(environment["REDIS_MAXMEMORY_MB"] ?? "1024")mb", "--maxmemory-policy", "noeviction",
        ], environment: environment, outputPath: "\(runDirectory)/logs/redis.log")
        try "\(pid)\n".write(toFile: "\(runDirectory)/pids/redis", atomically: true, encoding: .utf8)
    }

    /// SIGKILLs the worker, runs `pausing` while it is down, and starts it again with
    /// the very command line and environment scripts/run gave it (read from /proc
    /// before the kill), but for `changes`. Returns the pids of the sandboxes the killed
    /// worker had running.
    @discardableResult
    func killAndRestartWorker(changing changes: [String: String] = [:], pausing: () throws -> Void = {}) throws -> [Int32] {
        let pid = try pid(of: "worker")
        let argv = try nulSeparated("/proc/\(pid)/cmdline")
        let environment = Dictionary(try nulSeparated("/proc/\(pid)/environ").compactMap { entry -> (String, String)? in
            guard let equals = entry.firstIndex(of: "=") else { return nil }
            return (String(entry[..<equals]), String(entry[entry.index(after: equals)...]))
        }, uniquingKeysWith: { $1 }).merging(changes) { $1 }
        let sandboxes = children(of: pid)
        try kill("worker")
        try pausing()
        let restarted = try spawn("/usr/bin/setpriv", ["--reuid=willitcompile", "--regid=willitcompile", "--init-groups", "--"] + argv,
                                  environment: environment, outputPath: "\(runDirectory)/logs/worker.log")
        try "\(restarted)\n".write(toFile: "\(runDirectory)/pids/worker", atomically: true, encoding: .utf8)
        return sandboxes
    }

    private func nulSeparated(_ path: String) throws -> [String] {
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        return bytes.split(separator: 0, omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
    }

    func request(
        _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:],
        from source: String = "127.0.0.1", timeoutSeconds: Int = 30
    ) throws -> HTTPReply {
        try HTTPReply.send(method, path, body: body.map { Array($0.utf8) }, headers: headers, port: port,
                           source: source, timeoutSeconds: timeoutSeconds)
    }

    func request(_ method: String, _ path: String, bytes: [UInt8]) throws -> HTTPReply {
        try HTTPReply.send(method, path, body: bytes, headers: [:], port: port)
    }

    /// Submits, then long-polls (`?wait=`) until the job is terminal.
    func compile(_ body: String, within seconds: Double = 60) throws -> [String: Any] {
        let submitted = try request("POST", "/api/v1/compile", body: body)
        guard submitted.status == 202, let id = submitted.json["job_id"] as? String else {
            throw StackError("submit answered \(submitted.status): \(submitted.text)")
        }
        return try verdict(of: id, within: seconds)
    }

    /// Long-polls (`?wait=`) until the job is terminal.
    func verdict(of id: String, within seconds: Double = 60) throws -> [String: Any] {
        var last: HTTPReply?
        let deadline = Date() + seconds
        while Date() < deadline {
            // 20 s: well inside the client's 30 s receive timeout.
            let reply = try request("GET", "/api/v1/compile/\(id)?wait=20")
            last = reply
            if let status = reply.json["status"] as? String, !["queued", "processing"].contains(status) { return reply.json }
            usleep(30_000)  // every waiting slot was taken: the answer came at once
        }
        throw StackError("job \(id) not terminal within \(seconds) s: \(last?.text ?? "")")
    }

    static func freshRunDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("wic-e2e-\(UUID().uuidString.prefix(8))").path
    }

    func script(_ name: String, _ arguments: [String]) throws -> (Int32, String) {
        try runScript(name, arguments, environment: environment)
    }

    private static func binaryDirectory() -> String {
        buildDirectory().path
    }
}

/// Runs scripts/`name` until it exits, its output in a file: the services it starts
/// must hold no descriptor this process waits on.
func runScript(_ name: String, _ arguments: [String], environment: [String: String]) throws -> (Int32, String) {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("wic-e2e-\(name)-\(UUID().uuidString.prefix(8)).log").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let pid = try spawn(repositoryRoot.appendingPathComponent("scripts/\(name)").path, arguments,
                        environment: environment, outputPath: outputPath)
    let status = waitForExit(pid)
    return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
}

/// One HTTP/1.1 exchange over a fresh TCP connection to 127.0.0.1, from
/// `source` (any address of 127/8 is this host's, so tests can be several clients).
struct HTTPReply {
    let status: Int
    let headers: [String: String]
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    /// The body as a JSON array of objects; empty when it is not one.
    var jsonArray: [[String: Any]] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] ?? [] }

    /// - Parameter timeoutSeconds: bounds the connect and each read.
    static func send(
        _ method: String, _ path: String, body: [UInt8]?, headers: [String: String], port: Int,
        source: String = "127.0.0.1", timeoutSeconds: Int = 30
    ) throws -> HTTPReply {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw StackError("socket: \(errno)") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // Linux bounds a blocking connect by the send timeout.
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        try bind(descriptor, to: source)
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw StackError("connect from \(source) to 127.0.0.1:\(port): errno \(errno)") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        if let body {
            // JSON unless the test names another type (a raw source, a form).
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { head += "Content-Type: application/json\r\n" }
            head += "Content-Length: \(body.count)\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + (body ?? [])
        var offset = 0
        while offset < request.count {
            let sent = request.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, request.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { break }  // the server may answer (413) before reading everything
            offset += sent
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += buffer.prefix(count)
        }
        guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw StackError("no HTTP response from 127.0.0.1:\(port): \(String(decoding: response, as: UTF8.self))")
        }
        let lines = String(decoding: response[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var parsed: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var sentHeaders = headers
        if body != nil, !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { sentHeaders["Content-Type"] = "application/json" }
        var body = Array(response[split.upperBound...])
        if parsed["transfer-encoding"] == "chunked" { body = dechunk(body) }
        let reply = HTTPReply(status: status, headers: parsed, body: body)
        ContractRecords.append(method: method, target: path, requestHeaders: sentHeaders, reply: reply)
        return reply
    }

    private static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        while let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) {
            let size = Int(String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            output += bytes[lineEnd.upperBound..<min(bytes.count, lineEnd.upperBound + size)]
            index = lineEnd.upperBound + size + 2
            if index >= bytes.count { break }
        }
        return output
    }
}

/// 127.0.0.1:`port`.
func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// Binds a socket to `source`, any free port: the address a server sees as the client's.
func bind(_ descriptor: Int32, to source: String) throws {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr(source)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw StackError("bind to \(source): errno \(errno)") }
}

func freePort() throws -> Int {
    let (descriptor, port) = try boundLoopbackSocket()
    close(descriptor)
    return port
}

/// A TCP socket bound to a free port of 127.0.0.1, and that port; the caller closes it.
func boundLoopbackSocket() throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else {
        close(descriptor)
        throw StackError("no free port")
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}
