import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// `Trainer.runCheckpointed` and `Trainer.resume`, the mechanism `cnnc train` and every sweep run
/// share, on synthetic data: a run stopped twice and continued from the files on disk ends bit
/// for bit where an uninterrupted run ends and records both resumes; a checkpoint of another
/// sweep run is not continued.
final class CheckpointedTrainingTests: XCTestCase {
    func makeTrainer() throws -> Trainer {
        let compilation = Compilation.compile(source: SourceFile(path: "tinybn.yaml", text: CheckpointTests.spec))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        return Trainer(graph: graph, settings: CheckpointTests.settings(), train: CheckpointTests.train, test: CheckpointTests.test)
    }

    func identity(sweepRun: String?, specPath: String = "tinybn.yaml") -> CheckpointedRun {
        CheckpointedRun(specPath: specPath, specText: CheckpointTests.spec, dropout: nil, settings: CheckpointTests.settings(),
                        sweepRun: sweepRun)
    }

    /// Stops after `calls` steps; `shouldStop` is asked before each step.
    func stopper(after calls: Int) -> () -> Bool {
        var asked = 0
        return { asked += 1; return asked > calls }
    }

    func testStoppedTwiceAndContinuedFromDiskEqualsAnUninterruptedRunAndRecordsBothResumes() throws {
        let directory = try makeTempDirectory("cnnc-checkpointed")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reference = try makeTrainer()
        XCTAssertEqual(reference.run().outcome, .finished)
        let run = identity(sweepRun: "run-a")

        // 200 images at batch 8: 25 steps an epoch. The first session stops at epoch 2, step 5.
        let first = try makeTrainer()
        let stopped = try first.runCheckpointed(run: run, directory: directory, shouldStop: stopper(after: 30))
        XCTAssertEqual(stopped.result.outcome, .interrupted(epoch: 2, step: 5))
        XCTAssertEqual(stopped.checkpointSeconds.count, 2, "one at the end of epoch 1, one when stopping")
        XCTAssertEqual(stopped.result.resumedFrom, [])

        XCTAssertNil(try readCheckpointToContinue(runDirectory: directory, identity: identity(sweepRun: "run-b")),
                     "another sweep run's checkpoint is not continued")
        XCTAssertNil(try readCheckpointToContinue(runDirectory: directory, identity: identity(sweepRun: nil)))
        XCTAssertNotNil(try readCheckpointToContinue(runDirectory: directory, identity: identity(sweepRun: "run-a", specPath: "/else/tinybn.yaml")),
                        "the same sweep run from another working directory continues")

        // The second session continues from disk and stops at epoch 3, step 10.
        let second = try makeTrainer()
        try second.resume(from: try XCTUnwrap(try readCheckpointToContinue(runDirectory: directory, identity: run)))
        let stoppedAgain = try second.runCheckpointed(run: run, directory: directory, shouldStop: stopper(after: 30))
        XCTAssertEqual(stoppedAgain.result.outcome, .interrupted(epoch: 3, step: 10))

        let third = try makeTrainer()
        let checkpoint = try XCTUnwrap(try readCheckpointToContinue(runDirectory: directory, identity: run))
        XCTAssertEqual(checkpoint.run.sweepRun, "run-a")
        try third.resume(from: checkpoint)
        let finished = try third.runCheckpointed(run: run, directory: directory, shouldStop: { false }).result
        XCTAssertEqual(finished.outcome, .finished)
        XCTAssertEqual(finished.resumedFrom, [ResumePoint(epoch: 2, step: 5), ResumePoint(epoch: 3, step: 10)])
        XCTAssertEqual(third.network.snapshot().parameters.map(\.bitPattern), reference.network.snapshot().parameters.map(\.bitPattern))
        XCTAssertEqual(try readCheckpoint(runDirectory: directory).position.resumedFrom, finished.resumedFrom,
                       "the last checkpoint carries the resumes")
        let summary = resumePointsJSON(finished.resumedFrom).rendered()
        XCTAssertEqual(summary, #"[{"epoch":2,"step":5},{"epoch":3,"step":10}]"#)
    }
}
