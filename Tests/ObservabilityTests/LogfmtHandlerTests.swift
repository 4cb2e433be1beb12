import FoundationEssentials
import Logging
@testable import ServiceLog
import Testing

@Suite struct LogfmtHandlerTests {
    let time = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func fieldsFollowTimeLevelProgramAndMessageSortedByKey() {
        let line = LogfmtHandler.line(time: time, level: .info, program: "will-it-compile-worker", message: "compile",
                                      fields: ["verdict": "failed", "job_id": "abc", "duration_ms": "1.5"])
        #expect(line == "time=2027-01-15T08:00:00.000000000Z level=info program=will-it-compile-worker msg=compile duration_ms=1.5 job_id=abc verdict=failed\n")
    }

    /// A value cannot end the line, nor start a field of its own.
    @Test func valuesThatCouldForgeALineOrAFieldAreQuotedAndEscaped() {
        let forged = "x\ntime=2027 level=critical msg=\"forged\" \\ \t\u{1B}[31m\u{2028}"
        let line = LogfmtHandler.line(time: time, level: .warning, program: "p", message: forged, fields: ["k ey=": "", "a": "b c"])
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
        #expect(line.contains(#"msg="x\ntime=2027 level=critical msg=\"forged\" \\ \t\u001b[31m\u2028""#), "\(line)")
        #expect(line.hasSuffix(#" a="b c" k_ey_="""# + "\n"), "\(line)")
    }

    /// The byte-wise writer of ASCII keys and values gives what the Unicode-aware one gives, on
    /// every ASCII byte and on strings mixing them with non-ASCII (which take the Unicode-aware one).
    @Test func keysAndValuesWrittenBytewiseMatchTheUnicodeAwareWriter() {
        var samples = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) } + ["", "a b", "k=v", "\u{85}", "é", "x\u{2028}", "\u{7F}\u{80}\u{9F}"]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array((0..<0x80).map { Character(UnicodeScalar(UInt8($0))) }) + ["é", "\u{85}", "\u{2028}", "🦀", "\u{FEFF}"]
        for _ in 0..<2000 {
            samples.append(String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for sample in samples {
            var value: [UInt8] = []
            LogfmtHandler.append(value: sample, to: &value)
            #expect(value == Array(LogfmtHandler.value(sample).utf8), "value \(sample.debugDescription)")
            var key: [UInt8] = []
            LogfmtHandler.append(key: sample, to: &key)
            #expect(key == Array(LogfmtHandler.key(sample).utf8), "key \(sample.debugDescription)")
        }
    }

    @Test func logLevelNamesTheLevelOrSaysWhatIsAccepted() throws {
        #expect(try ServiceLog.level(from: [:]) == .info)
        #expect(try ServiceLog.level(from: ["LOG_LEVEL": ""]) == .info)
        #expect(try ServiceLog.level(from: ["LOG_LEVEL": "Warning"]) == .warning)
        #expect(throws: LogLevelError.self) { try ServiceLog.level(from: ["LOG_LEVEL": "verbose"]) }
        do {
            _ = try ServiceLog.level(from: ["LOG_LEVEL": "verbose"])
        } catch {
            #expect(error.description == #"LOG_LEVEL="verbose" is invalid: expected one of trace, debug, info, notice, warning, error, critical"#)
        }
    }
}
