public import Foundation
import Glibc
import POSIXSupport

/// A test precondition or wait that did not hold, said plainly.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The repository root, found from this file's path.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The directory of the running test binary, where `swift build` put the executables too.
public func buildDirectory() -> URL {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
}

/// Polls `condition` every 20 ms until it holds, failing after `seconds`.
public func waitUntil(_ what: String, within seconds: Double = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date() + seconds
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw TestFailure("timed out after \(seconds) s waiting until \(what)")
}

/// True while the process runs; a zombie (never reaped where PID 1 does not reap) counts as gone.
public func isRunning(_ pid: Int32) -> Bool {
    guard let fields = statFields(pid) else { return false }
    return fields[0] != "Z" && fields[0] != "X"
}

/// Running children of a process, from /proc.
public func children(of parent: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let fields = statFields(pid), fields.count > 2 else { return false }
        return Int32(fields[1]) == parent && fields[0] != "Z"
    }
}

/// The worker's flag that runs its binary as a sandbox launcher (`SandboxLauncher.flag`; a test
/// of WorkerTests checks they are the same).
public let sandboxLauncherFlag = "--sandbox-launcher"

/// Whether `process` is one of the launchers a worker's compile slots keep waiting in their
/// next jobs' cgroups: a child of the worker `worker` that runs the worker's binary with
/// `sandboxLauncherFlag` (once it runs a sandbox, its command line is the sandbox's).
public func isWaitingSandboxLauncher(_ process: Int32, of worker: Int32) -> Bool {
    guard let fields = statFields(process), fields.count > 2, Int32(fields[1]) == worker else { return false }
    let commandLine = (try? String(contentsOfFile: "/proc/\(process)/cmdline", encoding: .utf8)) ?? ""
    return commandLine.split(separator: "\u{0}").dropFirst().first == Substring(sandboxLauncherFlag)
}

/// Children of a process that have exited but were never reaped.
public func zombieChildren(of parent: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let fields = statFields(pid), fields.count > 2 else { return false }
        return Int32(fields[1]) == parent && fields[0] == "Z"
    }
}

/// A process's resident memory (kB) and open descriptors, from /proc.
public func residentKilobytesAndDescriptors(of pid: Int32) -> (rss: Int, descriptors: Int)? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) }),
          let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return nil }
    return (kilobytes, descriptors.count)
}

/// The fields of /proc/PID/stat after the command name: state, parent, …
private func statFields(_ pid: Int32) -> [Substring]? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    return stat[stat.index(after: close)...].split(separator: " ")
}

/// Where a child's standard output or error goes.
public enum ChildOutput: Sendable {
    case discarded
    /// Appended to this file, created if missing.
    case appended(to: String)
    /// Standard error only: wherever standard output goes.
    case withStandardOutput
    /// Into this descriptor of the parent's (the write end of a pipe).
    case descriptor(Int32)
}

/// Starts a process with stdin from /dev/null, a clean signal mask and default handlers (the
/// test runner's threads block signals, and a service inheriting that mask would ignore
/// SIGTERM), and none of the test runner's other descriptors.
///
/// Not Foundation's `Process`: on Linux its `run()` over-reads a directory entry while it
/// looks for the highest open descriptor, and crashed the test run now and then.
public func spawn(
    _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
    standardOutput: ChildOutput, standardError: ChildOutput
) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    for (target, output) in [(Int32(1), standardOutput), (2, standardError)] {
        switch output {
        case .discarded: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
        case let .appended(path): posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        case .withStandardOutput: posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case let .descriptor(descriptor): posix_spawn_file_actions_adddup2(&actions, descriptor, target)
        }
    }
    // Another test's pipe or Redis connection held open by this child would keep that
    // test from seeing its end.
    _ = GNUCalls.addCloseFrom(&actions, 3)
    var pid: pid_t = 0
    let spawned = spawnProcess(&pid, executable, arguments, environment: environment.map { "\($0.key)=\($0.value)" },
                               actions: &actions, ownProcessGroup: false)
    guard spawned == 0 else { throw TestFailure("cannot run \(executable): errno \(spawned)") }
    return pid
}

/// Starts a process with its standard output and error appended to `outputPath`.
public func spawn(_ executable: String, _ arguments: [String], environment: [String: String], outputPath: String) throws -> pid_t {
    try spawn(executable, arguments, environment: environment, standardOutput: .appended(to: outputPath), standardError: .withStandardOutput)
}

/// Which of a child's streams `run` returns.
public enum CapturedStream: Sendable {
    case none, standardOutput, standardError
    /// Both, into one text as the program wrote them.
    case standardOutputAndError
}

/// Runs a program to its end and returns its exit status (128 + signal when killed) and
/// what it wrote to the `captured` stream; the other streams are discarded.
public func run(
    _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
    capturing captured: CapturedStream = .none
) throws -> (status: Int32, output: String) {
    guard captured != .none else {
        let pid = try spawn(executable, arguments, environment: environment, standardOutput: .discarded, standardError: .discarded)
        return (waitForExit(pid), "")
    }
    var ends: [Int32] = [0, 0]
    // Close-on-exec, so children that other threads spawn do not hold the write end open.
    guard GNUCalls.pipe2(&ends, O_CLOEXEC) == 0 else { throw TestFailure("pipe2: errno \(errno)") }
    let pid: pid_t
    do {
        pid = try spawn(executable, arguments, environment: environment,
                        standardOutput: captured == .standardError ? .discarded : .descriptor(ends[1]),
                        standardError: captured == .standardError ? .descriptor(ends[1])
                            : captured == .standardOutputAndError ? .withStandardOutput : .discarded)
    } catch {
        close(ends[0])
        close(ends[1])
        throw error
    }
    close(ends[1])
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(ends[0], &buffer, buffer.count)
        if count > 0 {
            output += buffer[..<count]
        } else if count == 0 || errno != EINTR {
            break
        }
    }
    close(ends[0])
    return (waitForExit(pid), String(decoding: output, as: UTF8.self))
}

/// Runs a program to its end, its output discarded, and returns its exit status.
public func runToExit(_ executable: String, _ arguments: [String]) throws -> Int32 {
    try run(executable, arguments).status
}

/// Runs a program to its end and returns its exit status and what it wrote to standard
/// output (standard error discarded, or with `withErrors` in the output as written).
public func runCapturingOutput(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, withErrors: Bool = false
) throws -> (status: Int32, output: String) {
    try run(executable, arguments, environment: environment ?? ProcessInfo.processInfo.environment,
            capturing: withErrors ? .standardOutputAndError : .standardOutput)
}

/// What redis-cli prints for `arguments` against the Redis on `socket`.
public func redisCLI(socket: String, _ arguments: [String]) throws -> String {
    let (status, output) = try runCapturingOutput("/usr/bin/redis-cli", ["-s", socket] + arguments)
    guard status == 0 else {
        throw TestFailure("redis-cli \(arguments.joined(separator: " ")) exited \(status): \(output)")
    }
    return output
}

/// Waits for a child and returns its exit status (128 + signal when killed).
public func waitForExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1, errno == EINTR {}
    return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}

/// A C++ source that keeps gcc busy far longer than any test's time limit: each
/// assertion spends about 4 s of constant evaluation before gcc gives up on it.
public let slowCompileSource: String = {
    var source = "constexpr long spin(int k) { long s = 0; for (int i = 0; i < 2000; ++i) for (int j = 0; j < 2000; ++j) s += (j + k) % 7; return s; }\n"
    for k in 0..<40 { source += "static_assert(spin(\(k)) >= 0);\n" }
    return source + "int main() {}\n"
}()
