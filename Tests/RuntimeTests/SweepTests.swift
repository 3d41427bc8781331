import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// `selectBest`, `SweepRow` and `Spread` on hand-made results, and a tiny `Sweep` on synthetic images.
final class SweepTests: XCTestCase {
    // MARK: - Hand-made results

    static func value(_ text: String) -> SweepValue {
        try! parseSweepValues(text)[0]
    }

    static func report(loss: Double = 0.5, validation: Double?, test: Double) -> EpochReport {
        EpochReport(epoch: 1, trainLoss: loss, trainAccuracy: 0.8, validationAccuracy: validation, testAccuracy: test,
                    trainSeconds: 1, evaluationSeconds: 0.1, imagesPerSecond: 100)
    }

    static func result(_ p: String, seed: UInt64 = 0, status: SweepRunStatus = .finished, loss: Double = 0.5,
                       validation: Double?, test: Double, seconds: Double = 2) -> SweepRunResult {
        let settings = TrainingSettings(epochs: 1, batchSize: 16, optimizer: OptimizerSettings(kind: .adam, lr: 0.01),
                                        seed: seed, threads: 1, validation: 40, limit: nil)
        let run = SweepRun(index: 0, point: 0, seed: seed, directoryName: "p\(value(p))", settings: settings, variant: 0,
                           dropout: value(p).value)
        let epochs = status == .notRun ? [] : [report(loss: loss, validation: validation, test: test)]
        return SweepRunResult(run: run, status: status, epochs: epochs, seconds: seconds)
    }

    static func row(_ p: String, _ results: [SweepRunResult]) -> SweepRow {
        SweepRow(point: 0, runs: results)
    }

    static func row(_ p: String, validation: Double?, test: Double) -> SweepRow {
        row(p, [result(p, validation: validation, test: test)])
    }

    func testValidationAndTestSelectionPickDifferentRows() {
        let rows = [
            Self.row("0", validation: 0.90, test: 0.91),
            Self.row("0.25", validation: 0.95, test: 0.92),
            Self.row("0.5", validation: 0.93, test: 0.97),
        ]
        XCTAssertEqual(selectBest(rows, on: .validation), 1)
        XCTAssertEqual(selectBest(rows, on: .test), 2)
    }

    func testTiesGoToTheFirst() {
        let rows = [
            Self.row("0", validation: 0.80, test: 0.90),
            Self.row("0.25", validation: 0.95, test: 0.90),
            Self.row("0.5", validation: 0.95, test: 0.90),
        ]
        XCTAssertEqual(selectBest(rows, on: .validation), 1)
        XCTAssertEqual(selectBest(rows, on: .test), 0)
    }

    func testIncompleteRowsAreSkipped() {
        let failedSeed = Self.row("0.25", [
            Self.result("0.25", seed: 0, validation: 0.99, test: 0.99),
            Self.result("0.25", seed: 1, status: .failed("diverged: loss nan at epoch 1, step 3"), validation: nil, test: 0.1),
        ])
        let notRun = Self.row("0.5", [Self.result("0.5", status: .notRun, validation: nil, test: 0)])
        let empty = Self.row("0.75", [])
        let rows = [Self.row("0", [Self.result("0", seed: 0, validation: 0.9, test: 0.9),
                                   Self.result("0", seed: 1, validation: 0.8, test: 0.8)]),
                    failedSeed, notRun, empty]
        XCTAssertFalse(failedSeed.complete)
        XCTAssertFalse(notRun.complete)
        // The finished seed still counts in the failed row's spread, but the row cannot win.
        XCTAssertEqual(failedSeed.validationAccuracy?.mean, 0.99)
        XCTAssertNil(failedSeed.validationAccuracy?.standardDeviation)
        XCTAssertNil(notRun.validationAccuracy)
        XCTAssertEqual(selectBest(rows, on: .validation), 0)
        XCTAssertEqual(selectBest(rows, on: .test), 0)
    }

    func testNothingToChooseFrom() {
        XCTAssertNil(selectBest([], on: .validation))
        let failed = Self.row("0", [Self.result("0", status: .failed("diverged"), validation: 0.9, test: 0.9)])
        XCTAssertNil(selectBest([failed], on: .test))
        // Without validation images there is no validation accuracy to select on.
        let noValidation = [Self.row("0", validation: nil, test: 0.9), Self.row("0.5", validation: nil, test: 0.95)]
        XCTAssertNil(selectBest(noValidation, on: .validation))
        XCTAssertEqual(selectBest(noValidation, on: .test), 1)
    }

    func testSelectionUsesTheMeanOverSeeds() {
        // p=0 has the single best seed (0.99) but the lower mean.
        let rows = [
            Self.row("0", [Self.result("0", seed: 0, validation: 0.99, test: 0.9),
                           Self.result("0", seed: 1, validation: 0.80, test: 0.9)]),
            Self.row("0.5", [Self.result("0.5", seed: 0, validation: 0.92, test: 0.9),
                             Self.result("0.5", seed: 1, validation: 0.93, test: 0.9)]),
        ]
        XCTAssertEqual(selectBest(rows, on: .validation), 1)
    }

    func testRowAggregatesFinishedRuns() throws {
        let row = Self.row("0.5", [
            Self.result("0.5", seed: 0, loss: 0.4, validation: 0.90, test: 0.91, seconds: 1),
            Self.result("0.5", seed: 1, loss: 0.6, validation: 0.94, test: 0.93, seconds: 3),
        ])
        XCTAssertTrue(row.complete)
        XCTAssertEqual(try XCTUnwrap(row.trainLoss?.mean), 0.5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(row.validationAccuracy?.mean), 0.92, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(row.testAccuracy?.mean), 0.92, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(row.seconds?.mean), 2, accuracy: 1e-12)
        // Sample standard deviation of two values a, b is |a − b| / √2.
        XCTAssertEqual(try XCTUnwrap(row.trainLoss?.standardDeviation), 0.2 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(row.validationAccuracy?.standardDeviation), 0.04 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(row.seconds?.standardDeviation), 2 / 2.0.squareRoot(), accuracy: 1e-12)
    }

    func testResultReadsTheLastEpoch() {
        var result = Self.result("0", validation: 0.5, test: 0.6)
        result.epochs.append(Self.report(loss: 0.1, validation: 0.7, test: 0.8))
        XCTAssertEqual(result.trainLoss, 0.1)
        XCTAssertEqual(result.validationAccuracy, 0.7)
        XCTAssertEqual(result.testAccuracy, 0.8)
        XCTAssertNil(Self.result("0", status: .notRun, validation: 0.5, test: 0.6).testAccuracy)
    }

    // MARK: - Spread

    func testSpread() throws {
        XCTAssertNil(Spread([]))
        let one = try XCTUnwrap(Spread([0.25]))
        XCTAssertEqual(one.mean, 0.25)
        XCTAssertNil(one.standardDeviation, "no deviation from a single seed")

        let four = try XCTUnwrap(Spread([1, 2, 3, 4]))
        XCTAssertEqual(four.mean, 2.5)
        // Sample (n − 1) deviation: √(5/3), not the population √(5/4).
        XCTAssertEqual(try XCTUnwrap(four.standardDeviation), (5.0 / 3).squareRoot(), accuracy: 1e-12)

        let same = try XCTUnwrap(Spread([0.9, 0.9, 0.9]))
        XCTAssertEqual(same.mean, 0.9, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(same.standardDeviation), 0, accuracy: 1e-15)
    }

    func testStatusLabels() {
        XCTAssertEqual(SweepRunStatus.finished.label, "ok")
        XCTAssertEqual(SweepRunStatus.failed("x").label, "failed")
        XCTAssertEqual(SweepRunStatus.notRun.label, "not run")
        XCTAssertEqual(SelectionSplit(rawValue: "val"), .validation)
        XCTAssertEqual(SelectionSplit(rawValue: "test"), .test)
    }

    // MARK: - A tiny sweep on synthetic images

    static let spec = """
        name: tinydrop
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 2, kernel_size: 4, stride: 4}
          - ReLU
          - Dropout: {p: 0.1}
          - Linear: {out_features: 10}
        train: {batch_size: 16, optimizer: {name: adam, lr: 0.01}}

        """

    func makeSweep(values: String, seeds: Int = 1, jobs: Int = 1, directory: String, trainCount: Int = 200) throws -> Sweep {
        let source = SourceFile(path: "tinydrop.yaml", text: Self.spec)
        let definition = SweepDefinition(axes: [SweepAxis(parameter: .dropout, values: try parseSweepValueList(values, domain: SweepParameter.dropout.domain))],
                                         seeds: SweepSeeds(first: 7, count: seeds), threads: 1, validation: 40, limit: nil)
        let plan = try SweepPlan(source: source, definition: definition)
        let train = TrainerTests.synthetic(count: trainCount, seed: 1)
        let test = TrainerTests.synthetic(count: 60, seed: 2)
        let data = MNIST(trainPixels: train.pixels, trainLabels: train.labels, testPixels: test.pixels, testLabels: test.labels)
        return Sweep(plan: plan, jobs: jobs, directory: directory, data: data)
    }

    func testTinySweepRunsEveryValueAndSeed() throws {
        let directory = try makeTempDirectory("cnnc-sweep")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Two jobs: the table files written after the last run must still hold every run.
        let sweep = try makeSweep(values: "0,0.5", seeds: 2, jobs: 2, directory: directory)
        XCTAssertEqual(sweep.plan.seeds, [7, 8], "seeds count up from the first seed")
        XCTAssertEqual(sweep.runs.map(\.directoryName), ["0-dropout0-seed7", "1-dropout0-seed8", "2-dropout0.5-seed7", "3-dropout0.5-seed8"])
        XCTAssertEqual(sweep.runs.map(\.settings.batchSize), [16, 16, 16, 16], "the spec's train section holds")
        let lock = NSLock()
        var finished = 0
        let rows = sweep.run(progress: { _ in }, runFinished: { _ in lock.lock(); finished += 1; lock.unlock() },
                             shouldStop: { false })
        XCTAssertEqual(finished, 4)
        XCTAssertEqual(rows.map { sweep.plan.points[$0.point].values[0].description }, ["0", "0.5"])
        for row in rows {
            XCTAssertTrue(row.complete)
            XCTAssertEqual(row.runs.count, 2)
            XCTAssertNotNil(row.validationAccuracy?.standardDeviation)
            XCTAssertTrue(row.trainLoss.map { $0.mean.isFinite } ?? false)
        }
        XCTAssertNotNil(selectBest(rows, on: .validation))
        for run in sweep.runs {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/\(run.directoryName)/weights.safetensors"), run.directoryName)
        }
        for name in ["sweep.csv", "sweep.json", "sweep.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/" + name), name)
        }
        let csv = try String(contentsOfFile: directory + "/sweep.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "dropout,seed,status,train_loss,val_acc,test_acc,seconds,reason,directory")
        XCTAssertEqual(csv.count, 5)
        XCTAssertTrue(csv.dropFirst().allSatisfy { $0.contains(",ok,") }, "\(csv)")
    }

    /// With several jobs, each worker writes sweep.csv/json/svg from its own snapshot outside the
    /// lock, so an older snapshot can be renamed into place after a newer one. After `run`
    /// returns, the files on disk must hold every run.
    func testTableFilesHoldEveryRunAfterAParallelSweep() throws {
        var stale: [String] = []
        for attempt in 0..<30 {
            let directory = try makeTempDirectory("cnnc-sweep")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let sweep = try makeSweep(values: "0:0.95:0.05", jobs: 4, directory: directory, trainCount: 60)
            _ = sweep.run(progress: { _ in }, runFinished: { _ in }, shouldStop: { false })
            let csv = try String(contentsOfFile: directory + "/sweep.csv", encoding: .utf8)
            let notRun = csv.split(separator: "\n").filter { $0.contains(",not run,") }
            if !notRun.isEmpty { stale.append("attempt \(attempt): \(notRun.count) runs 'not run' in the final sweep.csv") }
        }
        XCTAssertEqual(stale, [], "sweep.csv written from an older snapshot after the newest one")
    }

    func testStoppingLeavesRunsNotRun() throws {
        let directory = try makeTempDirectory("cnnc-sweep")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sweep = try makeSweep(values: "0,0.5", directory: directory)
        let rows = sweep.run(progress: { _ in }, runFinished: { _ in }, shouldStop: { true })
        XCTAssertEqual(rows.count, 2)
        XCTAssertTrue(rows.allSatisfy { !$0.complete && $0.runs.allSatisfy { $0.status == .notRun } })
        XCTAssertNil(selectBest(rows, on: .validation))
    }

    func testJobsDoNotChangeResults() throws {
        let one = try makeTempDirectory("cnnc-sweep")
        let two = try makeTempDirectory("cnnc-sweep")
        defer {
            try? FileManager.default.removeItem(atPath: one)
            try? FileManager.default.removeItem(atPath: two)
        }
        let serial = try makeSweep(values: "0,0.3,0.6", jobs: 1, directory: one)
            .run(progress: { _ in }, runFinished: { _ in }, shouldStop: { false })
        let parallel = try makeSweep(values: "0,0.3,0.6", jobs: 2, directory: two)
            .run(progress: { _ in }, runFinished: { _ in }, shouldStop: { false })
        // Timings differ between the two; every number the training computes must not.
        func numbers(_ rows: [SweepRow]) -> [[Double?]] {
            rows.flatMap(\.runs).map { run in
                run.epochs.flatMap { [$0.trainLoss, $0.trainAccuracy, $0.validationAccuracy, $0.testAccuracy] }
            }
        }
        XCTAssertEqual(numbers(serial), numbers(parallel))
        XCTAssertEqual(numbers(serial).count, 3)
        for name in ["0-dropout0", "1-dropout0.3", "2-dropout0.6"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(one)/\(name)/weights.safetensors"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(two)/\(name)/weights.safetensors"))
            XCTAssertEqual(a, b, "\(name): weights differ between --jobs 1 and --jobs 2")
        }
    }
}
