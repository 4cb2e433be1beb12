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

    /// Keys and values of plain ASCII are decided byte by byte: each of the 128 ASCII
    /// characters, alone and inside a word, is kept, replaced or quoted as the Unicode rules say.
    @Test func everyASCIICharacterIsTreatedAsTheUnicodeRulesSay() {
        for byte in UInt8(0)..<0x80 {
            let scalar = Unicode.Scalar(byte)
            let kept = scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar)
            let quoted = " =\"\\".unicodeScalars.contains(scalar) || scalar.properties.generalCategory == .control
            for text in [String(scalar), "a\(scalar)b", "key\(scalar)"] {
                #expect(LogfmtHandler.key(text) == (kept ? text : text.replacingOccurrences(of: String(scalar), with: "_")), "key \(byte)")
                #expect(LogfmtHandler.value(text).hasPrefix("\"") == quoted, "value \(byte)")
            }
        }
        #expect(LogfmtHandler.key("") == "_" && LogfmtHandler.value("") == "\"\"")
        #expect(LogfmtHandler.key("naïve") == "na_ve" && LogfmtHandler.value("naïve") == "naïve")
        #expect(LogfmtHandler.value("a\u{85}b") == "\"a\\u0085b\"" && LogfmtHandler.value("a\u{2028}") == "\"a\\u2028\"")
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
