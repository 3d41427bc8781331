import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// `SweepPlan`: grids, `--set`, ablations, seeds and bounds; the sweep directory's manifest,
/// run records and scripts. Nothing here trains.
final class SweepPlanTests: XCTestCase {
    static let spec = """
        name: tinyreg
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 2, kernel_size: 4, stride: 4}
          - BatchNorm2D
          - ReLU
          - Dropout: {p: 0.1}
          - Linear: {out_features: 10, name: head, weight_decay: 0.001}
        train: {batch_size: 16, optimizer: {name: adam, lr: 0.01, weight_decay: 0.0005}, seed: 3}

        """

    func source(_ text: String = SweepPlanTests.spec) -> SourceFile { SourceFile(path: "tinyreg.yaml", text: text) }

    func axis(_ parameter: SweepParameter, _ text: String) throws -> SweepAxis {
        SweepAxis(parameter: parameter, values: try parseSweepValueList(text, domain: parameter.domain))
    }

    func setting(_ text: String) throws -> SweepAxis {
        let setting = try LayerSetting(parsing: text)
        return SweepAxis(parameter: .layer(setting.reference), values: setting.values)
    }

    func plan(_ axes: [SweepAxis], ablations: [Ablation] = [], seeds: SweepSeeds = SweepSeeds(), text: String = SweepPlanTests.spec) throws -> SweepPlan {
        try SweepPlan(source: source(text), definition: SweepDefinition(axes: axes, ablations: ablations, seeds: seeds, threads: 1,
                                                                         validation: 40, limit: 100))
    }

    /// The error `body` throws, as text, with its kind.
    func planError(_ body: () throws -> SweepPlan, file: StaticString = #filePath, line: UInt = #line) -> SweepPlanError? {
        do {
            _ = try body()
            XCTFail("planned instead of failing", file: file, line: line)
        } catch let error as SweepPlanError {
            return error
        } catch {
            XCTFail("threw \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: - Grids and seeds

    func testGridIsTheCartesianProductLastAxisFastest() throws {
        let plan = try plan([try axis(.dropout, "0,0.5"), try axis(.lr, "0.01,0.1")], seeds: SweepSeeds(count: 2))
        XCTAssertEqual(plan.points.map { $0.values.map(\.description) }, [["0", "0.01"], ["0", "0.1"], ["0.5", "0.01"], ["0.5", "0.1"]])
        XCTAssertEqual(plan.runs.count, 8)
        XCTAssertEqual(plan.seeds, [3, 4], "seeds count up from the spec's seed")
        XCTAssertEqual(plan.runs.map(\.settings.optimizer.lr), [0.01, 0.01, 0.1, 0.1, 0.01, 0.01, 0.1, 0.1])
        XCTAssertEqual(plan.runs.map(\.dropout), [0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5])
        XCTAssertEqual(plan.runs.map(\.seed), [3, 4, 3, 4, 3, 4, 3, 4])
        XCTAssertEqual(plan.runs[5].directoryName, "5-dropout0.5-lr0.01-seed4")
        XCTAssertEqual(Set(plan.runs.map(\.settings.epochs)), [1], "a sweep trains 1 epoch unless --epochs says otherwise")
        XCTAssertEqual(Set(plan.runs.map(\.settings.batchSize)), [16], "the spec's train section holds")
        XCTAssertEqual(plan.variants.count, 2, "one compiled spec per dropout value; lr does not change the graph")
        let p = plan.variants[plan.runs[4].variant].graph!.steps.compactMap { step -> Double? in
            if case let .dropout(p) = step.op { return p }
            return nil
        }
        XCTAssertEqual(p, [0.5])
    }

    func testSettingsAxesReachTheRunSettings() throws {
        let plan = try plan([try axis(.batchSize, "8,32"), try axis(.epochs, "2"), try axis(.weightDecay, "0,0.01"),
                             try axis(.momentum, "0.9")])
        XCTAssertEqual(plan.runs.map(\.settings.batchSize), [8, 8, 32, 32])
        XCTAssertEqual(plan.runs.map(\.settings.optimizer.weightDecay), [0, 0.01, 0, 0.01])
        XCTAssertEqual(Set(plan.runs.map(\.settings.epochs)), [2])
        XCTAssertEqual(Set(plan.runs.map(\.settings.optimizer.momentum)), [0.9])
        XCTAssertEqual(plan.sweptAxes, [0, 2], "single values are settings, not columns")
        XCTAssertEqual(plan.runs[3].directoryName, "3-batch_size32-weight_decay0.01")
    }

    func testSeedList() throws {
        let plan = try plan([try axis(.dropout, "0.2")], seeds: SweepSeeds(list: [5, 9]))
        XCTAssertEqual(plan.runs.map(\.seed), [5, 9])
        XCTAssertEqual(plan.runs.map(\.directoryName), ["0-seed5", "1-seed9"])
    }

    /// Issue 11, defect 3: `--seeds 1000000000` built a billion runs and aborted after 22 s.
    /// The count is bounded before any list is built.
    func testHugeRunCountsAreRefusedBeforeBuildingAnything() throws {
        let started = Date()
        let error = planError { try plan([try axis(.dropout, "0,0.5")], seeds: SweepSeeds(count: 1_000_000_000)) }
        guard case let .usage(text)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(text.contains("2 × 1 × 1000000000 runs") && text.contains("100,000"), text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertNil(boundedRunCount([Int.max, 2]))
        XCTAssertNil(boundedRunCount([1 << 40, 1 << 40]))
        XCTAssertEqual(boundedRunCount([10, 10, 1000]), 100_000)
    }

    func testDropoutSweepNeedsADropoutLayer() {
        let text = SweepPlanTests.spec.replacingOccurrences(of: "  - Dropout: {p: 0.1}\n", with: "")
        let error = planError { try plan([try axis(.dropout, "0,0.5,0.7")], text: text) }
        guard case let .invalidSpec(message)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(message.contains("no Dropout layer") && message.contains("3 identical models"), message)
    }

    // MARK: - --set

    func testSetByNameAndByCheckIndex() throws {
        // Steps: 0 conv, 1 batchnorm, 2 relu, 3 dropout, 4 flatten (implicit), 5 head.
        let plan = try plan([try setting("head.weight_decay=0,0.002"), try setting("3.p=0.2,0.4")])
        XCTAssertEqual(plan.points.count, 4)
        let decays = plan.runs.map { plan.variants[$0.variant].graph!.steps.last!.weightDecay }
        XCTAssertEqual(decays, [0, 0, 0.002, 0.002])
        let ps = plan.runs.map { run in
            plan.variants[run.variant].graph!.steps.compactMap { step -> Double? in
                if case let .dropout(p) = step.op { return p }
                return nil
            }
        }
        XCTAssertEqual(ps, [[0.2], [0.4], [0.2], [0.4]])
        XCTAssertEqual(plan.runs[1].directoryName, "1-head.weight_decay0-3.p0.4")
        // BatchNorm2D is written bare; setting its eps makes it a mapping.
        let eps = try self.plan([try setting("batchnorm2d_1.eps=0.001")])
        XCTAssertEqual(eps.variants[0].spec?.layers[1].kind, .batchNorm2d(BatchNorm2DSpec(eps: 0.001)))
    }

    /// A value the spec's rules reject is reported with the spec's own diagnostic, at the
    /// argument's place in the file, before anything runs.
    func testSetValueTheSpecRejectsGetsTheSpecsDiagnostic() {
        let error = planError { try plan([try setting("3.p=0.5,1")]) }
        guard case let .invalidSpec(text)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(text.contains("with 3.p=1"), text)
        XCTAssertTrue(text.contains("tinyreg.yaml:7:18: error: 'p' must be in [0, 1), got 1"), text)
        XCTAssertFalse(text.contains("got 0.5"), text)
        let size = planError { try plan([try setting("0.out_channels=0")]) }
        guard case let .invalidSpec(sizeText)? = size else { return XCTFail("\(String(describing: size))") }
        XCTAssertTrue(sizeText.contains("'out_channels' must be at least 1, got 0"), sizeText)
    }

    func testSetNamesThatDoNotExist() throws {
        let cases: [(String, String)] = [
            ("nosuch.p=0.1", "no layer is named 'nosuch'"),
            ("0.p=0.1", "Conv2D has no 'p'; it takes out_channels, kernel_size, stride, padding, weight_decay"),
            ("4.out_features=10", "step 4 is the implicit flatten"),
            ("99.p=0.1", "there is no step 99"),
            ("2.p=0.1", "ReLU has no 'p'; it takes no numeric arguments"),
        ]
        for (text, fragment) in cases {
            let error = planError { try plan([try setting(text)]) }
            guard case let .usage(message)? = error else { XCTFail("\(text): \(String(describing: error))"); continue }
            XCTAssertTrue(message.contains(fragment), "\(text): \(message)")
        }
        for text in ["head.bias=1", "head.name=1", "head=1", "head.weight_decay", ".p=1", "head.weight_decay="] {
            XCTAssertThrowsError(try LayerSetting(parsing: text), text)
        }
    }

    // MARK: - Ablations

    func testAblationsRemoveLayersOrZeroEveryDecay() throws {
        let plan = try plan([], ablations: [.batchNorm2D, .dropout, .weightDecay])
        XCTAssertEqual(plan.points.map(\.ablation), [nil, .batchNorm2D, .dropout, .weightDecay])
        XCTAssertEqual(plan.runs.map(\.directoryName), ["0-baseline", "1-without-BatchNorm2D", "2-without-Dropout", "3-without-weight_decay"])
        func kinds(_ run: Int) -> [String] { plan.variants[plan.runs[run].variant].graph!.steps.map(\.op.kindName) }
        XCTAssertEqual(kinds(0), ["Conv2D", "BatchNorm2D", "ReLU", "Dropout", "Flatten", "Linear"])
        XCTAssertEqual(kinds(1), ["Conv2D", "ReLU", "Dropout", "Flatten", "Linear"])
        XCTAssertEqual(kinds(2), ["Conv2D", "BatchNorm2D", "ReLU", "Flatten", "Linear"])
        XCTAssertEqual(plan.runs.map(\.settings.optimizer.weightDecay), [0.0005, 0.0005, 0.0005, 0])
        XCTAssertEqual(plan.variants[plan.runs[3].variant].graph!.steps.last!.weightDecay, 0)
        XCTAssertEqual(plan.variants[plan.runs[0].variant].graph!.steps.last!.weightDecay, 0.001)
        XCTAssertTrue(plan.warnings.isEmpty)
    }

    func testAblationWithNothingToRemoveIsAWarningNotARun() throws {
        let text = SweepPlanTests.spec.replacingOccurrences(of: ", weight_decay: 0.001", with: "")
            .replacingOccurrences(of: ", weight_decay: 0.0005", with: "")
        let plan = try plan([], ablations: [.weightDecay, .dropout], text: text)
        XCTAssertEqual(plan.points.map(\.ablation), [nil, .dropout])
        XCTAssertEqual(plan.warnings.count, 1)
        XCTAssertTrue(plan.warnings[0].contains("nothing to remove"), plan.warnings[0])
    }

    /// `--weight-decay 0.0005 --ablate weight_decay`: one value is the baseline's decay, which the
    /// ablated run sets to 0.
    func testAblatingASingleValuedSettingKeepsItInTheBaseline() throws {
        let text = SweepPlanTests.spec.replacingOccurrences(of: ", weight_decay: 0.001", with: "")
            .replacingOccurrences(of: ", weight_decay: 0.0005", with: "")
        let plan = try plan([try axis(.weightDecay, "0.0005")], ablations: [.weightDecay], text: text)
        XCTAssertEqual(plan.runs.map(\.settings.optimizer.weightDecay), [0.0005, 0])
        XCTAssertTrue(plan.warnings.isEmpty, "\(plan.warnings)")
    }

    func testAblatingWhatIsSweptIsRefused() {
        for (axes, ablation) in [([try! axis(.dropout, "0,0.5")], Ablation.dropout), ([try! axis(.weightDecay, "0,0.1")], .weightDecay),
                                 ([try! setting("head.weight_decay=0,0.1")], .weightDecay)] {
            let error = planError { try plan(axes, ablations: [ablation]) }
            guard case .usage? = error else { XCTFail("\(ablation): \(String(describing: error))"); continue }
        }
    }

    // MARK: - The sweep directory

    func testManifestRefusesAnotherSweepAndKeepsItsFiles() throws {
        let directory = try makeTempDirectory("cnnc-sweep-plan")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try plan([try axis(.dropout, "0,0.5")])
        try prepareSweepDirectory(first, directory: directory, dataDirectory: "/data", force: false)
        try Data("kept".utf8).write(to: URL(fileURLWithPath: directory + "/note.txt"))
        // The same sweep again is fine (a resume).
        XCTAssertNoThrow(try prepareSweepDirectory(try plan([try axis(.dropout, "0,0.5")]), directory: directory, dataDirectory: "/elsewhere", force: false))
        let other = try plan([try axis(.dropout, "0,0.4")])
        XCTAssertThrowsError(try prepareSweepDirectory(other, directory: directory, dataDirectory: "/data", force: false)) { error in
            XCTAssertTrue("\(error)".contains("other settings or values") && "\(error)".contains("--force"), "\(error)")
        }
        let otherSpec = try plan([try axis(.dropout, "0,0.5")], text: SweepPlanTests.spec.replacingOccurrences(of: "seed: 3", with: "seed: 4"))
        XCTAssertThrowsError(try prepareSweepDirectory(otherSpec, directory: directory, dataDirectory: "/data", force: false)) { error in
            XCTAssertTrue("\(error)".contains("another spec"), "\(error)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/note.txt"), "a refusal deletes nothing")
        XCTAssertNoThrow(try prepareSweepDirectory(other, directory: directory, dataDirectory: "/data", force: true))

        // The manifest rebuilds the same plan (what --run-index and --collect use).
        let (loaded, data) = try loadSweepPlan(directory)
        XCTAssertEqual(data, "/data")
        XCTAssertEqual(loaded.runs.map { loaded.runJSON($0).rendered() }, other.runs.map { other.runJSON($0).rendered() })
        let manifest = try XCTUnwrap(try readSweepManifest(directory))
        XCTAssertEqual(manifest["cnnc_version"] as? String, cnncVersion)
        XCTAssertEqual((manifest["spec"] as? [String: Any])?["sha256"] as? String, other.specSHA256)
    }

    func testRunRecordsReadBackExactly() throws {
        let directory = try makeTempDirectory("cnnc-sweep-plan")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plan = try plan([try axis(.dropout, "0,0.5,0.7")])
        let report = EpochReport(epoch: 1, trainLoss: 2.2722433738410475, trainAccuracy: 0.1 + 0.2, validationAccuracy: 0.31,
                                 testAccuracy: 1.0 / 3.0, trainSeconds: 1.5, evaluationSeconds: 0.25, imagesPerSecond: 1234.5)
        try writeRunStatus(plan, SweepRunResult(run: plan.runs[0], status: .finished, epochs: [report], seconds: 4.25),
                           directory: directory + "/" + plan.runs[0].directoryName)
        try writeRunStatus(plan, SweepRunResult(run: plan.runs[1], status: .failed("diverged: loss nan"), epochs: [], seconds: 1),
                           directory: directory + "/" + plan.runs[1].directoryName)
        // A record of other settings in run 2's folder does not count as run 2.
        try writeRunStatus(plan, SweepRunResult(run: plan.runs[0], status: .finished, epochs: [report], seconds: 1),
                           directory: directory + "/" + plan.runs[2].directoryName)
        let results = loadSweepResults(plan, directory: directory)
        XCTAssertEqual(results.map(\.status), [.finished, .failed("diverged: loss nan"), .notRun])
        XCTAssertEqual(results[0].epochs, [report], "every number reads back bit for bit")
        XCTAssertEqual(results[0].seconds, 4.25)
    }

    func testCommandsAndJobArray() throws {
        let plan = try plan([try axis(.dropout, "0,0.25,0.5,0.75")])
        let commands = sweepCommands(plan, executable: "/opt/cnnc", directory: "/runs/my sweep", data: "/data")
        let lines = commands.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines[2], "/opt/cnnc sweep --run-index 2 '/runs/my sweep' --data /data --no-download --quiet")
        let script = sweepSbatch(plan, options: SlurmOptions(partition: "short", time: "00:10:00", cpusPerTask: 2, memory: "2G",
                                                             arrayLimit: 2, extraArguments: ["--account=lab"]),
                                 executable: "/opt/cnnc", directory: "/runs/s", data: nil)
        for line in ["#!/bin/bash", "#SBATCH --array=0-3%2", "#SBATCH --cpus-per-task=2", "#SBATCH --output=/runs/s/logs/%A_%a.out",
                     "#SBATCH --error=/runs/s/logs/%A_%a.err", "#SBATCH --partition=short", "#SBATCH --time=00:10:00",
                     "#SBATCH --mem=2G", "#SBATCH --account=lab",
                     "exec /opt/cnnc sweep --run-index \"$SLURM_ARRAY_TASK_ID\" /runs/s --no-download --quiet"] {
            XCTAssertTrue(script.split(separator: "\n").contains(Substring(line)), "missing '\(line)' in\n\(script)")
        }
        XCTAssertEqual(shellQuoted("it's"), "'it'\\''s'")
    }
}
