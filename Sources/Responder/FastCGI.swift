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

    /// Writes the CGI response: a `Status` header, the headers, `X-Request-ID`, then the body.
    /// Each piece goes straight into libfcgi's output buffer: a head built as a string first
    /// cost an allocation per header.
    func write(_ response: HTTPResponse, requestID: String, includeBody: Bool) {
        put("Status: ")
        put(String(response.status))
        put(" ")
        put(HTTPResponse.reason(response.status))
        put("\r\n")
        for (name, value) in response.headers {
            put(name)
            put(": ")
            put(value)
            put("\r\n")
        }
        put("X-Request-ID: ")
        put(requestID)
        put("\r\nContent-Length: ")
        put(String(response.body.count))
        put("\r\n\r\n")
        if includeBody { response.body.withUnsafeBytes(put) }
    }

    /// Ends the request; the slot is ready for the next `accept`.
    func finish() {
        FCGX_Finish_r(request)
    }

    private func put(_ text: String) {
        var text = text
        text.withUTF8 { put(UnsafeRawBufferPointer($0)) }
    }

    private func put(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, !bytes.isEmpty else { return }
        _ = FCGX_PutStr(start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), request.pointee.out)
    }
}
