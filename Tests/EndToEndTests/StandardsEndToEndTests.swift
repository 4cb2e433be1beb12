import Foundation
import TestSupport
import Testing

/// Through the HTTP API: every standard of every installed toolchain compiles a
/// program that needs it, and refuses a program that needs the next one.
@Suite(.serialized) struct StandardsEndToEndTests {
    /// The least `__STDC_VERSION__` / `__cplusplus` each C and C++ standard sets.
    /// Names of one level are aliases (`c2x` is what `c23` was called before it was final).
    static let levels: [String: Int] = [
        "c89": 0, "c90": 0, "gnu89": 0, "gnu90": 0, "c99": 199901, "gnu99": 199901, "c11": 201112, "gnu11": 201112,
        "c17": 201710, "c18": 201710, "gnu17": 201710, "gnu18": 201710, "c2x": 201711, "gnu2x": 201711,
        "c23": 201711, "gnu23": 201711, "c2y": 202312, "gnu2y": 202312,
        "c++98": 199711, "c++03": 199711, "gnu++98": 199711, "gnu++03": 199711, "c++11": 201103, "gnu++11": 201103,
        "c++14": 201402, "gnu++14": 201402, "c++17": 201703, "gnu++17": 201703, "c++20": 202002, "gnu++20": 202002,
        "c++2b": 202100, "c++23": 202100, "gnu++2b": 202100, "gnu++23": 202100,
        "c++2c": 202400, "c++26": 202400, "gnu++2c": 202400, "gnu++26": 202400,
    ]

    /// Programs that need a Rust edition: each is refused by the edition before.
    static let rustEditions: [String: String] = [
        "2015": "fn main() { let async = 1; let _ = async; }",
        "2018": "async fn ready() {} fn main() { let _ = ready(); }",
        "2021": "fn main() { let x: u8 = u8::try_from(300i32).unwrap_or(0); let _ = x; }",
        "2024": "fn ready() -> impl IntoFuture<Output = ()> { async {} } fn main() { let _ = ready(); }",
    ]

    /// A C or C++ program that compiles only at `level` or above (with `-pedantic-errors`).
    static func needing(_ level: Int, language: String) -> String {
        let macro = language == "c" ? "__STDC_VERSION__" : "__cplusplus"
        guard level > 0 else { return "int main(void) { return 0; }\\n" }
        // Some compilers' early C2x modes still report 201710: C2x's [[attributes]] tell them apart.
        if language == "c", level == 201711 {
            return "[[maybe_unused]] static int unused;\\nint main(void) { return 0; }\\n"
        }
        return "#if !defined(\(macro)) || \(macro) < \(level)L\\n#error needs \(level)\\n#endif\\nint main(void) { return 0; }\\n"
    }

    struct Expectation {
        let name: String
        let body: String
        let compiles: Bool
    }

    @Test(.runningTimeLimit(minutes: 10))
    func everyStandardCompilesWhatNeedsItAndRefusesWhatNeedsTheNext() throws {
        let stack = try Stack(["MAX_WORKERS": "2", "QUEUE_SIZE": "2000", "MAX_JOBS_PER_CLIENT": "2000", "RATE_LIMIT_PER_SECOND": "10000", "RATE_LIMIT_BURST": "10000",
                               "CLUSTER_RATE_LIMIT_PER_SECOND": "10000", "CLUSTER_RATE_LIMIT_BURST": "10000"])
        let toolchains = try stack.request("GET", "/api/v1/toolchains").json["toolchains"] as? [[String: Any]] ?? []
        var expectations: [Expectation] = []
        for toolchain in toolchains {
            guard let id = toolchain["id"] as? String, let language = toolchain["language"] as? String,
                  let standards = toolchain["standards"] as? [String] else { continue }
            func request(_ source: String, _ standard: String) -> String {
                let flags = language == "c" || language == "cpp" ? #","flags":["-pedantic-errors"]"# : ""
                return #"{"source_code":"\#(source)","language":"\#(language)","compiler":"\#(id)","standard":"\#(standard)"\#(flags)}"#
            }
            switch language {
            case "c", "cpp":
                let offered = Set(standards.compactMap { Self.levels[$0] })
                for standard in standards {
                    let level = try #require(Self.levels[standard], "no level known for \(standard)")
                    expectations.append(Expectation(name: "\(language)/\(id) \(standard)", body: request(Self.needing(level, language: language), standard), compiles: true))
                    if let next = offered.filter({ $0 > level }).min() {
                        expectations.append(Expectation(name: "\(language)/\(id) \(standard) refuses \(next)", body: request(Self.needing(next, language: language), standard), compiles: false))
                    }
                }
            case "rust":
                let editions = standards.sorted()
                for (index, edition) in editions.enumerated() {
                    let program = try #require(Self.rustEditions[edition], "no program for edition \(edition)")
                    expectations.append(Expectation(name: "rust/\(id) \(edition)", body: request(program, edition), compiles: true))
                    // Edition 2015's program uses `async` as a name, which later editions refuse.
                    if index + 1 < editions.count, let next = Self.rustEditions[editions[index + 1]] {
                        let refused = edition == "2015" ? program : next
                        let standard = edition == "2015" ? editions[index + 1] : edition
                        expectations.append(Expectation(name: "rust/\(id) \(standard) refuses", body: request(refused, standard), compiles: false))
                    }
                }
            case "swift":
                let needsMode5 = "final class Box { var n = 0 }\\nstruct S: Sendable { let box = Box() }\\nprint(S().box.n)"
                expectations.append(Expectation(name: "swift/\(id) 5", body: request(needsMode5, "5"), compiles: true))
                expectations.append(Expectation(name: "swift/\(id) 6 refuses", body: request(needsMode5, "6"), compiles: false))
            default:
                continue
            }
        }
        #expect(expectations.count > 300, "\(expectations.count) cases")

        var submitted: [(Expectation, String)] = []
        for expectation in expectations {
            let reply = try stack.request("POST", "/api/v1/compile", body: expectation.body)
            guard reply.status == 202, let id = reply.json["job_id"] as? String else {
                Issue.record("\(expectation.name): submit answered \(reply.status) \(reply.text)")
                continue
            }
            submitted.append((expectation, id))
        }
        for (expectation, id) in submitted {
            let final = try stack.verdict(of: id, within: 300)
            let status = final["status"] as? String
            #expect(status == (expectation.compiles ? "completed" : "failed"),
                    "\(expectation.name): \(status ?? "?") \((final["stderr"] as? String ?? "").prefix(300)) \(final["error"] ?? "")")
        }
    }
}
