import Foundation

/// Which split picks the winning value.
public enum SelectionSplit: String, Hashable, Sendable, CaseIterable {
    /// Held-out training images: the honest protocol.
    case validation = "val"
    /// The test set: the assignment's protocol; the test accuracy is then no longer unbiased.
    case test
}

/// One training run of a sweep.
public struct SweepRun: Hashable, Sendable {
    public var index: Int
    public var value: SweepValue
    public var seed: UInt64
    /// Sub-directory name inside the sweep's directory.
    public var directoryName: String
}

public enum SweepRunStatus: Hashable, Sendable {
    case finished
    case failed(String)
    case notRun

    public var label: String {
        switch self {
        case .finished: return "ok"
        case .failed: return "failed"
        case .notRun: return "not run"
        }
    }
}

public struct SweepRunResult: Sendable {
    public var run: SweepRun
    public var status: SweepRunStatus
    public var epochs: [EpochReport]
    public var seconds: Double

    public var trainLoss: Double? { epochs.last?.trainLoss }
    public var validationAccuracy: Double? { epochs.last?.validationAccuracy }
    public var testAccuracy: Double? { epochs.last?.testAccuracy }
}

/// Mean and standard deviation (sample, n − 1) of a value over a sweep value's seeds.
public struct Spread: Hashable, Sendable {
    public var mean: Double
    /// Absent with a single seed.
    public var standardDeviation: Double?

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        mean = values.reduce(0, +) / Double(values.count)
        if values.count > 1 {
            let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            standardDeviation = (squares / Double(values.count - 1)).squareRoot()
        }
    }
}

/// One row of the sweep's table: a value with its runs aggregated over seeds.
public struct SweepRow: Sendable {
    public var value: SweepValue
    public var runs: [SweepRunResult]
    public var trainLoss: Spread?
    public var validationAccuracy: Spread?
    public var testAccuracy: Spread?
    public var seconds: Spread?

    /// Every seed of this value finished.
    public var complete: Bool { runs.allSatisfy { $0.status == .finished } }

    init(value: SweepValue, runs: [SweepRunResult]) {
        self.value = value
        self.runs = runs
        let finished = runs.filter { $0.status == .finished }
        trainLoss = Spread(finished.compactMap(\.trainLoss))
        validationAccuracy = Spread(finished.compactMap(\.validationAccuracy))
        testAccuracy = Spread(finished.compactMap(\.testAccuracy))
        seconds = Spread(finished.map(\.seconds))
    }
}

/// Where a sweep is, for progress displays.
public struct SweepProgress: Sendable {
    public var finishedRuns: Int
    public var totalRuns: Int
    /// Runs in flight: their values and the fraction of their steps done.
    public var running: [(value: SweepValue, seed: UInt64, fraction: Double)]
    public var elapsedSeconds: Double

    /// Seconds left, extrapolated from the work done so far.
    public var etaSeconds: Double? {
        let done = Double(finishedRuns) + running.reduce(0) { $0 + $1.fraction }
        guard done > 0.02 else { return nil }
        return elapsedSeconds / done * (Double(totalRuns) - done)
    }
}

/// A dropout sweep: one graph compiled and planned once, one training run per value and seed.
public final class Sweep {
    public let compilation: Compilation
    public let graph: Graph
    public let plans: TrainingPlans
    public let settings: TrainingSettings
    public let values: [SweepValue]
    public let seeds: [UInt64]
    public let jobs: Int
    public let selectOn: SelectionSplit
    public let directory: String
    public let runs: [SweepRun]
    private let data: MNIST
    private let lock = NSLock()
    private var results: [SweepRunResult]
    private var fractions: [Int: Double] = [:]
    private var started = 0.0

    public init(compilation: Compilation, graph: Graph, settings: TrainingSettings, values: [SweepValue], seedCount: Int,
                jobs: Int, selectOn: SelectionSplit, directory: String, data: MNIST) {
        precondition(graph.hasDropout, "a dropout sweep needs a Dropout layer")
        self.compilation = compilation
        self.graph = graph
        self.settings = settings
        self.values = values
        self.seeds = (0..<UInt64(seedCount)).map { settings.seed &+ $0 }
        self.jobs = jobs
        self.selectOn = selectOn
        self.directory = directory
        self.data = data
        plans = TrainingPlans(graph: graph, settings: settings)
        var runs: [SweepRun] = []
        for value in values {
            for seed in seeds {
                let name = seedCount > 1 ? "p\(value)-seed\(seed)" : "p\(value)"
                runs.append(SweepRun(index: runs.count, value: value, seed: seed, directoryName: name))
            }
        }
        self.runs = runs
        results = runs.map { SweepRunResult(run: $0, status: .notRun, epochs: [], seconds: 0) }
    }

    /// Bytes one run allocates (parameters, optimizer state, arenas); the data set is shared.
    public var bytesPerRun: Int { plans.bytes(graph: graph, optimizer: settings.optimizer) }

    /// Runs every training, `jobs` at a time, writing each run's files as it finishes and the
    /// sweep's table files after every run. Returns the rows in value order.
    public func run(progress: @escaping (SweepProgress) -> Void, runFinished: @escaping (SweepRunResult) -> Void,
                    shouldStop: @escaping () -> Bool) -> [SweepRow] {
        setBLASThreads(1)
        started = now()
        var next = 0
        DispatchQueue.concurrentPerform(iterations: jobs) { _ in
            while true {
                lock.lock()
                let index = next
                next += 1
                lock.unlock()
                guard index < runs.count, !shouldStop() else { return }
                let result = train(runs[index], progress: progress, shouldStop: shouldStop)
                lock.lock()
                results[index] = result
                fractions[index] = nil
                // Written under the lock, so a slower worker can never overwrite newer tables.
                try? writeTables(results)
                lock.unlock()
                runFinished(result)
            }
        }
        try? writeTables(results)
        return rows(results)
    }

    private func train(_ run: SweepRun, progress: @escaping (SweepProgress) -> Void,
                       shouldStop: @escaping () -> Bool) -> SweepRunResult {
        var runSettings = settings
        runSettings.seed = run.seed
        let runGraph = graph.settingDropout(run.value.value)
        let trainer = Trainer(graph: runGraph, plans: plans, settings: runSettings, train: data.train, test: data.test)
        let startedAt = Date()
        let result = trainer.run(
            progressEvery: 10,
            progress: { [self] p in
                lock.lock()
                fractions[run.index] = (Double(p.epoch - 1) + Double(p.step) / Double(p.steps)) / Double(p.epochs)
                let snapshot = makeProgress()
                lock.unlock()
                progress(snapshot)
            },
            shouldStop: shouldStop)
        let status: SweepRunStatus
        switch result.outcome {
        case .finished: status = .finished
        case .diverged: status = .failed(result.outcome.description)
        case .interrupted: status = .notRun
        }
        if status != .notRun {
            let record = RunRecord(compilation: compilation, graph: runGraph, settings: runSettings,
                                   dropout: run.value.value, result: result, startedAt: startedAt,
                                   network: trainer.network)
            do {
                try writeRunFiles(record, network: trainer.network, directory: directory + "/" + run.directoryName)
            } catch {
                return SweepRunResult(run: run, status: .failed("could not write its files: \(error)"),
                                      epochs: result.epochs, seconds: result.totalSeconds)
            }
        }
        return SweepRunResult(run: run, status: status, epochs: result.epochs, seconds: result.totalSeconds)
    }

    private func makeProgress() -> SweepProgress {
        let finished = results.filter { $0.status != .notRun }.count
        let running = fractions.sorted { $0.key < $1.key }.map { (runs[$0.key].value, runs[$0.key].seed, $0.value) }
        return SweepProgress(finishedRuns: finished, totalRuns: runs.count, running: running, elapsedSeconds: now() - started)
    }

    /// Aggregates runs by value, in the order the values were given.
    public func rows(_ results: [SweepRunResult]) -> [SweepRow] {
        values.map { value in SweepRow(value: value, runs: results.filter { $0.run.value == value }) }
    }

    /// sweep.csv, sweep.json and sweep.svg/.pdf for the runs so far.
    public func writeTables(_ results: [SweepRunResult]) throws {
        let rows = rows(results)
        let chosen = selectBest(rows, on: selectOn)
        try createDirectory(directory)
        try writeFileAtomically(Array(sweepCSV(results).utf8), to: directory + "/sweep.csv")
        try writeFileAtomically(Array((sweepJSON(rows, chosen: chosen).rendered(pretty: true) + "\n").utf8), to: directory + "/sweep.json")
        try writeFigure(sweepFigure(rows, chosen: chosen), stem: directory + "/sweep")
    }

    func sweepCSV(_ results: [SweepRunResult]) -> String {
        var out = "p,seed,status,train_loss,val_acc,test_acc,seconds,reason\n"
        for result in results {
            let cells: [String] = [
                result.run.value.description, String(result.run.seed), result.status.label,
                result.trainLoss.map { "\($0)" } ?? "", result.validationAccuracy.map { "\($0)" } ?? "",
                result.testAccuracy.map { "\($0)" } ?? "", result.status == .notRun ? "" : formatFixed(result.seconds, digits: 3),
                csvField(failureReason(result.status)),
            ]
            out += cells.joined(separator: ",") + "\n"
        }
        return out
    }

    func sweepJSON(_ rows: [SweepRow], chosen: Int?) -> JSON {
        func spread(_ s: Spread?) -> JSON {
            guard let s else { return .null }
            return .object([("mean", .double(s.mean)), ("std", .number(s.standardDeviation))])
        }
        return .object([
            ("name", .string(graph.name)),
            ("spec", .string(compilation.source.path)),
            ("spec_sha256", .string(sha256Hex(Array(compilation.source.text.utf8)))),
            ("parameter", .string("dropout")),
            ("values", .array(values.map { .string($0.description) })),
            ("select_on", .string(selectOn.rawValue)),
            ("selected_p", chosen.map { .string(rows[$0].value.description) } ?? .null),
            ("validation_images", .int(settings.validation)),
            ("seeds", .array(seeds.map { .int(Int(truncatingIfNeeded: $0)) })),
            ("jobs", .int(jobs)),
            ("settings", settingsJSON(settings, dropout: nil)),
            ("cnnc_version", .string(cnncVersion)),
            ("rows", .array(rows.enumerated().map { i, row in
                .object([
                    ("p", .string(row.value.description)),
                    ("selected", .bool(i == chosen)),
                    ("complete", .bool(row.complete)),
                    ("train_loss", spread(row.trainLoss)),
                    ("validation_accuracy", spread(row.validationAccuracy)),
                    ("test_accuracy", spread(row.testAccuracy)),
                    ("seconds", spread(row.seconds)),
                ])
            })),
            ("runs", .array(rows.flatMap(\.runs).map { result in
                .object([
                    ("p", .string(result.run.value.description)),
                    ("seed", .int(Int(truncatingIfNeeded: result.run.seed))),
                    ("status", .string(result.status.label)),
                    ("reason", failureReason(result.status).isEmpty ? .null : .string(failureReason(result.status))),
                    ("train_loss", .number(result.trainLoss)),
                    ("validation_accuracy", .number(result.validationAccuracy)),
                    ("test_accuracy", .number(result.testAccuracy)),
                    ("seconds", .double(result.seconds)),
                    ("directory", .string(result.run.directoryName)),
                ])
            })),
        ])
    }

    func sweepFigure(_ rows: [SweepRow], chosen: Int?) -> Figure {
        let finished = rows.filter { $0.testAccuracy != nil }
        func series(_ name: String, _ color: RGB, _ spread: (SweepRow) -> Spread?) -> PlotSeries {
            let points = finished.compactMap { r in spread(r).map { (r.value.value, $0) } }
            let errors = points.map { $0.1.standardDeviation ?? 0 }
            return PlotSeries(name: name + (seeds.count > 1 ? " (mean ± sd over \(seeds.count) seeds)" : ""), color: color,
                              points: points.map { ($0.0, $0.1.mean) }, errors: seeds.count > 1 ? errors : [])
        }
        var lines: [PlotSeries] = []
        if settings.validation > 0 { lines.append(series("validation accuracy", RGB.palette[1], \.validationAccuracy)) }
        lines.append(series("test accuracy", RGB.palette[2], \.testAccuracy))
        let epochs = settings.epochs == 1 ? "1 epoch" : "\(settings.epochs) epochs"
        var plot = LineChart(title: "\(graph.name): accuracy vs dropout p (\(epochs) each)",
                             subtitle: runConditionsNote(settings, specEpochs: compilation.spec?.train.epochs),
                             xLabel: "dropout p", yLabel: "accuracy", series: lines)
        plot.xTicks = values.map(\.value)
        if let chosen {
            plot.markers = [PlotMarker(x: rows[chosen].value.value, label: "chosen p = \(rows[chosen].value) (\(selectOn.rawValue))")]
        }
        return plot.figure()
    }
}

/// The row with the best mean accuracy on `split` among complete rows; ties go to the first.
public func selectBest(_ rows: [SweepRow], on split: SelectionSplit) -> Int? {
    var best: (index: Int, score: Double)?
    for (i, row) in rows.enumerated() where row.complete && !row.runs.isEmpty {
        let spread = split == .validation ? row.validationAccuracy : row.testAccuracy
        guard let score = spread?.mean else { continue }
        if best.map({ score > $0.score }) ?? true {
            best = (i, score)
        }
    }
    return best?.index
}

private func failureReason(_ status: SweepRunStatus) -> String {
    if case let .failed(reason) = status { return reason }
    return ""
}

private func csvField(_ text: String) -> String {
    guard text.contains(",") || text.contains("\"") || text.contains("\n") else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Physical memory of this machine in bytes.
public func physicalMemoryBytes() -> Int {
    sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
}
