import CFastCGI
import Glibc
import HTTPAPI

/// One libfcgi request slot, used by one thread. This file is the only place
/// that touches libfcgi; only its thread-safe `FCGX_*_r` calls are used.
final class FastCGIRequestSlot {
    // Heap-allocated: libfcgi keeps pointers into the request between calls.
    private let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)

    /// Prepares a slot that accepts on the listening socket spawn-fcgi passed as descriptor 0.
    /// A signal that interrupts its `accept` makes `accept` return false: that is how
    /// this process stops without touching the socket the pool's other processes share.
    init() {
        FCGX_InitRequest(request, 0, FCGI_FAIL_ACCEPT_ON_INTR)
    }

    deinit {
        FCGX_Free(request, 1)
        request.deallocate()
    }

    /// Initializes the library once per process, before any slot accepts.
    static func initializeLibrary() -> Bool {
        FCGX_Init() == 0
    }

    /// Makes libfcgi refuse further requests in this process; each thread's `accept`
    /// then returns false once a signal interrupts it (see `init`).
    static func stopAccepting() {
        FCGX_ShutdownPending()
    }

    /// Waits for the next request; false when the listening socket is gone.
    func accept() -> Bool {
        FCGX_Accept_r(request) >= 0
    }

    func parameter(_ name: String) -> String? {
        FCGX_GetParam(name, request.pointee.envp).map { String(cString: $0) }
    }

    /// Reads up to `limit` bytes of the body, straight into the array it returns.
    func readBody(limit: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: limit) { buffer, count in
            count = 0
            while count < limit {
                let read = buffer.baseAddress!.advanced(by: count).withMemoryRebound(to: CChar.self, capacity: limit - count) {
                    FCGX_GetStr($0, Int32(limit - count), request.pointee.in)
                }
                if read <= 0 { break }
                count += Int(read)
            }
        }
    }

    /// Writes the CGI response: a `Status` header, the headers, then the body.
    func write(_ response: HTTPResponse, includeBody: Bool) {
        var head = "Status: \(response.status) \(HTTPResponse.reason(response.status))\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(response.body.count)\r\n\r\n"
        put(Array(head.utf8))
        if includeBody { put(response.body) }
    }

    /// Ends the request; the slot is ready for the next `accept`.
    func finish() {
        FCGX_Finish_r(request)
    }

    private func put(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = FCGX_PutStr(chars.baseAddress, Int32(chars.count), request.pointee.out)
            }
        }
    }
}
