import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

/// Thousands of submissions above capacity, then the same while a responder, the
/// worker and Redis are SIGKILLed: every accepted job ends with a verdict, every
/// refusal is one the API documents, and nothing leaks.
@Suite(.serialized) struct SoakTests {
    /// Refusals the API documents for a submission, by HTTP status.
    static let documentedRefusals: [Int: Set<String>] = [
        429: ["queue_full", "rate_limited", "too_many_jobs"],
        503: ["redis_unavailable", "worker_unavailable", "responders_unavailable", "store_full"],
    ]

    @Test(.runningTimeLimit(minutes: 8))
    func submissionsAboveCapacityThroughKilledServicesAllEndAndNothingLeaks() throws {
        let stack = try Stack([
            "MAX_WORKERS": "2", "QUEUE_SIZE": "20", "FCGI_CHILDREN": "2",
            // The load comes from one address: nginx's per-address limits would refuse
            // nearly all of it, and the worker's queue is what this test loads.
            "RATE_LIMIT_PER_SECOND": "100000", "RATE_LIMIT_BURST": "100000",
            "READ_RATE_LIMIT_PER_SECOND": "100000", "READ_RATE_LIMIT_BURST": "100000",
            // The cluster-wide limit too; it still runs, so its cost is part of the load.
            "CLUSTER_RATE_LIMIT_PER_SECOND": "100000", "CLUSTER_RATE_LIMIT_BURST": "100000",
        ])

        // Flat: the same processes, after a warm-up and after five times as much load.
        let warmUp = Load(stack: stack, clients: 8, limit: 400)
        warmUp.run()
        try finishEveryAcceptedJob(of: warmUp, on: stack)
        let before = try measure(stack)
        let load = Load(stack: stack, clients: 8, limit: 2000)
        load.run()
        try finishEveryAcceptedJob(of: load, on: stack)
        let after = try measure(stack)
        for (pid, first) in before {
            let last = try #require(after[pid], "process \(pid) (\(first.name)) died under plain load")
            #expect(last.descriptors <= first.descriptors + 4,
                    "\(first.name) \(pid): \(first.descriptors) descriptors after the warm-up, \(last.descriptors) after 2,000 more submissions")
            #expect(last.rss <= first.rss + 4096,
                    "\(first.name) \(pid): \(first.rss) kB resident after the warm-up, \(last.rss) kB after 2,000 more submissions")
        }
        #expect(load.accepted.count > 50, "the load must reach the worker: \(load.summary)")
        #expect(load.outcomes.withLock { $0 }.contains { $0.status == 429 }, "the load must exceed capacity: \(load.summary)")

        // Faults while the load runs.
        let faulted = Load(stack: stack, clients: 8, limit: 20000)
        let loader = Thread { faulted.run() }
        loader.start()
        defer { faulted.stop.store(true, ordering: .relaxed) }
        /// waitUntil, failing with what the load was answered so far.
        func waitUntil(_ what: String, within seconds: Double, _ condition: () throws -> Bool) throws {
            do {
                try TestSupport.waitUntil(what, within: seconds, condition)
            } catch {
                throw TestFailure("\(error); submissions so far by status: \(faulted.summary), last: \(faulted.outcomes.withLock { $0.suffix(5) })")
            }
        }

        try waitUntil("load is running", within: 60) { faulted.count >= 200 }
        let responders = children(of: try stack.pid(of: "responders"))
        Glibc.kill(try #require(responders.first), SIGKILL)

        try waitUntil("load goes on after a responder was killed", within: 60) { faulted.count >= 600 }
        let killedWorker = try stack.pid(of: "worker")
        let workerSandboxes = try stack.killAndRestartWorker(pausing: {
            faulted.markFault()
            try waitUntil("a submission meets the dead worker", within: 30) { faulted.refusals(coded: "worker_unavailable") > 0 }
        })

        try waitUntil("submissions are accepted again after the worker restart", within: 60) {
            faulted.acceptedSince(fault: 1) > 0
        }
        try stack.kill("redis")
        faulted.markFault()
        // Submissions may still be refused with queue_full: slots hold verdicts they cannot store yet.
        try waitUntil("the stack reports Redis down", within: 30) {
            try stack.request("GET", "/health").json["error"] as? String == "redis_unavailable"
        }
        // Down for longer than a verdict write's retries once lasted (6 s): a slot
        // holding a verdict must keep it until Redis is back, however long that takes.
        let redisDown = Date()
        try waitUntil("Redis has been down for 8 s", within: 30) { Date().timeIntervalSince(redisDown) >= 8 }
        try stack.restartRedis()
        try waitUntil("submissions are accepted again after the Redis restart", within: 60) {
            faulted.acceptedSince(fault: 2) > 0
        }
        faulted.stop.store(true, ordering: .relaxed)
        try waitUntil("the load stops", within: 60) { faulted.finished }

        let refusals = faulted.outcomes.withLock { $0 }.filter { $0.status != 202 }
        let undocumented = refusals.filter { Self.documentedRefusals[$0.status]?.contains($0.error ?? "") != true }
        #expect(undocumented.isEmpty, "refusals the API does not document: \(undocumented.prefix(10))")
        try finishEveryAcceptedJob(of: faulted, on: stack)

        // Nothing left behind: the killed worker's sandboxes died with it, and no
        // service has an unreaped child.
        for pid in workerSandboxes {
            try waitUntil("sandbox \(pid) of the killed worker is gone", within: 30) { !isRunning(pid) }
        }
        let worker = try stack.pid(of: "worker")
        try waitUntil("the worker is idle", within: 30) {
            try stack.request("GET", "/api/v1/workers/stats").json["active_workers"] as? Int == 0
        }
        // Each slot keeps a launcher waiting in its next job's cgroup; nothing else may be left.
        let sandboxes = children(of: worker).filter { !isWaitingSandboxLauncher($0, of: worker) }
        #expect(sandboxes.isEmpty, "the idle worker still has children: \(sandboxes)")
        let cgroups = Self.jobCgroups(ofWorkers: [killedWorker, worker]).filter { cgroup in
            let processes = ((try? String(contentsOfFile: "\(cgroup)/cgroup.procs", encoding: .utf8)) ?? "").split(separator: "\n")
            return processes.count != 1 || !isWaitingSandboxLauncher(Int32(processes[0]) ?? 0, of: worker)
        }
        #expect(cgroups.isEmpty, "job cgroups left behind: \(cgroups)")
        for service in ["worker", "responders", "nginx"] {
            let pid = try stack.pid(of: service)
            #expect(zombieChildren(of: pid).isEmpty, "\(service) \(pid) left zombies: \(zombieChildren(of: pid))")
            for child in children(of: pid) {
                #expect(zombieChildren(of: child).isEmpty, "\(service) child \(child) left zombies")
            }
        }
        #expect(try stack.request("GET", "/health").status == 200)
    }

    /// Long-polls every job the load had accepted until it has a verdict; a read
    /// refused for the moment (a service still restarting) is asked again.
    private func finishEveryAcceptedJob(of load: Load, on stack: Stack) throws {
        let deadline = Date() + 120
        for id in load.accepted {
            var status = ""
            while Date() < deadline {
                let reply = try stack.request("GET", "/api/v1/compile/\(id)?wait=20")
                if reply.status == 200, let current = reply.json["status"] as? String {
                    status = current
                    if !["queued", "processing"].contains(current) { break }
                } else if reply.status == 404 {
                    Issue.record("accepted job \(id) is lost: \(reply.text)")
                    break
                } else {
                    #expect([429, 503].contains(reply.status), "reading \(id): \(reply.status) \(reply.text)")
                    usleep(100_000)
                }
            }
            #expect(["completed", "failed"].contains(status), "accepted job \(id) ended as '\(status)'")
        }
    }

    /// Job cgroups (`w<worker pid>-<job>`, see SandboxCgroups) of these workers, on v1 or v2.
    private static func jobCgroups(ofWorkers workers: [Int32]) -> [String] {
        let subtrees = ["/sys/fs/cgroup/memory/will-it-compile", "/sys/fs/cgroup/pids/will-it-compile",
                        "/sys/fs/cgroup/cpu/will-it-compile", "/sys/fs/cgroup/will-it-compile"]
        return subtrees.flatMap { subtree in
            ((try? FileManager.default.contentsOfDirectory(atPath: subtree)) ?? [])
                .filter { name in workers.contains { name.hasPrefix("w\($0)-") } }
                .map { "\(subtree)/\($0)" }
        }
    }

    private struct Usage { let name: String; let rss: Int; let descriptors: Int }

    /// Resident memory and descriptors of the worker and every responder.
    private func measure(_ stack: Stack) throws -> [Int32: Usage] {
        var usage: [Int32: Usage] = [:]
        let worker = try stack.pid(of: "worker")
        for (name, pid) in [("worker", worker)] + children(of: try stack.pid(of: "responders")).map({ ("responder", $0) }) {
            let (rss, descriptors) = try #require(residentKilobytesAndDescriptors(of: pid))
            usage[pid] = Usage(name: name, rss: rss, descriptors: descriptors)
        }
        return usage
    }
}

/// Clients submitting compiles in a loop, each on fresh connections, paced so
/// that the compile slots, not the clients, are what runs out.
private final class Load: Sendable {
    struct Outcome: CustomStringConvertible {
        let status: Int
        let error: String?
        let jobID: String?
        /// How many faults had been injected when it was answered.
        let faults: Int
        var description: String { "\(status) \(error ?? "")" }
    }

    let outcomes = Mutex<[Outcome]>([])
    let stop = Atomic<Bool>(false)
    private let done = Atomic<Int>(0)
    private let faults = Atomic<Int>(0)
    private let port: Int
    private let clients: Int
    private let limit: Int

    init(stack: Stack, clients: Int, limit: Int) {
        port = stack.port
        self.clients = clients
        self.limit = limit
    }

    var count: Int { outcomes.withLock { $0.count } }
    var finished: Bool { done.load(ordering: .relaxed) == clients }
    var accepted: [String] { outcomes.withLock { $0.compactMap(\.jobID) } }
    var summary: String {
        let byStatus = Dictionary(grouping: outcomes.withLock { $0 }, by: \.status).mapValues(\.count)
        return "\(byStatus)"
    }

    func refusals(coded code: String) -> Int { outcomes.withLock { $0.filter { $0.error == code }.count } }
    func acceptedSince(fault: Int) -> Int { outcomes.withLock { $0.filter { $0.faults >= fault && $0.jobID != nil }.count } }
    func markFault() { faults.add(1, ordering: .relaxed) }

    /// Runs every client to the end: `limit` submissions in all, or `stop`.
    func run() {
        // Compiled every time: the verdict cache would answer all but the first two without the queue this test loads.
        let sources = [
            #"{"source_code":"int main(void){return 0;}","language":"c","cache":false}"#,
            #"{"source_code":"int main(void){return x;}","language":"c","cache":false}"#,
        ]
        DispatchQueue.concurrentPerform(iterations: clients) { client in
            var sent = 0
            while !stop.load(ordering: .relaxed), count < limit {
                let faultsBefore = faults.load(ordering: .relaxed)
                let body = sources[(client + sent) % sources.count]
                let outcome: Outcome
                do {
                    let reply = try HTTPReply.send("POST", "/api/v1/compile", body: Array(body.utf8), headers: [:], port: port)
                    outcome = Outcome(status: reply.status, error: reply.json["error"] as? String,
                                      jobID: reply.status == 202 ? reply.json["job_id"] as? String : nil, faults: faultsBefore)
                } catch {
                    outcome = Outcome(status: 0, error: "\(error)", jobID: nil, faults: faultsBefore)
                }
                outcomes.withLock { $0.append(outcome) }
                sent += 1
                usleep(20_000)  // pacing: about 50 submissions a second per client
            }
            done.add(1, ordering: .relaxed)
        }
    }
}
