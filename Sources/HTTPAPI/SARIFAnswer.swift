import WillItCompile

/// A finished job's diagnostics as SARIF 2.1.0 (`Accept: application/sarif+json`), the
/// format code-scanning tools read: one run whose tool is the compiler, one result per error
/// or warning, and each note that follows one as a related location of it.
///
/// A user's file is a URI relative to `SRCROOT` (`main.c`), a system header an absolute
/// `file://` URI; a message about no file has no location.
enum SARIFAnswer {
    static let schema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

    static func response(job: CompilationJob, result: CompilationResult) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", "\(MediaType.sarif); charset=utf-8")], body: document(job: job, result: result))
    }

    static func document(job: CompilationJob, result: CompilationResult) -> [UInt8] {
        var driver = JSONObjectWriter()
        driver.member("name", job.request.compiler ?? job.request.language.rawValue)
        var tool = JSONObjectWriter()
        tool.member("driver", json: driver.finish())

        var invocation = JSONObjectWriter()
        invocation.member("executionSuccessful", result.success)
        invocation.member("exitCode", result.exitCode)
        if !result.error.isEmpty {
            var notification = JSONObjectWriter()
            notification.member("level", "error")
            notification.member("message", json: message(result.error))
            invocation.member("toolExecutionNotifications", json: array([notification.finish()]))
        }

        var sourceRoot = JSONObjectWriter()
        sourceRoot.member("description", json: message("The directory of the submitted source"))
        var baseIDs = JSONObjectWriter()
        baseIDs.member("SRCROOT", json: sourceRoot.finish())

        var properties = JSONObjectWriter()
        properties.member("job_id", job.id.description)
        properties.member("status", job.status.rawValue)

        var run = JSONObjectWriter()
        run.member("invocations", json: array([invocation.finish()]))
        run.member("originalUriBaseIds", json: baseIDs.finish())
        run.member("properties", json: properties.finish())
        run.member("results", json: array(results(result.diagnostics)))
        run.member("tool", json: tool.finish())

        var document = JSONObjectWriter()
        document.member("$schema", schema)
        document.member("runs", json: array([run.finish()]))
        document.member("version", "2.1.0")
        return document.finish()
    }

    /// Errors and warnings with the notes after each as related locations; a note with no
    /// error before it is a result of its own.
    private static func results(_ diagnostics: [Diagnostic]) -> [[UInt8]] {
        var groups: [(main: Diagnostic, notes: [Diagnostic])] = []
        for diagnostic in diagnostics {
            if diagnostic.severity == .note, !groups.isEmpty, groups[groups.count - 1].main.severity != .note {
                groups[groups.count - 1].notes.append(diagnostic)
            } else {
                groups.append((diagnostic, []))
            }
        }
        return groups.map { group in
            var result = JSONObjectWriter()
            result.member("level", group.main.severity.rawValue)
            if let place = location(of: group.main) { result.member("locations", json: array([place])) }
            result.member("message", json: message(group.main.message))
            if !group.notes.isEmpty {
                let related = group.notes.enumerated().map { index, note in
                    location(of: note, id: index, message: note.message) ?? []
                }
                result.member("relatedLocations", json: array(related))
            }
            if let option = group.main.option { result.member("ruleId", option) }
            return result.finish()
        }
    }

    /// A SARIF location: the file and, where known, the line and column. nil for a message
    /// about no file, unless it is a related location (`id`), which always has one.
    private static func location(of diagnostic: Diagnostic, id: Int? = nil, message text: String? = nil) -> [UInt8]? {
        var location = JSONObjectWriter()
        if let id { location.member("id", id) }
        if let text { location.member("message", json: message(text)) }
        if let file = diagnostic.file {
            var artifact = JSONObjectWriter()
            if file.hasPrefix("/") {
                artifact.member("uri", "file://" + uriPath(file))
            } else {
                artifact.member("uri", uriPath(file))
                artifact.member("uriBaseId", "SRCROOT")
            }
            var physical = JSONObjectWriter()
            physical.member("artifactLocation", json: artifact.finish())
            if let line = diagnostic.line {
                var region = JSONObjectWriter()
                if let column = diagnostic.column { region.member("startColumn", column) }
                region.member("startLine", line)
                physical.member("region", json: region.finish())
            }
            location.member("physicalLocation", json: physical.finish())
        } else if id == nil {
            return nil
        }
        return location.finish()
    }

    private static func message(_ text: String) -> [UInt8] {
        var message = JSONObjectWriter()
        message.member("text", text)
        return message.finish()
    }

    private static func array(_ elements: [[UInt8]]) -> [UInt8] {
        [UInt8(ascii: "[")] + Array(elements.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "]")]
    }

    /// A path as a URI path: every byte but the unreserved ones and `/` percent-encoded.
    static func uriPath(_ path: String) -> String {
        var encoded = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                encoded += "%"
                encoded.unicodeScalars.append(hex[Int(byte >> 4)])
                encoded.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return encoded
    }
}
