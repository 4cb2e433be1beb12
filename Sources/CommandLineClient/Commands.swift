public import ArgumentParser
import Foundation
import Glibc
import WillItCompile

/// `will-it-compile`: the root command; it only names the others.
public struct WillItCompileCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "will-it-compile",
        abstract: "Asks a will-it-compile service whether source code compiles, and why not.",
        discussion: """
            The server is --server URL, else $\(ServerAddress.environmentVariable), else \(ServerAddress.defaultURL).
            Exit status: 0 compiled, 1 did not compile, 2 usage error, 3 service error (unreachable, \
            an error answer, no verdict within --wait, or a compile that ran out of time or that the service failed).
            """,
        subcommands: [Compile.self, Matrix.self, Environments.self])

    public init() {}

    public func run() async throws {
        throw UsageError("name a command: compile, matrix or environments")
    }
}

/// `--server URL`, shared by the commands.
struct ServerOption: ParsableArguments {
    @Option(name: .customLong("server"), help: ArgumentHelp(
        "The service's base URL (default: $\(ServerAddress.environmentVariable), else \(ServerAddress.defaultURL)).", valueName: "url"))
    var url: String?

    func client() throws(UsageError) -> ServiceClient {
        ServiceClient(base: try ServerAddress.resolve(option: url, environment: ProcessInfo.processInfo.environment))
    }
}

/// Standard output's palette: colour on a terminal only, never with NO_COLOR.
private func outputPalette() -> Palette {
    Palette.forOutput(isTerminal: isatty(STDOUT_FILENO) == 1, environment: ProcessInfo.processInfo.environment)
}

/// `--wait`'s value, checked: a number of seconds above 0.
private func checkWait(_ wait: Double) throws {
    guard wait.isFinite, wait > 0 else {
        throw ValidationError("--wait \(wait) is not a time to wait: expected a number of seconds above 0, e.g. 60")
    }
}

/// Writes the service's JSON answer to standard output as it is, ending in a line break.
private func writeJSON(_ reply: ServiceReply) {
    write(String(decoding: reply.body, as: UTF8.self) + (reply.body.last == UInt8(ascii: "\n") ? "" : "\n"))
}

/// Writes `text` to standard output as it is (it ends in its own line break).
private func write(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// The source and the settings every cell or compile shares: `compile`'s and `matrix`'s.
struct SourceOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The source file, or a project's files; their extensions say the language unless --language does.", valueName: "file"))
    var files: [String]

    @Option(help: ArgumentHelp("Name a project's files relative to this folder (default: the deepest folder that holds them all).", valueName: "dir"))
    var root: String?

    @Option(name: .customLong("unit"), help: ArgumentHelp(
        "A project's file to compile (its translation unit), by its name in the project; once per file (default: every source).", valueName: "name"))
    var units: [String] = []

    @Option(help: "c, cpp (or c++), go, rust or swift (default: from the files' extensions).")
    var language: String?

    @Option(name: .customLong("flag"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("A compiler flag, once per flag: --flag -O2 --flag -Wall.", valueName: "flag"))
    var flags: [String] = []

    @Flag(name: .customLong("no-link"), help: "Compile without linking: a file without main() compiles.")
    var noLink = false

    @Flag(name: .customLong("no-cache"), help: "Compile even when the service's verdict cache knows the answer.")
    var noCache = false

    /// The source part of a request and its settings: one file's bytes, or the project's files.
    func request() throws(UsageError) -> CompileRequest {
        var request: CompileRequest
        if files.count > 1 || root != nil || !units.isEmpty {
            let project = try ProjectFiles(paths: files, root: root, currentDirectory: FileManager.default.currentDirectoryPath)
            let language = if let language { try CompileRequest.language(named: language, file: "") } else { try project.language() }
            request = CompileRequest(files: try project.contents(), translationUnits: try project.translationUnits(units), language: language)
        } else {
            let language = try CompileRequest.language(named: language, file: files[0])
            request = CompileRequest(source: try CompileRequest.source(at: files[0]), language: language)
        }
        request.flags = flags.isEmpty ? nil : flags
        request.link = noLink ? false : nil
        request.cache = noCache ? false : nil
        return request
    }

}

struct Compile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compiles FILE (or a project of several) on the service: prints the compiler's messages as a compiler does, then the verdict.",
        discussion: """
            One FILE is sent alone: the service names it main.c, main.cpp, main.go, main.rs or main.swift, \
            and its diagnostics (file:line:col: error: message [-Wflag]) use that name. Several FILEs \
            (or one with --root or --unit) are a project: each file is named by its path relative to \
            --root DIR, else to the deepest folder that holds them all, so that `#include "../include/util.h"` \
            finds its file; the diagnostics use those names. A name the service would refuse is a usage \
            error. The language comes from the sources' extensions (.c, .cpp, .cc, .cxx, .go, .rs, .swift; \
            headers do not decide) unless --language says it. When the compiler printed something no \
            diagnostic was read from, its output is printed as it is; --raw-output always prints it so. \
            Exit status: 0 compiled, 1 did not compile, 2 usage error, 3 service error.
            """)

    @OptionGroup var source: SourceOptions

    @Option(help: "A compiler the service offers, e.g. gcc-12 (default: the language's; see `environments`).")
    var compiler: String?

    @Option(name: .customLong("std"), help: ArgumentHelp("A language standard, e.g. c++20 (default: the compiler's).", valueName: "standard"))
    var standard: String?

    @Option(name: .customLong("arch"), help: ArgumentHelp("The target architecture: x86_64 (default), arm64, armhf, riscv64.", valueName: "architecture"))
    var architecture: String?

    @Option(help: "The target operating system: linux (default) or windows.")
    var os: String?

    @Option(help: ArgumentHelp("Wait at most this many seconds for the verdict.", valueName: "seconds"))
    var wait: Double = 300

    @Flag(help: "Print the service's result (JSON) as it is, instead of the compiler's messages.")
    var json = false

    @Flag(name: .customLong("raw-output"), help: "Print the compiler's output as it is, instead of one line per diagnostic.")
    var rawOutput = false

    @OptionGroup var server: ServerOption

    func validate() throws {
        try checkWait(wait)
    }

    func run() async throws {
        var request = try source.request()
        request.compiler = compiler
        request.standard = standard
        request.architecture = architecture
        request.os = os
        let (job, reply) = try await VerdictWait(client: try server.client(), seconds: wait).verdict(of: request)
        if json {
            writeJSON(reply)
        } else {
            write(VerdictReport.text(of: job, mode: rawOutput ? .raw : .diagnostics, palette: outputPalette()))
        }
        let status: ExitStatus = switch job.status {
        case .completed: .compiled
        case .failed: .didNotCompile
        case .timeout, .error, .queued, .processing: .serviceError
        }
        if status != .compiled { throw ExitCode(status.rawValue) }
    }
}

struct Matrix: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compiles FILE (or a project) in many environments: prints a table of compilers × standards, then the summary.",
        discussion: """
            The cells are --all (the default: every compiler of the language × each of its standards, \
            on x86_64/linux), narrowed by --compilers (families such as gcc, clang, or compiler ids), \
            --standards and --targets (ARCH/OS; each a comma-separated list, or repeated); or --env \
            COMPILER[:STANDARD[:ARCH/OS]] once per cell. FILEs are read as `compile` reads them. \
            The table marks ✓ compiled, ✗ did not compile, ! the service failed, · no such cell; \
            the summary names the oldest standard each compiler accepts and each failing cell's first \
            error (file:line:col: error: message). Exit status: 0 every cell compiled, 1 some did not, \
            2 usage error, 3 service error (also a cell the service failed).
            """)

    @OptionGroup var source: SourceOptions

    @Flag(help: "Every compiler of the language × each of its standards (the default without --env).")
    var all = false

    @Option(name: .customLong("env"), help: ArgumentHelp("One cell: COMPILER[:STANDARD[:ARCH/OS]], once per cell.", valueName: "environment"))
    var environments: [String] = []

    @Option(help: ArgumentHelp("With --all: only these flag families (gcc, clang) or compilers.", valueName: "names"))
    var compilers: [String] = []

    @Option(help: ArgumentHelp("With --all: only these standards.", valueName: "standards"))
    var standards: [String] = []

    @Option(help: ArgumentHelp("With --all: these targets (x86_64/linux, arm64/linux, …) instead of x86_64/linux.", valueName: "targets"))
    var targets: [String] = []

    @Option(help: ArgumentHelp("Wait at most this many seconds for every cell.", valueName: "seconds"))
    var wait: Double = 600

    @Flag(help: "Print the service's matrix (JSON) as it is, instead of the table.")
    var json = false

    @OptionGroup var server: ServerOption

    func validate() throws {
        try checkWait(wait)
    }

    func run() async throws {
        let request = try MatrixRequest(source: try source.request(), all: all, environments: environments,
                                        compilers: compilers, standards: standards, targets: targets)
        let (matrix, reply) = try await MatrixWait(client: try server.client(), seconds: wait).completed(request)
        if json {
            writeJSON(reply)
        } else {
            write(MatrixTable.text(of: matrix, palette: outputPalette()))
        }
        let status: ExitStatus = if matrix.cells.contains(where: { $0.status == .error }) {
            .serviceError
        } else if matrix.cells.allSatisfy({ $0.status == .completed }) {
            .compiled
        } else {
            .didNotCompile
        }
        if status != .compiled { throw ExitCode(status.rawValue) }
    }
}

struct Environments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lists what the service offers: per language its compilers, standards and targets, the defaults marked.")

    @Flag(help: "Print the service's list (JSON) as it is.")
    var json = false

    @OptionGroup var server: ServerOption

    func run() async throws {
        let reply = try await server.client().send("GET", "/api/v1/environments", timeout: 30)
        guard reply.status == 200 else { throw reply.refusal }
        let environments = try EnvironmentsReport.decode(reply)
        if json {
            writeJSON(reply)
        } else {
            write(EnvironmentsReport.text(of: environments, palette: outputPalette()))
        }
    }
}

/// The command line run to its end: parses `arguments` (without the program's name), runs
/// the command and returns the exit status (`ExitStatus`), every error said on standard error.
public enum CommandLineMain {
    public static func run(_ arguments: [String]) async -> Int32 {
        do {
            var command = try WillItCompileCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return ExitStatus.compiled.rawValue
        } catch let status as ExitCode {
            return status.rawValue
        } catch let error as ServiceError {
            sayError(error.description)
            return ExitStatus.serviceError.rawValue
        } catch let error as UsageError {
            sayError("\(error.description)\nSee `will-it-compile --help`.")
            return ExitStatus.usageError.rawValue
        } catch {
            // ArgumentParser's own: help asked for, or the command line did not parse.
            let message = WillItCompileCommand.fullMessage(for: error)
            if WillItCompileCommand.exitCode(for: error) == .success {
                write(message + "\n")
                return ExitStatus.compiled.rawValue
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            return ExitStatus.usageError.rawValue
        }
    }

    private static func sayError(_ message: String) {
        FileHandle.standardError.write(Data("will-it-compile: error: \(message)\n".utf8))
    }
}
