/// The `wait` query parameter of a status read or a submission: how long the
/// answer may wait for the job's verdict. Only plain decimals are accepted
/// (`10`, `2.5`), read exactly: `Double`'s own syntax would also take `0x10`,
/// `1e1`, `inf` or `nan`, which no client means as seconds.
enum WaitParameter {
    /// The longest wait accepted, in seconds (nginx's `fastcgi_read_timeout` is longer).
    static let maxSeconds = 30

    /// What is accepted, for the error messages.
    static let accepted = "seconds from 0 to \(maxSeconds) as a plain decimal (digits, optionally a `.` and more digits), e.g. `?wait=10` or `?wait=2.5`, to be answered as soon as the job is finished"

    /// The wait asked for by the `wait` values of a query (in their order), rounded
    /// up to whole milliseconds; nil when the query has none.
    static func duration(from values: [String]) throws(InvalidWait) -> Duration? {
        guard let text = values.first else { return nil }
        guard values.count == 1 else {
            throw InvalidWait(message: "`wait` is given \(values.count) times; give it once, as \(accepted).")
        }
        guard let milliseconds = milliseconds(plainDecimal: text), milliseconds <= maxSeconds * 1000 else {
            throw InvalidWait(message: "`wait=\(text)` is not a wait; give \(accepted).")
        }
        return .milliseconds(milliseconds)
    }

    /// The value of `digits[.digits]` in milliseconds, rounded up; nil for anything
    /// else, and for a value too large to matter (over 99 s).
    private static func milliseconds(plainDecimal text: String) -> Int? {
        let parts = Array(text.utf8).split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count > 1 ? parts[1] : []
        guard !whole.isEmpty, whole.allSatisfy(isDigit), fraction.allSatisfy(isDigit),
              parts.count == 1 || !fraction.isEmpty else { return nil }
        let significant = whole.drop { $0 == UInt8(ascii: "0") }
        guard significant.count <= 2 else { return nil }
        let seconds = significant.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        var thousandths = 0
        for index in 0..<3 {
            let digit = index < fraction.count ? Int(fraction[fraction.startIndex + index] - UInt8(ascii: "0")) : 0
            thousandths = thousandths * 10 + digit
        }
        let beyondMilliseconds = fraction.dropFirst(3).contains { $0 != UInt8(ascii: "0") }
        return seconds * 1000 + thousandths + (beyondMilliseconds ? 1 : 0)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// A `wait` that `WaitParameter` does not accept; `message` says why and what is.
struct InvalidWait: Error, Equatable {
    let message: String
}
