import Foundation
import Glibc
import Testing

struct StackError: Error, CustomStringConvertible {
    let description: String
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A whole stack — nginx, spawn-fcgi + multiwatch + responders, worker, and a
/// private redis unless told otherwise — started by `scripts/run --detach` on a
/// free port in its own run directory, with the binaries this test run built.
final class Stack {
    let runDirectory: String
    let port: Int
    let environment: [String: String]

    init(_ overrides: [String: String] = [:]) throws {
        runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-e2e-\(UUID().uuidString.prefix(8))").path
        port = try freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["WIC_RUN_DIR"] = runDirectory
        environment["WIC_BIN_DIR"] = Self.binaryDirectory()
        environment["PORT"] = String(port)
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
        guard status == 0 else { throw StackError(description: "scripts/run --detach failed (\(status)):\n\(output)") }
    }

    func stop() throws {
        _ = try script("stop", [runDirectory])
    }

    func pid(of service: String) throws -> Int32 {
        let text = try String(contentsOfFile: "\(runDirectory)/pids/\(service)", encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw StackError(description: "no pid for \(service)")
        }
        return pid
    }

    /// Sends `signal` to a service and waits until it is gone.
    func kill(_ service: String, signal: Int32 = SIGKILL) throws {
        let pid = try pid(of: service)
        Glibc.kill(pid, signal)
        try waitUntil("\(service) exits", within: 30) { !isRunning(pid) }
    }

    /// Starts the private redis-server again exactly as scripts/run does.
    func restartRedis() throws {
        let pid = try spawn("/usr/bin/setpriv", [
            "--reuid=willitcompile", "--regid=willitcompile", "--init-groups", "--", "redis-server",
            "--port", "0", "--unixsocket", "\(runDirectory)/redis.sock", "--unixsocketperm", "700",
            "--dir", "\(runDirectory)/redis", "--appendonly", "yes", "--save", "", "--daemonize", "no",
        ], environment: environment, outputPath: "\(runDirectory)/logs/redis.log")
        try "\(pid)\n".write(toFile: "\(runDirectory)/pids/redis", atomically: true, encoding: .utf8)
    }

    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws -> HTTPReply {
        try HTTPReply.send(method, path, body: body.map { Array($0.utf8) }, headers: headers, port: port)
    }

    func request(_ method: String, _ path: String, bytes: [UInt8]) throws -> HTTPReply {
        try HTTPReply.send(method, path, body: bytes, headers: [:], port: port)
    }

    /// Submits and polls until the job is terminal.
    func compile(_ body: String, within seconds: Double = 60) throws -> [String: Any] {
        let submitted = try request("POST", "/api/v1/compile", body: body)
        guard submitted.status == 202, let id = submitted.json["job_id"] as? String else {
            throw StackError(description: "submit answered \(submitted.status): \(submitted.text)")
        }
        var last: HTTPReply?
        let deadline = Date() + seconds
        while Date() < deadline {
            let reply = try request("GET", "/api/v1/compile/\(id)")
            last = reply
            if let status = reply.json["status"] as? String, !["queued", "processing"].contains(status) { return reply.json }
            usleep(30_000)
        }
        throw StackError(description: "job \(id) not terminal within \(seconds) s: \(last?.text ?? "")")
    }

    /// Runs a script until it exits, its output in a file: the services it starts
    /// must hold no descriptor this process waits on.
    private func script(_ name: String, _ arguments: [String]) throws -> (Int32, String) {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("wic-e2e-\(name)-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try spawn(repositoryRoot.appendingPathComponent("scripts/\(name)").path, arguments,
                            environment: environment, outputPath: outputPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        let exitStatus = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    private static func binaryDirectory() -> String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
    }
}

/// One HTTP/1.1 exchange over a fresh TCP connection to 127.0.0.1.
struct HTTPReply {
    let status: Int
    let headers: [String: String]
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }

    static func send(_ method: String, _ path: String, body: [UInt8]?, headers: [String: String], port: Int) throws -> HTTPReply {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw StackError(description: "socket: \(errno)") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw StackError(description: "connect to 127.0.0.1:\(port): errno \(errno)") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
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
            throw StackError(description: "no HTTP response from 127.0.0.1:\(port): \(String(decoding: response, as: UTF8.self))")
        }
        let lines = String(decoding: response[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var parsed: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(response[split.upperBound...])
        if parsed["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return HTTPReply(status: status, headers: parsed, body: body)
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

func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
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
    guard bound else { throw StackError(description: "no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

func waitUntil(_ what: String, within seconds: Double = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date() + seconds
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw StackError(description: "timed out after \(seconds) s waiting until \(what)")
}

/// Children of a process, from /proc.
func children(of parent: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && Int32(fields[1]) == parent
    }
}

/// True while the process runs; a zombie (never reaped where PID 1 does not reap) counts as gone.
func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: close)...].split(separator: " ").first
    return state != "Z" && state != "X"
}

/// Starts a process with stdin from /dev/null, stdout and stderr appended to
/// `outputPath`, a clean signal mask and default handlers (the test runner's
/// threads block signals, and a service inheriting that mask would ignore SIGTERM).
func spawn(_ executable: String, _ arguments: [String], environment: [String: String], outputPath: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard spawned == 0 else { throw StackError(description: "cannot run \(executable): errno \(spawned)") }
    return pid
}
