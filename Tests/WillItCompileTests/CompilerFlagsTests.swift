import Foundation
import Testing
import WillItCompile

/// Flags that ran programs, loaded code or read host files through the gcc driver (issue 10),
/// and their relatives: each must be refused by every gcc-driver toolchain and by clang, for every target.
let attackFlags = [
    "-fcompare-debug=%:include(main.c)", "-fcompare-debug=-fplugin=/usr/lib/x86_64-linux-gnu/libc.so.6",
    "-fcompare-debug", "-fcompare-debug-second", "-fno-compare-debug",
    "-fmodule-mapper=|sh?x", "-fmodule-mapper=|sh", "-fmodule-file=x=/abs", "-fmodule-file=/abs", "-fmodule-file=main.c",
    "-fplugin=/tmp/evil.so", "-fplugin-arg-x-y=z", "-fpass-plugin=/tmp/evil.so", "-specs=/etc/x", "--specs=x", "-wrapper",
    "@/etc/passwd", "@flags.txt", "-B/tmp", "-I/etc", "-I../..", "-Iinclude", "-L/usr/lib", "--sysroot=/", "-isysroot/",
    "-Xclang", "-Xlinker", "-Wl,-plugin=/x.so", "-Wa,-x", "-Wp,-x", "-include", "-imacros", "-o", "-x", "-MF",
    "-fdump-tree-all", "-fdump-tree-all=/tmp/x", "-fprofile-use=/x", "-fprofile-generate=/x", "-fauto-profile=/x",
    "-fsanitize-ignorelist=/etc/passwd", "-fsanitize-blacklist=/etc/passwd", "-fsanitize-coverage-allowlist=/x",
    "-fcrash-diagnostics-dir=/tmp", "-fuse-ld=/bin/sh", "-fuse-ld=gold", "-foffload=nvptx-none", "-foffload-options=-x",
    "-fself-test=/x", "-fopt-info-all=/tmp/x", "-fdebug-prefix-map=/=x", "-fmacro-prefix-map=a=b", "-mllvm", "-filelist",
    "-fmodules-cache-path=/tmp", "-fmodule-map-file=/x", "-fxray-attr-list=/x", "-iplugindir=/x",
    "-fgo-embedcfg=/x", "-fgo-importcfg=/x", "-fgo-c-header=/x", "-fgo-relative-import-path=/x", "-save-temps=obj",
    "-std=c11", "--target=aarch64", "-fdiagnostics-color=always", "has space", "",
]

/// Every toolchain family that drives gcc or clang, with each target it builds for.
let driverTargets: [(FlagFamily, TargetSpec)] = [
    (.gcc, .host), (.gcc, target("arm64", "linux")), (.gcc, target("armhf", "linux")), (.gcc, target("riscv64", "linux")),
    (.gcc, target("x86_64", "windows")), (.gccgo, .host), (.clang, .host), (.clang, target("arm64", "linux")),
    (.clang, target("armhf", "linux")), (.clang, target("riscv64", "linux")),
]

func target(_ architecture: String, _ os: String) -> TargetSpec {
    TargetSpec(architecture: architecture, os: os, executable: nil, arguments: [], binds: [], requires: [])
}

@Suite struct CompilerFlagsTests {
    @Test(arguments: attackFlags)
    func everyGccDriverAndClangRefusesWhatRunsCodeOrReadsHostFiles(flag: String) {
        for (family, target) in driverTargets {
            #expect(family.refusal(of: flag, target: target) != nil, "\(family) for \(target.name) must refuse \(flag)")
        }
    }

    /// The lists are generated data: a hand edit or a new compiler version must not let in a flag
    /// toolchains/flags/excluded.txt refuses, in any form the validator derives (-fno-, -Wno-, -mno-).
    @Test func noListedFlagMatchesAnExclusion() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let patterns = try String(contentsOf: root.appendingPathComponent("toolchains/flags/excluded.txt"), encoding: .utf8)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }.map { String($0.split(separator: " ")[0]) }
        #expect(patterns.contains("-fcompare-debug*") && patterns.count > 50)
        var names: [String] = []
        for family in [FlagFamily.gcc, .clang, .gccgo] {
            names += try #require(family.fullList)
        }
        for (architecture, os) in [("x86_64", "linux"), ("x86_64", "windows"), ("arm64", "linux"), ("armhf", "linux"), ("riscv64", "linux")] {
            names += try #require(FlagFamily.targetList(architecture: architecture, os: os))
        }
        #expect(names.count > 3000)
        for entry in names {
            // "-fvisibility=<one of …>" is listed by its name up to the `=`.
            let name = entry.firstIndex(of: "<").map { String(entry[..<$0]) } ?? entry
            var forms = [name]
            for (positive, negative) in [("-f", "-fno-"), ("-W", "-Wno-"), ("-m", "-mno-")] where name.hasPrefix(positive) {
                forms.append(negative + name.dropFirst(2))
            }
            for form in forms {
                for pattern in patterns where matches(form, pattern) {
                    Issue.record("\(form) (from \(entry)) matches the exclusion \(pattern)")
                }
            }
        }
    }

    @Test(arguments: [
        "-O0", "-O2", "-O3", "-Os", "-Og", "-Ofast", "-O", "-Wall", "-Wextra", "-Werror", "-Werror=format", "-Wno-error=unused-variable",
        "-Wno-unused", "-Wformat=2", "-Wshadow=local", "-Wstrict-aliasing=2", "-Wlarger-than=1000", "-pedantic", "-pedantic-errors", "-w",
        "-ansi", "-DNDEBUG", "-DX=1", "-DVERSION=1.2-beta", "-UX", "-fno-exceptions", "-fno-rtti", "-fsanitize=address",
        "-fsanitize=address,undefined", "-fno-sanitize=leak", "-fvisibility=hidden", "-fPIC", "-fno-omit-frame-pointer", "-flto",
        "-fopenmp", "-fstack-protector-strong", "-fmodules-ts", "-g", "-g3", "-ggdb", "-gdwarf-4", "-fsyntax-only", "-pthread", "-march=x86-64-v2",
        "-march=native", "-mtune=generic", "-mavx2", "-mno-avx", "-ftemplate-depth=100", "-falign-functions=32:16",
        "--param=max-inline-insns-auto=50", "--param=vrp1-mode=ranger",
    ])
    func gccAcceptsTheCommonFlags(flag: String) {
        #expect(FlagFamily.gcc.refusal(of: flag) == nil, "\(flag) must be accepted")
    }

    @Test func clangAcceptsItsOwnWarningsAndFeatures() {
        for flag in ["-Weverything", "-Wshorten-64-to-32", "-Wno-gnu-zero-variadic-macro-arguments", "-Werror=shorten-64-to-32",
                     "-Oz", "-fsanitize=memory", "-fno-exceptions", "-fvisibility=hidden", "-march=x86-64-v3", "-DX=1", "-gdwarf-4"] {
            #expect(FlagFamily.clang.refusal(of: flag) == nil, "\(flag) must be accepted by clang")
        }
    }

    @Test func gccgoTakesTheGoFrontEndsFlagsAndNoMacros() {
        for flag in ["-O2", "-g", "-Wall", "-fgo-check-divide-zero", "-fno-go-check-divide-overflow", "-march=x86-64-v3"] {
            #expect(FlagFamily.gccgo.refusal(of: flag) == nil, "\(flag) must be accepted by gccgo")
        }
        for flag in ["-DX", "-ansi", "-Wformat-security-x"] {
            #expect(FlagFamily.gccgo.refusal(of: flag) != nil, "\(flag) is not a gccgo flag")
        }
    }

    @Test func targetFlagsAreThoseOfTheTargetArchitecture() {
        let arm64 = target("arm64", "linux")
        for flag in ["-march=armv8-a+crc", "-mcpu=cortex-a72", "-mstrict-align", "-mbranch-protection=standard"] {
            #expect(FlagFamily.gcc.refusal(of: flag, target: arm64) == nil, "\(flag) on arm64")
            #expect(FlagFamily.clang.refusal(of: flag, target: arm64) == nil, "\(flag) on arm64 with clang")
        }
        #expect(FlagFamily.gcc.refusal(of: "-mavx2", target: arm64) == "not on the list of -m flags for arm64/linux")
        #expect(FlagFamily.gcc.refusal(of: "-march=rv64gc", target: target("riscv64", "linux")) == nil)
        #expect(FlagFamily.gcc.refusal(of: "-mfloat-abi=hard", target: target("armhf", "linux")) == nil)
        #expect(FlagFamily.gcc.refusal(of: "-mwindows", target: target("x86_64", "windows")) == nil)
        #expect(FlagFamily.gcc.refusal(of: "-mwindows") != nil, "a Windows flag on linux")
        #expect(FlagFamily.gcc.refusal(of: "-march=x86-64-v9") != nil, "x86 -march takes the CPUs gcc names")
    }

    @Test func valuesAreCheckedPerFlag() {
        let cases: [(String, String)] = [
            ("-fvisibility=evil", "-fvisibility= takes one of default, hidden, internal, protected"),
            ("-ftabstop=4x", "-ftabstop= takes a number"),
            ("-fexec-charset=../x", "-fexec-charset= takes a name of letters, digits and _ . + -"),
            ("-Werror=no-such-warning", "-Werror= takes the name of a warning on gcc's list"),
            ("-fsanitize=address,shell", "-fsanitize= takes one or more of"),
            ("-DX=$(id)", "a -D value may hold letters, digits and _ . + - only"),
            ("-D1X", "-D takes a macro name (a C identifier) right after it, e.g. -DNDEBUG"),
            ("-UX=1", "-U takes a macro name only"),
            ("-fcompare-debug=%:include(main.c)", "not on gcc's list of accepted flags"),
            ("-std=c11", "use the `standard` field"),
            ("--param=max-inline-insns-auto=-fplugin", "--param=max-inline-insns-auto= takes a number"),
            ("--param=no-such-param=1", "not on gcc's list of accepted flags"),
            ("--param", "not on gcc's list of accepted flags"),
        ]
        for (flag, reason) in cases {
            let refusal = FlagFamily.gcc.refusal(of: flag)
            #expect(refusal?.hasPrefix(reason) == true, "\(flag): \(refusal ?? "accepted")")
        }
    }

    @Test func rustcFlagsKeepToCodegenAndLints() {
        for flag in ["-O", "-Copt-level=3", "-Coverflow-checks=no", "-Ctarget-feature=+avx2,-sse", "-Dwarnings", "-Aunused",
                     "-Wclippy::all", "--cap-lints=warn", "--cfg=feature=\"x\"", "-Cincremental=no"] {
            #expect(FlagFamily.rustc.refusal(of: flag) == nil, "\(flag)")
        }
        for flag in ["-Clinker=/bin/sh", "-Clink-arg=-x", "-Zunstable-options", "-L/usr", "-lfoo", "--extern=x", "--edition=2018",
                     "-Cincremental=/tmp", "-Ctarget-cpu=/x", "-W../x", "--cap-lints=x", "--cfg=a/b", "-Cllvm-args=-x"] {
            #expect(FlagFamily.rustc.refusal(of: flag) != nil, "\(flag)")
        }
        #expect(FlagFamily.rustc.refusal(of: "-Copt-level") == "-Copt-level needs a value: -Copt-level=…")
        #expect(FlagFamily.rustc.refusal(of: "-C") == "write -C and its option as one word, e.g. -Copt-level=2")
    }

    @Test func goFlagsKeepToBuildOptions() {
        for flag in ["-trimpath", "-tags=netgo,osusergo", "-gcflags=-N", "-gcflags=-S", "-gcflags=-m=2", "-ldflags=-s"] {
            #expect(FlagFamily.go.refusal(of: flag) == nil, "\(flag)")
        }
        for flag in ["-toolexec=/bin/sh", "-exec=x", "-overlay=/x.json", "-gcflags=-I/etc", "-tags=$(x)",
                     "-gcflags=-importcfg=main.go", "-gcflags=-cpuprofile=x", "-gcflags=all=-D=..", "-ldflags=-X=main.x=1"] {
            #expect(FlagFamily.go.refusal(of: flag) != nil, "\(flag)")
        }
        // Each rebuilds every standard package the program imports, into the shared program cache.
        for flag in ["-a", "-gcflags=all=-S", "-gcflags=all=-N"] {
            #expect(FlagFamily.go.refusal(of: flag)?.contains("rebuild the standard library") == true, "\(flag)")
        }
        #expect(!FlagFamily.go.accepted.contains("-a;") && FlagFamily.go.accepted.contains("rebuild the standard library"))
    }

    @Test func resolvingARequestNamesEachRefusedFlagAndWhatIsAccepted() throws {
        var spec = ToolchainSpec.fixture(id: "gcc-12", language: .c, standards: ["c11"], priority: 1)
        spec.flags = .gcc
        let installed = [Toolchain(spec: spec, version: "12", isDefault: true)]
        do {
            _ = try installed.resolve(CompilationRequest(source: [1], language: .c, flags: ["-Wall", "-fcompare-debug=%:include(main.c)", "@f"]))
            Issue.record("expected a refusal")
        } catch {
            #expect(error.problems.map(\.field) == ["flags", "flags"])
            let message = error.problems[0].message
            #expect(message.hasPrefix("Flag `-fcompare-debug=%:include(main.c)` is refused: not on gcc's list of accepted flags."), "\(message)")
            #expect(message.contains("-O2") && message.contains("GET /api/v1/flags/gcc"), "\(message)")
            #expect(error.problems[1].message.contains("@f"))
        }
        #expect(try installed.resolve(CompilationRequest(source: [1], language: .c, flags: ["-Wall", "-O2"])).spec.id == "gcc-12")
        spec.flags = nil
        #expect(throws: RequestValidationError.self) {
            try [Toolchain(spec: spec, version: "12", isDefault: true)].resolve(CompilationRequest(source: [1], language: .c, flags: ["-O2"]))
        }
    }

    @Test func resolvingChecksTargetFlagsAgainstTheRequestedTarget() throws {
        var spec = ToolchainSpec.fixture(id: "gcc-12", language: .c, standards: ["c11"], priority: 1)
        spec.flags = .gcc
        let installed = [Toolchain(spec: spec, version: "12", isDefault: true, targets: [.host, target("arm64", "linux")])]
        #expect(try installed.resolve(CompilationRequest(source: [1], language: .c, architecture: "arm64", flags: ["-mcpu=cortex-a72"])).spec.id == "gcc-12")
        #expect(throws: RequestValidationError.self) {
            try installed.resolve(CompilationRequest(source: [1], language: .c, architecture: "arm64", flags: ["-mavx2"]))
        }
    }

    @Test func theValidatorTakesFlagsAsAnArrayOfStrings() throws {
        let validator = RequestValidator(maxSourceSize: 100)
        let request = try validator.validate(json: Data(#"{"source_code":"x","language":"c","flags":["-Wall","-O2"]}"#.utf8))
        #expect(request.flags == ["-Wall", "-O2"])
        #expect(throws: RequestValidationError.self) {
            try validator.validate(json: Data(#"{"source_code":"x","language":"c","flags":"-Wall"}"#.utf8))
        }
        let tooMany = "[" + Array(repeating: "\"-Wall\"", count: 65).joined(separator: ",") + "]"
        #expect(throws: RequestValidationError.self) {
            try validator.validate(json: Data(#"{"source_code":"x","language":"c","flags":\#(tooMany)}"#.utf8))
        }
    }

    @Test func theCommandPlacesFlagsWhereTheTemplateSays() {
        var spec = ToolchainSpec.fixture(id: "gcc-12", language: .c, standards: ["c11"], priority: 1)
        spec.command = ["{executable}", "{standard_arguments}", "{flags}", "-o", "{output}", "{source}"]
        #expect(spec.commandLine(standard: nil, flags: ["-Wall", "-O2"], source: "s", output: "o")
                == ["/usr/bin/x", "-std=c11", "-Wall", "-O2", "-o", "o", "s"])
    }
}

/// `pattern` with `*` standing for any characters, as toolchains/flags/excluded.txt writes them.
private func matches(_ text: String, _ pattern: String) -> Bool {
    let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
    guard parts.count > 1 else { return text == pattern }
    guard text.hasPrefix(parts[0]) else { return false }
    var rest = text.dropFirst(parts[0].count)
    for (index, part) in parts.dropFirst().enumerated() {
        if index == parts.count - 2 { return part.isEmpty || rest.hasSuffix(part) && rest.count >= part.count }
        guard let range = rest.range(of: part) else { return false }
        rest = rest[range.upperBound...]
    }
    return true
}
