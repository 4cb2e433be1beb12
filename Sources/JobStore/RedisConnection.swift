import CHiredis
import CoreMetrics
import FoundationEssentials
import Glibc
import WillItCompile

/// A reply from Redis, copied out of hiredis's reply object (which is freed at once).
enum RedisValue: Equatable {
    case bulk([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    /// An error reply: the command reached Redis and was refused.
    case error(String)

    var text: String? {
        switch self {
        case let .bulk(bytes): String(decoding: bytes, as: UTF8.self)
        case let .status(text): text
        default: nil
        }
    }
}

/// An HGETALL reply read in place (`RedisConnection.pipelineReadingHashes`).
enum BorrowedHashReply {
    /// The hash's pairs; none when the key does not exist.
    case hash(BorrowedHash)
    /// Anything else (an error reply, another type), copied.
    case other(RedisValue)
}

/// A hash's field/value pairs where hiredis holds them. A job hash has under ten
/// fields, so a linear search beats building a dictionary on every status read.
struct BorrowedHash {
    /// A struct, not a tuple: an array of tuples looks up their type's metadata at run time.
    struct Pair {
        let field: UnsafeRawBufferPointer
        let value: UnsafeRawBufferPointer
    }

    let pairs: [Pair]

    var isEmpty: Bool { pairs.isEmpty }

    subscript(field: StaticString) -> UnsafeRawBufferPointer? {
        let name = UnsafeRawBufferPointer(start: field.utf8Start, count: field.utf8CodeUnitCount)
        guard let start = name.baseAddress, !name.isEmpty else { return pairs.first { $0.field.isEmpty }?.value }
        return pairs.first { $0.field.count == name.count && memcmp($0.field.baseAddress!, start, name.count) == 0 }?.value
    }
}

/// Why a connection failed. The connection is unusable afterwards.
enum RedisConnectionError: Error {
    /// Redis closed the connection or reset it: typical of a restarted server.
    /// A command sent on a connection that was idle in a pool most likely never ran.
    case connectionLost(String)
    /// Connecting, authenticating, a timeout, or any other I/O failure.
    case failed(String)

    /// What the store reports for it: Redis at `address` is unavailable, and why.
    /// Every such failure is counted (`will_it_compile_redis_errors_total`).
    func storeError(address: RedisAddress) -> JobStoreError {
        Counter(label: MetricName.redisErrors).increment()
        return switch self {
        case let .connectionLost(reason), let .failed(reason): .unavailable("Redis at \(address): \(reason)")
        }
    }
}

/// One blocking hiredis connection. This file is the only place that touches hiredis.
///
/// Not thread-safe (neither is `redisContext`): one thread uses it at a time,
/// which `RedisConnectionPool` guarantees.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    /// SHA1 of each script this connection has loaded, by script text.
    private var loadedScripts: [String: String] = [:]

    /// Connects, then authenticates and selects the database if configured.
    init(configuration: RedisConfiguration) throws(RedisConnectionError) {
        let connectTimeout = timeval(configuration.connectTimeout)
        let candidate: UnsafeMutablePointer<redisContext>? = switch configuration.address {
        case let .tcp(host, port): redisConnectWithTimeout(host, Int32(port), connectTimeout)
        case let .unix(path): redisConnectUnixWithTimeout(path, connectTimeout)
        }
        guard let candidate else {
            throw .failed("cannot connect to Redis at \(configuration.address): out of memory")
        }
        if candidate.pointee.err != 0 {
            let reason = Self.errorText(candidate)
            redisFree(candidate)
            throw .failed("cannot connect to Redis at \(configuration.address): \(reason)")
        }
        // From here on `deinit` owns the context, also when a later step throws.
        context = candidate
        redisSetTimeout(context, timeval(configuration.commandTimeout))
        if case .tcp = configuration.address { redisEnableKeepAlive(context) }
        if let password = configuration.password {
            let reply = try command(["AUTH", password])
            if case let .error(message) = reply {
                throw .failed("Redis at \(configuration.address) refused REDIS_PASSWORD: \(message)")
            }
        }
        if configuration.database != 0 {
            let reply = try command(["SELECT", String(configuration.database)])
            if case let .error(message) = reply {
                throw .failed("Redis at \(configuration.address) refused REDIS_DB=\(configuration.database): \(message)")
            }
        }
    }

    deinit {
        redisFree(context)
    }

    func command(_ arguments: [String]) throws(RedisConnectionError) -> RedisValue {
        try command(arguments.map { Array($0.utf8) })
    }

    /// Sends one command with binary-safe arguments (any bytes, NUL included) and waits for its reply.
    func command(_ arguments: [[UInt8]]) throws(RedisConnectionError) -> RedisValue {
        try pipeline([arguments])[0]
    }

    /// Sends several commands in one write and reads their replies in order: one round
    /// trip. Arguments go through `redisAppendCommandArgv`, binary-safe (any bytes, NUL included).
    func pipeline(_ commands: [[[UInt8]]]) throws(RedisConnectionError) -> [RedisValue] {
        try append(commands)
        var replies: [RedisValue] = []
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw failure() }
            replies.append(Self.value(of: reply.assumingMemoryBound(to: redisReply.self).pointee))
            freeReplyObject(reply)
        }
        return replies
    }

    /// Queues the commands in hiredis's output buffer; the first `redisGetReply` sends them in one write.
    private func append(_ commands: [[[UInt8]]]) throws(RedisConnectionError) {
        for arguments in commands {
            let lengths = arguments.map(\.count)
            let buffer = arguments.flatMap { $0 }
            let status: Int32 = buffer.withUnsafeBufferPointer { bytes in
                let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                var offset = 0
                var argv: [UnsafePointer<CChar>?] = lengths.map { length in
                    defer { offset += length }
                    return (base + offset).assumingMemoryBound(to: CChar.self)
                }
                return argv.withUnsafeMutableBufferPointer { argvPointer in
                    lengths.withUnsafeBufferPointer { lengthPointer in
                        redisAppendCommandArgv(context, Int32(arguments.count), argvPointer.baseAddress, lengthPointer.baseAddress)
                    }
                }
            }
            guard status == REDIS_OK else { throw failure() }
        }
    }

    /// `pipeline` for commands that answer hashes (HGETALL), handing `read` each reply as
    /// hiredis holds it, without copying its strings: the hot path of a status read.
    /// What `read` is given is valid only while it runs.
    func pipelineReadingHashes<T>(_ commands: [[[UInt8]]], _ read: ([BorrowedHashReply]) -> T) throws(RedisConnectionError) -> T {
        try append(commands)
        var replies: [UnsafeMutableRawPointer] = []
        replies.reserveCapacity(commands.count)
        defer { replies.forEach { freeReplyObject($0) } }
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw failure() }
            replies.append(reply)
        }
        return read(replies.map { Self.borrowedHash(of: $0.assumingMemoryBound(to: redisReply.self).pointee) })
    }

    /// Waits up to `timeout` for the next message on a connection that has
    /// subscribed (`SUBSCRIBE`), sending nothing. nil when the time passed; the
    /// connection is unusable afterwards either way, so callers close it.
    func nextMessage(timeout: Duration) throws(RedisConnectionError) -> RedisValue? {
        // hiredis reads a zero timeout as "block forever".
        redisSetTimeout(context, timeval(max(timeout, .milliseconds(1))))
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else {
            if context.pointee.err == REDIS_ERR_IO, errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw failure()
        }
        defer { freeReplyObject(reply) }
        return Self.value(of: reply.assumingMemoryBound(to: redisReply.self).pointee)
    }

    /// Runs a Lua script by its SHA1, loading it on this connection first if needed.
    func evaluate(_ script: String, keys: [[UInt8]], arguments: [[UInt8]]) throws(RedisConnectionError) -> RedisValue {
        for attempt in 0..<2 {
            let sha = try scriptSHA(script, reload: attempt > 0)
            let reply = try command([Array("EVALSHA".utf8), Array(sha.utf8), Array(String(keys.count).utf8)] + keys + arguments)
            // NOSCRIPT: the server's script cache was flushed since this connection loaded it.
            guard case let .error(message) = reply, message.hasPrefix("NOSCRIPT") else { return reply }
        }
        return .error("NOSCRIPT: script could not be loaded")
    }

    private func scriptSHA(_ script: String, reload: Bool) throws(RedisConnectionError) -> String {
        if !reload, let sha = loadedScripts[script] { return sha }
        let reply = try command(["SCRIPT", "LOAD", script])
        guard let sha = reply.text, case .bulk = reply else {
            throw .failed("Redis refused to load a script: \(reply)")
        }
        loadedScripts[script] = sha
        return sha
    }

    private func failure() -> RedisConnectionError {
        let reason = Self.errorText(context)
        switch context.pointee.err {
        case REDIS_ERR_EOF:
            return .connectionLost(reason)
        case REDIS_ERR_IO where errno == ECONNRESET || errno == EPIPE:
            return .connectionLost(reason)
        default:
            return .failed(reason)
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.isEmpty ? "error \(context.pointee.err)" : text
        }
    }

    /// The reply's field/value pairs when it is an array of an even number of bulk
    /// strings (what HGETALL answers; none when the key does not exist); anything else copied.
    private static func borrowedHash(of reply: redisReply) -> BorrowedHashReply {
        guard reply.type == REDIS_REPLY_ARRAY, reply.elements % 2 == 0 else { return .other(value(of: reply)) }
        var pairs: [BorrowedHash.Pair] = []
        pairs.reserveCapacity(reply.elements / 2)
        func string(_ index: Int) -> UnsafeRawBufferPointer? {
            guard let element = reply.element?[index]?.pointee, element.type == REDIS_REPLY_STRING else { return nil }
            return UnsafeRawBufferPointer(start: element.str, count: Int(element.len))
        }
        for pair in stride(from: 0, to: reply.elements, by: 2) {
            guard let field = string(pair), let value = string(pair + 1) else { return .other(value(of: reply)) }
            pairs.append(BorrowedHash.Pair(field: field, value: value))
        }
        return .hash(BorrowedHash(pairs: pairs))
    }

    private static func value(of reply: redisReply) -> RedisValue {
        func bytes() -> [UInt8] {
            guard let str = reply.str, reply.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(reply.len)))
        }
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes())
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(reply.integer)
        case REDIS_REPLY_ARRAY:
            guard let elements = reply.element else { return .array([]) }
            return .array((0..<Int(reply.elements)).map { index in
                elements[index].map { value(of: $0.pointee) } ?? .null
            })
        default:
            return .null
        }
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}
