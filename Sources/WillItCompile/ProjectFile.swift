/// One file of a multi-file project: its name in the sandbox's workspace and its bytes.
///
/// Only names that pass `ProjectFile.problem(withName:)` ever reach the sandbox, which
/// creates each file at `/work/<name>` (and its folders) inside a fresh tmpfs.
public struct ProjectFile: Sendable, Equatable {
    /// A relative path such as `src/main.cpp`, as the user named it.
    public var name: String
    public var content: [UInt8]

    public init(name: String, content: [UInt8]) {
        self.name = name
        self.content = content
    }

    /// `MAX_FILES`' default: most files one project may have.
    public static let defaultMaxCount = 64
    /// The highest `MAX_FILES`: each file is a descriptor of the sandbox, below its open-file limit (256).
    public static let maxCountLimit = 128
    /// Longest name, in bytes, and most components (folders and the file) of a name.
    public static let maxNameLength = 256
    public static let maxDepth = 16
    /// Names the sandbox writes itself at the workspace's top: the compiled output.
    public static let reservedNames = ["out", "out.exe"]

    /// What a name is made of, for messages.
    public static let acceptedNames = "a relative path such as `src/main.cpp`: names of letters, digits, `.`, `_`, `+` and `-` separated by single `/`, none starting with `.` or `-`, at most \(maxDepth) deep and \(maxNameLength) bytes long"

    /// Why `name` may not be a file's name in the workspace, or nil when it may. The rules are
    /// an allowlist: every byte is one of `[A-Za-z0-9._+-/]`, so no name holds a NUL, a line
    /// break, a `\`, a blank or a byte a shell or a compiler's option reader treats specially.
    public static func problem(withName name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "an empty name is not a file" }
        if let odd = bytes.first(where: { !isNameByte($0) && $0 != UInt8(ascii: "/") }) {
            return "the byte \(shown(odd)) is not accepted in a name"
        }
        if bytes.count > maxNameLength { return "the name is \(bytes.count) bytes long; at most \(maxNameLength) are accepted" }
        if bytes.first == UInt8(ascii: "/") { return "an absolute name is not accepted; name the file relative to the project's root" }
        if bytes.last == UInt8(ascii: "/") { return "a name ending in `/` is a folder, not a file" }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        if components.contains(where: \.isEmpty) { return "an empty folder name (`//`) is not accepted" }
        if components.contains(where: { $0 == "." || $0 == ".." }) { return "`.` and `..` are not accepted as a folder or file name" }
        if components.contains(where: { $0.hasPrefix("-") }) { return "a name starting with `-` could be read as a compiler option" }
        // The workspace is the compilers' home directory, where names starting with `.` are
        // their configuration (Go reads `.config/go/env`).
        if components.contains(where: { $0.hasPrefix(".") }) { return "a name starting with `.` is not accepted" }
        if components.count > maxDepth { return "the name is \(components.count) levels deep; at most \(maxDepth) are accepted" }
        if components.count == 1, reservedNames.contains(name) { return "`\(name)` is where the compiler writes its output" }
        return nil
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || ".-_+".utf8.contains(byte)
    }

    /// A byte of a name as a message shows it: printable ones as they are, others as `\u{…}`.
    private static func shown(_ byte: UInt8) -> String {
        if byte > 0x20 && byte < 0x7F { return "`\(Character(Unicode.Scalar(byte)))`" }
        let digits = Array("0123456789ABCDEF")
        return "0x" + String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    /// The folders a file's name puts it in, outermost first: `["src", "src/net"]` for `src/net/ip.c`.
    public var folders: [String] {
        let components = name.split(separator: "/")
        return (1..<max(components.count, 1)).map { components.prefix($0).joined(separator: "/") }
    }

    /// The folder the file is in, `""` at the project's root.
    public static func folder(of name: String) -> String {
        name.split(separator: "/").dropLast().joined(separator: "/")
    }
}

extension CompilationRequest {
    /// Why the sandbox must not place this request's files in a workspace, or nil when it may:
    /// the worker checks again what the responder checked, as a job may come from a shared store.
    public var workspaceRefusal: String? {
        guard files.count <= ProjectFile.maxCountLimit else {
            return "the project has \(files.count) files; at most \(ProjectFile.maxCountLimit) can be placed"
        }
        for file in files {
            if let reason = ProjectFile.problem(withName: file.name) { return "file name \(file.name.debugDescription) is refused: \(reason)" }
        }
        let names = Set(files.map(\.name))
        if names.count < files.count { return "a file name is given twice" }
        if let unit = translationUnits.first(where: { !names.contains($0) }) {
            return "translation unit \(unit.debugDescription) is not one of the files"
        }
        return nil
    }
}

extension CompilationRequest {
    /// The folders of a project's files, each once, in the order first met.
    public var projectFolders: [String] {
        var seen: Set<String> = []
        return files.flatMap(\.folders).filter { seen.insert($0).inserted }
    }

    /// For a `-I` flag of a C or C++ project: whether it names the project's root (`-I.`) or one
    /// of its folders (`-Iinclude`), which the compiler, working in the workspace, finds there
    /// and only there (no folder's name holds `..` or starts with `/`); nil for any other flag
    /// or request, which the toolchain's allowlist decides.
    public func projectIncludeFlag(_ flag: String) -> Bool? {
        guard isProject, language == .c || language == .cpp, flag.hasPrefix("-I") else { return nil }
        let folder = String(flag.dropFirst(2))
        return folder == "." || projectFolders.contains(folder)
    }
}

extension Language {
    /// The extensions of the files a compiler of this language compiles (its translation
    /// units); other files of a project (headers, data) are only read by them.
    public var sourceExtensions: [String] {
        switch self {
        case .c: ["c"]
        case .cpp: ["cpp", "cc", "cxx"]
        case .go: ["go"]
        case .rust: ["rs"]
        case .swift: ["swift"]
        }
    }

    /// Whether `name` ends in one of `sourceExtensions`.
    public func isSource(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), !name[name.index(after: dot)...].contains("/") else { return false }
        return sourceExtensions.contains(String(name[name.index(after: dot)...]))
    }

    /// A Rust crate's roots, in the order they are looked for when none is named:
    /// rustc finds the crate's modules (`mod util;`) from its root itself.
    public static func rustCrateRoots(link: Bool) -> [String] {
        link ? ["main.rs", "src/main.rs"] : ["main.rs", "src/main.rs", "lib.rs", "src/lib.rs"]
    }
}
