import ArgumentParser
import Foundation
import Runtime

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train one model per dropout value and report them as a table, CSV/JSON files and a plot.",
        discussion: """
            The spec is compiled and planned once. By default each run trains 1 epoch, 5,000 training images are \
            held out for validation (the same images for every run), and the best p is chosen on validation accuracy. \
            --select-on test reproduces choosing on the test set, which makes its test accuracy a biased estimate. \
            Writes sweep.csv, sweep.json, sweep.svg and one folder per run to --out (default \
            runs/<name>-sweep-<timestamp>); --json prints sweep.json.
            """)

    @Argument(help: "Spec file (YAML) with at least one Dropout layer.")
    var file: String

    @Option(help: "Values of p: start:stop:step (inclusive, exact decimal steps) or a list like 0,0.25,0.5.")
    var dropout: String

    @Option(help: "Hold out N training images for validation (0 only with --select-on test).")
    var val = 5_000

    @Option(help: "Split that picks the best p: val or test.")
    var selectOn = "val"

    @Option(help: "Seeds per value (K > 1 shows mean ± standard deviation).")
    var seeds = 1

    @Option(help: "Trainings run at once; the cores are split between them.")
    var jobs = 1

    @OptionGroup var training: TrainingFlags
    @OptionGroup var dataFlags: DataFlags
    @OptionGroup var output: OutputFlags

    func validate() throws {
        do {
            _ = try parseSweepValues(dropout)
        } catch {
            throw ValidationError("--dropout: \(error)")
        }
        guard let split = SelectionSplit(rawValue: selectOn.lowercased()) else {
            throw ValidationError("--select-on must be val or test, got '\(selectOn)'")
        }
        if val < 0 || val >= 60_000 { throw ValidationError("--val must be in 0..<60000") }
        if val == 0 && split == .validation {
            throw ValidationError("--val 0 leaves nothing to select on; hold out images or pass --select-on test")
        }
        if seeds < 1 { throw ValidationError("--seeds must be at least 1") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let values = try parseSweepValues(dropout)
        let split = SelectionSplit(rawValue: selectOn.lowercased()) ?? .validation
        let compilation = Compilation.compile(path: file)
        printError(compilation.renderedDiagnostics, terminator: "")
        guard let graph = compilation.graph, let spec = compilation.spec else { throw ExitCode.failure }
        guard graph.hasDropout else {
            printError("\(file): error: the spec has no Dropout layer, so a dropout sweep would train \(values.count) identical models")
            throw ExitCode.failure
        }
        try requireMNISTInput(graph, file: file)
        let threads = training.threads ?? max(1, availableCores() / jobs)
        // A sweep is a design loop: 1 epoch per run unless --epochs says otherwise (the spec's
        // `epochs` is for the final training).
        var overrides = training.overrides
        overrides.epochs = training.epochs ?? 1
        let settings = TrainingSettings.resolve(spec: spec.train, overrides: overrides, threads: threads,
                                                validation: val, limit: dataFlags.limit)
        let (quiet, json) = (output.quiet, output.json)
        let directory = output.out ?? defaultRunDirectory(name: graph.name, suffix: "-sweep")
        try prepareOutputDirectory(directory)
        let data = try loadData(dataFlags, quiet: quiet)
        let sweep = Runtime.Sweep(compilation: compilation, graph: graph, settings: settings, values: values, seedCount: seeds,
                                  jobs: jobs, selectOn: split, directory: directory, data: data)
        let needed = jobs * sweep.bytesPerRun + data.train.pixels.count + data.test.pixels.count
        let available = physicalMemoryBytes() * 4 / 5
        guard needed <= available else {
            printError("error: --jobs \(jobs) needs about \(formatBytes(needed)) (\(formatBytes(sweep.bytesPerRun)) per run), "
                       + "more than the \(formatBytes(available)) this machine can spare")
            throw ExitCode(2)
        }
        let log = RunLog(quiet: quiet, toStandardError: json)
        log.line("\(graph.name): sweeping dropout p over \(values.map(\.description).joined(separator: ", ")); "
                 + "\(plural(sweep.runs.count, "run")) of \(plural(settings.epochs, "epoch")), \(jobs) at a time, "
                 + "\(plural(threads, "thread")) each; validation \(groupedThousands(val)) images; selecting on \(split.rawValue)")
        if split == .test {
            printError("warning: selecting p on the test set: the chosen p's test accuracy is no longer an unbiased estimate of accuracy on new data")
        }
        Interrupt.install()
        let barLock = NSLock()
        var bar = ProgressBar(enabled: !quiet)
        let rows = sweep.run(
            progress: { p in
                barLock.lock()
                defer { barLock.unlock() }
                let running = p.running.map { "p=\($0.value) \(Int(($0.fraction * 100).rounded(.down)))%" }.joined(separator: ", ")
                let done = Double(p.finishedRuns) + p.running.reduce(0) { $0 + $1.fraction }
                bar.draw(prefix: "run \(min(p.finishedRuns + 1, p.totalRuns))/\(p.totalRuns)", fraction: done / Double(p.totalRuns),
                         suffix: "\(running)  ETA \(p.etaSeconds.map(formatDuration) ?? "?")")
            },
            runFinished: { result in
                barLock.lock()
                defer { barLock.unlock() }
                bar.clear()
                log.line(runLine(result))
            },
            shouldStop: { Interrupt.isRequested })
        bar.clear()
        let chosen = selectBest(rows, on: split)
        // With --json, stdout carries only the JSON; the table goes to standard error.
        let report = RunLog(quiet: false, toStandardError: json)
        report.line(sweepTable(rows, chosen: chosen, split: split, validation: val))
        if let chosen {
            let row = rows[chosen]
            let score = (split == .validation ? row.validationAccuracy : row.testAccuracy).map { formatFixed($0.mean, digits: 4) } ?? "?"
            let test = row.testAccuracy.map { formatFixed($0.mean, digits: 4) } ?? "?"
            let honesty = split == .validation
                ? "its test accuracy \(test) was not used to choose it"
                : "its test accuracy \(test) was used to choose it, so it overstates accuracy on new data"
            report.line("chosen p = \(row.value) (best \(split == .validation ? "validation" : "test") accuracy \(score)); \(honesty)")
        } else {
            report.line("no p chosen: no value finished all of its runs")
        }
        if Interrupt.isRequested {
            report.line("interrupted: runs marked 'not run' did not finish; finished runs are in \(directory)")
        }
        report.line("results in \(directory) (sweep.csv, sweep.json, sweep.svg, one folder per run)")
        if json {
            let text = (try? String(contentsOfFile: directory + "/sweep.json", encoding: .utf8)) ?? "{}"
            print(text, terminator: "")
        }
        if Interrupt.isRequested { throw ExitCode(130) }
        // Like `train`, a sweep in which no run finished has failed.
        if !rows.contains(where: { $0.runs.contains { $0.status == .finished } }) { throw ExitCode.failure }
    }
}

func runLine(_ result: SweepRunResult) -> String {
    let seed = "seed \(result.run.seed)"
    switch result.status {
    case .finished:
        var line = "p=\(result.run.value) \(seed): loss \(result.trainLoss.map { formatFixed($0, digits: 4) } ?? "-")"
        if let validation = result.validationAccuracy { line += "  val \(formatFixed(validation, digits: 4))" }
        line += "  test \(result.testAccuracy.map { formatFixed($0, digits: 4) } ?? "-")  \(formatFixed(result.seconds, digits: 1))s"
        return line
    case let .failed(reason):
        return "p=\(result.run.value) \(seed): failed: \(reason)"
    case .notRun:
        return "p=\(result.run.value) \(seed): not finished"
    }
}

func sweepTable(_ rows: [SweepRow], chosen: Int?, split: SelectionSplit, validation: Int) -> String {
    func cell(_ spread: Spread?) -> String {
        guard let spread else { return "-" }
        let mean = formatFixed(spread.mean, digits: 4)
        return spread.standardDeviation.map { mean + " ± " + formatFixed($0, digits: 4) } ?? mean
    }
    var headers = ["p", "train loss"]
    if validation > 0 { headers.append("val acc") }
    headers += ["test acc", "seconds", ""]
    var table = TextTable(headers: headers, rightAligned: Set(0..<(headers.count - 1)))
    for (i, row) in rows.enumerated() {
        var cells = [row.value.description, cell(row.trainLoss)]
        if validation > 0 { cells.append(cell(row.validationAccuracy)) }
        let seconds = row.seconds.map { formatFixed($0.mean, digits: 1) } ?? "-"
        var note = i == chosen ? "← chosen (\(split.rawValue))" : ""
        let unfinished = row.runs.filter { $0.status != .finished }
        if !unfinished.isEmpty {
            note = unfinished.map { $0.status == .notRun ? "not run" : "failed" }.joined(separator: ", ")
        }
        cells += [cell(row.testAccuracy), seconds, note]
        table.rows.append(cells)
    }
    return table.rendered()
}
