import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

extension Ablation: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension SelectionSplit: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--lr 1e-4..1e-1*4` and friends: parsed and checked against the parameter's domain as read.
private func values(for parameter: SweepParameter) -> (String) throws -> SweepValueList {
    { text in
        do {
            return try parseSweepValueList(text, domain: parameter.domain)
        } catch let error as SweepValueError {
            throw ValidationError("\(parameter.flag): \(error.description)")
        }
    }
}

private let seedDomain = SweepDomain(lower: 0, upper: 9_223_372_036_854_775_807, upperIncluded: true, integer: true)

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train one model per point of a grid of hyperparameters (or ablation), report a table, CSV/JSON files and a plot.",
        discussion: """
            VALUES is a value (0.1), a list (0,0.25,0.5), an inclusive range start:stop:step in exact decimal steps \
            (0:0.9:0.1), or a log range low..high*N: N values evenly spaced in log scale, rounded to 3 significant \
            digits (1e-4..1e-1*4 is 0.0001, 0.001, 0.01, 0.1). Several swept flags form a grid (every combination); \
            the run count is printed first and more than 1,000 runs need --yes.

            --set LAYER.ARGUMENT=VALUES sets a numeric layer argument, the layer given by its name: or its index in \
            `cnnc check`'s table (head.weight_decay=0:0.002:0.0005, 16.p=0.1,0.3); every value is checked by the \
            compiler before the first run. --ablate BatchNorm2D|Dropout|weight_decay (repeatable) adds a run without \
            that regularizer (its layers removed, or every weight decay 0) next to the baseline; the table is then \
            sorted by validation accuracy and the plot is a bar chart. --dry-run shows the compiled graphs.

            By default each run trains 1 epoch, 5,000 training images are held out for validation (the same images \
            for every run), and the best point is chosen on validation accuracy.

            The output directory holds manifest.json (spec SHA-256, every run's settings, cnnc version), \
            sweep.csv, sweep.json, sweep.svg/.pdf and one folder per run, each with the checkpoints of `cnnc train`. Running the same command again with the same --out trains only the runs that did not \
            finish, each from its last checkpoint (bit for bit, also after a kill); other settings or another spec are refused unless --force. --collect DIR rebuilds the table, \
            files and plot from the runs there. --plan-only writes DIR/commands.txt (one command per run, for xargs \
            -P or GNU parallel); --slurm writes DIR/sweep.sbatch, a job array whose tasks run \
            `cnnc sweep --run-index $SLURM_ARRAY_TASK_ID DIR`, and --submit submits it with sbatch.

            Exit status: 0 done (a diverged run is recorded as failed), 1 invalid spec or no run finished (or, for \
            --collect, runs missing), 2 misuse, 130 interrupted (143 for SIGTERM).
            """)

    @Argument(help: "Spec file (YAML); with --run-index, the sweep directory.")
    var target: String?

    @Option(help: "p of every Dropout layer: VALUES.", transform: values(for: .dropout))
    var dropout: SweepValueList?

    @Option(help: "Learning rate: VALUES (log ranges like 1e-4..1e-1*4).", transform: values(for: .lr))
    var lr: SweepValueList?

    @Option(help: "The optimizer's L2 weight decay: VALUES.", transform: values(for: .weightDecay))
    var weightDecay: SweepValueList?

    @Option(help: "Batch size: VALUES (whole numbers).", transform: values(for: .batchSize))
    var batchSize: SweepValueList?

    @Option(help: "Epochs per run: VALUES (default 1 per run; the spec's epochs are for the final training).", transform: values(for: .epochs))
    var epochs: SweepValueList?

    @Option(help: "SGD momentum: VALUES.", transform: values(for: .momentum))
    var momentum: SweepValueList?

    @Option(name: .customLong("set"), help: ArgumentHelp("A numeric layer argument: LAYER.ARGUMENT=VALUES (repeatable).", valueName: "layer.argument=values"),
            transform: { text in
                do { return try LayerSetting(parsing: text) } catch let error as SweepValueError { throw ValidationError(error.description) }
            })
    var sets: [LayerSetting] = []

    @Option(help: ArgumentHelp("Also train without this regularizer (repeatable).", valueName: "BatchNorm2D|Dropout|weight_decay"))
    var ablate: [Ablation] = []

    @Option(help: "Seeds: VALUES (default: the spec's seed); a single seed is where --seeds counts from.",
            transform: { text in
                do { return try parseSweepValueList(text, domain: seedDomain) } catch let error as SweepValueError {
                    throw ValidationError("--seed: \(error.description)")
                }
            })
    var seed: SweepValueList?

    @Option(help: "K seeds per point, counting up from --seed (K > 1 shows mean ± standard deviation).")
    var seeds: Int?

    @Option(help: "adam or sgd (default: the spec's, else adam).")
    var optimizer: OptimizerKind?

    @Option(help: "Threads per run (default: the cores divided by --jobs; 1 with --slurm).")
    var threads: Int?

    @Option(help: "Hold out N training images for validation (0 only with --select-on test).")
    var val = 5_000

    @Option(help: "Split that picks the best point: val or test.")
    var selectOn: SelectionSplit = .validation

    @Option(help: "Trainings run at once; the cores are split between them.")
    var jobs = 1

    @Flag(help: "Start a sweep of more than 1,000 runs.")
    var yes = false

    @Flag(help: "Re-run in an --out that holds a sweep of another spec or other settings.")
    var force = false

    @Flag(help: "Print the runs and the compiled graph of each variant (ablations, layer arguments); train nothing.")
    var dryRun = false

    @Option(help: ArgumentHelp("Rebuild the table, files and plot from the runs in DIR; list missing and failed runs.", valueName: "dir"))
    var collect: String?

    @Option(help: ArgumentHelp("Train run I of the sweep directory given as the argument (what commands.txt and Slurm tasks run).", valueName: "i"))
    var runIndex: Int?

    @Flag(help: "Write the manifest and DIR/commands.txt (one cnnc command per run); train nothing.")
    var planOnly = false

    @Flag(help: "Write DIR/sweep.sbatch, a Slurm job array with one run per task.")
    var slurm = false

    @Option(help: "Slurm partition.")
    var partition: String?

    @Option(help: ArgumentHelp("Slurm time limit per run.", valueName: "HH:MM:SS"))
    var time: String?

    @Option(help: "Slurm CPUs per task (= threads per run).")
    var cpusPerTask: Int?

    @Option(help: ArgumentHelp("Slurm memory per task (e.g. 2G).", valueName: "M"))
    var mem: String?

    @Option(help: "At most N array tasks at once.")
    var arrayLimit: Int?

    @Option(help: ArgumentHelp("An extra #SBATCH line (repeatable), e.g. --sbatch-arg=--account=lab.", valueName: "arg"))
    var sbatchArg: [String] = []

    @Flag(help: "Submit sweep.sbatch with sbatch --parsable.")
    var submit = false

    @OptionGroup var dataFlags: DataFlags
    @OptionGroup var output: OutputFlags

    func validate() throws {
        if val < 0 || val >= 60_000 { throw ValidationError("--val must be in 0..<60000") }
        if val == 0 && selectOn == .validation {
            throw ValidationError("--val 0 leaves nothing to select on; hold out images or pass --select-on test")
        }
        if let seeds, seeds < 1 || seeds > sweepRunLimit {
            throw ValidationError("--seeds must be in 1...\(groupedThousands(sweepRunLimit))")
        }
        if seeds != nil, let seed, seed.values.count > 1 {
            throw ValidationError("--seeds K counts up from one --seed; it cannot be combined with a list or range of seeds")
        }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let threads, threads < 1 || threads > 4096 { throw ValidationError("--threads must be in 1...4096") }
        if let cpusPerTask, cpusPerTask < 1 || cpusPerTask > 4096 { throw ValidationError("--cpus-per-task must be in 1...4096") }
        if let cpusPerTask, let threads, cpusPerTask != threads {
            throw ValidationError("--cpus-per-task (\(cpusPerTask)) is the threads per run; it differs from --threads (\(threads))")
        }
        if let arrayLimit, arrayLimit < 1 { throw ValidationError("--array-limit must be at least 1") }
        let slurmOnly = [(partition != nil, "--partition"), (time != nil, "--time"), (cpusPerTask != nil, "--cpus-per-task"),
                         (mem != nil, "--mem"), (arrayLimit != nil, "--array-limit"), (!sbatchArg.isEmpty, "--sbatch-arg"), (submit, "--submit")]
        if !slurm, let flag = slurmOnly.first(where: \.0) { throw ValidationError("\(flag.1) needs --slurm") }
        let modes = [(collect != nil, "--collect"), (runIndex != nil, "--run-index"), (planOnly, "--plan-only"), (slurm, "--slurm"),
                     (dryRun, "--dry-run")].filter(\.0).map(\.1)
        if modes.count > 1 { throw ValidationError("\(modes.joined(separator: " and ")) cannot be combined") }
        if collect != nil && target != nil { throw ValidationError("--collect DIR takes no spec argument") }
        if collect == nil && target == nil { throw ValidationError("give a spec file (or --collect DIR, or --run-index I DIR)") }
        if let runIndex, runIndex < 0 { throw ValidationError("--run-index must be at least 0") }
        if let time, !isSlurmTime(time) { throw ValidationError("--time must look like HH:MM:SS, MM:SS, D-HH:MM:SS or minutes, got '\(time)'") }
    }

    func run() throws {
        if let collect { return try collectSweep(collect) }
        if let runIndex { return try runOne(runIndex, directory: target!) }
        let file = target!
        let threadsPerRun = slurm ? (cpusPerTask ?? threads ?? 1) : (threads ?? max(1, availableCores() / jobs))
        var axes: [SweepAxis] = []
        let given: [(SweepParameter, SweepValueList?)] = [(.dropout, dropout), (.lr, lr), (.weightDecay, weightDecay),
                                                          (.batchSize, batchSize), (.epochs, epochs), (.momentum, momentum)]
        for case let (parameter, list?) in given { axes.append(SweepAxis(parameter: parameter, values: list)) }
        for setting in sets { axes.append(SweepAxis(parameter: .layer(setting.reference), values: setting.values)) }
        let seedList = seed.map { $0.values.map { UInt64($0.integer ?? 0) } }
        let seedPlan = seeds != nil || seedList?.count == 1
            ? SweepSeeds(first: seedList?.first, count: seeds ?? 1)
            : SweepSeeds(list: seedList, count: 1)
        let definition = SweepDefinition(axes: axes, ablations: ablate, seeds: seedPlan, optimizer: optimizer, threads: threadsPerRun,
                                         validation: val, limit: dataFlags.limit, selectOn: selectOn)
        let loaded = Compilation.compile(path: file)
        guard !loaded.hasErrors else {
            printError(loaded.renderedDiagnostics, terminator: "")
            throw ExitCode.failure
        }
        let source = loaded.source
        let plan: SweepPlan
        do {
            plan = try SweepPlan(source: source, definition: definition)
        } catch let error as SweepPlanError {
            switch error {
            case let .usage(text):
                printError("error: \(text)")
                throw ExitCode(2)
            case let .invalidSpec(text):
                printError(text, terminator: text.hasSuffix("\n") ? "" : "\n")
                throw ExitCode.failure
            }
        }
        for warning in plan.warnings { printError("warning: \(warning)") }
        if let graph = plan.base.graph { try requireMNISTInput(graph, file: file) }
        let count = plan.runs.count
        if count > sweepRunConfirmationThreshold && !yes && !dryRun {
            printError("error: this sweep has \(groupedThousands(count)) runs (\(runCountBreakdown(plan))); pass --yes to start more than \(groupedThousands(sweepRunConfirmationThreshold))")
            throw ExitCode(2)
        }
        if dryRun { return printDryRun(plan) }
        let directory = output.out ?? defaultRunDirectory(name: plan.base.graph?.name ?? "sweep", suffix: "-sweep")
        let environment = ProcessInfo.processInfo.environment
        let dataDirectory = absolutePath(MNIST.resolveDirectory(flag: dataFlags.data, environment: environment))
        do {
            try prepareSweepDirectory(plan, directory: directory, dataDirectory: dataDirectory, force: force)
        } catch let error as SweepManifestError {
            printError("error: \(error.description)")
            throw ExitCode(2)
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        let absoluteDirectory = absolutePath(directory)
        if planOnly || slurm {
            let commands = sweepCommands(plan, executable: executablePath(), directory: absoluteDirectory, data: dataDirectory)
            try writeFileAtomically(Array(commands.utf8), to: directory + "/" + SweepFiles.commands)
            if planOnly {
                print("\(groupedThousands(count)) runs (\(runCountBreakdown(plan))), \(plural(threadsPerRun, "thread")) each; "
                      + "one command per run in \(directory)/\(SweepFiles.commands)")
                print("run them with e.g.  xargs -P 2 -I{} sh -c '{}' < \(shellQuoted(directory + "/" + SweepFiles.commands))")
                print("then collect with   cnnc sweep --collect \(shellQuoted(directory))")
                return
            }
            return try writeSlurm(plan, directory: directory, absoluteDirectory: absoluteDirectory, dataDirectory: dataDirectory,
                                  threads: threadsPerRun)
        }
        try runLocally(plan, directory: directory, threads: threadsPerRun)
    }

    // MARK: - Local

    private func runLocally(_ plan: SweepPlan, directory: String, threads: Int) throws {
        let (quiet, json) = (output.quiet, output.json)
        let data = try loadData(dataFlags, quiet: quiet)
        let previous = loadSweepResults(plan, directory: directory)
        let sweep = Runtime.Sweep(plan: plan, jobs: jobs, directory: directory, data: data, previous: previous)
        // Memory: the largest run times the runs at once, plus the data set; checked without overflow.
        let perRun = plan.largestRunBytes()
        let dataBytes = data.train.pixels.count + data.test.pixels.count
        let (runsBytes, overflow) = perRun.multipliedReportingOverflow(by: sweep.jobs)
        let available = physicalMemoryBytes() * 4 / 5
        guard !overflow, runsBytes <= available - dataBytes else {
            printError("error: \(plural(sweep.jobs, "run")) at once need about \(overflow ? "more than 8 EiB" : formatBytes(runsBytes + dataBytes)) "
                       + "(\(formatBytes(perRun)) for the largest run), more than the \(formatBytes(available)) this machine can spare; "
                       + "lower --jobs or --batch-size")
            throw ExitCode(2)
        }
        let log = RunLog(quiet: quiet, toStandardError: json)
        let finishedBefore = plan.runs.count - sweep.pending.count
        log.line("\(plan.base.graph?.name ?? "sweep"): \(groupedThousands(plan.runs.count)) runs (\(runCountBreakdown(plan))) of "
                 + "\(epochsText(plan)), \(sweep.jobs) at a time, \(plural(threads, "thread")) each; validation "
                 + "\(groupedThousands(val)) images; selecting on \(selectOn.rawValue)")
        let checkpointed = sweep.pending.filter { hasCheckpoint(directory + "/" + plan.runs[$0].directoryName) }.count
        if finishedBefore > 0 || checkpointed > 0 {
            let continuing = checkpointed == 0 ? "" : checkpointed == 1 ? " (1 from its checkpoint)"
                : " (\(groupedThousands(checkpointed)) from their checkpoints)"
            log.line("\(groupedThousands(finishedBefore)) of them already finished in \(directory); "
                     + "training the other \(groupedThousands(sweep.pending.count))\(continuing)")
        }
        if selectOn == .test {
            printError("warning: selecting on the test set: the chosen point's test accuracy is no longer an unbiased estimate of accuracy on new data")
        }
        Interrupt.install()
        let barLock = NSLock()
        var bar = ProgressBar(enabled: !quiet)
        let rows = sweep.run(
            progress: { p in
                barLock.lock()
                defer { barLock.unlock() }
                let running = p.running.map { "#\($0.run) \(Int(($0.fraction * 100).rounded(.down)))%" }.joined(separator: ", ")
                let done = Double(p.finishedRuns) + p.running.reduce(0) { $0 + $1.fraction }
                bar.draw(prefix: "run \(min(p.finishedRuns + 1, p.totalRuns))/\(p.totalRuns)", fraction: done / Double(max(p.totalRuns, 1)),
                         suffix: "\(running)  ETA \(p.etaSeconds.map(formatDuration) ?? "?")")
            },
            runFinished: { result in
                barLock.lock()
                defer { barLock.unlock() }
                bar.clear()
                log.line(runLine(plan, result))
            },
            shouldStop: { Interrupt.isRequested })
        bar.clear()
        if let error = sweep.lastWriteError { printError("error: could not write the sweep's tables: \(error)") }
        let report = RunLog(quiet: false, toStandardError: json)
        report.line(sweepReport(plan, rows: rows))
        if Interrupt.isRequested {
            report.line("interrupted: runs marked 'not run' did not finish; run the same command again to train only those, "
                        + "each from its last checkpoint")
        }
        report.line("results in \(directory) (sweep.csv, sweep.json, sweep.svg, manifest.json, one folder per run)")
        if json { try printSweepJSON(directory) }
        if Interrupt.isRequested { throw ExitCode(Interrupt.exitCode) }
        if sweep.lastWriteError != nil { throw ExitCode.failure }
        // Like `train`, a sweep in which no run finished has failed.
        if !rows.contains(where: { $0.runs.contains { $0.status == .finished } }) { throw ExitCode.failure }
    }

    // MARK: - One run, collect, Slurm

    private func runOne(_ index: Int, directory: String) throws {
        let plan: SweepPlan
        let manifestData: String
        do {
            (plan, manifestData) = try loadSweepPlan(directory)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        guard index < plan.runs.count else {
            printError("error: --run-index \(index) is out of range; \(directory) has runs 0 to \(plan.runs.count - 1)")
            throw ExitCode(2)
        }
        let run = plan.runs[index]
        if loadSweepResults(plan, directory: directory)[index].status == .finished {
            print("run \(index) (\(run.directoryName)) already finished in \(directory)")
            return
        }
        var flags = dataFlags
        if flags.data == nil { flags.data = manifestData }
        let data = try loadData(flags, quiet: true)
        Interrupt.install()
        let result = trainSweepRun(plan, run: run, data: data, directory: directory, progress: { _ in },
                                   shouldStop: { Interrupt.isRequested })
        print(runLine(plan, result))
        switch result.status {
        case .finished: return
        case .failed: throw ExitCode.failure
        case .notRun: throw ExitCode(Interrupt.exitCode)
        }
    }

    private func collectSweep(_ directory: String) throws {
        let plan: SweepPlan
        do {
            plan = try loadSweepPlan(directory).plan
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let results = loadSweepResults(plan, directory: directory)
        do {
            try writeSweepTables(plan, results: results, directory: directory)
        } catch {
            printError("error: could not write the sweep's tables: \(error)")
            throw ExitCode.failure
        }
        let report = RunLog(quiet: false, toStandardError: output.json)
        report.line(sweepReport(plan, rows: sweepRows(plan, results)))
        let missing = results.filter { $0.status == .notRun }
        let failed = results.filter { if case .failed = $0.status { return true } else { return false } }
        report.line("\(results.count - missing.count - failed.count) of \(results.count) runs finished" + (failed.isEmpty ? "" : ", \(failed.count) failed")
                    + (missing.isEmpty ? "" : ", \(missing.count) missing"))
        for result in failed { report.line("  failed:  \(result.run.index) \(result.run.directoryName): \(failureText(result.status))") }
        for result in missing.prefix(50) { report.line("  missing: \(result.run.index) \(result.run.directoryName)") }
        if missing.count > 50 { report.line("  … and \(missing.count - 50) more missing") }
        report.line("results in \(directory) (sweep.csv, sweep.json, sweep.svg)")
        if output.json { try printSweepJSON(directory) }
        if !missing.isEmpty { throw ExitCode.failure }
    }

    private func writeSlurm(_ plan: SweepPlan, directory: String, absoluteDirectory: String, dataDirectory: String, threads: Int) throws {
        let options = SlurmOptions(partition: partition, time: time, cpusPerTask: threads, memory: mem, arrayLimit: arrayLimit,
                                   extraArguments: sbatchArg)
        try createDirectory(directory + "/" + SweepFiles.logs)
        let script = sweepSbatch(plan, options: options, executable: executablePath(), directory: absoluteDirectory, data: dataDirectory)
        let path = directory + "/" + SweepFiles.sbatch
        try writeFileAtomically(Array(script.utf8), to: path)
        guard chmod(path, 0o755) == 0 else {
            printError("error: cannot make \(path) executable: \(String(cString: strerror(errno)))")
            throw ExitCode.failure
        }
        print("\(groupedThousands(plan.runs.count)) runs (\(runCountBreakdown(plan))) as a Slurm job array in \(path), \(plural(threads, "CPU")) per task")
        guard submit else {
            print("submit with  sbatch \(shellQuoted(path))")
            print("then         cnnc sweep --collect \(shellQuoted(directory))")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sbatch", "--parsable", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        do {
            try process.run()
        } catch {
            printError("error: cannot run sbatch: \(error.localizedDescription)")
            throw ExitCode.failure
        }
        let outputData = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: outputData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, let job = text.split(separator: ";").first, !job.isEmpty else {
            printError("error: sbatch failed (exit \(process.terminationStatus)) \(text)")
            throw ExitCode.failure
        }
        print("submitted job \(job)")
        print("follow with  squeue -j \(job)")
        print("collect with cnnc sweep --collect \(shellQuoted(directory))")
    }

    private func printDryRun(_ plan: SweepPlan) {
        print("\(groupedThousands(plan.runs.count)) runs (\(runCountBreakdown(plan))) of \(epochsText(plan)), \(plural(plan.definition.threads, "thread")) each")
        for (i, _) in plan.points.enumerated() {
            print("  point \(i): \(plan.describe(point: i))")
        }
        var shown = Set<Int>()
        let structural = plan.hasAblations || plan.definition.axes.contains { if case .layer = $0.parameter { return true } else { return false } }
        for (i, variant) in plan.pointVariants.enumerated() where structural && shown.insert(variant).inserted {
            guard let graph = plan.variants[variant].graph, let spec = plan.variants[variant].spec else { continue }
            let run = plan.runs.first { $0.point == i }!
            print("\n\(plan.describe(point: i)):")
            print(ModelSummary(graph: graph, settings: ModelSummary.settings(train: spec.train, batchSize: run.settings.batchSize, threads: run.settings.threads))
                .rendered(file: plan.source.path))
        }
    }
}

/// `3 dropout × 2 lr × 2 seeds`.
func runCountBreakdown(_ plan: SweepPlan) -> String {
    var parts = plan.sweptAxes.map { "\(plan.definition.axes[$0].values.values.count) \(plan.definition.axes[$0].parameter.name)" }
    if plan.hasAblations { parts.append("\(Set(plan.points.map(\.ablation)).count) variants") }
    if plan.seeds.count > 1 { parts.append("\(plan.seeds.count) seeds") }
    return parts.isEmpty ? "one point" : parts.joined(separator: " × ")
}

func epochsText(_ plan: SweepPlan) -> String {
    let counts = Set(plan.runs.map(\.settings.epochs)).sorted()
    return counts.count == 1 ? plural(counts[0], "epoch") : "\(counts.map(String.init).joined(separator: "/")) epochs"
}

func failureText(_ status: SweepRunStatus) -> String {
    if case let .failed(reason) = status { return reason }
    return status.label
}

func runLine(_ plan: SweepPlan, _ result: SweepRunResult) -> String {
    var what = "\(plan.describe(point: result.run.point)), seed \(result.run.seed)"
    if !result.resumedFrom.isEmpty {
        what += " (resumed at " + result.resumedFrom.map(\.description).joined(separator: ", then ") + ")"
    }
    switch result.status {
    case .finished:
        var line = "\(what): loss \(result.trainLoss.map { formatFixed($0, digits: 4) } ?? "-")"
        if let validation = result.validationAccuracy { line += "  val \(formatFixed(validation, digits: 4))" }
        line += "  test \(result.testAccuracy.map { formatFixed($0, digits: 4) } ?? "-")  \(formatFixed(result.seconds, digits: 1))s"
        return line
    case let .failed(reason):
        return "\(what): failed: \(reason)"
    case .notRun:
        return "\(what): not finished"
    }
}

/// The table (mean ± sd over seeds; ablations sorted by validation accuracy) and the choice.
func sweepReport(_ plan: SweepPlan, rows: [SweepRow]) -> String {
    let split = plan.definition.selectOn
    let validation = plan.definition.validation
    let chosen = selectBest(rows, on: split)
    func cell(_ spread: Spread?) -> String {
        guard let spread else { return "-" }
        let mean = formatFixed(spread.mean, digits: 4)
        return spread.standardDeviation.map { mean + " ± " + formatFixed($0, digits: 4) } ?? mean
    }
    let columns = pointColumns(plan)
    var headers = columns + ["train loss"]
    if validation > 0 { headers.append("val acc") }
    headers += ["test acc", "seconds", "selection"]
    let numeric = Set(0..<plan.sweptAxes.count).union(columns.count..<(headers.count - 1))
    var table = TextTable(headers: headers, rightAligned: numeric)
    for row in orderedRows(plan, rows) {
        var cells = pointCells(plan, point: row.point) + [cell(row.trainLoss)]
        if validation > 0 { cells.append(cell(row.validationAccuracy)) }
        let seconds = row.seconds.map { formatFixed($0.mean, digits: 1) } ?? "-"
        var note = chosen.map { rows[$0].point == row.point } ?? false ? "← chosen (\(split.rawValue))" : ""
        let unfinished = row.runs.filter { $0.status != .finished }
        if !unfinished.isEmpty {
            note = unfinished.map { $0.status == .notRun ? "not run" : "failed" }.joined(separator: ", ")
        }
        cells += [cell(row.testAccuracy), seconds, note]
        table.rows.append(cells)
    }
    var out = table.rendered()
    if let chosen {
        let row = rows[chosen]
        let score = (split == .validation ? row.validationAccuracy : row.testAccuracy).map { formatFixed($0.mean, digits: 4) } ?? "?"
        let test = row.testAccuracy.map { formatFixed($0.mean, digits: 4) } ?? "?"
        let honesty = split == .validation
            ? "its test accuracy \(test) was not used to choose it"
            : "its test accuracy \(test) was used to choose it, so it overstates accuracy on new data"
        out += "\nchosen: \(plan.describe(point: row.point)) (best \(split == .validation ? "validation" : "test") accuracy \(score)); \(honesty)"
    } else {
        out += "\nnothing chosen: no point finished all of its runs"
    }
    return out
}

func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}

/// This executable's absolute path, for command lines other machines or tasks run.
func executablePath() -> String {
    if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
    return absolutePath(CommandLine.arguments[0])
}

/// Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
func isSlurmTime(_ text: String) -> Bool {
    let pattern = #"^(\d+-)?\d+(:\d{1,2}){0,2}$"#
    return text.range(of: pattern, options: .regularExpression) != nil
}

/// Prints `directory/sweep.json` for `--json`; a file that cannot be read ends the command with
/// its reason (exit 1) rather than printing nothing.
private func printSweepJSON(_ directory: String) throws {
    let path = directory + "/sweep.json"
    do {
        print(try String(contentsOfFile: path, encoding: .utf8), terminator: "")
    } catch {
        printError("error: cannot read \(path): \(error.localizedDescription)")
        throw ExitCode.failure
    }
}
