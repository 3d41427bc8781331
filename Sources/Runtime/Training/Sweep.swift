import Foundation
import Graph
import Spec

/// Which split picks the winning value.
public enum SelectionSplit: String, Hashable, Sendable, CaseIterable {
    /// Held-out training images: the honest protocol.
    case validation = "val"
    /// The test set: the assignment's protocol; the test accuracy is then no longer unbiased.
    case test
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
    /// A timing field: seconds over every session of the run.
    public var seconds: Double
    /// Where the run was continued from its checkpoint, oldest first (empty: trained in one go).
    public var resumedFrom: [ResumePoint]

    public init(run: SweepRun, status: SweepRunStatus, epochs: [EpochReport], seconds: Double, resumedFrom: [ResumePoint] = []) {
        self.run = run
        self.status = status
        self.epochs = epochs
        self.seconds = seconds
        self.resumedFrom = resumedFrom
    }

    public var trainLoss: Double? { epochs.last?.trainLoss }
    public var validationAccuracy: Double? { epochs.last?.validationAccuracy }
    public var testAccuracy: Double? { epochs.last?.testAccuracy }
}

/// Mean and standard deviation (sample, n − 1) of a value over a point's seeds.
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

/// One row of the sweep's table: a point with its runs aggregated over seeds.
public struct SweepRow: Sendable {
    /// Index into the plan's points.
    public var point: Int
    public var runs: [SweepRunResult]
    public var trainLoss: Spread?
    public var validationAccuracy: Spread?
    public var testAccuracy: Spread?
    public var seconds: Spread?

    /// Every seed of this point finished.
    public var complete: Bool { runs.allSatisfy { $0.status == .finished } }

    public init(point: Int, runs: [SweepRunResult]) {
        self.point = point
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
    /// Runs in flight: their index and the fraction of their steps done.
    public var running: [(run: Int, fraction: Double)]
    public var elapsedSeconds: Double

    /// Seconds left, extrapolated from the work done so far.
    public var etaSeconds: Double? {
        let done = Double(finishedRuns) + running.reduce(0) { $0 + $1.fraction }
        guard done > 0.02 else { return nil }
        return elapsedSeconds / done * (Double(totalRuns) - done)
    }
}

/// Runs a planned sweep's runs, `jobs` at a time, on data loaded once.
public final class Sweep {
    public let plan: SweepPlan
    public let jobs: Int
    public let directory: String
    private let data: MNIST
    private let lock = NSLock()
    private var results: [SweepRunResult]
    private var fractions: [Int: Double] = [:]
    private var started = 0.0
    private var pendingCount = 0

    /// `previous` holds results found in `directory` (finished runs are not trained again).
    public init(plan: SweepPlan, jobs: Int, directory: String, data: MNIST, previous: [SweepRunResult]? = nil) {
        self.plan = plan
        self.jobs = max(1, min(jobs, plan.runs.count))
        self.directory = directory
        self.data = data
        results = previous ?? plan.runs.map { SweepRunResult(run: $0, status: .notRun, epochs: [], seconds: 0) }
    }

    public var runs: [SweepRun] { plan.runs }

    /// Runs that still need training (not finished before).
    public var pending: [Int] { results.indices.filter { results[$0].status != .finished } }

    /// Trains every pending run, writing each run's files as it finishes and the sweep's table
    /// files after every run. Returns the rows in point order.
    public func run(progress: @escaping (SweepProgress) -> Void, runFinished: @escaping (SweepRunResult) -> Void,
                    shouldStop: @escaping () -> Bool) -> [SweepRow] {
        setBLASThreads(1)
        started = now()
        let todo = pending
        pendingCount = todo.count
        for index in todo { results[index] = SweepRunResult(run: plan.runs[index], status: .notRun, epochs: [], seconds: 0) }
        var next = 0
        var writeError: Error?
        DispatchQueue.concurrentPerform(iterations: min(jobs, max(todo.count, 1))) { _ in
            while true {
                lock.lock()
                let position = next
                next += 1
                lock.unlock()
                guard position < todo.count, !shouldStop() else { return }
                let index = todo[position]
                let result = trainSweepRun(plan, run: plan.runs[index], data: data, directory: directory,
                                           progress: { [self] fraction in
                                               lock.lock()
                                               fractions[index] = fraction
                                               let snapshot = makeProgress()
                                               lock.unlock()
                                               progress(snapshot)
                                           },
                                           shouldStop: shouldStop)
                lock.lock()
                results[index] = result
                fractions[index] = nil
                // Written under the lock, so a slower worker can never overwrite newer tables.
                do {
                    try writeSweepTables(plan, results: results, directory: directory)
                } catch {
                    writeError = error
                }
                lock.unlock()
                runFinished(result)
            }
        }
        do {
            try writeSweepTables(plan, results: results, directory: directory)
        } catch {
            writeError = error
        }
        lastWriteError = writeError
        return sweepRows(plan, results)
    }

    /// The last failure to write sweep.csv/json or the plots, if any (the runs' own files are separate).
    public private(set) var lastWriteError: Error?

    public var currentResults: [SweepRunResult] { results }

    private func makeProgress() -> SweepProgress {
        let finished = pendingCount - results.filter { $0.status == .notRun }.count
        let running = fractions.sorted { $0.key < $1.key }.map { (run: $0.key, fraction: $0.value) }
        return SweepProgress(finishedRuns: max(0, finished), totalRuns: pendingCount, running: running, elapsedSeconds: now() - started)
    }
}

/// Trains one run of `plan` in its folder with `cnnc train`'s checkpoints (`runCheckpointed`):
/// `checkpoint/` and metrics.jsonl at the end of every epoch and when `shouldStop` stops it. A
/// checkpoint of this run found in the folder (left by a stopped or killed sweep, or by an
/// earlier try of the same Slurm task) is continued from, bit for bit. A finished or diverged
/// run then writes its files (weights, metrics, summary, curves, spec, and run.json last); a
/// stopped one keeps its checkpoint, writes no run.json and is `notRun`.
public func trainSweepRun(_ plan: SweepPlan, run: SweepRun, data: MNIST, directory: String,
                          progress: @escaping (Double) -> Void, shouldStop: @escaping () -> Bool) -> SweepRunResult {
    let compilation = plan.variants[run.variant]
    let graph = compilation.graph!
    let runDirectory = directory + "/" + run.directoryName
    func failed(_ reason: String) -> SweepRunResult { SweepRunResult(run: run, status: .failed(reason), epochs: [], seconds: 0) }
    /// A failure recorded in run.json, so `--collect` lists it with its reason.
    func recordedFailure(_ reason: String) -> SweepRunResult {
        let result = failed(reason)
        do {
            try writeRunStatus(plan, result, directory: runDirectory)
        } catch {
            return failed(reason + "; could not write run.json: \(error)")
        }
        return result
    }
    let lock: RunDirectoryLock
    do {
        try createDirectory(runDirectory)
        // Another process training this run (a second task of the same index) keeps it; this
        // one writes nothing there.
        lock = try RunDirectoryLock(directory: runDirectory)
        try removeAbandonedTemporaryFiles(runDirectory)
    } catch {
        return failed("\(error)")
    }
    defer { withExtendedLifetime(lock) {} }
    let identity = CheckpointedRun(specPath: compilation.source.path, specText: compilation.source.text, dropout: run.dropout,
                                   settings: run.settings, sweepRun: plan.runSHA256(run))
    let trainer = Trainer(graph: graph, plans: TrainingPlans(graph: graph, settings: run.settings), settings: run.settings,
                          train: data.train, test: data.test)
    do {
        if let checkpoint = try readCheckpointToContinue(runDirectory: runDirectory, identity: identity) {
            try trainer.resume(from: checkpoint)
        }
    } catch {
        return recordedFailure("cannot continue from \(checkpointDirectory(runDirectory)): \(error); "
                               + "remove that folder to train this run from the start")
    }
    let startedAt = Date()
    let result: TrainingResult
    do {
        result = try trainer.runCheckpointed(
            run: identity, directory: runDirectory, progressEvery: 10,
            progress: { p in progress((Double(p.epoch - 1) + Double(p.step) / Double(p.steps)) / Double(p.epochs)) },
            shouldStop: shouldStop).result
    } catch {
        // The last complete checkpoint stays; running the sweep again continues from it.
        return recordedFailure("could not write its checkpoint or metrics: \(error)")
    }
    var status: SweepRunStatus
    switch result.outcome {
    case .finished: status = .finished
    case .diverged: status = .failed(result.outcome.description)
    case .interrupted:
        return SweepRunResult(run: run, status: .notRun, epochs: result.epochs, seconds: result.totalSeconds,
                              resumedFrom: result.resumedFrom)
    }
    let record = RunRecord(compilation: compilation, graph: graph, settings: run.settings, dropout: run.dropout,
                           result: result, startedAt: startedAt, network: trainer.network)
    do {
        try writeRunFiles(record, network: trainer.network, directory: runDirectory)
    } catch {
        status = .failed("could not write its files: \(error)")
    }
    let outcome = SweepRunResult(run: run, status: status, epochs: result.epochs, seconds: result.totalSeconds,
                                 resumedFrom: result.resumedFrom)
    do {
        try writeRunStatus(plan, outcome, directory: runDirectory)
    } catch {
        return SweepRunResult(run: run, status: .failed("could not write run.json: \(error)"), epochs: result.epochs,
                              seconds: result.totalSeconds, resumedFrom: result.resumedFrom)
    }
    return outcome
}

/// Aggregates runs by point, in point order.
public func sweepRows(_ plan: SweepPlan, _ results: [SweepRunResult]) -> [SweepRow] {
    var byPoint = [[SweepRunResult]](repeating: [], count: plan.points.count)
    for result in results { byPoint[result.run.point].append(result) }
    return byPoint.enumerated().map { SweepRow(point: $0.offset, runs: $0.element) }
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

func failureReason(_ status: SweepRunStatus) -> String {
    if case let .failed(reason) = status { return reason }
    return ""
}

func csvField(_ text: String) -> String {
    guard text.contains(",") || text.contains("\"") || text.contains("\n") else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Physical memory of this machine in bytes.
public func physicalMemoryBytes() -> Int {
    sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
}
