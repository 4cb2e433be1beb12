import Testing
import WillItCompile

struct ClientIdentityTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"),
        ("192.0.2.255", "192.0.2.255"),
        // Every address of one /64 is one client.
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
        ("2001:0DB8:0001:0002::9", "2001:db8:1:2::"),
        ("2001:db8::1", "2001:db8:0:0::"),
        ("::1", "0:0:0:0::"),
        ("::", "0:0:0:0::"),
        ("fe80::1:2:3:4", "fe80:0:0:0::"),
        ("64:ff9b::192.0.2.1", "64:ff9b:0:0::"),
        // An IPv4 client reached over IPv6 is still its IPv4 address.
        ("::ffff:192.0.2.128", "192.0.2.128"),
        ("::FFFF:10.1.2.3", "10.1.2.3"),
    ])
    func anAddressNamesItsClient(_ address: String, _ identity: String) {
        #expect(ClientIdentity(address: address)?.rawValue == identity)
    }

    @Test(arguments: [
        "", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "1..3.4",
        "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::1", "g::1", "::1%eth0", "1:2:3:4:5:6:7::8",
        "::ffff:1.2.3.999", ":::", "1:2:3:4:5:6:1.2.3.4:5",
    ])
    func anythingElseIsNoAddress(_ text: String) {
        #expect(ClientIdentity(address: text) == nil, "\(text)")
    }
}
