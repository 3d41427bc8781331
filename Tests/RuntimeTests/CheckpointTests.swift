import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// Checkpoints (issue 11, part 1) on synthetic data: a run stopped anywhere and continued from
/// its checkpoint's bytes ends bit for bit where an uninterrupted run ends; corrupt or foreign
/// checkpoints are refused. The end-to-end signal tests are in cnncTests/ResumeTests.swift.
final class CheckpointTests: XCTestCase {
    /// Dropout, batch norm and SGD momentum: every kind of state a checkpoint carries.
    static let spec = """
        name: tinybn
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 4, stride: 2}
          - BatchNorm2D
          - ReLU
          - Dropout: {p: 0.3}
          - Linear: {out_features: 10}

        """

    static func settings(epochs: Int = 3, optimizer: OptimizerSettings = OptimizerSettings(kind: .adam, lr: 0.01),
                         threads: Int = 2) -> TrainingSettings {
        TrainingSettings(epochs: epochs, batchSize: 8, optimizer: optimizer, seed: 7, threads: threads,
                         validation: 40, limit: 200, evaluationBatch: 32)
    }

    static let train = TrainerTests.synthetic(count: 300, seed: 1)
    static let test = TrainerTests.synthetic(count: 50, seed: 2)

    func makeTrainer(_ settings: TrainingSettings) throws -> Trainer {
        let compilation = Compilation.compile(source: SourceFile(path: "tinybn.yaml", text: Self.spec))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        return Trainer(graph: graph, settings: settings, train: Self.train, test: Self.test)
    }

    func run(_ settings: TrainingSettings) -> CheckpointedRun {
        CheckpointedRun(specPath: "tinybn.yaml", specText: Self.spec, dropout: nil, settings: settings)
    }

    /// metrics.jsonl without the timing fields.
    func metrics(_ result: TrainingResult) throws -> [[String: String]] {
        try metricsLines(epochs: result.epochs, steps: result.steps).map { line in
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return object.filter { !timingFields.contains($0.key) }.mapValues { "\($0)" }
        }
    }

    /// The state file's bytes, decoded again: what a resumed process sees.
    func roundTrip(_ checkpoint: TrainingCheckpoint) throws -> TrainingCheckpoint {
        let bytes = checkpoint.encoded()
        let manifest = CheckpointManifest(stateFile: "state-x.safetensors", stateBytes: bytes.count, stateSHA256: sha256Hex(bytes),
                                          epoch: checkpoint.position.epoch, step: checkpoint.position.step)
        return try TrainingCheckpoint.decode(manifest: try CheckpointManifest.decode(manifest.encoded()), state: bytes)
    }

    func assertResumesExactly(stopAfter calls: Int, optimizer: OptimizerSettings = OptimizerSettings(kind: .adam, lr: 0.01),
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let settings = Self.settings(optimizer: optimizer)
        let reference = try makeTrainer(settings)
        let expected = reference.run()
        XCTAssertEqual(expected.outcome, .finished, file: file, line: line)

        let first = try makeTrainer(settings)
        var asked = 0
        var saved: TrainingCheckpoint?
        let stopped = first.run(epochEnd: { _ in }, checkpoint: { saved = $0.checkpoint(run: self.run(settings)) },
                                shouldStop: { asked += 1; return asked > calls })
        guard case .interrupted = stopped.outcome else { return XCTFail("not interrupted: \(stopped.outcome)", file: file, line: line) }
        let checkpoint = try roundTrip(try XCTUnwrap(saved, file: file, line: line))

        let second = try makeTrainer(checkpoint.run.settings)
        try second.restore(checkpoint)
        let resumed = second.run()
        XCTAssertEqual(resumed.outcome, .finished, file: file, line: line)
        XCTAssertEqual(second.network.snapshot().parameters.map(\.bitPattern), reference.network.snapshot().parameters.map(\.bitPattern),
                       "weights differ after stopping at call \(calls)", file: file, line: line)
        XCTAssertEqual(second.network.snapshot().statistics.map(\.bitPattern), reference.network.snapshot().statistics.map(\.bitPattern),
                       file: file, line: line)
        XCTAssertEqual(second.network.snapshot().counters, reference.network.snapshot().counters, file: file, line: line)
        XCTAssertEqual(try metrics(resumed), try metrics(expected), "metrics differ after stopping at call \(calls)", file: file, line: line)
    }

    func testStopInTheSecondEpochResumesBitExactly() throws {
        // 200 images at batch 8: 25 steps an epoch; call 31 is step 6 of epoch 2.
        try assertResumesExactly(stopAfter: 30)
    }

    func testStopAtAnEpochBoundaryAndAtTheFirstStepResumeBitExactly() throws {
        try assertResumesExactly(stopAfter: 0)
        try assertResumesExactly(stopAfter: 25)
        try assertResumesExactly(stopAfter: 74)
    }

    func testSGDMomentumStateResumesBitExactly() throws {
        try assertResumesExactly(stopAfter: 40, optimizer: OptimizerSettings(kind: .sgd, lr: 0.05, momentum: 0.9, weightDecay: 1e-4))
    }

    func testExtendingAFinishedRunEqualsALongerRun() throws {
        let longer = try makeTrainer(Self.settings(epochs: 3))
        let expected = longer.run()
        let short = try makeTrainer(Self.settings(epochs: 2))
        var saved: TrainingCheckpoint?
        _ = short.run(epochEnd: { _ in }, checkpoint: { saved = $0.checkpoint(run: self.run(Self.settings(epochs: 2))) })
        let checkpoint = try roundTrip(try XCTUnwrap(saved))
        XCTAssertEqual(checkpoint.position.epoch, 3)
        let extended = try makeTrainer(Self.settings(epochs: 2))
        try extended.restore(checkpoint)
        extended.extend(toEpochs: 3)
        let result = extended.run()
        XCTAssertEqual(extended.network.snapshot().parameters.map(\.bitPattern), longer.network.snapshot().parameters.map(\.bitPattern))
        XCTAssertEqual(try metrics(result), try metrics(expected))
    }

    func testStepRecordsEveryIntervalAndAtTheEpochsLastStep() throws {
        // 300 images at batch 4: 75 steps an epoch; records at steps 50 and 75.
        var settings = Self.settings(epochs: 2)
        settings.limit = nil
        settings.validation = 0
        settings.batchSize = 4
        let trainer = try makeTrainer(settings)
        let result = trainer.run()
        let perEpoch = (trainer.split.training.count + 3) / 4
        XCTAssertEqual(perEpoch, 75)
        let expected = (1...2).flatMap { epoch in
            Array(stride(from: StepRecord.interval, to: perEpoch, by: StepRecord.interval)).map { (epoch, $0) } + [(epoch, perEpoch)]
        }
        XCTAssertEqual(result.steps.map(\.epoch), expected.map(\.0))
        XCTAssertEqual(result.steps.map(\.step), expected.map(\.1))
        XCTAssertEqual(result.steps.map(\.globalStep), expected.map { ($0.0 - 1) * perEpoch + $0.1 })
        // The windows' examples add up to each epoch's, and the weighted mean is the epoch's loss.
        for report in result.epochs {
            let windows = result.steps.filter { $0.epoch == report.epoch }
            XCTAssertEqual(windows.reduce(0) { $0 + $1.examples }, trainer.split.training.count)
            let mean = windows.reduce(0.0) { $0 + $1.trainLoss * Double($1.examples) } / Double(trainer.split.training.count)
            XCTAssertEqual(mean, report.trainLoss, accuracy: 1e-9 * report.trainLoss)
        }
        let lines = metricsLines(epochs: result.epochs, steps: result.steps)
        XCTAssertEqual(lines.count, result.steps.count + 2)
        XCTAssertTrue(lines[2].hasPrefix("{\"kind\":\"epoch\",\"epoch\":1,"), lines[2])
        XCTAssertTrue(lines[0].hasPrefix("{\"kind\":\"step\",\"epoch\":1,\"step\":50,\"global_step\":50,"), lines[0])
    }

    // MARK: - Refusals

    func encodedCheckpoint() throws -> (TrainingCheckpoint, [UInt8], CheckpointManifest) {
        let trainer = try makeTrainer(Self.settings())
        var saved: TrainingCheckpoint?
        var asked = 0
        _ = trainer.run(epochEnd: { _ in }, checkpoint: { saved = $0.checkpoint(run: self.run(Self.settings())) },
                        shouldStop: { asked += 1; return asked > 30 })
        let checkpoint = try XCTUnwrap(saved)
        let bytes = checkpoint.encoded()
        let manifest = CheckpointManifest(stateFile: "state-a.safetensors", stateBytes: bytes.count, stateSHA256: sha256Hex(bytes),
                                          epoch: checkpoint.position.epoch, step: checkpoint.position.step)
        return (checkpoint, bytes, manifest)
    }

    func testAFlippedBitIsRefused() throws {
        let (_, bytes, manifest) = try encodedCheckpoint()
        for offset in [9, bytes.count / 2, bytes.count - 1] {
            var corrupt = bytes
            corrupt[offset] ^= 0x10
            XCTAssertThrowsError(try TrainingCheckpoint.decode(manifest: manifest, state: corrupt)) { error in
                XCTAssertTrue("\(error)".contains("does not match the SHA-256"), "\(error)")
            }
        }
        XCTAssertThrowsError(try TrainingCheckpoint.decode(manifest: manifest, state: Array(bytes.dropLast()))) { error in
            XCTAssertTrue("\(error)".contains("the manifest says"), "\(error)")
        }
    }

    func testMalformedManifestsAreRefused() {
        for text in ["", "{}", "[1]", "{\"format\": \"cnnc-checkpoint\", \"version\": 99}",
                     "{\"format\":\"cnnc-checkpoint\",\"version\":1,\"epoch\":1,\"step\":0,\"files\":[{\"name\":\"../../etc/passwd\",\"bytes\":1,\"sha256\":\"x\"}]}"] {
            XCTAssertThrowsError(try CheckpointManifest.decode(Array(text.utf8)), text) { error in
                XCTAssertTrue(error is CheckpointError, "\(error)")
            }
        }
    }

    func testACheckpointOfAnotherRunIsRefused() throws {
        let (checkpoint, _, _) = try encodedCheckpoint()
        var other = Self.settings()
        other.optimizer.lr = 0.02
        XCTAssertThrowsError(try makeTrainer(other).restore(checkpoint)) { error in
            XCTAssertTrue("\(error)".contains("does not fit"), "\(error)")
        }
        var shuffled = checkpoint
        shuffled.position.order[0] = 299
        XCTAssertThrowsError(try makeTrainer(Self.settings()).restore(shuffled)) { error in
            XCTAssertTrue("\(error)".contains("permutation"), "\(error)")
        }
        var short = checkpoint
        short.network.parameters.removeLast()
        XCTAssertThrowsError(try makeTrainer(Self.settings()).restore(short))
    }

    // MARK: - Files

    func testWriteReplacesTheCheckpointAndLeavesOneStateFile() throws {
        let directory = try makeTempDirectory("cnnc-checkpoint")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (checkpoint, _, _) = try encodedCheckpoint()
        try writeCheckpoint(checkpoint, runDirectory: directory)
        // A temporary file left by a process killed mid-write is cleaned up by the next write.
        try writeBytes([1, 2, 3], to: directory + "/checkpoint/.state-b.safetensors.tmp-1")
        var later = checkpoint
        later.position.totalSeconds += 1
        try writeCheckpoint(later, runDirectory: directory)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/checkpoint").sorted()
        XCTAssertEqual(files.count, 2, "\(files)")
        XCTAssertEqual(files.last, "state-" + files.last!.dropFirst(6))
        XCTAssertTrue(files.contains("manifest.json"))
        let read = try readCheckpoint(runDirectory: directory)
        XCTAssertEqual(read.position.totalSeconds, later.position.totalSeconds)
        XCTAssertEqual(read.network.parameters.map(\.bitPattern), checkpoint.network.parameters.map(\.bitPattern))
        XCTAssertThrowsError(try readCheckpoint(runDirectory: directory + "/nothing")) { error in
            XCTAssertTrue("\(error)".contains("no checkpoint"), "\(error)")
        }
    }

    func testCheckpointTimeNextToAnEpoch() throws {
        // Figures, not assertions: the README quotes the CLI's, measured on MNIST.
        let directory = try makeTempDirectory("cnnc-checkpoint")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (checkpoint, bytes, _) = try encodedCheckpoint()
        let start = now()
        try writeCheckpoint(checkpoint, runDirectory: directory)
        print("checkpoint of \(bytes.count) bytes written in \(formatFixed((now() - start) * 1000, digits: 2)) ms")
    }
}
