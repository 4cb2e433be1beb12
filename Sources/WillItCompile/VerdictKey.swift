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

    /// The SHA-256 of the form, in lower-case hexadecimal.
    public var sha256Hex: String {
        SHA256.hash(data: bytes).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
        }.joined()
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

    public init(request: CompilationRequest, toolchain: Toolchain, sandbox: SandboxConfiguration, timeout: Duration) {
        digest = Self.canonicalForm(request: request, toolchain: toolchain, sandbox: sandbox, timeout: timeout).sha256Hex
    }

    public static func canonicalForm(
        request: CompilationRequest, toolchain: Toolchain, sandbox: SandboxConfiguration, timeout: Duration
    ) -> CanonicalForm {
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
        let (seconds, attoseconds) = timeout.components
        form.append("timeout_ms", Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
        form.append("cpu_seconds", sandbox.cpuSeconds)
        form.append("address_space_mb", sandbox.addressSpaceMegabytes)
        form.append("file_size_mb", sandbox.fileSizeMegabytes)
        form.append("processes", sandbox.processes)
        form.append("cgroups", sandbox.cgroups)
        form.append("cgroup_memory_mb", sandbox.cgroupMemoryMegabytes)
        form.append("pids", sandbox.pids)
        form.append("workspace_mb", sandbox.workspaceMegabytes)
        form.append("output_limit_bytes", sandbox.outputLimitBytes)
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
