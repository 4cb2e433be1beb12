import Foundation
import TestSupport
import Testing

/// Behind a load balancer the client is the address the balancer names in X-Forwarded-For,
/// but only when the request really comes from a balancer in TRUSTED_PROXIES: anyone else
/// who writes the header stays who they are, for the responders' per-client share
/// (REMOTE_ADDR) and for nginx's per-address rate limit alike.
@Suite struct TrustedProxyEndToEndTests {
    static let balancer = "127.0.0.2"
    static let stranger = "127.0.0.3"

    @Test(.runningTimeLimit(minutes: 2))
    func onlyATrustedBalancerNamesTheClient() throws {
        let stack = try Stack([
            "TRUSTED_PROXIES": Self.balancer, "MAX_WORKERS": "2", "MAX_JOBS_PER_CLIENT": "1",
            "COMPILATION_TIMEOUT_SECONDS": "5", "RATE_LIMIT_PER_SECOND": "1", "RATE_LIMIT_BURST": "2",
        ])
        let slowBody = String(decoding: try JSONSerialization.data(withJSONObject: ["source_code": slowCompileSource, "language": "cpp"]), as: UTF8.self)
        func submit(from source: String, forwardedFor: String) throws -> HTTPReply {
            try stack.request("POST", "/api/v1/compile", body: slowBody, headers: ["X-Forwarded-For": forwardedFor], from: source)
        }
        // Each slow compile holds its client's only place (MAX_JOBS_PER_CLIENT=1) for seconds.
        let first = try submit(from: Self.balancer, forwardedFor: "10.9.0.1")
        #expect(first.status == 202, "\(first.text)")
        let second = try submit(from: Self.balancer, forwardedFor: "10.9.0.2")
        #expect(second.status == 202, "the balancer's second client is a client of its own: \(second.text)")
        // What a client wrote before the balancer appended its address is not believed.
        let forgedThroughBalancer = try submit(from: Self.balancer, forwardedFor: "10.9.0.77, 10.9.0.1")
        #expect(forgedThroughBalancer.status == 429 && forgedThroughBalancer.json["error"] as? String == "too_many_jobs",
                "10.9.0.1 holds its share already: \(forgedThroughBalancer.text)")

        let stranger = try submit(from: Self.stranger, forwardedFor: "10.9.0.3")
        #expect(stranger.status == 202, "\(stranger.text)")
        let forged = try submit(from: Self.stranger, forwardedFor: "10.9.0.4")
        #expect(forged.status == 429 && forged.json["error"] as? String == "too_many_jobs",
                "a header from an untrusted address changes nothing: \(forged.text)")

        // nginx's submission limit (1/s, bursts of 2: three at once pass, the fourth not) is
        // per client as well. The body is refused (400) by the responders, so nothing compiles.
        func nginxAnswers(from source: String, forwardedFor: (Int) -> String) throws -> [Int] {
            try (0..<4).map {
                try stack.request("POST", "/api/v1/compile", body: "{}", headers: ["X-Forwarded-For": forwardedFor($0)], from: source).status
            }
        }
        let balancerAnswers = try nginxAnswers(from: Self.balancer) { "10.9.1.\($0)" }
        #expect(balancerAnswers == [400, 400, 400, 400], "four clients behind the balancer, one request each")
        let strangerAnswers = try nginxAnswers(from: "127.0.0.4") { "10.9.2.\($0)" }
        #expect(strangerAnswers == [400, 400, 400, 429], "one client whatever its header says")
    }

    /// scripts/lib.sh's `ip_network`, which TRUSTED_PROXIES is checked with: every textual
    /// form of an address or network nginx's set_real_ip_from takes, and nothing else.
    @Test(arguments: [
        ("10.0.0.5", true), ("10.0.0.0/24", true), ("0.0.0.0/0", true), ("fd00::5", true), ("fd00::/64", true),
        ("::", true), ("::1", true), ("1::", true), ("1:2:3:4:5:6:7:8", true), ("::ffff:192.0.2.1", true),
        ("1:2:3:4:5:6:192.0.2.1", true), ("2001:db8::/128", true),
        ("256.0.0.1", false), ("01.2.3.4", false), ("1.2.3", false), ("10.0.0.0/33", false), ("10.0.0.0/", false),
        ("10.0.0.0/08", false), ("1:2:3:4:5:6:7:8:9", false), ("1:2:3:4:5:6:7", false), ("1::2::3", false),
        (":1", false), ("1:", false), ("12345::", false), ("fe80::1%eth0", false), ("fd00::/129", false),
        ("1:2:3:4:5:6:7:192.0.2.1", false), ("balancer.example", false), ("*", false), ("unix:", false), ("", false),
    ])
    func onlyAddressesAndNetworksAreTrusted(value: String, accepted: Bool) throws {
        let status = try runToExit("/bin/bash", [
            "-c", "source \(repositoryRoot.path)/scripts/lib.sh && ip_network \"$1\"", "ip_network", value,
        ])
        #expect((status == 0) == accepted, "ip_network \"\(value)\" exited \(status)")
    }

    /// Checked before anything starts: nothing is set up, built or run.
    @Test func aMalformedTrustedProxiesIsRefusedNamingIt() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["TRUSTED_PROXIES"] = "10.0.0.1, balancer.example"
        environment["WIC_SKIP_SETUP"] = "1"
        environment["WIC_RUN_DIR"] = Stack.freshRunDirectory()
        let (status, output) = try runScript("run", ["--detach"], environment: environment)
        #expect(status != 0)
        #expect(output.contains("TRUSTED_PROXIES=\"10.0.0.1, balancer.example\" is invalid: \"balancer.example\" is not an IPv4 or IPv6 address or CIDR network"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: environment["WIC_RUN_DIR"]!))
    }
}
