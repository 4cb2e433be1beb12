import FoundationEssentials
import Glibc
import POSIXSupport
import WillItCompile

/// Up to `poolSize` Redis connections shared by the threads of one process.
///
/// A connection that fails is discarded, never reused; the next call opens a
/// new one, so the pool reconnects by itself after Redis restarts.
final class RedisConnectionPool: @unchecked Sendable {
    // @unchecked: every mutable property is read and written only while `condition` is locked,
    // and a connection is handed to one caller at a time.
    private let condition = Condition()
    private var idle: [RedisConnection] = []
    private var openCount = 0
    private var closed = false
    let configuration: RedisConfiguration

    init(configuration: RedisConfiguration) {
        self.configuration = configuration
        // hiredis writes with write(2): on a connection Redis has closed that raises
        // SIGPIPE, which would kill the whole process instead of failing one command.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Runs `body` with a connection of its own.
    ///
    /// If a connection that sat idle in the pool turns out to be closed by the
    /// server (Redis restarted), every idle connection is dropped (they all went
    /// to the same server) and `body` runs once more on a fresh connection: the
    /// command was never executed on the dead one.
    /// - Throws: `.unavailable` when no connection can be had within the command
    ///   timeout or Redis fails; `.closed` after `close()`.
    func withConnection<T>(_ body: (RedisConnection) throws(RedisConnectionError) -> T) throws(JobStoreError) -> T {
        var mayRetry = true
        while true {
            let (connection, reused) = try checkOut()
            do {
                let value = try body(connection)
                checkIn(connection)
                return value
            } catch {
                if case .connectionLost = error, reused, mayRetry {
                    discard(withIdle: true)
                    mayRetry = false
                    continue
                }
                discard()
                throw error.storeError(address: configuration.address)
            }
        }
    }

    func close() {
        condition.lock()
        closed = true
        openCount -= idle.count
        idle.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    private func checkOut() throws(JobStoreError) -> (RedisConnection, reused: Bool) {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        condition.lock()
        while !closed, idle.isEmpty, openCount >= configuration.poolSize {
            if !condition.wait(until: deadline) {
                condition.unlock()
                throw .unavailable("all \(configuration.poolSize) Redis connections (REDIS_POOL_SIZE) stayed busy for \(configuration.commandTimeout)")
            }
        }
        if closed {
            condition.unlock()
            throw .closed
        }
        if let connection = idle.popLast() {
            condition.unlock()
            return (connection, true)
        }
        openCount += 1
        condition.unlock()
        // Connect outside the lock: other threads keep using idle connections meanwhile.
        do {
            return (try RedisConnection(configuration: configuration), false)
        } catch {
            discard()
            throw error.storeError(address: configuration.address)
        }
    }

    private func checkIn(_ connection: RedisConnection) {
        condition.lock()
        if closed {
            openCount -= 1
        } else {
            idle.append(connection)
        }
        condition.signal()
        condition.unlock()
    }

    /// Forgets a checked-out connection (its `deinit` closes it) and, with
    /// `withIdle`, every idle one too.
    private func discard(withIdle: Bool = false) {
        condition.lock()
        openCount -= 1
        if withIdle {
            openCount -= idle.count
            idle.removeAll()
        }
        condition.broadcast()
        condition.unlock()
    }

    /// A connection outside the pool, for a caller that puts it in a state no
    /// one else could use (a subscription); closed when the caller drops it.
    func dedicatedConnection() throws(JobStoreError) -> RedisConnection {
        do {
            return try RedisConnection(configuration: configuration)
        } catch {
            throw error.storeError(address: configuration.address)
        }
    }
}
