import Foundation
import Glibc
import TestSupport
import Testing
import WillItCompile

/// The Go program cache: where it lives, its byte bound, and what it refuses to trust.
@Suite(.serialized) struct ProgramCacheTests {
    static let programs = ["a", "b", "c", "d", "e"].map { "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"\($0)\") }\n" }

    /// Compiled each time: the verdict cache would answer a program compiled before without its program cache.
    func compileGo(_ worker: WorkerProcess, _ source: String) throws {
        let (job, result) = try worker.compile(source, language: .go, useCache: false)
        #expect(job.status == .completed, "\(result.error) \(result.stderr)")
    }

    func cacheRoot(_ worker: WorkerProcess) -> String {
        worker.directory.appendingPathComponent("program-cache").path
    }

    func entries(_ worker: WorkerProcess) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cacheRoot(worker)).sorted()
    }

    /// Dates a path (a link itself, not what it points to) an hour back: no compile is using it.
    func age(_ path: String) {
        var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// A directory of the service user's, holding one file, that no compile may touch.
    func victim(in worker: WorkerProcess) throws -> URL {
        let victim = worker.directory.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: victim.appendingPathComponent("keep"))
        try chownToServiceUser(victim.path)
        try chownToServiceUser(victim.appendingPathComponent("keep").path)
        return victim
    }

    func isSymbolicLink(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFLNK
    }

    @Test(.runningTimeLimit(minutes: 2))
    func theCacheLivesBesideTheWorkerSocketAsTheServiceUsersOwn() throws {
        let worker = try WorkerProcess()
        try compileGo(worker, Self.programs[0])
        #expect(try entries(worker).count == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(worker.scratchParent)/wic-program-cache"), "nothing in the shared TMPDIR")
        var status = stat()
        #expect(lstat(cacheRoot(worker), &status) == 0)
        let owner = try serviceUserID()
        #expect(status.st_uid == owner && status.st_mode & 0o777 == 0o700)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aCacheRootThatIsALinkOrWritableByOthersStopsTheStartUp() throws {
        let worker = try WorkerProcess()
        let open = worker.directory.appendingPathComponent("open-cache").path
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
        try chownToServiceUser(open)
        chmod(open, 0o777)
        let link = worker.directory.appendingPathComponent("linked-cache").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: cacheRoot(worker))
        let rootOwned = worker.directory.appendingPathComponent("root-cache").path
        try FileManager.default.createDirectory(atPath: rootOwned, withIntermediateDirectories: true)
        chmod(rootOwned, 0o755)
        for (path, problem) in [(open, "can be written by others"), (link, "is a symbolic link"), (rootOwned, "belongs to user 0")] {
            let (status, output) = try worker.runAnotherUntilExit(["SANDBOX_PROGRAM_CACHE_DIR": path, "WORKER_SOCKET": "\(worker.directory.path)/other.sock"])
            #expect(status == 2 && output.contains(path) && output.contains(problem), "\(path): \(status) \(output)")
        }
    }

    @Test(.runningTimeLimit(minutes: 2))
    func anEntryReplacedByALinkIsNeitherUsedNorFollowed() throws {
        let worker = try WorkerProcess()
        try compileGo(worker, Self.programs[0])
        let entry = "\(cacheRoot(worker))/\(try entries(worker)[0])"
        let victim = try victim(in: worker)
        try FileManager.default.removeItem(atPath: entry)
        try FileManager.default.createSymbolicLink(atPath: entry, withDestinationPath: victim.path)
        try compileGo(worker, Self.programs[0])
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim.path) == ["keep"], "the compile wrote through the link")
        #expect(!isSymbolicLink(entry))
        #expect(!(FileManager.default.subpaths(atPath: entry) ?? []).isEmpty, "a fresh entry took the link's place")
    }

    @Test(.runningTimeLimit(minutes: 2))
    func evictionRemovesLinksNeverWhatTheyPointTo() throws {
        let worker = try WorkerProcess(["SANDBOX_PROGRAM_CACHE_ENTRIES": "1"])
        try compileGo(worker, Self.programs[0])
        let entry = "\(cacheRoot(worker))/\(try entries(worker)[0])"
        let victim = try victim(in: worker)
        // A link a sandbox could have left inside its entry, and one planted as an entry.
        try FileManager.default.createSymbolicLink(atPath: "\(entry)/escape", withDestinationPath: victim.path)
        let planted = "\(cacheRoot(worker))/planted"
        try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim.path)
        age(entry)
        age(planted)
        try compileGo(worker, Self.programs[1])
        let left = try entries(worker)
        #expect(left.count == 1, "\(left)")
        #expect(!FileManager.default.fileExists(atPath: entry) && !isSymbolicLink(planted))
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim.path) == ["keep"])
    }

    /// Bytes of disk a tree of the test's own takes (shallow, so a path walk is fine here).
    func diskBytes(_ path: String) -> Int {
        var status = stat()
        guard lstat(path, &status) == 0 else { return 0 }
        var total = Int(status.st_blocks) * 512
        if status.st_mode & S_IFMT == S_IFDIR {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { total += diskBytes("\(path)/\(name)") }
        }
        return total
    }

    /// Bytes in use on the file system holding `path`.
    func usedBytes(_ path: String) -> Int {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return -1 }
        return Int(status.f_blocks - status.f_bfree) * Int(status.f_frsize)
    }

    /// A Go program whose compile takes seconds: twenty thousand branches in one function.
    static let slowProgram = "package main\nimport \"fmt\"\nfunc main() {\nx := 1\n"
        + (0..<20_000).map { "if x%\($0 + 2) == 7 { x = x*3 + \($0) }\n" }.joined() + "fmt.Println(x)\n}\n"

    @Test(.runningTimeLimit(minutes: 3))
    func theCacheIsTrimmedToItsLowWaterMark() throws {
        // A Go hello-world's cache takes about 1.5 MiB: under a quarter of 8 MiB, so each is kept,
        // and five of them are more than three quarters of it.
        let worker = try WorkerProcess(["SANDBOX_PROGRAM_CACHE_MB": "8"])
        for program in Self.programs {
            try compileGo(worker, program)
            #expect(!(try entries(worker)).isEmpty, "the newest entry is kept")
            let bytes = diskBytes(cacheRoot(worker))
            let left = try entries(worker)
            #expect(bytes <= (8 << 20) / 4 * 3, "\(bytes) bytes in \(left)")
        }
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aFullCacheOnItsOwnTmpfsIsTrimmedSoTheNextCompilesHaveRoom() throws {
        let megabytes = 16
        let worker = try WorkerProcess(["SANDBOX_PROGRAM_CACHE_MB": "\(megabytes)"], programCacheOnItsOwnFileSystem: true)
        try compileGo(worker, Self.programs[0])
        // What runaway compiles leave behind: entries of the service user's filling the file system.
        var filler = 0
        while try fill("\(cacheRoot(worker))/filler\(filler)") { filler += 1 }
        var status = statvfs()
        #expect(statvfs(cacheRoot(worker), &status) == 0 && Int(status.f_bfree) * Int(status.f_frsize) < 64 << 10, "the tmpfs is full")
        for program in Self.programs.dropFirst() {
            try compileGo(worker, program)
            #expect(usedBytes(cacheRoot(worker)) <= (megabytes << 20) / 4 * 3, "\(usedBytes(cacheRoot(worker))) bytes used")
        }
    }

    /// Creates a cache entry of the service user's with 2 MiB of data; false when the file
    /// system ran out of space first.
    func fill(_ entry: String) throws -> Bool {
        try FileManager.default.createDirectory(atPath: entry, withIntermediateDirectories: false)
        try chownToServiceUser(entry)
        chmod(entry, 0o700)
        let descriptor = open("\(entry)/data", O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw HarnessError("create \(entry)/data: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        try chownToServiceUser("\(entry)/data")
        let chunk = [UInt8](repeating: 7, count: 64 << 10)
        for _ in 0..<32 {
            guard chunk.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == chunk.count else { return false }
        }
        return true
    }

    @Test(.runningTimeLimit(minutes: 2))
    func anEntryOverAQuarterOfTheCacheIsNotKept() throws {
        // About 1.5 MiB of Go cache is more than a quarter of 2 MiB.
        let worker = try WorkerProcess(["SANDBOX_PROGRAM_CACHE_MB": "2"])
        try compileGo(worker, Self.programs[0])
        #expect(try entries(worker).isEmpty)
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aCompileThatTimesOutLeavesNoEntry() throws {
        // The CPU limit defaults to the timeout, and Go's parallel compiler on two cores would reach
        // it first: go build then reports its compiler killed, a plain failure. Only the wall clock ends this one.
        let worker = try WorkerProcess(["COMPILATION_TIMEOUT_SECONDS": "1", "SANDBOX_CPU_SECONDS": "120"])
        let (job, result) = try worker.compile(Self.slowProgram, language: .go)
        #expect(job.status == .timeout, "\(job.status) \(result.error) \(result.stderr.prefix(500))")
        #expect(try entries(worker).isEmpty)
    }

    @Test(.runningTimeLimit(minutes: 3))
    func aDeepTreeIsEvictedWithoutFollowingTheLinksInIt() throws {
        let worker = try WorkerProcess(["SANDBOX_PROGRAM_CACHE_ENTRIES": "1"])
        try compileGo(worker, Self.programs[0])
        let victim = try victim(in: worker)
        // Deeper than any path can name, with a link to the victim at the bottom. Built beside
        // the cache and moved in whole: the worker trims the cache while it ends the first
        // compile, and a walk into a half-built tree meets directories that are still root's.
        let staging = "\(worker.directory.path)/deep-staging"
        let planted = "\(cacheRoot(worker))/deep"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        try chownToServiceUser(staging)
        let account = try account(named: serviceUser)
        var directory = open(staging, O_RDONLY | O_DIRECTORY)
        for _ in 0..<10_000 {
            guard mkdirat(directory, "d", 0o700) == 0,
                  fchownat(directory, "d", account.uid, account.gid, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw HarnessError("mkdirat: \(String(cString: strerror(errno)))")
            }
            let next = openat(directory, "d", O_RDONLY | O_DIRECTORY)
            close(directory)
            directory = next
        }
        #expect(symlinkat(victim.path, directory, "escape") == 0)
        fchownat(directory, "escape", account.uid, account.gid, AT_SYMLINK_NOFOLLOW)
        close(directory)
        // As a sandbox can leave it: a directory not even its owner may read.
        #expect(chmod("\(staging)/d", 0) == 0)
        #expect(rename(staging, planted) == 0)
        age(planted)
        try compileGo(worker, Self.programs[1])
        var status = stat()
        #expect(lstat(planted, &status) != 0, "the deep entry was evicted: \(worker.log())")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim.path) == ["keep"])
    }

    @Test(.runningTimeLimit(minutes: 3))
    func anEntryARunningCompileHoldsIsNotEvictedWhateverItsTimes() throws {
        let worker = try WorkerProcess(["SANDBOX_PROGRAM_CACHE_ENTRIES": "1", "COMPILATION_TIMEOUT_SECONDS": "120"])
        let slow = try worker.submit(Self.slowProgram, language: .go)
        var held: [String] = []
        try waitUntil("the slow compile's entry appears", within: 60) {
            held = try entries(worker)
            return !held.isEmpty
        }
        try #require(held.count == 1, "the slow compile's entries: \(held)")
        let entry = "\(cacheRoot(worker))/\(held[0])"
        // Go makes the cache's 256 subdirectories first; once the last is there, the entry is
        // left alone until the compile itself is done.
        try waitUntil("Go made the entry's 256 subdirectories", within: 60) { FileManager.default.fileExists(atPath: "\(entry)/ff") }
        // A sandbox can date its own entry back (utimensat): that must not make it look unused.
        age(entry)
        let (quick, _) = try worker.compile(Self.programs[0], language: .go, useCache: false)
        #expect(quick.status == .completed)
        let survived = FileManager.default.fileExists(atPath: entry)
        let (done, result) = try worker.waitForVerdict(slow, within: 120)
        try #require(done.completedAt! > quick.completedAt!, "the slow compile was still running when the quick one ended")
        #expect(survived, "the quick compile's trim evicted the entry of the compile still running")
        #expect(done.status == .completed, "\(result.error) \(result.stderr.prefix(300))")
    }
}
