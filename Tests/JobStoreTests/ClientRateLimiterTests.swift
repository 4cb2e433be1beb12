import Foundation
@testable import JobStore
import TestSupport
import Testing
import WillItCompile

/// The cluster-wide submission limit against the real redis-server of `scripts/test`.
/// Every test uses clients of its own, so tests running at once share no budget.
@Suite struct ClientRateLimiterTests {
    private func limiter(rate: Int, burst: Int, configuration: RedisConfiguration? = nil) throws -> ClientRateLimiter {
        ClientRateLimiter(configuration: try configuration ?? sharedRedisConfiguration(), submitsPerSecond: rate, burst: burst)
    }

    private func uniqueClient() -> ClientIdentity {
        ClientIdentity("t-\(UUID().uuidString)")!
    }

    @Test func aQuietClientGetsItsBurstAtOnceThenWaitsOneInterval() throws {
        let limiter = try limiter(rate: 2, burst: 4)
        defer { limiter.close() }
        let client = uniqueClient()
        let started = ContinuousClock.now
        for submission in 1...4 {
            #expect(try limiter.admit(client) == .allowed, "submission \(submission) of a burst of 4")
        }
        guard case let .limited(retryAfter) = try limiter.admit(client) else {
            Issue.record("the 5th submission of a burst of 4 was allowed")
            return
        }
        let elapsed = ContinuousClock.now - started
        // The 5th is due one interval (500 ms) after the burst began, by Redis's clock.
        #expect(retryAfter <= .milliseconds(500) && retryAfter >= .milliseconds(500) - elapsed,
                "retry after \(retryAfter), \(elapsed) after the burst began")
        // A refused submission costs nothing: the wait does not grow.
        guard case let .limited(again) = try limiter.admit(client) else {
            Issue.record("a 6th submission at once was allowed")
            return
        }
        #expect(again <= retryAfter)
    }

    @Test func manySubmissionsAtOnceAreAdmittedAllOrNothingAndCostEachOne() throws {
        // 1 per second: nothing comes back to the budget while the test runs.
        let limiter = try limiter(rate: 1, burst: 10)
        defer { limiter.close() }
        let client = uniqueClient()
        #expect(try limiter.admit(client, count: 7) == .allowed)
        guard case let .limited(retryAfter) = try limiter.admit(client, count: 4) else {
            Issue.record("4 more were allowed after 7 of a burst of 10")
            return
        }
        // One more place comes back after one interval: 4 fit once a single one is free again.
        #expect(retryAfter > .milliseconds(500) && retryAfter <= .seconds(1), "\(retryAfter)")
        // The refused 4 cost nothing: 3 still fit, then not one more.
        #expect(try limiter.admit(client, count: 3) == .allowed)
        #expect(try limiter.admit(client) != .allowed)
    }

    @Test func moreThanABurstAtOnceNeedsTheWholeBudgetAndLeavesItInDebt() throws {
        let limiter = try limiter(rate: 1, burst: 10)
        defer { limiter.close() }
        let quiet = uniqueClient()
        #expect(try limiter.admit(quiet, count: 25) == .allowed, "a quiet client's whole budget takes a matrix larger than a burst")
        guard case let .limited(retryAfter) = try limiter.admit(quiet) else {
            Issue.record("a submission right after 25 at once was allowed")
            return
        }
        // 25 at one per second from a budget of 10: the next one is due 15 s later.
        #expect(retryAfter > .seconds(14) && retryAfter <= .seconds(16), "\(retryAfter)")
        let busy = uniqueClient()
        #expect(try limiter.admit(busy) == .allowed)
        #expect(try limiter.admit(busy, count: 25) != .allowed, "a budget not whole does not take more than a burst")
    }

    @Test func theNextSubmissionIsAllowedOnceRetryAfterHasPassed() throws {
        let limiter = try limiter(rate: 5, burst: 1)
        defer { limiter.close() }
        let client = uniqueClient()
        let started = ContinuousClock.now
        var admitted = 0
        // Each time: refused, wait exactly what it says, then admitted.
        while admitted < 6 {
            switch try limiter.admit(client) {
            case .allowed:
                admitted += 1
            case let .limited(retryAfter):
                #expect(retryAfter > .zero && retryAfter <= .milliseconds(200), "\(retryAfter)")
                try Task.checkCancellation()
                usleep(UInt32(retryAfter.roundedUpMilliseconds * 1000))
                #expect(try limiter.admit(client) == .allowed, "refused after waiting the \(retryAfter) it said")
                admitted += 1
            }
        }
        // 6 at 5 per second with no burst: the 6th comes 5 intervals after the 1st at the earliest.
        #expect(ContinuousClock.now - started >= .seconds(1) - .milliseconds(1))
    }

    @Test func hammeringGetsNoMoreThanTheBurstAndTheRate() throws {
        let limiter = try limiter(rate: 20, burst: 5)
        defer { limiter.close() }
        let client = uniqueClient()
        let started = ContinuousClock.now
        var allowed = 0
        var refused = 0
        while ContinuousClock.now - started < .seconds(1) {
            if try limiter.admit(client) == .allowed { allowed += 1 } else { refused += 1 }
        }
        let elapsed = (ContinuousClock.now - started).timeInterval
        // GCRA admits the burst, then one per interval: at most 5 + 20 per second elapsed.
        #expect(allowed <= 5 + Int(20 * elapsed), "\(allowed) admitted in \(elapsed) s")
        #expect(allowed >= 5 && refused > 0, "\(allowed) admitted, \(refused) refused")
    }

    @Test func clientsHaveBudgetsOfTheirOwnAndAnIPv6NetworkIsOneClient() throws {
        let limiter = try limiter(rate: 1, burst: 2)
        defer { limiter.close() }
        let first = uniqueClient()
        let second = uniqueClient()
        #expect(try limiter.admit(first) == .allowed)
        #expect(try limiter.admit(first) == .allowed)
        #expect(try limiter.admit(first) != .allowed)
        #expect(try limiter.admit(second) == .allowed, "another client's budget is whole")

        // Two addresses of one /64 are one client; a random /64 keeps tests apart.
        let network = "2001:db8:\(String(UInt16.random(in: 1...0xFFFF), radix: 16)):\(String(UInt16.random(in: 1...0xFFFF), radix: 16))"
        let host = ClientIdentity(address: "\(network)::1")
        let neighbour = ClientIdentity(address: "\(network):ffff:ffff:ffff:ffff")
        #expect(ClientRateLimiter.key(for: host) == "wic:rate:\(network)::")
        #expect(try limiter.admit(host) == .allowed)
        #expect(try limiter.admit(neighbour) == .allowed)
        #expect(try limiter.admit(host) != .allowed, "the /64's budget of 2 is spent")
    }

    @Test func twoHostsShareOneBudget() throws {
        // Two limiters with pools of their own: two hosts' responders.
        let hostA = try limiter(rate: 1, burst: 3)
        let hostB = try limiter(rate: 1, burst: 3)
        defer { hostA.close(); hostB.close() }
        let client = uniqueClient()
        #expect(try hostA.admit(client) == .allowed)
        #expect(try hostB.admit(client) == .allowed)
        #expect(try hostA.admit(client) == .allowed)
        guard case let .limited(retryAfter) = try hostB.admit(client) else {
            Issue.record("host B allowed a 4th submission of a budget of 3 spent on both hosts")
            return
        }
        #expect(retryAfter > .zero && retryAfter <= .seconds(1))
        #expect(try hostA.admit(client) != .allowed)
    }

    @Test func theKeyLivesOnlyUntilTheBudgetIsWholeAgain() throws {
        let configuration = try sharedRedisConfiguration()
        let limiter = try limiter(rate: 10, burst: 3, configuration: configuration)
        defer { limiter.close() }
        let client = uniqueClient()
        let key = ClientRateLimiter.key(for: client)
        let connection = try RedisConnection(configuration: configuration)
        for _ in 1...3 { _ = try limiter.admit(client) }
        // Three submissions at 100 ms each: whole again within 300 ms.
        guard case let .integer(milliseconds) = try connection.command(["PTTL", key]) else {
            Issue.record("no PTTL for \(key)")
            return
        }
        #expect(milliseconds > 0 && milliseconds <= 300, "\(key) expires in \(milliseconds) ms")
        try waitUntil("\(key) expires", within: 5) { try connection.command(["EXISTS", key]) == .integer(0) }
    }

    @Test func submissionsWithoutAnAddressShareOneBudget() throws {
        #expect(ClientRateLimiter.key(for: nil) == ClientRateLimiter.unidentifiedKey)
        #expect(ClientIdentity(String(ClientRateLimiter.unidentifiedKey.dropFirst(ClientRateLimiter.keyPrefix.count))) == nil,
                "no client's identity can name the shared key")
    }

    /// A Redis at its maxmemory refuses new jobs with 503 `store_full`: the limit
    /// must not answer first with an error of its own, so its tiny write is allowed.
    @Test(.runningTimeLimit(minutes: 1))
    func aFullRedisStillChecksTheRateSoTheSubmissionGetsTheStoresAnswer() throws {
        let server = try PrivateRedis(arguments: ["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"])
        let configuration = RedisConfiguration(enabled: true, address: server.address, poolSize: 2)
        let connection = try RedisConnection(configuration: configuration)
        let filler = [UInt8](repeating: 0x61, count: 100_000)
        var full = false
        for index in 0..<200 where !full {
            let reply = try connection.command([Array("SET".utf8), Array("filler:\(index)".utf8), filler])
            if case let .error(message) = reply, message.hasPrefix("OOM") { full = true }
        }
        try #require(full, "200 values of 100 kB fit in a 3 MB Redis?")
        let limiter = try limiter(rate: 1, burst: 2, configuration: configuration)
        defer { limiter.close() }
        let client = uniqueClient()
        #expect(try limiter.admit(client) == .allowed)
        #expect(try limiter.admit(client) == .allowed)
        #expect(try limiter.admit(client) != .allowed, "the limit still holds on a full Redis")
    }

    /// A Redis outage is reported, never taken as "allowed", and the limiter works
    /// again by itself once Redis is back.
    @Test func anOutageRefusesTheCheckAndRecoveryNeedsNoRestart() throws {
        let server = try PrivateRedis()
        let limiter = try limiter(rate: 1000, burst: 1000, configuration: RedisConfiguration(enabled: true, address: server.address))
        defer { limiter.close() }
        let client = uniqueClient()
        #expect(try limiter.admit(client) == .allowed)
        server.kill()
        let reason = outageReason { _ = try limiter.admit(client) }
        #expect(reason?.contains(server.socketPath) == true, "an outage names Redis's address: \(reason ?? "no outage")")
        try server.start()
        #expect(try limiter.admit(client) == .allowed)
    }
}
