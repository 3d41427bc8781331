import ArgumentParser
import Foundation
import Runtime

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a spec on MNIST and write its weights (safetensors), metrics, summary and curves.")

    @Argument(help: "Spec file (YAML).")
    var file: String

    @Option(help: "Set p of every Dropout layer.")
    var dropout: Double?

    @Option(help: "Hold out N training images for validation (the same N for every run).")
    var val = 0

    @OptionGroup var training: TrainingFlags
    @OptionGroup var dataFlags: DataFlags
    @OptionGroup var output: OutputFlags

    func validate() throws {
        try validateDropout(dropout)
        if val < 0 || val >= 60_000 { throw ValidationError("--val must be in 0..<60000") }
    }

    func run() throws {
        let compilation = Compilation.compile(path: file, dropout: dropout)
        printError(compilation.renderedDiagnostics, terminator: "")
        guard let graph = compilation.graph, let spec = compilation.spec else { throw ExitCode.failure }
        try requireMNISTInput(graph, file: file)
        let settings = TrainingSettings.resolve(spec: spec.train, overrides: training.overrides,
                                                threads: training.resolvedThreads, validation: val, limit: dataFlags.limit)
        let plans = try plansThatFit(graph: graph, settings: settings, file: file)
        let (quiet, json) = (output.quiet, output.json)
        let data = try loadData(dataFlags, quiet: quiet)
        let directory = output.out ?? defaultRunDirectory(name: graph.name)
        try prepareOutputDirectory(directory)
        let log = RunLog(quiet: quiet, toStandardError: json)
        log.line("\(graph.name): \(groupedThousands(graph.parameterCount)) parameters, \(plural(settings.epochs, "epoch")) at batch "
                 + "\(settings.batchSize), \(settings.optimizer.kind.rawValue) lr \(settings.optimizer.lr), seed \(settings.seed), "
                 + "\(plural(settings.threads, "thread")); \(groupedThousands(DataSplit(total: data.trainCount, validation: val, limit: dataFlags.limit).training.count)) training images")
        Interrupt.install()
        let started = Date()
        let trainer = Trainer(graph: graph, plans: plans, settings: settings, train: data.train, test: data.test)
        var bar = ProgressBar(enabled: !quiet)
        let result = trainer.run(
            progress: { p in
                let eta = Double(p.steps - p.step) / Double(max(p.step, 1)) * p.elapsedSeconds
                bar.draw(prefix: "epoch \(p.epoch)/\(p.epochs)", fraction: Double(p.step) / Double(p.steps),
                         suffix: "\(p.step)/\(p.steps) loss \(formatFixed(p.meanLoss, digits: 4)) "
                             + "\(formatFixed(p.imagesPerSecond, digits: 0)) img/s ETA \(formatDuration(eta))")
            },
            epochEnd: { reports in
                bar.clear()
                log.line(epochLine(reports[reports.count - 1], of: settings.epochs))
                try? writeMetrics(reports, directory: directory)
            },
            shouldStop: { Interrupt.isRequested })
        bar.clear()
        let record = RunRecord(compilation: compilation, graph: graph, settings: settings, dropout: dropout,
                               result: result, startedAt: started, network: trainer.network)
        try writeRunFiles(record, network: trainer.network, directory: directory)
        let final = record.finalTestAccuracy.map { "final test accuracy \(formatFixed($0, digits: 4))" } ?? "no epoch finished"
        let status = result.outcome == .finished ? "" : " (\(result.outcome.description))"
        log.line("\(final) after \(plural(result.epochs.count, "epoch"))\(status); \(formatDuration(result.totalSeconds)) total; results in \(directory)",
                 always: true)
        if json {
            print(summaryJSON(record).rendered(pretty: true))
        }
        if result.outcome != .finished { throw ExitCode.failure }
    }
}

/// Per-epoch lines to standard output (or standard error when stdout carries JSON).
struct RunLog {
    var quiet: Bool
    var toStandardError: Bool

    func line(_ text: String, always: Bool = false) {
        guard !quiet || always else { return }
        if toStandardError {
            printError(text)
        } else {
            print(text)
            fflush(stdout)
        }
    }
}

func epochLine(_ report: EpochReport, of epochs: Int) -> String {
    let width = String(epochs).count
    let epoch = String(repeating: " ", count: width - String(report.epoch).count) + String(report.epoch)
    var line = "epoch \(epoch)/\(epochs)  loss \(formatFixed(report.trainLoss, digits: 4))  train \(formatFixed(report.trainAccuracy, digits: 4))"
    if let validation = report.validationAccuracy {
        line += "  val \(formatFixed(validation, digits: 4))"
    }
    line += "  test \(formatFixed(report.testAccuracy, digits: 4))  \(formatFixed(report.trainSeconds, digits: 1))s"
        + "  \(groupedThousands(Int(report.imagesPerSecond.rounded()))) img/s"
    return line
}

/// `1 epoch`, `10 epochs`.
func plural(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// Creates the output directory before any training, so a bad --out fails at once.
func prepareOutputDirectory(_ directory: String) throws {
    do {
        try createDirectory(directory)
    } catch {
        printError("error: \(error)")
        throw ExitCode.failure
    }
}

/// Training reads MNIST: a spec whose input is not 1×28×28 can be checked but not trained.
func requireMNISTInput(_ graph: Graph, file: String) throws {
    guard graph.input == .image(channels: 1, height: 28, width: 28) else {
        printError("\(file): error: training uses MNIST (1×28×28 images), but the spec's input is \(graph.input)")
        throw ExitCode.failure
    }
}

/// Finds (or downloads, with a progress bar) and loads MNIST; failures print and exit 1.
func loadData(_ flags: DataFlags, quiet: Bool) throws -> MNIST {
    let environment = ProcessInfo.processInfo.environment
    let directory = MNIST.resolveDirectory(flag: flags.data, environment: environment)
    let mirrors = MNISTDownloader.resolveMirrors(flags: flags.mirror, environment: environment)
    let lock = NSLock()
    var bar = ProgressBar(enabled: !quiet)
    do {
        return try prepareMNIST(directory: directory, download: !flags.noDownload, mirrors: mirrors) { file, bytes, total in
            lock.lock()
            defer { lock.unlock() }
            let fraction = total.map { Double(bytes) / Double(max($0, 1)) } ?? 0
            bar.draw(prefix: "downloading \(file)", fraction: fraction,
                     suffix: "\(formatBytes(Int(bytes)))" + (total.map { " / \(formatBytes(Int($0)))" } ?? ""))
        }
    } catch {
        bar.clear()
        printError("error: \(error)")
        if let hint = dataHint(error, noDownload: flags.noDownload) { printError("hint: \(hint)") }
        throw ExitCode.failure
    }
}
