import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// `DataSplit` and `Trainer` on synthetic 28×28 images (no MNIST needed).
final class TrainerTests: XCTestCase {
    /// `count` 28×28 images whose label decides which 7×7 block is bright, plus noise.
    static func synthetic(count: Int, seed: UInt64) -> LabeledImages {
        var generator = SeededGenerator(seed: seed)
        var pixels = [UInt8](repeating: 0, count: count * 784)
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let label = generator.nextInt(below: 10)
            labels[i] = Int32(label)
            let (by, bx) = (label / 4 * 7, label % 4 * 7)
            for y in 0..<28 {
                for x in 0..<28 {
                    let inBlock = (by..<by + 7).contains(y) && (bx..<bx + 7).contains(x)
                    let noise = generator.nextInt(below: 64)
                    pixels[i * 784 + y * 28 + x] = UInt8(inBlock ? 191 + noise : noise)
                }
            }
        }
        return LabeledImages(pixels: pixels, labels: labels, featuresPerExample: 784, normalization: MNIST.normalizationTable)
    }

    // MARK: - DataSplit

    func testSplitIsDisjointSortedAndCoversEverything() {
        let split = DataSplit(total: 1_000, validation: 150, limit: nil)
        XCTAssertEqual(split.validation.count, 150)
        XCTAssertEqual(split.training.count, 850)
        XCTAssertTrue(Set(split.validation).isDisjoint(with: split.training))
        XCTAssertEqual(Set(split.validation).union(split.training), Set(0..<1_000))
        XCTAssertEqual(split.validation, split.validation.sorted())
        XCTAssertEqual(split.training, split.training.sorted())
        // A random draw, not simply the first or last 150.
        XCTAssertNotEqual(split.validation, Array(0..<150))
        XCTAssertNotEqual(split.validation, Array(850..<1_000))
    }

    func testSplitIsTheSameEveryTime() {
        XCTAssertEqual(DataSplit(total: 60_000, validation: 5_000, limit: nil), DataSplit(total: 60_000, validation: 5_000, limit: nil))
    }

    func testSplitDoesNotDependOnTheRunSeed() throws {
        let compilation = Compilation.compile(source: SourceFile(path: "t.yaml", text: Self.spec))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        let data = Self.synthetic(count: 120, seed: 3)
        let splits = [UInt64(0), 1, 12345].map { seed in
            Trainer(graph: graph, settings: Self.settings(seed: seed, validation: 30, limit: 50), train: data, test: data).split
        }
        XCTAssertEqual(splits[0], splits[1])
        XCTAssertEqual(splits[0], splits[2])
        XCTAssertEqual(splits[0], DataSplit(total: 120, validation: 30, limit: 50))
    }

    func testLimitTakesTheFirstTrainingIndices() {
        let full = DataSplit(total: 2_000, validation: 300, limit: nil)
        let limited = DataSplit(total: 2_000, validation: 300, limit: 640)
        XCTAssertEqual(limited.validation, full.validation, "--limit does not change the validation images")
        XCTAssertEqual(limited.training, Array(full.training[..<640]))
        XCTAssertEqual(DataSplit(total: 2_000, validation: 300, limit: 5_000).training, full.training, "a limit above the count is no limit")
    }

    func testNoValidation() {
        let split = DataSplit(total: 500, validation: 0, limit: nil)
        XCTAssertTrue(split.validation.isEmpty)
        XCTAssertEqual(split.training, Array(0..<500))
        XCTAssertEqual(DataSplit(total: 500, validation: 0, limit: 10).training, Array(0..<10))
    }

    // MARK: - Trainer

    static let spec = """
        name: tiny
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 4, stride: 4}
          - ReLU
          - Dropout: {p: 0.25}
          - Linear: {out_features: 10}

        """

    static func settings(seed: UInt64 = 0, optimizer: OptimizerSettings = OptimizerSettings(kind: .adam, lr: 0.01),
                         epochs: Int = 1, validation: Int = 50, limit: Int? = nil) -> TrainingSettings {
        TrainingSettings(epochs: epochs, batchSize: 16, optimizer: optimizer, seed: seed, threads: 1,
                         validation: validation, limit: limit, evaluationBatch: 32)
    }

    func makeTrainer(_ settings: TrainingSettings, trainCount: Int = 300) throws -> Trainer {
        let compilation = Compilation.compile(source: SourceFile(path: "t.yaml", text: Self.spec))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        XCTAssertTrue(graph.hasDropout)
        return Trainer(graph: graph, settings: settings, train: Self.synthetic(count: trainCount, seed: 1),
                       test: Self.synthetic(count: 70, seed: 2))
    }

    func testOneEpochFinishes() throws {
        let trainer = try makeTrainer(Self.settings())
        var progressCalls = 0
        var epochEnds = 0
        let result = trainer.run(progressEvery: 5, progress: { _ in progressCalls += 1 }, epochEnd: { _ in epochEnds += 1 })
        XCTAssertEqual(result.outcome, .finished)
        XCTAssertEqual(result.epochs.count, 1)
        XCTAssertEqual(epochEnds, 1)
        XCTAssertGreaterThan(progressCalls, 0)
        let report = try XCTUnwrap(result.epochs.first)
        XCTAssertEqual(report.epoch, 1)
        XCTAssertTrue(report.trainLoss.isFinite && report.trainLoss > 0, "\(report.trainLoss)")
        let validation = try XCTUnwrap(report.validationAccuracy)
        XCTAssertTrue((0...1).contains(validation))
        XCTAssertTrue((0...1).contains(report.testAccuracy))
        XCTAssertTrue((0...1).contains(report.trainAccuracy))
        // The blocks are easy to tell apart: one epoch learns them well past chance.
        XCTAssertGreaterThan(report.testAccuracy, 0.3)
    }

    func testNoValidationReportsNone() throws {
        let result = try makeTrainer(Self.settings(validation: 0, limit: 64)).run()
        XCTAssertEqual(result.outcome, .finished)
        XCTAssertNil(result.epochs.first?.validationAccuracy)
    }

    func testSameSeedSameResult() throws {
        let a = try makeTrainer(Self.settings(seed: 5, limit: 96)).run()
        let b = try makeTrainer(Self.settings(seed: 5, limit: 96)).run()
        XCTAssertEqual(a.epochs.map(\.trainLoss), b.epochs.map(\.trainLoss))
        XCTAssertEqual(a.epochs.map(\.testAccuracy), b.epochs.map(\.testAccuracy))
    }

    func testDivergingRunStops() throws {
        let sgd = OptimizerSettings(kind: .sgd, lr: 1e6)
        let result = try makeTrainer(Self.settings(optimizer: sgd, epochs: 2)).run()
        guard case let .diverged(epoch, step, loss) = result.outcome else {
            return XCTFail("expected divergence, got \(result.outcome.description)")
        }
        XCTAssertTrue(!loss.isFinite || loss > Trainer.divergenceLoss, "\(loss)")
        XCTAssertEqual(epoch, 1)
        XCTAssertGreaterThanOrEqual(step, 1)
        XCTAssertTrue(result.epochs.isEmpty, "no report for an epoch that diverged")
        XCTAssertTrue(result.outcome.description.hasPrefix("diverged"), result.outcome.description)
    }

    func testShouldStopInterrupts() throws {
        let trainer = try makeTrainer(Self.settings(epochs: 2))
        var asked = 0
        let result = trainer.run(shouldStop: {
            asked += 1
            return asked > 3
        })
        XCTAssertEqual(result.outcome, .interrupted(epoch: 1, step: 3))
        XCTAssertTrue(result.epochs.isEmpty)
        XCTAssertTrue(result.outcome.description.contains("interrupted"))
    }

    func testShouldStopBeforeTheFirstStep() throws {
        let result = try makeTrainer(Self.settings()).run(shouldStop: { true })
        XCTAssertEqual(result.outcome, .interrupted(epoch: 1, step: 0))
        XCTAssertTrue(result.epochs.isEmpty)
    }
}
