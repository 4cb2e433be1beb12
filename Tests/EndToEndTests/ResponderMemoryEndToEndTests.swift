import Foundation
import Glibc
import TestSupport
import Testing

/// A responder bounds glibc's malloc to two arenas (`MallocArenas`): without the bound each of
/// its request threads gets a heap of its own at its first allocation. The heaps are counted in
/// the running responders' address space after every request thread served requests at once,
/// and an operator's `MALLOC_ARENA_MAX` (which glibc reads itself) comes first.
@Suite struct ResponderMemoryEndToEndTests {
    /// glibc's heap of an arena other than the main one: 64 MiB of address space
    /// (`HEAP_MAX_SIZE`), aligned to its size, of which the part in use is readable and
    /// writable and the rest reserved without access.
    static let heapSize: UInt64 = 64 << 20

    /// How many arena heaps `pid` has mapped.
    func arenaHeaps(of pid: Int32) throws -> Int {
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        // Anonymous mappings only (no path), as start, end and permissions.
        let anonymous = maps.split(separator: "\n").compactMap { line -> (UInt64, UInt64, String)? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 5, let dash = fields[0].firstIndex(of: "-"),
                  let start = UInt64(fields[0][..<dash], radix: 16), let end = UInt64(fields[0][fields[0].index(after: dash)...], radix: 16)
            else { return nil }
            return (start, end, String(fields[1]))
        }
        var heaps = 0
        for (index, (start, end, permissions)) in anonymous.enumerated() where start % Self.heapSize == 0 && permissions == "rw-p" {
            // The writable part, then the reserved rest, ending exactly one heap size further.
            var covered = end
            var next = index + 1
            while covered < start + Self.heapSize, next < anonymous.count, anonymous[next].0 == covered, anonymous[next].2 == "---p" {
                covered = anonymous[next].1
                next += 1
            }
            if covered == start + Self.heapSize { heaps += 1 }
        }
        return heaps
    }

    /// Keeps all `threads` request threads of every responder busy at once for a while.
    func load(_ stack: Stack, threads: Int) throws {
        let id = try #require(try stack.request("POST", "/api/v1/compile", body: #"{"source_code":"int main(){}","language":"c"}"#)
            .json["job_id"] as? String)
        let port = stack.port
        DispatchQueue.concurrentPerform(iterations: threads * 2) { _ in
            for _ in 0..<25 { _ = try? HTTPReply.send("GET", "/api/v1/compile/\(id)", body: nil, headers: [:], port: port) }
        }
    }

    func responders(_ stack: Stack) throws -> [Int32] {
        let pids = children(of: try stack.pid(of: "responders")).flatMap { [$0] + children(of: $0) }
            .filter { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("will-it-compile") == true }
        try #require(pids.count == 2, "two responders: \(pids)")
        return pids
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aResponderKeepsAtMostTwoArenasWhateverItsThreadsDo() throws {
        let stack = try Stack(["FCGI_CHILDREN": "2", "FCGI_THREADS": "8"])
        try load(stack, threads: 16)
        for pid in try responders(stack) {
            // The main arena lives in the program's break, not in a heap: the second arena, made
            // at the first allocation of a thread other than the main one, is the one heap.
            #expect(try arenaHeaps(of: pid) == 1, "responder \(pid)")
        }
    }

    /// The same count, without the bound: it sees the heaps the bound prevents.
    @Test(.runningTimeLimit(minutes: 3))
    func anOperatorsMallocArenaMaxComesFirst() throws {
        let stack = try Stack(["FCGI_CHILDREN": "2", "FCGI_THREADS": "8", "MALLOC_ARENA_MAX": "8"])
        try load(stack, threads: 16)
        for pid in try responders(stack) {
            let heaps = try arenaHeaps(of: pid)
            #expect(heaps > 1 && heaps <= 7, "responder \(pid): \(heaps) heaps")
        }
    }
}
