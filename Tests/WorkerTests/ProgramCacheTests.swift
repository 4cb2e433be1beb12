import Foundation
import Glibc
import TestSupport
import Testing
import WillItCompile

/// The Go program cache: where it lives, its byte bound, and what it refuses to trust.
@Suite(.serialized) struct ProgramCacheTests {
    static let programs = ["a", "b", "c"].map { "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"\($0)\") }\n" }

    func compileGo(_ worker: WorkerProcess, _ source: String) throws {
        let (job, result) = try worker.compile(source, language: .go)
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

    @Test(.timeLimit(.minutes(2)))
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

    @Test(.timeLimit(.minutes(2)))
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

    @Test(.timeLimit(.minutes(2)))
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

    @Test(.timeLimit(.minutes(2)))
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

    @Test(.timeLimit(.minutes(2)))
    func theCacheIsBoundedInBytes() throws {
        // One Go program's cache takes more than 1 MiB, so at most the newest stays. Entries
        // used within the compile timeout are spared: a long one keeps a slow machine's
        // first two compiles well inside it.
        let worker = try WorkerProcess(["SANDBOX_PROGRAM_CACHE_MB": "1", "COMPILATION_TIMEOUT_SECONDS": "300"])
        try compileGo(worker, Self.programs[0])
        try compileGo(worker, Self.programs[1])
        // Both were used just now, so both were spared: a compile may still be using them.
        let older = try entries(worker)
        #expect(older.count == 2)
        for name in older { age("\(cacheRoot(worker))/\(name)") }
        try compileGo(worker, Self.programs[2])
        let left = try entries(worker)
        #expect(left.count == 1 && !older.contains(left[0]), "\(left)")
    }
}
