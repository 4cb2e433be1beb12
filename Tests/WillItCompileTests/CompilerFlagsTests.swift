import Testing
import WillItCompile

@Suite struct CompilerFlagsTests {
    /// Each is refused by a rule of its own, not merely for being unknown: the reason says which.
    @Test(arguments: [
        "-fplugin=/tmp/evil.so", "-fplugin-arg-x", "-fpass-plugin=/tmp/evil.so", "-specs=/etc/x", "--specs=x", "-wrapper",
        "@/etc/passwd", "@flags.txt", "-B/tmp", "-I/etc", "-I../..", "-Isub/../../etc", "-L/usr/lib", "--sysroot=/",
        "-isysroot/", "-load", "-Xclang", "-Xlinker", "-Wl,-plugin=/x.so", "-Wa,-x", "-Wp,-x", "-include", "-imacros",
        "-o", "-std=c11", "--target=aarch64", "-fprofile-use=/x", "-fdump-tree-all", "-x", "-MF", "--param",
        "-fuse-ld=gold", "-save-temps=obj", "-Xclang-load", "-fmacro-prefix-map=a=b",
        "-fsanitize-ignorelist=/etc/passwd", "-fmodule-map-file=../x.modulemap", "-fcrash-diagnostics-dir=/tmp",
        "has space", "",
    ])
    func refusesWhatLoadsCodeOrReadsHostFiles(flag: String) throws {
        let reason = try #require(FlagFamily.cc.refusal(of: flag), "\(flag) must be refused")
        #expect(reason != "not an accepted flag", "\(flag) is refused by its own rule: \(reason)")
    }

    @Test func refusesWhatItDoesNotKnow() {
        for flag in ["plain", "-", "--help", "-Q"] {
            #expect(FlagFamily.cc.refusal(of: flag) == "not an accepted flag", "\(flag)")
        }
    }

    @Test(arguments: [
        "-O0", "-O2", "-O3", "-Os", "-Og", "-Ofast", "-Wall", "-Wextra", "-Werror", "-Werror=format", "-Wno-unused",
        "-pedantic", "-pedantic-errors", "-w", "-DNDEBUG", "-DX=1", "-UX", "-fno-exceptions", "-fno-rtti",
        "-fsanitize=address", "-march=x86-64-v2", "-mtune=generic", "-mavx2", "-g", "-g3", "-Iinclude", "-pthread",
        "-fsanitize=address,undefined", "-fsanitize-ignorelist=ignore.txt", "-ansi", "-O",
    ])
    func acceptsTheCommonFlags(flag: String) {
        #expect(FlagFamily.cc.refusal(of: flag) == nil, "\(flag) must be accepted")
    }

    @Test func rustcFlagsKeepToCodegenAndLints() {
        for flag in ["-O", "-Copt-level=3", "-Coverflow-checks=no", "-Dwarnings", "-Aunused", "--cap-lints=warn", "--cfg=feature"] {
            #expect(FlagFamily.rustc.refusal(of: flag) == nil, "\(flag)")
        }
        for flag in ["-Clinker=/bin/sh", "-Clink-arg=-x", "-Zunstable-options", "-L/usr", "-lfoo", "--extern=x", "--edition=2018", "-Cincremental=/tmp"] {
            #expect(FlagFamily.rustc.refusal(of: flag) != nil, "\(flag)")
        }
        #expect(FlagFamily.rustc.refusal(of: "-Copt-level") == "-Copt-level needs a value: -Copt-level=…")
        #expect(FlagFamily.rustc.refusal(of: "-C") == "write -C and its option as one word, e.g. -Copt-level=2")
    }

    @Test func goFlagsKeepToBuildOptions() {
        for flag in ["-trimpath", "-tags=netgo,osusergo", "-gcflags=-N", "-ldflags=-s"] {
            #expect(FlagFamily.go.refusal(of: flag) == nil, "\(flag)")
        }
        for flag in ["-toolexec=/bin/sh", "-exec=x", "-overlay=/x.json", "-gcflags=-I/etc", "-tags=$(x)"] {
            #expect(FlagFamily.go.refusal(of: flag) != nil, "\(flag)")
        }
    }

    @Test func resolvingARequestNamesEachRefusedFlagAndWhatIsAccepted() throws {
        var spec = ToolchainSpec.fixture(id: "gcc-12", language: .c, standards: ["c11"], priority: 1)
        spec.flags = .cc
        let installed = [Toolchain(spec: spec, version: "12", isDefault: true)]
        do {
            _ = try installed.resolve(CompilationRequest(source: [1], language: .c, flags: ["-Wall", "-fplugin=x.so", "@f"]))
            Issue.record("expected a refusal")
        } catch {
            #expect(error.problems.map(\.field) == ["flags", "flags"])
            #expect(error.problems[0].message.hasPrefix("Flag `-fplugin=x.so` is refused: loads a compiler plugin."))
            #expect(error.problems[1].message.contains("@f"))
        }
        #expect(try installed.resolve(CompilationRequest(source: [1], language: .c, flags: ["-Wall", "-O2"])).spec.id == "gcc-12")
        spec.flags = nil
        #expect(throws: RequestValidationError.self) {
            try [Toolchain(spec: spec, version: "12", isDefault: true)].resolve(CompilationRequest(source: [1], language: .c, flags: ["-O2"]))
        }
    }

    @Test func theValidatorTakesFlagsAsAnArrayOfStrings() throws {
        let validator = RequestValidator(maxSourceSize: 100)
        let request = try validator.validate(json: Array(#"{"source_code":"x","language":"c","flags":["-Wall","-O2"]}"#.utf8).data)
        #expect(request.flags == ["-Wall", "-O2"])
        #expect(throws: RequestValidationError.self) {
            try validator.validate(json: Array(#"{"source_code":"x","language":"c","flags":"-Wall"}"#.utf8).data)
        }
        let tooMany = "[" + Array(repeating: "\"-Wall\"", count: 65).joined(separator: ",") + "]"
        #expect(throws: RequestValidationError.self) {
            try validator.validate(json: Array(#"{"source_code":"x","language":"c","flags":\#(tooMany)}"#.utf8).data)
        }
    }

    @Test func theCommandPlacesFlagsWhereTheTemplateSays() {
        var spec = ToolchainSpec.fixture(id: "gcc-12", language: .c, standards: ["c11"], priority: 1)
        spec.command = ["{executable}", "{standard_arguments}", "{flags}", "-o", "{output}", "{source}"]
        #expect(spec.commandLine(standard: nil, flags: ["-Wall", "-O2"], source: "s", output: "o")
                == ["/usr/bin/x", "-std=c11", "-Wall", "-O2", "-o", "o", "s"])
    }
}

import Foundation

private extension Array where Element == UInt8 {
    var data: Data { Data(self) }
}
