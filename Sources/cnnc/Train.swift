import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a spec on MNIST and write its weights (safetensors), metrics, summary and curves.",
        discussion: """
            Writes weights.safetensors, metrics.jsonl, summary.json, curves.svg and curves.pdf and a copy of the spec to \
            --out (default runs/<name>-<timestamp>); --json prints summary.json. The run directory gets a checkpoint at \
            the end of every epoch and when Ctrl-C or SIGTERM stops the run (after the current step); \
            `cnnc train --resume DIR` continues it, bit for bit. A second Ctrl-C exits at once.
            """)

    @Argument(help: "Spec file (YAML); optional with --resume, where it must be the spec the run trained.")
    var file: String?

    @Option(help: "Set p of every Dropout layer (the spec must have one).")
    var dropout: Double?

    @Option(help: "Hold out N training images for validation (the same N for every run; default 0).")
    var val: Int?

    @Option(help: ArgumentHelp("Continue the run in DIR from its checkpoint (--epochs N extends it; other changes are refused).",
                               valueName: "DIR"))
    var resume: String?

    @Flag(help: "Train into an --out that already holds a run, replacing its files and checkpoint.")
    var force = false

    @OptionGroup var training: TrainingFlags
    @OptionGroup var dataFlags: DataFlags
    @OptionGroup var output: OutputFlags

    func validate() throws {
        try validateDropout(dropout)
        if let val, val < 0 || val >= 60_000 { throw ValidationError("--val must be in 0..<60000") }
        if file == nil && resume == nil { throw ValidationError("give a spec file, or --resume DIR to continue a run") }
        if resume != nil && force { throw ValidationError("--resume continues a run and --force replaces one; give one of them") }
        if let resume, resume.isEmpty { throw ValidationError("--resume needs a run directory") }
        if let resume, let out = output.out, URL(fileURLWithPath: out).standardized != URL(fileURLWithPath: resume).standardized {
            throw ValidationError("--resume \(resume) writes into its own directory; drop --out \(out)")
        }
    }

    func run() throws {
        let (quiet, json) = (output.quiet, output.json)
        var session = try resume.map(resumedSession) ?? newSession()
        let plans = try plansThatFit(graph: session.graph, settings: session.settings, file: session.compilation.source.path)
        let data = try loadData(dataFlags, quiet: quiet)
        if session.lock == nil {
            (session.directory, session.lock) = try prepareNewRunDirectory(name: session.graph.name)
        }
        let (compilation, graph, settings, directory, lock) = (session.compilation, session.graph, session.settings,
                                                                session.directory, session.lock)
        let log = RunLog(quiet: quiet, toStandardError: json)
        let images = groupedThousands(DataSplit(total: data.trainCount, validation: settings.validation, limit: settings.limit).training.count)
        log.line("\(terminalSafe(graph.name)): \(groupedThousands(graph.parameterCount)) parameters, \(plural(settings.epochs, "epoch")) at batch "
                 + "\(settings.batchSize), \(settings.optimizer.kind.rawValue) lr \(settings.optimizer.lr), seed \(settings.seed), "
                 + "\(plural(settings.threads, "thread")); \(images) training images")
        Interrupt.install()
        let started = Date()
        let trainer = Trainer(graph: graph, plans: plans, settings: settings, train: data.train, test: data.test)
        if let checkpoint = session.checkpoint {
            do {
                try trainer.resume(from: checkpoint)
            } catch {
                printError("error: cannot resume from \(directory): \(error)")
                throw ExitCode.failure
            }
            let p = trainer.position
            log.line("resuming at epoch \(min(p.epoch, settings.epochs)), step \(p.step) (\(plural(p.reports.count, "epoch")) done)")
        }
        let identity = CheckpointedRun(specPath: compilation.source.path, specText: compilation.source.text,
                                       dropout: session.dropout, settings: settings)
        var bar = ProgressBar(enabled: !quiet)
        let result: TrainingResult
        let checkpointSeconds: [Double]
        do {
            let outcome = try trainer.runCheckpointed(
                run: identity, directory: directory,
                progress: { p in
                    let eta = Double(p.steps - p.step) / Double(max(p.step, 1)) * p.elapsedSeconds
                    bar.draw(prefix: "epoch \(p.epoch)/\(p.epochs)", fraction: Double(p.step) / Double(p.steps),
                             suffix: "\(p.step)/\(p.steps) loss \(formatFixed(p.meanLoss, digits: 4)) "
                                 + "\(formatFixed(p.imagesPerSecond, digits: 0)) img/s ETA \(formatDuration(eta))")
                },
                epochEnd: { reports in
                    bar.clear()
                    log.line(epochLine(reports[reports.count - 1], of: settings.epochs))
                },
                shouldStop: { Interrupt.isRequested })
            result = outcome.result
            checkpointSeconds = outcome.checkpointSeconds
        } catch {
            bar.clear()
            printError("error: \(error)")
            printError("the run stopped; \(directory) keeps its last complete checkpoint and files")
            throw ExitCode.failure
        }
        bar.clear()
        let record = RunRecord(compilation: compilation, graph: graph, settings: trainer.settings, dropout: session.dropout,
                               result: result, startedAt: started, network: trainer.network)
        do {
            try writeRunFiles(record, network: trainer.network, directory: directory)
            try writeResolvedSpec(compilation: compilation, settings: trainer.settings, directory: directory)
        } catch {
            printError("error: \(error)")
            printError("\(directory) keeps its last complete checkpoint and files")
            throw ExitCode.failure
        }
        withExtendedLifetime(lock) {}
        let final = record.finalTestAccuracy.map { "final test accuracy \(formatFixed($0, digits: 4))" } ?? "no epoch finished"
        let status = result.outcome == .finished ? "" : " (\(result.outcome.description))"
        log.line("\(final) after \(plural(result.epochs.count, "epoch"))\(status); \(formatDuration(result.totalSeconds)) total; results in \(directory)",
                 always: true)
        if let slowest = checkpointSeconds.max(), !quiet {
            log.line("checkpoints: \(checkpointSeconds.count), the slowest \(formatFixed(slowest * 1000, digits: 1)) ms")
        }
        if case .interrupted = result.outcome {
            log.line("continue with: cnnc train --resume \(directory)", always: true)
        }
        if json {
            print(summaryJSON(record).rendered(pretty: true))
        }
        switch result.outcome {
        case .finished: return
        case .interrupted: throw ExitCode(Interrupt.exitCode)
        case .diverged: throw ExitCode.failure
        }
    }

    /// What a run trains and where: from the spec and flags, or from a checkpoint.
    struct Session {
        var compilation: Compilation
        var graph: Graph
        var settings: TrainingSettings
        var dropout: Double?
        var directory: String
        /// Held from the start when resuming; taken after the data loaded for a new run.
        var lock: RunDirectoryLock?
        var checkpoint: TrainingCheckpoint?
    }

    func newSession() throws -> Session {
        guard let file else { throw ExitCode.validationFailure }
        let compilation = Compilation.compile(path: file, dropout: dropout)
        printError(compilation.renderedDiagnostics, terminator: "")
        guard let graph = compilation.graph, let spec = compilation.spec else { throw ExitCode.failure }
        if dropout != nil && !graph.hasDropout {
            printError("\(file): error: --dropout sets p of every Dropout layer, but the spec has none")
            throw ExitCode.failure
        }
        try requireMNISTInput(graph, file: file)
        let settings = TrainingSettings.resolve(spec: spec.train, overrides: training.overrides,
                                                threads: training.resolvedThreads, validation: val ?? 0, limit: dataFlags.limit)
        if let out = output.out, holdsRun(out), !force {
            throw alreadyHoldsARun(out)
        }
        return Session(compilation: compilation, graph: graph, settings: settings, dropout: dropout, directory: output.out ?? "",
                       lock: nil, checkpoint: nil)
    }

    /// Creates (or, with --out, takes) the run directory and locks it; refuses one holding a
    /// run unless --force, which removes that run's files.
    func prepareNewRunDirectory(name: String) throws -> (String, RunDirectoryLock) {
        let directory: String
        do {
            if let out = output.out {
                try createDirectory(out)
                directory = out
            } else {
                directory = try createNewDirectory(defaultRunDirectory(name: name))
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        let lock = try lockRunDirectory(directory)
        if holdsRun(directory) {
            guard force else { throw alreadyHoldsARun(directory) }
            do {
                try removeRunFiles(directory)
            } catch {
                printError("error: \(error)")
                throw ExitCode.failure
            }
        }
        return (directory, lock)
    }

    func alreadyHoldsARun(_ directory: String) -> ExitCode {
        printError("error: \(directory) already holds a run; continue it with --resume \(directory), "
                   + "replace it with --force, or choose another --out")
        return ExitCode(2)
    }

    func resumedSession(_ directory: String) throws -> Session {
        guard FileManager.default.fileExists(atPath: checkpointDirectory(directory)) else {
            printError("error: cannot resume from \(directory): \(CheckpointError.missing(directory: directory))")
            throw ExitCode.failure
        }
        let lock = try lockRunDirectory(directory)
        let checkpoint: TrainingCheckpoint
        do {
            checkpoint = try readCheckpoint(runDirectory: directory)
            try removeAbandonedTemporaryFiles(directory)
        } catch {
            printError("error: cannot resume from \(directory): \(error)")
            throw ExitCode.failure
        }
        let saved = checkpoint.run
        if saved.sweepRun != nil {
            printError("error: \(directory) is a run of a sweep; continue it with the sweep (the same cnnc sweep command, "
                       + "or cnnc sweep --run-index I SWEEP_DIR)")
            throw ExitCode(2)
        }
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                printError("error: cannot read \(file): \(error.localizedDescription)")
                throw ExitCode.failure
            }
            guard sha256Hex(Array(text.utf8)) == saved.specSHA256 else {
                printError("error: \(file) is not the spec the run in \(directory) trained (\(saved.specPath)); "
                           + "drop the file argument to use the run's own copy")
                throw ExitCode(2)
            }
        }
        var changes: [String] = []
        func compare<T: Equatable>(_ flag: String, _ given: T?, _ was: T) {
            if let given, given != was { changes.append("\(flag) \(given) (the run has \(was))") }
        }
        let s = saved.settings
        let o = training.overrides
        compare("--batch-size", o.batchSize, s.batchSize)
        compare("--optimizer", o.optimizer?.rawValue, s.optimizer.kind.rawValue)
        compare("--lr", o.lr, s.optimizer.lr)
        compare("--momentum", o.momentum, s.optimizer.momentum)
        compare("--weight-decay", o.weightDecay, s.optimizer.weightDecay)
        compare("--seed", o.seed, s.seed)
        compare("--threads", training.threads, s.threads)
        compare("--val", val, s.validation)
        if let limit = dataFlags.limit, limit != s.limit { changes.append("--limit \(limit) (the run has \(s.limit.map(String.init) ?? "none"))") }
        if let dropout, dropout != saved.dropout { changes.append("--dropout \(dropout) (the run has \(saved.dropout.map { "\($0)" } ?? "the spec's p"))") }
        guard changes.isEmpty else {
            printError("error: --resume continues the run in \(directory) as it was; these would change it: \(changes.joined(separator: ", "))")
            printError("hint: only --epochs N (to extend it) may differ")
            throw ExitCode(2)
        }
        var settings = s
        let done = checkpoint.position.reports.count
        if let epochs = training.epochs {
            guard epochs >= done else {
                printError("error: the run in \(directory) has \(plural(done, "epoch")) done; --epochs \(epochs) would end before them")
                throw ExitCode(2)
            }
            settings.epochs = epochs
        }
        let compilation = Compilation.compile(source: SourceFile(path: saved.specPath, text: saved.specText), dropout: saved.dropout)
        printError(compilation.renderedDiagnostics, terminator: "")
        guard let graph = compilation.graph else { throw ExitCode.failure }
        return Session(compilation: compilation, graph: graph, settings: settings, dropout: saved.dropout, directory: directory,
                       lock: lock, checkpoint: checkpoint)
    }
}

/// Locks a run directory for this process, or exits 1 when another run holds it.
func lockRunDirectory(_ directory: String) throws -> RunDirectoryLock {
    do {
        return try RunDirectoryLock(directory: directory)
    } catch {
        printError("error: \(error)")
        throw ExitCode.failure
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

/// The shape of MNIST's images, the only data set cnnc trains on.
let mnistInput = FeatureShape.image(channels: 1, height: 28, width: 28)

/// Training reads MNIST: a spec whose input is not 1×28×28 can be checked but not trained.
func requireMNISTInput(_ graph: Graph, file: String) throws {
    guard graph.input == mnistInput else {
        printError("\(file): error: training uses MNIST (\(mnistInput) images), but the spec's input is \(graph.input)")
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
