import Foundation
import Testing
@testable import WillItCompile

/// `POST /api/v1/matrix`'s body, its cells and `GET`'s summary, on the real catalog's C++ entries.
@Suite struct MatrixTests {
    let validator = RequestValidator(maxSourceSize: 64)

    /// gcc-12 (x86_64 and arm64 Linux), clang-16 and go-1.19, as the catalog declares them.
    static func offered() throws -> [Toolchain] {
        let specs = try ToolchainCatalog.load(at: "toolchains/catalog")
        func spec(_ id: String, _ language: Language) throws -> ToolchainSpec {
            try #require(specs.first { $0.id == id && $0.language == language })
        }
        let arm64 = try #require(try spec("gcc-12", .cpp).targets?.first { $0.architecture == "arm64" })
        return [
            Toolchain(spec: try spec("gcc-12", .cpp), version: "12", isDefault: true, targets: [.host, arm64]),
            Toolchain(spec: try spec("clang-16", .cpp), version: "16", isDefault: false),
            Toolchain(spec: try spec("go-1.19", .go), version: "1.19", isDefault: true),
        ]
    }

    func submission(_ json: String) throws -> MatrixSubmission {
        try validator.validateMatrix(json: Data(json.utf8))
    }

    func problems(_ json: String, maxCells: Int = 100) -> [ValidationProblem] {
        do {
            _ = try submission(json).cells(offered: try Self.offered(), maxCells: maxCells)
            return []
        } catch let error as RequestValidationError {
            return error.problems
        } catch {
            return [ValidationProblem(field: "test", kind: .malformedBody, message: "\(error)")]
        }
    }

    @Test func aListedMatrixGivesOneCellPerEnvironmentWithTheDefaultsNamed() throws {
        let cells = try submission(#"{"source_code":"int main(){}","language":"cpp","flags":["-O2"],"environments":[{"compiler":"gcc-12"},{"compiler":"clang-16","standard":"c++20"},{"compiler":"gcc-12","architecture":"aarch64","os":"linux","standard":"c++17"}]}"#)
            .cells(offered: try Self.offered(), maxCells: 10)
        #expect(cells.map(\.compiler) == ["gcc-12", "clang-16", "gcc-12"])
        #expect(cells.map(\.standard) == ["gnu++17", "c++20", "c++17"])
        #expect(cells.map(\.architecture) == [nil, nil, "arm64"])
        #expect(cells.allSatisfy { $0.flags == ["-O2"] && $0.source == Array("int main(){}".utf8) })
    }

    @Test func allIsEveryToolchainTimesItsStandardsInCatalogOrderOnTheHostTarget() throws {
        let offered = try Self.offered()
        let cells = try submission(#"{"source_code":"x","language":"cpp","environments":"all"}"#).cells(offered: offered, maxCells: 100)
        let gcc = offered[0].spec.standards, clang = offered[1].spec.standards
        #expect(cells.count == gcc.count + clang.count)
        #expect(cells.map(\.standard) == gcc + clang)
        #expect(cells.allSatisfy { $0.architecture == "x86_64" && $0.os == "linux" })
        let go = try submission(#"{"source_code":"x","language":"go","environments":"all"}"#).cells(offered: offered, maxCells: 100)
        #expect(go.map(\.compiler) == ["go-1.19"] && go.map(\.standard) == [nil])
    }

    @Test func theFiltersNarrowAllByFamilyOrIdStandardAndTarget() throws {
        let offered = try Self.offered()
        let byFamily = try submission(#"{"source_code":"x","language":"cpp","environments":"all","compilers":["clang"],"standards":["c++17","c++20"]}"#)
            .cells(offered: offered, maxCells: 100)
        #expect(byFamily.map { "\($0.compiler!) \($0.standard!)" } == ["clang-16 c++17", "clang-16 c++20"])
        let arm = try submission(#"{"source_code":"x","language":"cpp","environments":"all","standards":["c++20"],"targets":["x86_64/linux","arm64/linux"]}"#)
            .cells(offered: offered, maxCells: 100)
        #expect(arm.map { "\($0.compiler!) \($0.architecture ?? "x86_64")" } == ["gcc-12 x86_64", "gcc-12 arm64", "clang-16 x86_64"])
    }

    @Test func aFilterNamingNothingOfferedIsRefusedWithWhatIs() {
        let found = problems(#"{"source_code":"x","language":"cpp","environments":"all","compilers":["msvc"],"targets":["sparc/linux"]}"#)
        #expect(found.map(\.field) == ["compilers", "targets"], "\(found)")
        #expect(found[0].message.contains("gcc, clang, gcc-12, clang-16"), "\(found)")
        #expect(found[1].message.contains("arm64/linux"), "\(found)")
    }

    @Test func moreCellsThanTheLimitIsRefusedWithTheCountTheLimitAndHowToNarrow() {
        let found = problems(#"{"source_code":"x","language":"cpp","environments":"all"}"#, maxCells: 10)
        #expect(found.count == 1)
        let message = found.first?.message ?? ""
        #expect(message.contains("makes 30 cells") && message.contains("at most 10") && message.contains("MAX_MATRIX_CELLS")
                && message.contains("`compilers`, `standards` or `targets`"), "\(message)")
    }

    @Test func aMatrixStoringMoreThan64MiBOfItsSourceIsRefusedWithTheSizes() throws {
        let big = CompilationRequest(source: Array(repeating: 0x78, count: 3 << 20), language: .cpp)
        let all = MatrixSubmission(template: big, environments: .all(compilers: nil, standards: nil, targets: nil))
        let offered = try Self.offered()
        do {
            _ = try all.cells(offered: offered, maxCells: 100)
            Issue.record("30 cells of a 3 MiB source were accepted")
        } catch {
            #expect(error.problems.first?.message.contains("30 × 3145728 bytes is 94371840 bytes, and at most 67108864 (64 MiB)") == true, "\(error)")
        }
        let fewer = MatrixSubmission(template: big, environments: .all(compilers: ["clang"], standards: nil, targets: nil))
        #expect(try fewer.cells(offered: offered, maxCells: 100).count == 14)
    }

    @Test func aBadCellIsRefusedNamingTheCellAndWhatIsWrong() {
        let found = problems(#"{"source_code":"x","language":"cpp","environments":[{"compiler":"gcc-12","standard":"c++20"},{"compiler":"clang-16","standard":"c++23"},{"compiler":"gcc-12","standard":"c++20"}]}"#)
        #expect(found.map(\.field) == ["environments[1].standard", "environments[2]"], "\(found)")
        #expect(found[0].message.hasPrefix("Cell environments[1] (clang-16 c++23 x86_64/linux): Standard `c++23` is not supported by clang-16"), "\(found)")
        #expect(found[1].message.contains("same as environments[0]"), "\(found)")
    }

    @Test func theBodyIsReadStrictlyAndEachEnvironmentFieldBelongsInAnEnvironment() {
        let found = problems(#"{"source_code":"x","language":"cpp","standard":"c++20","enviroments":"all","environments":[{"compiler":"gcc-12","std":"c++20"}],"compilers":["gcc"]}"#)
        #expect(found.map(\.field) == ["standard", "enviroments", "compilers", "environments[0].std"], "\(found)")
        #expect(found[0].message.contains("per environment"))
        #expect(found[1].message.contains("did you mean `environments`?"))
        #expect(found[3].message.contains("did you mean `standard`?"))
        #expect(problems(#"{"source_code":"x","language":"cpp"}"#).map(\.kind) == [.missing])
        #expect(problems(#"{"source_code":"x","language":"cpp","environments":"every"}"#).map(\.kind) == [.wrongType])
        #expect(problems(#"{"source_code":"x","language":"cpp","environments":"all","environments":"all"}"#).map(\.kind) == [.duplicateKey])
        let stray = (0..<30).map { #""stray\#($0)":1"# }.joined(separator: ",")
        let many = problems(#"{"source_code":"x","language":"cpp","environments":"all",\#(stray)}"#)
        #expect(many.count == 21 && many.last?.message == "The body has 10 more problems like these.", "\(many.last?.message ?? "")")
    }

    @Test func theSummarySaysWhoAcceptsTheOldestStandardInCatalogOrderAndEachFirstError() throws {
        let cells = ["c++11", "c++20", "gnu++20", "c++17"].map {
            MatrixCell(compiler: "gcc-12", standard: $0, architecture: "x86_64", os: "linux", jobID: JobID())
        } + [MatrixCell(compiler: "clang-16", standard: "c++20", architecture: "x86_64", os: "linux", jobID: JobID())]
        let matrix = CompilationMatrix(language: .cpp, createdAt: Date(), cells: cells)
        let error = Diagnostic(file: "main.cpp", line: 3, column: 1, severity: .error, message: "concepts need C++20")
        func result(_ cell: MatrixCell, compiled: Bool) -> CompilationResult {
            CompilationResult(jobID: cell.jobID, success: true, compiled: compiled, exitCode: compiled ? 0 : 1, durationNanoseconds: 1,
                              diagnostics: DiagnosticSummary(diagnostics: compiled ? [] : [error], errorCount: compiled ? 0 : 1, warningCount: 0))
        }
        let states: [JobID: (JobStatus, CompilationResult?)] = [
            cells[0].jobID: (.failed, result(cells[0], compiled: false)),
            cells[1].jobID: (.completed, result(cells[1], compiled: true)),
            cells[2].jobID: (.completed, result(cells[2], compiled: true)),
            cells[3].jobID: (.failed, result(cells[3], compiled: false)),
            cells[4].jobID: (.processing, nil),
        ]
        let report = MatrixReport(matrix: matrix, states: states, standardOrder: ["gcc-12": ["c++11", "c++17", "c++20", "gnu++20"]])
        #expect(report.status == .processing)
        #expect(report.summary.finished == 4 && report.summary.compiled == 2)
        let gcc = try #require(report.summary.compilers.first)
        #expect(gcc.acceptedStandards == ["c++20", "gnu++20"] && gcc.rejectedStandards == ["c++11", "c++17"] && gcc.oldestStandard == "c++20")
        #expect(report.summary.compilers[1].accepts == false && report.summary.compilers[1].oldestStandard == nil)
        #expect(report.summary.standards.map(\.standard) == ["c++11", "c++20", "gnu++20", "c++17"])
        #expect(report.summary.standards[1].acceptedBy == ["gcc-12"] && report.summary.standards[1].rejectedBy.isEmpty)
        #expect(report.summary.failures.map(\.standard) == ["c++11", "c++17"] && report.summary.failures.allSatisfy { $0.firstError == error })
        #expect(report.cells[4].compiled == nil && report.cells[0].firstError == error)
        let done = MatrixReport(matrix: matrix, states: states.merging([cells[4].jobID: (.completed, result(cells[4], compiled: true))]) { $1 },
                                standardOrder: [:])
        #expect(done.status == .completed && done.summary.targets.first?.acceptedBy == ["gcc-12", "clang-16"])
    }

    @Test func theRecordReadsBackAsStored() throws {
        let matrix = CompilationMatrix(language: .go, createdAt: Date(timeIntervalSince1970: 1_700_000_000.5), cells: [
            MatrixCell(compiler: "go-1.19", standard: nil, architecture: "x86_64", os: "linux", jobID: JobID()),
        ])
        #expect(try CompilationMatrix(storedJSON: matrix.storedJSON) == matrix)
    }
}
