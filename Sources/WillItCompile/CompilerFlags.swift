/// Per-request compiler flags: which a toolchain family accepts, by pattern.
///
/// The allowlist covers what people ask "does it compile with …?" about —
/// optimisation, warnings, macros, language features, target tuning — and
/// nothing that makes the compiler load code or read files outside the
/// workspace. The sandbox still contains whatever slips through.
public enum FlagFamily: String, Sendable, Codable, CaseIterable {
    /// gcc and clang drivers.
    case cc
    case rustc
    case go

    /// Most flags one request may carry, and the longest flag.
    public static let maxCount = 64
    public static let maxLength = 256

    /// Why `flag` is refused, or nil when it is accepted.
    public func refusal(of flag: String) -> String? {
        guard !flag.isEmpty, flag.count <= Self.maxLength else {
            return "flags must be 1 to \(Self.maxLength) characters"
        }
        guard flag.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            return "flags are single printable ASCII words without spaces"
        }
        if flag.hasPrefix("@") { return "response files (@file) read host files" }
        switch self {
        case .cc: return ccRefusal(flag)
        case .rustc: return rustcRefusal(flag)
        case .go: return goRefusal(flag)
        }
    }

    /// The accepted patterns, for error messages and `/api/v1/environments`.
    public var accepted: String {
        switch self {
        case .cc:
            "-O, -O0..-O3, -Os, -Og, -Oz, -Ofast; -W<warning> and -Wno-<warning> (not -Wl, -Wa, -Wp); -Werror[=…]; -w; -pedantic[-errors]; -ansi; -D<macro>[=value]; -U<macro>; -f<feature> and -fno-<feature> (not -fplugin…, -fpass-plugin…, -fprofile…, -fdump…; a path in a value must be inside the workspace); -march=, -mtune=, -mcpu= and other -m<option>; -g, -g0..-g3; -I/-L/-iquote/-isystem/-idirafter inside the workspace (relative, no ..); -pthread; -s; -c; -v; -static"
        case .rustc:
            "-O; -g; -C<option>=… (one word) for opt-level, debuginfo, overflow-checks, debug-assertions, panic, target-cpu, target-feature, codegen-units, lto, strip, force-frame-pointers, incremental=no; -W/-A/-D/-F<lint> and --warn/--allow/--deny/--forbid=<lint>; --cap-lints=…; --cfg=…; --crate-type=bin|lib|rlib|staticlib"
        case .go:
            "-trimpath; -tags=<tag,…>; -gcflags=<flags without paths>; -ldflags=-s / -w; -a; -v"
        }
    }

    private static let ccRefusedPrefixes: [(prefix: String, reason: String)] = [
        ("-fplugin", "loads a compiler plugin"), ("-fpass-plugin", "loads a compiler plugin"),
        ("-specs", "reads a specs file"), ("--specs", "reads a specs file"),
        ("-wrapper", "runs another program"), ("-B", "changes where the compiler finds its programs"),
        ("--sysroot", "changes the system root"), ("-isysroot", "changes the system root"),
        ("-Xclang", "passes options past the driver (-Xclang -load loads code)"),
        ("-Xlinker", "passes options to the linker"), ("-Xassembler", "passes options to the assembler"),
        ("-Xpreprocessor", "passes options to the preprocessor"), ("-Wl,", "passes options to the linker"),
        ("-Wa,", "passes options to the assembler"), ("-Wp,", "passes options to the preprocessor"),
        ("-load", "loads code"), ("-include", "includes a host file"), ("-imacros", "includes a host file"),
        ("-fprofile", "reads or writes profile files"), ("-fauto-profile", "reads profile files"),
        ("-fdump", "writes dump files"), ("-o", "the output is fixed by the service"),
        ("-std", "use the `standard` field"), ("--target", "use the `architecture` and `os` fields"),
        ("-target", "use the `architecture` and `os` fields"), ("-x", "the language is fixed by the `language` field"),
        ("-save-temps=", "writes files outside the workspace"), ("-M", "writes dependency files"),
        ("--param", "tunes compiler internals"), ("-fuse-ld", "picks another linker program"),
        ("-fmacro-prefix-map", "rewrites paths"), ("-ffile-prefix-map", "rewrites paths"),
        ("-fdebug-prefix-map", "rewrites paths"),
    ]

    private static let ccExactFlags: Set<String> = [
        "-O0", "-O1", "-O2", "-O3", "-Os", "-Og", "-Oz", "-Ofast", "-O", "-w", "-pedantic", "-pedantic-errors",
        "-g", "-g0", "-g1", "-g2", "-g3", "-pthread", "-s", "-c", "-v", "-static", "-ansi", "-Werror",
    ]

    private func ccRefusal(_ flag: String) -> String? {
        for (prefix, reason) in Self.ccRefusedPrefixes where flag.hasPrefix(prefix) {
            return reason
        }
        for prefix in ["-I", "-L", "-iquote", "-isystem", "-idirafter"] where flag.hasPrefix(prefix) {
            guard isInsideWorkspace(String(flag.dropFirst(prefix.count))) else {
                return "\(prefix) must name a directory inside the workspace (relative, without ..)"
            }
            return nil
        }
        if Self.ccExactFlags.contains(flag) { return nil }
        guard flag.count > 2, ["-W", "-D", "-U", "-f", "-m"].contains(String(flag.prefix(2))) else {
            return "not an accepted flag"
        }
        // -f and -m values may name files (-fsanitize-ignorelist=, -fmodule-map-file=,
        // -fcrash-diagnostics-dir=, …): only inside the workspace.
        if flag.hasPrefix("-f") || flag.hasPrefix("-m"), let equals = flag.firstIndex(of: "="),
           flag[flag.index(after: equals)...].contains("/") || flag.contains(".."),
           !isInsideWorkspace(String(flag[flag.index(after: equals)...])) {
            return "a path in \(flag[..<equals]) must be inside the workspace (relative, without ..)"
        }
        return nil
    }

    /// A non-empty relative path that does not climb out with `..`.
    private func isInsideWorkspace(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/") && !path.split(separator: "/").contains("..")
    }

    private func rustcRefusal(_ flag: String) -> String? {
        if flag == "-O" || flag == "-g" { return nil }
        if flag.hasPrefix("-C") {
            let option = flag.dropFirst(2).split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            guard !option.isEmpty else { return "write -C and its option as one word, e.g. -Copt-level=2" }
            let safe = ["opt-level", "debuginfo", "overflow-checks", "debug-assertions", "panic", "target-cpu",
                        "target-feature", "codegen-units", "lto", "incremental", "strip", "force-frame-pointers"]
            guard safe.contains(option) else {
                return "-C\(option) is not accepted (linker, link-args and plugins are not)"
            }
            guard flag.contains("=") else { return "-C\(option) needs a value: -C\(option)=…" }
            if option == "incremental" { return flag == "-Cincremental=no" ? nil : "incremental builds write outside the workspace" }
            return nil
        }
        for prefix in ["-W", "-A", "-D", "-F"] where flag.hasPrefix(prefix) && flag.count > 2 { return nil }
        for prefix in ["--warn=", "--allow=", "--deny=", "--forbid=", "--cap-lints=", "--cfg="] where flag.hasPrefix(prefix) { return nil }
        if ["--crate-type=bin", "--crate-type=lib", "--crate-type=rlib", "--crate-type=staticlib"].contains(flag) { return nil }
        if flag.hasPrefix("-Z") { return "unstable options are not accepted" }
        if flag.hasPrefix("-L") || flag.hasPrefix("-l") || flag.hasPrefix("--extern") { return "links host libraries" }
        if flag.hasPrefix("--sysroot") { return "changes the system root" }
        if flag.hasPrefix("--edition") { return "use the `standard` field" }
        if flag.hasPrefix("--target") { return "use the `architecture` and `os` fields" }
        return "not an accepted flag"
    }

    private func goRefusal(_ flag: String) -> String? {
        if ["-trimpath", "-a", "-v", "-ldflags=-s", "-ldflags=-w"].contains(flag) { return nil }
        if flag.hasPrefix("-tags=") {
            return flag.dropFirst(6).allSatisfy({ $0.isLetter || $0.isNumber || $0 == "," || $0 == "_" || $0 == "." })
                ? nil : "-tags takes build tags only"
        }
        if flag.hasPrefix("-gcflags=") {
            return flag.contains("/") || flag.contains("=@") ? "-gcflags must not name files" : nil
        }
        if flag.hasPrefix("-toolexec") || flag.hasPrefix("-exec") { return "runs another program" }
        if flag.hasPrefix("-overlay") || flag.hasPrefix("-modfile") || flag.hasPrefix("-pgo") { return "reads host files" }
        return "not an accepted flag"
    }
}
