import Foundation
import Synchronization
import TestSupport
import Testing

/// The compile matrix through nginx: one C++20 source over every installed C++ toolchain ×
/// standard, checked cell by cell against what each compiler says when run directly.
@Suite(.serialized) struct MatrixEndToEndTests {
    /// Needs C++20: concepts and `std::span`.
    static let source = """
        #include <concepts>
        #include <span>

        template <std::integral T> T twice(T value) { return 2 * value; }

        int main() {
            int numbers[] = {1, 2, 3};
            std::span<int> view(numbers);
            return twice(static_cast<int>(view.size())) == 6 ? 0 : 1;
        }

        """

    struct Cell: Hashable, CustomStringConvertible {
        let compiler: String
        let standard: String
        var description: String { "\(compiler) \(standard)" }
    }

    /// What the test needs of a catalog entry: how to run the compiler, and its standards in catalog order.
    struct CatalogEntry: Sendable {
        let id: String
        let executable: String
        let command: [String]
        let standardArguments: [String]
        let standards: [String]
    }

    /// Each offered C++ toolchain's catalog entry, in the catalog's order.
    static func catalogEntries(offered: Set<String>) throws -> [CatalogEntry] {
        let directory = repositoryRoot.appendingPathComponent("toolchains/catalog")
        var entries: [CatalogEntry] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where file.hasSuffix(".json") {
            let document = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(file))) as? [String: Any]
            for entry in document?["toolchains"] as? [[String: Any]] ?? [] {
                guard entry["language"] as? String == "cpp", let id = entry["id"] as? String, offered.contains(id) else { continue }
                entries.append(CatalogEntry(
                    id: id, executable: entry["executable"] as? String ?? "", command: entry["command"] as? [String] ?? [],
                    standardArguments: entry["standard_arguments"] as? [String] ?? [], standards: entry["standards"] as? [String] ?? []))
            }
        }
        return entries
    }

    /// Whether the compiler itself, run directly with the catalog's command, compiles `source` with `standard`.
    static func compilesDirectly(_ entry: CatalogEntry, standard: String, in directory: String) throws -> Bool {
        let work = "\(directory)/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let sourcePath = "\(work)/main.cpp"
        try Data(source.utf8).write(to: URL(fileURLWithPath: sourcePath))
        var argv: [String] = []
        for element in entry.command {
            switch element {
            case "{executable}": argv.append(entry.executable)
            case "{standard_arguments}": argv += entry.standardArguments.map { $0.replacingOccurrences(of: "{standard}", with: standard) }
            case "{flags}": break
            case "{source}": argv.append(sourcePath)
            case "{output}": argv.append("\(work)/main")
            default: argv.append(element)
            }
        }
        return try run(argv[0], Array(argv.dropFirst())).status == 0
    }

    @Test(.runningTimeLimit(minutes: 15))
    func everyCellAndTheSummaryAgreeWithTheCompilersThemselves() throws {
        let stack = try Stack()
        let toolchains = try stack.request("GET", "/api/v1/toolchains").json["toolchains"] as? [[String: Any]] ?? []
        let offered = Set(toolchains.filter { $0["language"] as? String == "cpp" }.compactMap { $0["id"] as? String })
        let entries = try Self.catalogEntries(offered: offered)
        #expect(entries.count == offered.count && entries.count >= 2, "offered \(offered), catalog entries \(entries.map(\.id))")
        let cells = entries.flatMap { entry in entry.standards.map { Cell(compiler: entry.id, standard: $0) } }

        let submitted = try stack.request("POST", "/api/v1/matrix", body: try Self.json([
            "source_code": Self.source, "language": "cpp", "environments": "all",
        ]))
        #expect(submitted.status == 202, "\(submitted.text)")
        let matrixID = try #require(submitted.json["matrix_id"] as? String)
        #expect(submitted.headers["location"] == "/api/v1/matrix/\(matrixID)" && submitted.json["status_url"] as? String == "/api/v1/matrix/\(matrixID)")
        let listed = (submitted.json["cells"] as? [[String: Any]] ?? []).map {
            Cell(compiler: $0["compiler"] as? String ?? "", standard: $0["standard"] as? String ?? "")
        }
        #expect(listed == cells, "the cells are every toolchain × standard, in catalog order")
        #expect((submitted.json["cells"] as? [[String: Any]] ?? []).allSatisfy {
            $0["architecture"] as? String == "x86_64" && $0["os"] as? String == "linux" && ($0["job_id"] as? String)?.count == 36
        })

        // All or nothing: the client's share and budget are taken by the first matrix, so a second is refused whole.
        let jobsBefore = try stack.redisKeys(matching: "job:*-*").count
        let second = try stack.request("POST", "/api/v1/matrix", body: try Self.json([
            "source_code": Self.source + "// again\n", "language": "cpp", "environments": "all",
        ]))
        #expect(second.status == 429 && second.headers["retry-after"] != nil, "\(second.text)")
        #expect((second.json["message"] as? String ?? "").contains("nothing of it was stored"), "\(second.text)")
        #expect(try stack.redisKeys(matching: "matrix:*").count == 1)
        #expect(try stack.redisKeys(matching: "job:*-*").count == jobsBefore)

        // What each compiler says itself, run directly, while the service compiles the same.
        let expected = Mutex<[Cell: Bool]>([:])
        let failures = Mutex<[String]>([])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wic-matrix-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let byID = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0) })
        DispatchQueue.concurrentPerform(iterations: cells.count) { index in
            let cell = cells[index]
            do {
                let compiles = try Self.compilesDirectly(byID[cell.compiler]!, standard: cell.standard, in: directory)
                expected.withLock { $0[cell] = compiles }
            } catch {
                failures.withLock { $0.append("\(cell): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let truth = expected.withLock { $0 }
        #expect(truth.values.contains(true) && truth.values.contains(false), "the source compiles in some cells and fails in others: \(truth)")

        // The matrix, once every cell is finished.
        var report: [String: Any] = [:]
        try waitUntil("the matrix is completed", within: 600) {
            let reply = try stack.request("GET", "/api/v1/matrix/\(matrixID)?wait=20")
            #expect(reply.status == 200, "\(reply.text)")
            report = reply.json
            return report["status"] as? String == "completed"
        }
        let reported = report["cells"] as? [[String: Any]] ?? []
        #expect(reported.count == cells.count)
        for (cell, answer) in zip(cells, reported) {
            let compiled = answer["compiled"] as? Bool
            #expect(answer["compiler"] as? String == cell.compiler && answer["standard"] as? String == cell.standard)
            #expect(answer["cached"] as? Bool == false, "a fresh stack compiles every cell: \(answer)")
            #expect(compiled == truth[cell], "\(cell): the service says \(answer), the compiler itself \(truth[cell].map(String.init) ?? "nothing")")
            #expect(answer["status"] as? String == (truth[cell] == true ? "completed" : "failed"), "\(cell): \(answer)")
            if truth[cell] == false {
                let firstError = answer["first_error"] as? [String: Any]
                #expect(firstError?["severity"] as? String == "error" && firstError?["file"] as? String == "main.cpp", "\(cell): \(answer)")
            }
        }

        // The summary says the same: per compiler, per standard, and each failure.
        let summary = report["summary"] as? [String: Any] ?? [:]
        #expect(summary["cells"] as? Int == cells.count && summary["finished"] as? Int == cells.count)
        #expect(summary["compiled"] as? Int == truth.values.filter { $0 }.count)
        for (index, compiler) in (summary["compilers"] as? [[String: Any]] ?? []).enumerated() {
            let id = compiler["compiler"] as? String ?? ""
            #expect(id == entries[index].id)
            let standards = entries[index].standards
            let accepting = standards.filter { truth[Cell(compiler: id, standard: $0)] == true }
            #expect(compiler["accepted_standards"] as? [String] == accepting, "\(id): \(compiler)")
            #expect(compiler["rejected_standards"] as? [String] == standards.filter { !accepting.contains($0) }, "\(id): \(compiler)")
            #expect(compiler["oldest_standard"] as? String == accepting.first, "\(id): \(compiler)")
            #expect(compiler["accepts"] as? Bool == !accepting.isEmpty)
        }
        for standard in summary["standards"] as? [[String: Any]] ?? [] {
            let name = standard["standard"] as? String ?? ""
            let accepting = entries.map(\.id).filter { truth[Cell(compiler: $0, standard: name)] == true }
            let rejecting = entries.map(\.id).filter { truth[Cell(compiler: $0, standard: name)] == false }
            #expect(standard["accepted_by"] as? [String] == accepting && standard["rejected_by"] as? [String] == rejecting, "\(standard)")
        }
        let failed = (summary["failures"] as? [[String: Any]] ?? []).map {
            Cell(compiler: $0["compiler"] as? String ?? "", standard: $0["standard"] as? String ?? "")
        }
        #expect(failed == cells.filter { truth[$0] == false })
        #expect((summary["failures"] as? [[String: Any]] ?? []).allSatisfy { ($0["first_error"] as? [String: Any])?["message"] is String })
    }

    @Test(.runningTimeLimit(minutes: 5))
    func aMatrixAboveTheLimitABadCellAndAnUnknownIdAreRefusedAndStoreNothing() throws {
        let stack = try Stack(["MAX_MATRIX_CELLS": "3"])
        let environment: [String: Any] = ["compiler": "gcc-12", "standard": "c++20"]
        let tooMany = try stack.request("POST", "/api/v1/matrix", body: try Self.json([
            "source_code": Self.source, "language": "cpp", "environments": "all", "compilers": ["gcc"],
        ]))
        #expect(tooMany.status == 400 && tooMany.json["error"] as? String == "invalid_request", "\(tooMany.text)")
        let message = tooMany.json["message"] as? String ?? ""
        #expect(message.contains("cells; at most 3 are accepted (MAX_MATRIX_CELLS): narrow it with `compilers`, `standards` or `targets`"), "\(message)")

        let badCell = try stack.request("POST", "/api/v1/matrix", body: try Self.json([
            "source_code": Self.source, "language": "cpp",
            "environments": [environment, ["compiler": "gcc-12", "standard": "c++99"], ["compiler": "msvc-19"]],
        ]))
        #expect(badCell.status == 400, "\(badCell.text)")
        let details = badCell.json["details"] as? [[String: Any]] ?? []
        #expect(details.compactMap { $0["field"] as? String } == ["environments[1].standard", "environments[2].compiler"], "\(badCell.text)")
        let firstMessage = details.first?["message"] as? String ?? ""
        #expect(firstMessage.hasPrefix("Cell environments[1] (gcc-12 c++99 x86_64/linux): Unknown standard `c++99`"), "\(badCell.text)")
        #expect(try stack.redisKeys(matching: "matrix:*").isEmpty && stack.redisKeys(matching: "job:*-*").isEmpty, "nothing was stored")

        let unknown = try stack.request("GET", "/api/v1/matrix/\(UUID().uuidString.lowercased())")
        #expect(unknown.status == 404 && unknown.json["error"] as? String == "matrix_not_found", "\(unknown.text)")
        let malformed = try stack.request("GET", "/api/v1/matrix/not-an-id")
        #expect(malformed.status == 400 && malformed.json["error"] as? String == "invalid_matrix_id", "\(malformed.text)")

        // Within the limit: accepted, and read back finished with wait.
        let (id, report) = try Self.completedMatrix(on: stack, [
            "source_code": Self.source, "language": "cpp", "environments": [environment, ["compiler": "gcc-12", "standard": "c++17"]],
        ])
        let head = try stack.request("HEAD", "/api/v1/matrix/\(id)")
        #expect(head.status == 200 && head.body.isEmpty)
        let compilers = (report["summary"] as? [String: Any])?["compilers"] as? [[String: Any]] ?? []
        #expect(compilers.first?["oldest_standard"] as? String == "c++20" && compilers.first?["rejected_standards"] as? [String] == ["c++17"], "\(report)")
    }

    @Test(.runningTimeLimit(minutes: 5))
    func aProjectMatrixCompilesTheSameFilesInEveryCell() throws {
        let stack = try Stack()
        // The C++20 part is in the header, so a cell that refuses it names include/util.h.
        let files: [[String: Any]] = [
            ["name": "src/main.cpp", "content": "#include \"../include/util.h\"\nint main() { return twice(3) == 6 ? 0 : 1; }\n"],
            ["name": "include/util.h", "content": "#include <concepts>\ntemplate <std::integral T> T twice(T value) { return 2 * value; }\n"],
        ]
        let (_, report) = try Self.completedMatrix(on: stack, [
            "files": files, "language": "cpp",
            "environments": [["compiler": "gcc-12", "standard": "c++20"], ["compiler": "gcc-12", "standard": "c++17"]],
        ])
        let cells = report["cells"] as? [[String: Any]] ?? []
        #expect(cells.map { $0["compiled"] as? Bool } == [true, false], "\(report)")
        let firstError = cells.last?["first_error"] as? [String: Any]
        #expect(firstError?["file"] as? String == "include/util.h" && firstError?["line"] as? Int == 2, "\(report)")
        // Each cell's job is the project's, with its translation units.
        let job = try stack.request("GET", "/api/v1/compile/\(try #require(cells.first?["job_id"] as? String))").json
        #expect(job["translation_units"] as? [String] == ["src/main.cpp"], "\(job)")
    }

    /// Submits a small matrix and reads it back with `wait` until it is completed: its id and report.
    static func completedMatrix(on stack: Stack, _ request: [String: Any]) throws -> (id: String, report: [String: Any]) {
        let submitted = try stack.request("POST", "/api/v1/matrix", body: try json(request))
        #expect(submitted.status == 202, "\(submitted.text)")
        let id = try #require(submitted.json["matrix_id"] as? String)
        var report: [String: Any] = [:]
        try waitUntil("matrix \(id) is completed", within: 120) {
            report = try stack.request("GET", "/api/v1/matrix/\(id)?wait=20").json
            return report["status"] as? String == "completed"
        }
        return (id, report)
    }

    static func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}
