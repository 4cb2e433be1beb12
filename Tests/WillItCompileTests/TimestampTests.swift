import Foundation
import Testing
import WillItCompile

@Suite struct TimestampTests {
    @Test func formatsUTCWithNineFractionalDigits() {
        let date = Date(timeIntervalSince1970: 1_737_281_045.5)
        #expect(Timestamp.format(date) == "2025-01-19T10:04:05.500000000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000000Z")
    }

    @Test func parsesWhatGoWritesWithRFC3339Nano() throws {
        // Go trims trailing zeros of the fraction, or drops it when zero.
        #expect(Timestamp.parse("2025-01-19T10:04:05Z") == Date(timeIntervalSince1970: 1_737_281_045))
        let fractional = try #require(Timestamp.parse("2025-01-19T10:04:05.123456789Z"))
        #expect(abs(fractional.timeIntervalSince1970 - 1_737_281_045.123456789) < 1e-6)
        #expect(Timestamp.parse("2025-01-19T12:04:05+02:00") == Date(timeIntervalSince1970: 1_737_281_045))
        #expect(Timestamp.parse("2025-01-19T05:04:05-05:00") == Date(timeIntervalSince1970: 1_737_281_045))
    }

    @Test func acceptsTheLastDayOfEachMonthIncludingLeapDays() {
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parse("2000-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parse("1900-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parse("2025-12-31T23:59:59.999999999Z") != nil)
    }

    @Test func roundTripsToTheMicrosecond() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000.123456)
        let parsed = try #require(Timestamp.parse(Timestamp.format(date)))
        #expect(abs(parsed.timeIntervalSince(date)) < 1e-6)
    }

    @Test(arguments: ["", "2025-01-19", "2025-01-19T10:04:05", "2025-13-19T10:04:05Z",
                      "2025-01-19T10:04:05.Z", "2025-01-19T10:04:05Zjunk", "0001-01-01T00:00:00Z",
                      "2025-02-29T10:04:05Z", "2025-04-31T10:04:05Z", "2025-01-19T10:04:05+99:99",
                      "2025-01-19T10:04:05.1234567890Z"])
    func rejectsMalformedTextAndGoZeroTime(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }
}
