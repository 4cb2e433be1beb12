public import Logging

/// The worker's log: one logfmt line per event (ServiceLog, bootstrapped by the worker's main).
public let workerLog = Logger(label: "will-it-compile-worker")

/// An event in words, at `level`: `msg` of a logfmt line. The sentence is the service's own
/// (ids, counts, reasons), never a job's source or flags.
public func log(_ message: String, level: Logger.Level = .info) {
    workerLog.log(level: level, "\(message)")
}
