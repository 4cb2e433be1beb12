import Foundation
import TestSupport
import Testing

/// The compiler flag allowlist through nginx, the responders and the worker.
@Suite(.serialized) struct FlagsEndToEndTests {
    /// The issue's vectors as an attacker sent them, each to every gcc-driver toolchain and to clang.
    @Test(.runningTimeLimit(minutes: 3))
    func flagsThatRanProgramsAreRefusedWithA400NamingThem() throws {
        let stack = try Stack(["RATE_LIMIT_BURST": "200", "CLUSTER_RATE_LIMIT_BURST": "200"])
        let vectors = [
            "-fcompare-debug=%:include(main.c)", "-fcompare-debug=-fplugin=/usr/lib/x86_64-linux-gnu/libc.so.6",
            "-fmodule-mapper=|sh?-c?id", "-fmodule-file=x=/abs",
        ]
        let toolchains: [(language: String, compiler: String, architecture: String)] = [
            ("c", "gcc-11", "x86_64"), ("c", "gcc-12", "x86_64"), ("cpp", "gcc-12", "x86_64"), ("go", "gccgo-12", "x86_64"),
            ("c", "gcc-12", "arm64"), ("c", "clang-16", "x86_64"), ("cpp", "clang-16", "x86_64"),
        ]
        let specs = "%rename cc1 x\n*cc1:\n.c:\nsh %i\n"
        for toolchain in toolchains {
            for flag in vectors {
                let flags = flag.contains("module-mapper") ? ["-fmodules-ts", flag] : [flag]
                let body = try JSONSerialization.data(withJSONObject: [
                    "source_code": specs, "language": toolchain.language, "compiler": toolchain.compiler,
                    "architecture": toolchain.architecture, "flags": flags,
                ])
                let reply = try stack.request("POST", "/api/v1/compile", bytes: Array(body))
                let message = reply.json["message"] as? String ?? ""
                #expect(reply.status == 400 && reply.json["error"] as? String == "invalid_request",
                        "\(toolchain) \(flag): \(reply.status) \(reply.text.prefix(300))")
                #expect(message.contains("Flag `\(flag)` is refused"), "\(toolchain) \(flag): \(message.prefix(300))")
                #expect(message.contains("GET /api/v1/flags/"), "says where the whole list is: \(message.prefix(600))")
            }
        }
    }

    /// The flags that rebuilt the standard library into the shared Go program cache.
    @Test(.runningTimeLimit(minutes: 3))
    func goFlagsThatRebuildTheStandardLibraryAreRefusedWithA400SayingWhy() throws {
        let stack = try Stack()
        for flags in [["-a"], ["-gcflags=all=-S"], ["-a", "-gcflags=all=-S"]] {
            let body = try JSONSerialization.data(withJSONObject: [
                "source_code": "package main\nimport \"fmt\"\nfunc main() { fmt.Println(1) }\n", "language": "go",
                "compiler": "go-1.19", "flags": flags,
            ])
            let reply = try stack.request("POST", "/api/v1/compile", bytes: Array(body))
            let message = reply.json["message"] as? String ?? ""
            #expect(reply.status == 400 && reply.json["error"] as? String == "invalid_request", "\(flags): \(reply.status) \(reply.text.prefix(300))")
            #expect(message.contains("Flag `\(flags[0])` is refused") && message.contains("rebuild the standard library"), "\(flags): \(message.prefix(400))")
        }
        let rules = try stack.request("GET", "/api/v1/flags/go").json["accepted"] as? String ?? ""
        #expect(rules.contains("-gcflags=<one of") && rules.contains("rebuild the standard library") && !rules.contains("-a;"), "\(rules)")
        let done = try stack.compile(#"{"source_code":"package main\nimport \"fmt\"\nfunc main() { fmt.Println(1) }\n","language":"go","compiler":"go-1.19","flags":["-gcflags=-S"]}"#)
        #expect(done["status"] as? String == "completed", "\(done)")
    }

    @Test(.runningTimeLimit(minutes: 3))
    func theFullListsAreServedAndAcceptedFlagsCompile() throws {
        let stack = try Stack()
        let gcc = try stack.request("GET", "/api/v1/flags/gcc")
        #expect(gcc.status == 200, "\(gcc.text.prefix(300))")
        let flags = gcc.json["flags"] as? [String] ?? []
        #expect(flags.contains("-Wall") && flags.contains("-O2") && flags.count > 900, "\(flags.count) flags")
        #expect(!flags.contains { $0.hasPrefix("-fcompare-debug") || $0.hasPrefix("-fplugin") || $0.hasPrefix("-fmodule-mapper") || $0.hasPrefix("-fmodule-file") })
        let targets = gcc.json["target_flags"] as? [String: [String]] ?? [:]
        #expect(targets["arm64/linux"]?.contains { $0.hasPrefix("-mcpu=") } == true, "\(targets.keys)")
        #expect((try stack.request("GET", "/api/v1/flags/rustc")).json["accepted"] as? String != nil)
        let unknown = try stack.request("GET", "/api/v1/flags/cc")
        #expect(unknown.status == 404 && (unknown.json["message"] as? String ?? "").contains("gccgo"), "\(unknown.text)")

        let toolchains = try stack.request("GET", "/api/v1/toolchains").json["toolchains"] as? [[String: Any]] ?? []
        let gccgo = toolchains.first { $0["id"] as? String == "gccgo-12" }
        #expect(gccgo?["flag_family"] as? String == "gccgo", "\(String(describing: gccgo))")
        let summary = gccgo?["flags"] as? String
        #expect(summary?.contains("GET /api/v1/flags/gccgo") == true, "\(summary ?? "no flags summary")")

        let done = try stack.compile(#"{"source_code":"int main(void){return 0;}","language":"c","flags":["-O2","-march=x86-64-v2","-Wall","-Werror","-DX=1"]}"#)
        #expect(done["status"] as? String == "completed", "\(done)")
    }
}
