import Foundation
import Glibc

/// Persistent per-program directories (Go's GOCACHE), each bound read-write into the
/// sandbox of exactly one program with exactly its settings (see docs/SANDBOX.md).
///
/// A sandbox writes into its own entry, so nothing in an entry is trusted: the root and
/// each entry are used only when they are real directories of the worker's own user
/// that nobody else may write, and no symbolic link is ever followed, neither to use an
/// entry nor to measure or remove one.
struct ProgramCache: Sendable {
    let root: String
    let maxBytes: Int
    let maxEntries: Int
    /// Entries used this recently may be in use by a compile and are never evicted.
    let busyFor: Duration

    /// Why the cache root cannot be used; the description names the path and the fix.
    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }

    /// Creates the root (0700) if it is missing, and checks that it is the worker's own
    /// directory, not a symbolic link, and writable by nobody else.
    func prepareRoot() throws(Unusable) {
        if mkdir(root, 0o700) != 0, errno != EEXIST {
            throw Unusable(description: "cannot create the program cache \(root) (SANDBOX_PROGRAM_CACHE_DIR): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard lstat(root, &status) == 0 else {
            throw Unusable(description: "cannot read the program cache \(root): \(String(cString: strerror(errno)))")
        }
        if let problem = Self.problem(with: status) {
            throw Unusable(description: "the program cache \(root) (SANDBOX_PROGRAM_CACHE_DIR) \(problem); it must be a directory of user \(geteuid()) that no one else can write")
        }
    }

    /// What is wrong with a cache directory, or nil when it is usable.
    static func problem(with status: stat) -> String? {
        if status.st_mode & S_IFMT == S_IFLNK { return "is a symbolic link" }
        if status.st_mode & S_IFMT != S_IFDIR { return "is not a directory" }
        if status.st_uid != geteuid() { return "belongs to user \(status.st_uid)" }
        if status.st_mode & 0o022 != 0 { return "can be written by others (mode \(String(status.st_mode & 0o777, radix: 8)))" }
        return nil
    }

    /// The entry named `key` (a hex digest), created if new and marked as just used;
    /// nil when it cannot be used safely (the compile then runs without a cache).
    func entry(_ key: String) -> String? {
        guard (try? prepareRoot()) != nil else { return nil }
        let path = "\(root)/\(key)"
        if mkdir(path, 0o700) != 0 {
            guard errno == EEXIST else { return nil }
            var status = stat()
            guard lstat(path, &status) == 0 else { return nil }
            if Self.problem(with: status) != nil {
                // Planted or damaged: remove the name itself (a link is unlinked, never followed).
                remove(path)
                guard mkdir(path, 0o700) == 0 else { return nil }
            }
        }
        utimes(path, nil)
        return path
    }

    /// Removes the least recently used entries until the cache holds at most `maxBytes`
    /// and `maxEntries`, sparing entries used within `busyFor`.
    func trim() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        let now = Date()
        var entries = names.map { name -> (path: String, used: Date, bytes: Int) in
            let path = "\(root)/\(name)"
            var status = stat()
            let used = lstat(path, &status) == 0
                ? Date(timeIntervalSince1970: TimeInterval(status.st_mtim.tv_sec)) : .distantPast
            return (path, used, Self.diskBytes(path))
        }.sorted { $0.used < $1.used }
        var total = entries.reduce(0) { $0 + $1.bytes }
        let busySeconds = Double(busyFor.components.seconds)
        while let oldest = entries.first, total > maxBytes || entries.count > maxEntries,
              now.timeIntervalSince(oldest.used) > busySeconds {
            remove(oldest.path)
            total -= oldest.bytes
            entries.removeFirst()
        }
    }

    /// Bytes of disk a path takes, its subdirectories included; symbolic links count as
    /// themselves and are never followed, and the walk stays on the path's file system.
    static func diskBytes(_ path: String) -> Int {
        var status = stat()
        guard lstat(path, &status) == 0 else { return 0 }
        var total = Int(status.st_blocks) * 512
        guard status.st_mode & S_IFMT == S_IFDIR,
              let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return total }
        let device = status.st_dev
        for name in names {
            var child = stat()
            let childPath = "\(path)/\(name)"
            guard lstat(childPath, &child) == 0, child.st_dev == device else { continue }
            total += child.st_mode & S_IFMT == S_IFDIR ? diskBytes(childPath) : Int(child.st_blocks) * 512
        }
        return total
    }

    /// Removes a path and, if it is a real directory, what it holds. Links are removed
    /// as links: nothing outside the cache is ever touched.
    private func remove(_ path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        if status.st_mode & S_IFMT == S_IFDIR {
            // A sandbox may have left a directory it made unwritable.
            fchmodat(AT_FDCWD, path, 0o700, AT_SYMLINK_NOFOLLOW)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                remove("\(path)/\(name)")
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
