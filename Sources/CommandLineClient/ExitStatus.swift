/// What `will-it-compile` exits with: what a CI script branches on.
public enum ExitStatus: Int32, Sendable {
    /// The code compiled (and for `environments`: the list was printed).
    case compiled = 0
    /// The code did not compile: the compiler refused it.
    case didNotCompile = 1
    /// The command line was wrong: an unknown option, a file that cannot be read, a language
    /// that cannot be told.
    case usageError = 2
    /// No verdict from the service: unreachable, an error answer (4xx, 5xx), no answer in
    /// time, or a job that ended in `timeout` or `error`.
    case serviceError = 3
}

/// Why the command gives up with `ExitStatus.serviceError`, said as one sentence for standard error.
struct ServiceError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
