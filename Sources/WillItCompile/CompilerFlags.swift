/// Per-request compiler flags: the catalog's `flags` names which allowlist a toolchain's are checked against.
///
/// gcc, clang and gccgo take only flags named on a reviewed list: the `-f`, `-W` and `-g` flags
/// (and gcc's `--param=` knobs) the compilers document (`FlagLists/`, written by
/// scripts/generate-flag-lists minus toolchains/flags/excluded.txt), the `-m` flags the target
/// architecture's gcc documents, and the few driver flags below. Every value is checked
/// against what its flag takes.
/// Nothing that runs a program, loads code, re-reads options or names a path is on a list.
public enum FlagFamily: String, Sendable, Codable, CaseIterable {
    /// gcc and g++ (the host compilers and the cross compilers).
    case gcc
    case clang
    /// The gcc driver with its Go front end.
    case gccgo
    case rustc
    case go

    /// Most flags one request may carry, and the longest flag.
    public static let maxCount = 64
    public static let maxLength = 256

    /// Why `flag` is refused for a build for `target`, or nil when it is accepted.
    public func refusal(of flag: String, target: TargetSpec = .host) -> String? {
        guard !flag.isEmpty, flag.count <= Self.maxLength else {
            return "flags must be 1 to \(Self.maxLength) characters"
        }
        guard flag.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            return "flags are single printable ASCII words without spaces"
        }
        if flag.hasPrefix("@") { return "response files (@file) read host files" }
        switch self {
        case .gcc, .clang, .gccgo: return driverRefusal(flag, target: target)
        case .rustc: return rustcRefusal(flag)
        case .go: return goRefusal(flag)
        }
    }

    /// What the family accepts in a few lines, for refusals and `/api/v1/toolchains`.
    public var accepted: String {
        switch self {
        case .gcc, .clang, .gccgo:
            let list = driverList ?? FlagList("")
            let macros = self == .gccgo ? "" : "; -D<name>[=<value>] and -U<name> (a C identifier; a value of letters, digits and _ . + -)"
            let params = self == .clang ? "" : " and --param=<name>=<value> tuning knobs"
            return "\(Self.driverFlagSets[self, default: []].sorted().joined(separator: ", "))\(macros); "
                + "the \(list.count) -f, -W and -g flags\(params) \(rawValue) documents except those that run programs, load code or name files, "
                + "with their -fno-/-Wno- forms and -Werror=<warning>; the -m flags the gcc for the requested architecture documents. "
                + "Values are checked per flag. The full list: GET /api/v1/flags/\(rawValue)"
        case .rustc:
            return "-O; -g; -C<option>=<value> (one word) for opt-level, debuginfo, overflow-checks, debug-assertions, panic, target-cpu, target-feature, codegen-units, lto, strip, force-frame-pointers; -Cincremental=no; -W/-A/-D/-F<lint> and --warn/--allow/--deny/--forbid=<lint>; --cap-lints=allow|warn|deny|forbid; --cfg=<name>[=\"<value>\"]; --crate-type=bin|lib|rlib|staticlib"
        case .go:
            return "-trimpath; -v; -tags=<tag,…>; -ldflags=-s or -w; -gcflags=<one of \(Self.goCompilerFlags.sorted().joined(separator: " "))> (for the main package only: \(Self.rebuildsTheStandardLibrary))"
        }
    }

    /// Every flag on the family's list, one a line in the list's own notation, for `GET /api/v1/flags/…`.
    public var fullList: [String]? {
        driverList.map { Self.driverFlagSets[self, default: []].sorted() + $0.entries }
    }

    /// The targets with a list of -m flags, as (architecture, os).
    public static var targetsWithFlags: [(String, String)] {
        targetLists.keys.sorted().map { name in
            let parts = name.split(separator: "/")
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// The `-m` flags a build for `architecture`/`os` may carry, in the list's notation; nil when none is known.
    public static func targetList(architecture: String, os: String) -> [String]? {
        targetLists["\(architecture)/\(os)"]?.entries
    }

    // MARK: gcc, clang, gccgo

    /// The -f/-W/-g (and --param) list of a gcc or clang driver family; nil for rustc and go.
    private var driverList: FlagList? {
        switch self {
        case .gcc: .gcc
        case .clang: .clang
        case .gccgo: .gccgo
        case .rustc, .go: nil
        }
    }

    /// `-m` flags per target, as the target architecture's gcc documents them. clang checks
    /// against the same lists: a gcc-documented target flag clang does not know, it refuses.
    private static let targetLists: [String: FlagList] = [
        "x86_64/linux": .x86_64Linux, "x86_64/windows": .x86_64Windows,
        "arm64/linux": .arm64Linux, "armhf/linux": .armhfLinux, "riscv64/linux": .riscv64Linux,
    ]

    /// Driver flags besides the -f/-W/-g/-m lists: optimisation levels, and what shapes the
    /// link of the one source file. Built once per family, not per flag checked.
    private static let driverFlagSets: [FlagFamily: Set<String>] = {
        let common: Set<String> = [
            "-O", "-O0", "-O1", "-O2", "-O3", "-Os", "-Og", "-Ofast", "-Oz", "-g0", "-g1", "-g2", "-g3",
            "-gdwarf-2", "-gdwarf-3", "-gdwarf-4", "-gdwarf-5",
            "-w", "-pthread", "-c", "-s", "-v",
            "-static", "-shared", "-pie", "-no-pie", "-static-pie", "-static-libgcc", "-nostdlib", "-nostartfiles",
            "-nodefaultlibs",
        ]
        let cLike: Set<String> = ["-pedantic", "-pedantic-errors", "-ansi", "-static-libstdc++", "-nostdinc", "-nostdinc++", "-undef", "-trigraphs"]
        return [
            .gcc: common.union(cLike),
            // clang documents these outside its list of warning groups.
            .clang: common.union(cLike).union(["-Weverything", "-Werror", "-Wno-error"]),
            .gccgo: common,
        ]
    }()

    private func driverRefusal(_ flag: String, target: TargetSpec) -> String? {
        if Self.driverFlagSets[self, default: []].contains(flag) { return nil }
        if self != .gccgo, flag.hasPrefix("-D") || flag.hasPrefix("-U") { return macroRefusal(flag) }
        if flag.hasPrefix("-std=") || flag.hasPrefix("--std") { return "use the `standard` field" }
        if flag.hasPrefix("--target") || flag == "-target" { return "use the `architecture` and `os` fields" }
        let list: FlagList
        if flag.hasPrefix("-m") {
            guard let targetList = Self.targetLists[target.name] else {
                return "no -m flags are accepted for \(target.name)"
            }
            list = targetList
        } else if let driverList, flag.hasPrefix("-f") || flag.hasPrefix("-W") || flag.hasPrefix("-g") || flag.hasPrefix("--param=") {
            list = driverList
        } else {
            return "not on \(rawValue)'s list of accepted flags"
        }
        switch list.refusal(of: flag) {
        case nil: return nil
        case .unknown?:
            return flag.hasPrefix("-m")
                ? "not on the list of -m flags for \(target.name)"
                : "not on \(rawValue)'s list of accepted flags"
        case let .badValue(name, value)?:
            return "\(name)= takes \(value.described)"
        case let .unknownWarning(name)?:
            return "\(name)= takes the name of a warning on \(rawValue)'s list, as in -W<name>"
        }
    }

    /// Why a -D/-U flag is refused, or nil.
    private func macroRefusal(_ flag: String) -> String? {
        let body = flag.dropFirst(2)
        let name = body.prefix { $0 != "=" }
        guard Self.isIdentifier(name) else {
            return "\(flag.prefix(2)) takes a macro name (a C identifier) right after it, e.g. \(flag.prefix(2))NDEBUG"
        }
        if name.count == body.count { return nil }
        guard flag.hasPrefix("-D") else { return "-U takes a macro name only" }
        let value = body.dropFirst(name.count + 1)
        guard value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.+-".contains($0)) }) else {
            return "a -D value may hold letters, digits and _ . + - only"
        }
        return nil
    }

    private static func isIdentifier(_ text: Substring) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    // MARK: rustc

    private static let rustcCodegenOptions: Set<String> = [
        "opt-level", "debuginfo", "overflow-checks", "debug-assertions", "panic", "target-cpu",
        "target-feature", "codegen-units", "lto", "incremental", "strip", "force-frame-pointers",
    ]

    /// Lint names (`unused`, `clippy::all`) and codegen values (`+avx2,-sse`).
    private static func isRustWord(_ text: Substring, extra: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-".contains($0) || extra.contains($0)) }
    }

    private func rustcRefusal(_ flag: String) -> String? {
        if flag == "-O" || flag == "-g" { return nil }
        if flag.hasPrefix("-C") {
            let parts = flag.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let option = parts.first.map(String.init) ?? ""
            guard !option.isEmpty else { return "write -C and its option as one word, e.g. -Copt-level=2" }
            guard Self.rustcCodegenOptions.contains(option) else {
                return "-C\(option) is not accepted (linker, link-args and plugins are not)"
            }
            guard parts.count == 2 else { return "-C\(option) needs a value: -C\(option)=…" }
            if option == "incremental" { return flag == "-Cincremental=no" ? nil : "incremental builds write outside the workspace" }
            return Self.isRustWord(parts[1], extra: ".,+") ? nil : "-C\(option) takes letters, digits and _ - . , +"
        }
        for prefix in ["--warn=", "--allow=", "--deny=", "--forbid=", "-W", "-A", "-D", "-F"] where flag.hasPrefix(prefix) {
            return Self.isRustWord(flag.dropFirst(prefix.count), extra: ":") ? nil : "\(prefix) takes a lint name"
        }
        if flag.hasPrefix("--cap-lints=") {
            return ["allow", "warn", "deny", "forbid"].contains(String(flag.dropFirst(12))) ? nil : "--cap-lints takes allow, warn, deny or forbid"
        }
        if flag.hasPrefix("--cfg=") {
            return Self.isRustWord(flag.dropFirst(6), extra: "=\".") ? nil : "--cfg takes a name, optionally =\"value\""
        }
        if ["--crate-type=bin", "--crate-type=lib", "--crate-type=rlib", "--crate-type=staticlib"].contains(flag) { return nil }
        if flag.hasPrefix("-Z") { return "unstable options are not accepted" }
        if flag.hasPrefix("-L") || flag.hasPrefix("-l") || flag.hasPrefix("--extern") { return "links host libraries" }
        if flag.hasPrefix("--sysroot") { return "changes the system root" }
        if flag.hasPrefix("--edition") { return "use the `standard` field" }
        if flag.hasPrefix("--target") { return "use the `architecture` and `os` fields" }
        return "not an accepted flag"
    }

    // MARK: go

    /// What `-gcflags=` may pass to the Go compiler: diagnostics and optimisation switches, none naming a file.
    private static let goCompilerFlags: Set<String> = ["-N", "-l", "-m", "-m=2", "-S", "-B", "-C", "-e", "-live", "-wb", "-d=checkptr"]

    /// Why -a and -gcflags=all=… are refused: either makes `go build` recompile every standard
    /// package the program imports, and with -S keep each one's assembly in the shared program cache.
    static let rebuildsTheStandardLibrary = "-a and -gcflags=all=… rebuild the standard library, minutes of CPU and hundreds of MB of cache per request"

    private func goRefusal(_ flag: String) -> String? {
        if ["-trimpath", "-v", "-ldflags=-s", "-ldflags=-w"].contains(flag) { return nil }
        if flag == "-a" || flag.hasPrefix("-gcflags=all=") {
            return Self.rebuildsTheStandardLibrary
        }
        if flag.hasPrefix("-tags=") {
            return flag.dropFirst(6).allSatisfy({ $0.isLetter || $0.isNumber || $0 == "," || $0 == "_" || $0 == "." })
                ? nil : "-tags takes build tags only"
        }
        if flag.hasPrefix("-gcflags=") {
            return Self.goCompilerFlags.contains(String(flag.dropFirst(9)))
                ? nil : "-gcflags takes one of \(Self.goCompilerFlags.sorted().joined(separator: " ")), for the main package only"
        }
        if flag.hasPrefix("-toolexec") || flag.hasPrefix("-exec") { return "runs another program" }
        if flag.hasPrefix("-overlay") || flag.hasPrefix("-modfile") || flag.hasPrefix("-pgo") { return "reads host files" }
        return "not an accepted flag"
    }
}
