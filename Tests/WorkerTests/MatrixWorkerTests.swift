import Foundation
import JobStore
import TestSupport
import Testing
import WillItCompile

/// A matrix through a worker in memory mode (`REDIS_ENABLED=false`): its cells are stored
/// and queued together with the matrix, answered from the verdict cache where it can, and a
/// matrix that does not fit is refused with nothing stored.
@Suite struct MatrixWorkerTests {
    static func cells(_ source: String, _ standards: [String], useCache: Bool = true) -> [CompilationJob] {
        standards.map {
            CompilationJob(request: CompilationRequest(source: Array(source.utf8), language: .c, compiler: "gcc-12", standard: $0,
                                                       useCache: useCache),
                           createdAt: Date())
        }
    }

    static func matrix(of cells: [CompilationJob]) -> CompilationMatrix {
        CompilationMatrix(language: .c, createdAt: Date(), cells: cells.map(MatrixCell.init(of:)))
    }

    @Test(.runningTimeLimit(minutes: 2))
    func everyCellIsCompiledOrAnsweredFromTheCacheAndTheMatrixReadsBack() throws {
        let worker = try WorkerProcess()
        // Needs C99: gcc refuses a declaration in a for loop's head in C89.
        let source = "int main(void) { for (int i = 0; i < 1; i++) {} return 0; }\n"
        let (_, compiled) = try worker.compile(source, language: .c, compiler: "gcc-12", standard: "c99")
        #expect(compiled.compiled)
        let cells = Self.cells(source, ["c89", "c99", "c11"])
        let matrix = Self.matrix(of: cells)
        #expect(try worker.client.send(.submitMatrix(matrix, cells: cells)) == .accepted(matrix.id))
        guard case let .matrix(read?) = try worker.client.send(.readMatrix(matrix.id)) else {
            Issue.record("the matrix does not read back")
            return
        }
        #expect(read.cells.map(\.standard) == ["c89", "c99", "c11"] && read.cells.map(\.jobID) == cells.map(\.id))
        let verdicts = try cells.map { try worker.waitForVerdict($0.id) }
        #expect(verdicts.map(\.0.status) == [.failed, .completed, .completed], "\(verdicts.map(\.1.stderr))")
        #expect(verdicts.map(\.1.cached) == [false, true, false], "the c99 cell is the compile before it")
        let stats = try worker.stats()
        #expect(stats.totalProcessed == 3 && stats.totalCached == 1, "\(stats)")
        #expect(try worker.client.send(.readMatrix(JobID())) == .matrix(nil))
    }

    @Test(.runningTimeLimit(minutes: 2))
    func aMatrixThatDoesNotFitTheClientsShareIsRefusedWithNothingStored() throws {
        let worker = try WorkerProcess(["MAX_WORKERS": "1", "MAX_JOBS_PER_CLIENT": "2"])
        let client = ClientIdentity("192.0.2.7")!
        // One job held: a matrix of two more does not fit a share of two, and none of it is stored.
        let slow = CompilationJob(request: CompilationRequest(source: Array(slowCompileSource.utf8), language: .cpp), createdAt: Date())
        #expect(try worker.client.send(.submit(slow, client: client)) == .accepted(slow.id))
        let cells = Self.cells("int main(void) { return 0; }\n", ["c11", "c17"], useCache: false)
        let matrix = Self.matrix(of: cells)
        guard case let .tooManyJobs(share, _) = try worker.client.send(.submitMatrix(matrix, cells: cells, client: client)) else {
            Issue.record("a matrix of 2 beside 1 held job was taken by a share of 2")
            return
        }
        #expect(share.jobs == 1 && share.limit == 2)
        #expect(try worker.client.send(.readMatrix(matrix.id)) == .matrix(nil))
        for cell in cells {
            #expect(try worker.client.send(.readJob(cell.id)) == .job(nil, nil), "cell \(cell.id) was stored")
        }
        // Another client holding nothing gets a matrix larger than its whole share.
        let larger = Self.cells("int main(void) { return 0; }\n", ["c11", "c17", "gnu17"], useCache: false)
        let accepted = Self.matrix(of: larger)
        #expect(try worker.client.send(.submitMatrix(accepted, cells: larger, client: ClientIdentity("192.0.2.8")!)) == .accepted(accepted.id))
    }
}
