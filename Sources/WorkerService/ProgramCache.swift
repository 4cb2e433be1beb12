import Foundation
import Glibc
import Synchronization

/// Persistent per-program directories (Go's GOCACHE), each bound read-write into the
/// sandbox of exactly one program with exactly its settings (see docs/SANDBOX.md).
///
/// A sandbox writes into its own entry, so nothing in an entry is trusted: the root and
/// each entry are used only when they are real directories of the worker's own user
/// that nobody else may write, and no symbolic link is ever followed, neither to use an
/// entry nor to measure or remove one. Every walk goes from directory descriptor to
/// directory descriptor and only ever touches entries no running compile has bound.
final class ProgramCache: Sendable {
    let root: String
    let maxBytes: Int
    let maxEntries: Int
    /// Trimming brings the cache down to this, so the next compiles find room.
    var lowWaterBytes: Int { maxBytes / 4 * 3 }
    /// An entry larger than this after its compile is removed, not kept.
    var maxEntryBytes: Int { maxBytes / 4 }

    /// A compile's hold on its entry, from `acquire` to `release`.
    struct Lease: Sendable {
        let key: String
        let path: String
    }

    private struct State {
        /// Entries bound by running compiles, with how many; an entry being removed is not here
        /// but in `removing`, and cannot be acquired until it is gone.
        var inUse: [String: Int] = [:]
        var removing: Set<String> = []
        /// Bytes of each entry as measured when its last compile ended (or when first seen).
        var bytes: [String: Int] = [:]
        /// Order of last use since the worker started; entries not used since are older than any.
        var lastUse: [String: Int] = [:]
        var uses = 0
    }
    private let state = Mutex(State())

    init(root: String, maxBytes: Int, maxEntries: Int) {
        self.root = root
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
    }

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

    /// The root, opened without following a link, when it is usable; the caller closes it.
    private func openRoot() -> Int32? {
        guard (try? prepareRoot()) != nil else { return nil }
        let descriptor = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, Self.problem(with: status) == nil else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// The entry named `key` (a hex digest), created if new and held for one compile
    /// until `release`; nil when it cannot be used safely (the compile then runs without a cache).
    /// The cache is trimmed first, so a full cache never starves the compile.
    func acquire(_ key: String) -> Lease? {
        trim()
        let held = state.withLock { state -> Bool in
            guard !state.removing.contains(key) else { return false }
            state.inUse[key, default: 0] += 1
            state.uses += 1
            state.lastUse[key] = state.uses
            return true
        }
        guard held else { return nil }
        guard let rootDescriptor = openRoot() else {
            release(key, keep: true, trimming: false)
            return nil
        }
        defer { close(rootDescriptor) }
        if mkdirat(rootDescriptor, key, 0o700) != 0 {
            var status = stat()
            guard errno == EEXIST, fstatat(rootDescriptor, key, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
                release(key, keep: true, trimming: false)
                return nil
            }
            if Self.problem(with: status) != nil {
                // Planted or damaged, and held by this compile alone or by others that got nil too:
                // remove the name itself (a link is unlinked, never followed) and start afresh.
                guard state.withLock({ $0.inUse[key] == 1 }), (try? Self.walk(key, in: rootDescriptor, removing: true).get()) != nil,
                      mkdirat(rootDescriptor, key, 0o700) == 0 else {
                    release(key, keep: true, trimming: false)
                    return nil
                }
            }
        }
        return Lease(key: key, path: "\(root)/\(key)")
    }

    /// Ends a compile's hold on its entry. The entry stays only when `keep` and it is at most
    /// `maxEntryBytes`, and no other compile holds it; then the cache is trimmed.
    func release(_ lease: Lease, keep: Bool) {
        release(lease.key, keep: keep, trimming: true)
    }

    private func release(_ key: String, keep: Bool, trimming: Bool) {
        let last = state.withLock { state -> Bool in
            state.inUse[key, default: 1] -= 1
            guard state.inUse[key]! <= 0 else { return false }
            state.inUse[key] = nil
            return true
        }
        if last, let rootDescriptor = openRoot() {
            let bytes = (try? Self.walk(key, in: rootDescriptor, removing: false).get()) ?? maxBytes + 1
            if !keep || bytes > maxEntryBytes {
                evict(key, in: rootDescriptor)
            } else {
                state.withLock { $0.bytes[key] = bytes }
            }
            close(rootDescriptor)
        }
        if trimming { trim() }
    }

    /// Removes the least recently used entries no compile holds until the cache holds at
    /// most `lowWaterBytes` and `maxEntries`.
    func trim() {
        guard let rootDescriptor = openRoot() else { return }
        defer { close(rootDescriptor) }
        let names = Self.names(in: rootDescriptor)
        let (known, held) = state.withLock { ($0.bytes, Set($0.inUse.keys)) }
        // Entries a compile is writing are measured when it ends; one that cannot be measured
        // counts as more than the whole cache.
        var measured: [String: Int] = [:]
        for name in names where known[name] == nil && !held.contains(name) {
            measured[name] = (try? Self.walk(name, in: rootDescriptor, removing: false).get()) ?? maxBytes + 1
        }
        let present = Set(names)
        let (sizes, lastUse) = state.withLock { state -> ([String: Int], [String: Int]) in
            state.bytes.merge(measured) { old, _ in old }
            // Entries gone from the root (removed by hand) are forgotten.
            state.bytes = state.bytes.filter { present.contains($0.key) }
            return (state.bytes, state.lastUse)
        }
        var total = names.reduce(0) { $0 + (sizes[$1] ?? 0) }
        var count = names.count
        // Never used since the worker started: older than any used since, then by modification time.
        let oldestFirst = names.map { name in (name, lastUse[name] ?? 0, Self.modified(name, in: rootDescriptor)) }
            .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
        for (name, _, _) in oldestFirst {
            guard total > lowWaterBytes || count > maxEntries else { break }
            if evict(name, in: rootDescriptor) {
                total -= sizes[name] ?? 0
                count -= 1
            }
        }
    }

    /// Removes an entry no compile holds; false when one does (or removal failed).
    @discardableResult
    private func evict(_ name: String, in rootDescriptor: Int32) -> Bool {
        let claimed = state.withLock { state -> Bool in
            guard state.inUse[name] == nil, !state.removing.contains(name) else { return false }
            state.removing.insert(name)
            return true
        }
        guard claimed else { return false }
        let removed: Bool
        switch Self.walk(name, in: rootDescriptor, removing: true) {
        case .success: removed = true
        case .failure(let failure):
            removed = false
            log("program cache: could not remove the entry \(root)/\(name) (\(failure)); it is tried again at the next trim", level: .warning)
        }
        state.withLock { state in
            state.removing.remove(name)
            if removed {
                state.bytes[name] = nil
                state.lastUse[name] = nil
            }
        }
        return removed
    }

    private static func modified(_ name: String, in directory: Int32) -> Int {
        var status = stat()
        return fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0 ? status.st_mtim.tv_sec : 0
    }

    /// The names in a directory (without . and ..), read through a descriptor.
    static func names(in directory: Int32) -> [String] {
        var names: [String] = []
        _ = forEachName(in: directory) { name in
            names.append(name)
            return true
        }
        return names
    }

    /// Calls `body` with each name in the directory, from its start, until `body` returns false;
    /// false when the directory could not be read.
    private static func forEachName(in directory: Int32, _ body: (String) -> Bool) -> Bool {
        let copy = dup(directory)
        guard copy >= 0 else { return false }
        guard let stream = fdopendir(copy) else {
            close(copy)
            return false
        }
        defer { closedir(stream) }
        rewinddir(stream)
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            if !body(name) { break }
        }
        return true
    }

    /// One directory on the way down a walk: its name in its parent and its identity.
    private struct Level {
        let name: String
        let device: dev_t
        let inode: ino_t
    }

    /// Why a walk stopped: the step and, when a call failed, its errno, read at once.
    struct WalkFailure: Error, CustomStringConvertible {
        let step: String
        let code: Int32?

        static func failed(_ step: String) -> WalkFailure { WalkFailure(step: step, code: errno) }
        static func changed(_ step: String) -> WalkFailure { WalkFailure(step: step, code: nil) }

        var description: String {
            guard let code else { return "\(step): the tree changed under the walk" }
            return "\(step): \(String(cString: strerror(code)))"
        }
    }

    /// Walks the tree `name` in the directory `parent` without following a symbolic link,
    /// without recursion and holding one directory open at a time, so neither a deep tree
    /// nor a link planted anywhere in it leads outside. Returns the bytes of disk the tree
    /// takes (its subdirectories on other file systems not counted) after removing it all
    /// when `removing`; fails when the tree changed under the walk or could not be removed.
    static func walk(_ name: String, in parent: Int32, removing: Bool) -> Result<Int, WalkFailure> {
        var status = stat()
        guard fstatat(parent, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
            return errno == ENOENT ? .success(0) : .failure(.failed("stat \(name)"))
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            guard !removing || unlinkat(parent, name, 0) == 0 else { return .failure(.failed("unlink \(name)")) }
            return .success(Int(status.st_blocks) * 512)
        }
        let device = status.st_dev
        // A sandbox may have left a directory it made unreadable.
        if removing, status.st_mode & 0o700 != 0o700, fchmodat(parent, name, 0o700, AT_SYMLINK_NOFOLLOW) != 0 {
            return .failure(.failed("chmod \(name)"))
        }
        var current = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard current >= 0 else { return .failure(.failed("open \(name)")) }
        var opened = stat()
        guard fstat(current, &opened) == 0, opened.st_dev == device, opened.st_ino == status.st_ino else {
            close(current)
            return .failure(.changed("open \(name)"))
        }
        var total = Int(opened.st_blocks) * 512
        var path = [Level(name: name, device: device, inode: opened.st_ino)]
        // When measuring, where to go on in a directory after coming back up from a child.
        var resumeAfter: String?
        while true {
            var descend: (name: String, descriptor: Int32, status: stat)?
            var failure: WalkFailure?
            var skipping = resumeAfter != nil
            let readable = forEachName(in: current) { child in
                if skipping {
                    skipping = child != resumeAfter
                    return true
                }
                var childStatus = stat()
                guard fstatat(current, child, &childStatus, AT_SYMLINK_NOFOLLOW) == 0 else { return true }
                guard childStatus.st_mode & S_IFMT == S_IFDIR else {
                    total += Int(childStatus.st_blocks) * 512
                    if removing, unlinkat(current, child, 0) != 0 { failure = .failed("unlink at depth \(path.count)") }
                    return failure == nil
                }
                // Another file system mounted inside is neither counted nor entered.
                guard childStatus.st_dev == device else {
                    if removing { failure = .changed("a mount at depth \(path.count)") }
                    return failure == nil
                }
                if removing, childStatus.st_mode & 0o700 != 0o700, fchmodat(current, child, 0o700, AT_SYMLINK_NOFOLLOW) != 0 {
                    failure = .failed("chmod at depth \(path.count)")
                    return false
                }
                let descriptor = openat(current, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard descriptor >= 0 else {
                    failure = .failed("open at depth \(path.count)")
                    return false
                }
                var openedChild = stat()
                guard fstat(descriptor, &openedChild) == 0, openedChild.st_ino == childStatus.st_ino,
                      openedChild.st_dev == device else {
                    close(descriptor)
                    failure = .changed("open at depth \(path.count)")
                    return false
                }
                descend = (child, descriptor, openedChild)
                return false
            }
            if !readable { failure = .failed("read at depth \(path.count)") }
            if let failure {
                close(current)
                return .failure(failure)
            }
            if let descend {
                close(current)
                current = descend.descriptor
                total += Int(descend.status.st_blocks) * 512
                path.append(Level(name: descend.name, device: device, inode: descend.status.st_ino))
                resumeAfter = nil
                continue
            }
            // This directory is done: go back up to its parent, checking that it is the one we came from.
            let finished = path.removeLast()
            guard let above = path.last else {
                close(current)
                guard !removing || unlinkat(parent, finished.name, AT_REMOVEDIR) == 0 else {
                    return .failure(.failed("remove \(finished.name)"))
                }
                return .success(total)
            }
            let up = openat(current, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let upFailure: WalkFailure? = up < 0 ? .failed("open .. at depth \(path.count)") : nil
            close(current)
            if let upFailure { return .failure(upFailure) }
            var upStatus = stat()
            guard fstat(up, &upStatus) == 0, upStatus.st_dev == above.device, upStatus.st_ino == above.inode else {
                close(up)
                return .failure(.changed("open .. at depth \(path.count)"))
            }
            current = up
            if removing {
                guard unlinkat(current, finished.name, AT_REMOVEDIR) == 0 else {
                    let failure = WalkFailure.failed("remove at depth \(path.count)")
                    close(current)
                    return .failure(failure)
                }
                resumeAfter = nil
            } else {
                resumeAfter = finished.name
            }
        }
    }
}
