import FoundationEssentials
import Crypto
import Synchronization

/// An unambiguous byte form of named values, for content-addressed keys: each value is
/// written as its name and its bytes, each preceded by its length as 8 bytes, big-endian.
/// No bytes can move from one field to the next without changing a length, so two
/// different lists of fields never give the same form.
public struct CanonicalForm: Sendable {
    public private(set) var bytes: [UInt8] = []

    /// `tag` names the form and its version, so that keys of different forms never meet.
    public init(tag: String) {
        appendLengthPrefixed(Array(tag.utf8))
    }

    public mutating func append(_ name: String, _ value: [UInt8]) {
        appendLengthPrefixed(Array(name.utf8))
        appendLengthPrefixed(value)
    }

    public mutating func append(_ name: String, _ value: String) {
        append(name, Array(value.utf8))
    }

    /// A number in decimal.
    public mutating func append(_ name: String, _ value: Int) {
        append(name, String(value))
    }

    public mutating func append(_ name: String, _ value: Bool) {
        append(name, value ? "true" : "false")
    }

    /// A list as one value: the number of its elements, then each length-prefixed.
    public mutating func append(_ name: String, list: [String]) {
        append(name, list: list.map { Array($0.utf8) })
    }

    /// A list of byte strings as one value, as `append(_:list:)` writes a list of strings.
    public mutating func append(_ name: String, list: [[UInt8]]) {
        var inner = CanonicalForm()
        inner.appendLength(list.count)
        for element in list { inner.appendLengthPrefixed(element) }
        append(name, inner.bytes)
    }

    /// For a project: `files`, each file's name and content in the order sent, then
    /// `translation_units`; nothing for a single source.
    public mutating func appendProject(of request: CompilationRequest) {
        guard request.isProject else { return }
        append("files", list: request.files.flatMap { [Array($0.name.utf8), $0.content] })
        append("translation_units", list: request.translationUnits)
    }

    /// Each of a compile's limits, as the verdict key's fields name them.
    public mutating func append(_ limits: CompileLimits) {
        append("timeout_ms", limits.timeoutMilliseconds)
        append("cpu_seconds", limits.cpuSeconds)
        append("address_space_mb", limits.addressSpaceMegabytes)
        append("file_size_mb", limits.fileSizeMegabytes)
        append("processes", limits.processes)
        append("cgroups", limits.cgroups)
        append("cgroup_memory_mb", limits.cgroupMemoryMegabytes)
        append("pids", limits.pids)
        append("workspace_mb", limits.workspaceMegabytes)
        append("output_limit_bytes", limits.outputLimitBytes)
    }

    /// The SHA-256 of the form, in lower-case hexadecimal.
    public var sha256Hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: bytes) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    private init() {}

    private mutating func appendLength(_ count: Int) {
        let length = UInt64(count)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
    }

    private mutating func appendLengthPrefixed(_ value: [UInt8]) {
        appendLength(value.count)
        bytes += value
    }
}

/// What identifies a verdict: every input that can change whether and how the code
/// compiles. Two submissions with the same key get the same verdict, so the second is
/// answered from the verdict cache. The fields, in this order, each as `CanonicalForm`
/// writes it after the tag `will-it-compile verdict 1`:
///
/// `source` (the bytes as sent), `language`, `toolchain` (its id), `toolchain_version` (the
/// first line it printed when probed), `toolchain_spec` (its catalog entry as JSON with
/// sorted keys: arguments, targets and all), `standard`, `architecture`, `os`, `flags` (a
/// list), `link`, for a project of files `files` (a list of each file's name and content, in
/// the order sent) and `translation_units` (a list), then the limits of the sandbox: `timeout_ms` (wall clock), `cpu_seconds`,
/// `address_space_mb`, `file_size_mb`, `processes`, `cgroups`, `cgroup_memory_mb`, `pids`,
/// `workspace_mb`, `output_limit_bytes`.
///
/// The request must be resolved (its compiler and standard named, as the worker stores
/// it); an absent architecture or OS is the default (`x86_64`, `linux`).
/// Raise the tag's number when the service changes how it compiles in a way that can
/// change a verdict: every key older than that is then missed.
public struct VerdictKey: Sendable, Hashable, CustomStringConvertible {
    /// 64 lower-case hexadecimal digits.
    public let digest: String

    public static let tag = "will-it-compile verdict 1"

    public init(request: CompilationRequest, toolchain: Toolchain, limits: CompileLimits) {
        digest = Self.canonicalForm(request: request, toolchain: toolchain, limits: limits).sha256Hex
    }

    public static func canonicalForm(request: CompilationRequest, toolchain: Toolchain, limits: CompileLimits) -> CanonicalForm {
        var form = CanonicalForm(tag: tag)
        form.append("source", request.source)
        form.append("language", request.language.rawValue)
        form.append("toolchain", toolchain.spec.id)
        form.append("toolchain_version", toolchain.version)
        form.append("toolchain_spec", specJSON(toolchain.spec))
        form.append("standard", request.standard ?? "")
        form.append("architecture", request.architecture ?? "x86_64")
        form.append("os", request.os ?? "linux")
        form.append("flags", list: request.flags)
        form.append("link", request.link)
        form.appendProject(of: request)
        form.append(limits)
        return form
    }

    /// The catalog entry in one stable form; an entry that cannot be encoded (none can)
    /// gives an empty value, which still keys apart from every real entry. Encoded once per
    /// entry: `JSONEncoder` took a tenth of the worker's CPU on a verdict-cache hit.
    private static func specJSON(_ spec: ToolchainSpec) -> [UInt8] {
        if let known = encodedSpecs.withLock({ $0[spec.id] }), known.spec == spec { return known.json }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? Array(encoder.encode(spec))) ?? []
        encodedSpecs.withLock { $0[spec.id] = (spec, json) }
        return json
    }

    /// The last encoding of each catalog entry, by id; an entry whose id comes back with other
    /// contents (another host's catalog) is encoded again.
    private static let encodedSpecs = Mutex<[String: (spec: ToolchainSpec, json: [UInt8])]>([:])

    public var description: String { digest }
}

/// The limits a compile runs under on one host, each of which can change a verdict: the
/// compile's wall-clock timeout and the sandbox's limits (`SandboxConfiguration`).
public struct CompileLimits: Sendable, Equatable, Codable {
    public var timeoutMilliseconds: Int
    public var cpuSeconds: Int
    public var addressSpaceMegabytes: Int
    public var fileSizeMegabytes: Int
    public var processes: Int
    public var cgroups: Bool
    public var cgroupMemoryMegabytes: Int
    public var pids: Int
    public var workspaceMegabytes: Int
    public var outputLimitBytes: Int

    public init(sandbox: SandboxConfiguration, timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        timeoutMilliseconds = Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
        cpuSeconds = sandbox.cpuSeconds
        addressSpaceMegabytes = sandbox.addressSpaceMegabytes
        fileSizeMegabytes = sandbox.fileSizeMegabytes
        processes = sandbox.processes
        cgroups = sandbox.cgroups
        cgroupMemoryMegabytes = sandbox.cgroupMemoryMegabytes
        pids = sandbox.pids
        workspaceMegabytes = sandbox.workspaceMegabytes
        outputLimitBytes = sandbox.outputLimitBytes
    }

    private enum CodingKeys: String, CodingKey {
        case timeoutMilliseconds = "timeout_ms", cpuSeconds = "cpu_seconds", addressSpaceMegabytes = "address_space_mb"
        case fileSizeMegabytes = "file_size_mb", processes, cgroups, cgroupMemoryMegabytes = "cgroup_memory_mb", pids
        case workspaceMegabytes = "workspace_mb", outputLimitBytes = "output_limit_bytes"
    }
}

/// What a responder needs to answer a submission from the verdict cache itself, exactly as
/// its worker would: the limits that key this worker's verdicts, and the host that answers
/// (the job's `host`, and whose `cached` counter in Redis counts the answer). A worker
/// publishes them with its toolchains in Redis mode only: without Redis there is no shared
/// cache for a responder to read.
public struct VerdictCacheTerms: Sendable, Equatable, Codable {
    public let limits: CompileLimits
    public let hostID: String
    /// A SHA-256 of the terms, which the worker keeps in Redis while it runs: a responder
    /// answers in the worker's name only while the worker's terms are still the ones it knows
    /// (a worker restarted with other limits changes them at once).
    public let digest: String

    public init(limits: CompileLimits, hostID: String) {
        self.limits = limits
        self.hostID = hostID
        var form = CanonicalForm(tag: "will-it-compile verdict cache terms 1")
        form.append("host_id", hostID)
        form.append(limits)
        digest = form.sha256Hex
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(limits: try container.decode(CompileLimits.self, forKey: .limits), hostID: try container.decode(String.self, forKey: .hostID))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(limits, forKey: .limits)
        try container.encode(hostID, forKey: .hostID)
    }

    private enum CodingKeys: String, CodingKey {
        case limits, hostID = "host_id"
    }
}
