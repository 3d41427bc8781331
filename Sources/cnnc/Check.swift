import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate specs, infer every shape, count parameters and plan memory.",
        discussion: "Exit status: 0 when every spec is valid (warnings allowed), 1 when any is invalid, 2 on misuse.")

    @Argument(help: "Spec files (YAML).")
    var files: [String]

    @Option(help: "Batch size for the training memory plan (default: the spec's, else 32).")
    var batchSize: Int?

    @Option(help: "Threads the memory plan is made for: each gets its own conv workspace (default: all cores).")
    var threads: Int?

    @Flag(help: "Print the facts as JSON (an object for one file, an array for several).")
    var json = false

    @Flag(help: "List every tensor of the training plan with its lifetime and arena offset.")
    var plan = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one spec file") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        try validatePlanFlags(batchSize: batchSize, threads: threads)
    }

    func run() throws {
        var failed = false
        var reports: [JSON] = []
        for (i, file) in files.enumerated() {
            let compilation = Compilation.compile(path: file)
            failed = failed || compilation.hasErrors
            let summary = compilation.graph.flatMap { graph -> ModelSummary? in
                let settings = ModelSummary.settings(train: compilation.spec?.train ?? TrainSpec(), batchSize: batchSize,
                                                     threads: threads ?? availableCores())
                guard checkPlanSizes(graph: graph, settings: settings, file: file) else {
                    failed = true
                    return nil
                }
                return ModelSummary(graph: graph, settings: settings)
            }
            if json {
                reports.append(checkJSON(file: file, compilation: compilation, summary: summary))
                continue
            }
            printError(compilation.renderedDiagnostics, terminator: "")
            if let graph = compilation.graph, graph.input != mnistInput {
                printError("\(file): warning: the input is \(graph.input), but `cnnc train` trains on MNIST's \(mnistInput) images, "
                           + "so this spec can be checked but not trained")
            }
            if let summary {
                if i > 0 { print() }
                print(summary.rendered(file: file))
                if plan { print(summary.renderedPlan()) }
            }
        }
        if json {
            let value = reports.count == 1 ? reports[0] : .array(reports)
            print(value.rendered(pretty: true))
        }
        if failed { throw ExitCode.failure }
    }
}

/// The facts `check` reports about a valid graph: counts and both memory plans.
struct ModelSummary {
    var graph: Graph
    var optimizer: OptimizerSettings
    var training: BufferPlan
    var evaluation: BufferPlan
    var memory: ParameterMemory

    static func settings(train: TrainSpec, batchSize: Int?, threads: Int) -> TrainingSettings {
        TrainingSettings.resolve(spec: train, overrides: TrainingOverrides(batchSize: batchSize),
                                 threads: threads, validation: 0, limit: nil)
    }

    init(graph: Graph, settings: TrainingSettings) {
        self.graph = graph
        optimizer = settings.optimizer
        let plans = TrainingPlans(graph: graph, settings: settings)
        training = plans.training
        evaluation = plans.evaluation
        memory = ParameterMemory(graph: graph, optimizer: optimizer)
    }

    func rendered(file: String) -> String {
        var table = TextTable(headers: ["#", "name", "layer", "settings", "output", "params", "share", "RF", "MACs"],
                              rightAligned: [0, 5, 6, 8])
        table.rows.append(["", "input", "", "", graph.input.description, "", "", "", ""])
        let fields = graph.receptiveFields
        for (step, field) in zip(graph.steps, fields) {
            let params = step.op.parameterCount
            let share = params == 0 ? "" : formatFixed(Double(params) / Double(max(graph.parameterCount, 1)) * 100, digits: 1) + "%"
            let receptive = step.op.window != nil ? field.map { $0.h == $0.w ? "\($0.h)" : "\($0.h)×\($0.w)" } ?? "" : ""
            table.rows.append([String(step.index), terminalSafe(step.name), step.op.kindName, step.op.settingsText, step.output.description,
                               groupedThousands(params), share, receptive, groupedThousands(step.op.macs)])
        }
        let params = graph.parameterCount
        let macs = graph.macsPerExample
        var out = "\(terminalSafe(graph.name)) (\(file))\n\n"
        out += table.rendered(indent: "  ")
        out += "\n"
        out += "  parameters  \(groupedThousands(params)) (\(groupedThousands(Graph.parameterLimit - params)) under the limit of fewer than \(groupedThousands(Graph.parameterLimit)))\n"
        out += "              \(groupedThousands(params)) trainable, \(groupedThousands(graph.nonTrainableCount)) non-trainable "
            + "(batch-norm running mean and variance; not counted toward the limit)\n"
        out += "  MACs        \(groupedThousands(macs)) per image forward; \(formatCount(Double(macs) * 60_000)) per 60,000-image epoch\n"
        out += "\n  memory (training at batch \(training.batchSize), \(optimizer.kind.rawValue), \(training.lanes) thread\(training.lanes == 1 ? "" : "s"))\n"
        out += "    parameters      \(formatBytes(memory.parameters))\n"
        out += "    gradients       \(formatBytes(memory.gradients))\n"
        out += "    optimizer state \(formatBytes(memory.optimizerState))\n"
        out += "    running stats   \(formatBytes(memory.statistics))\n"
        let saving = Double(training.naiveBytes) / Double(max(training.arenaBytes, 1))
        out += "    training arena  \(formatBytes(training.arenaBytes)) (\(groupedThousands(training.arenaBytes)) bytes; "
            + "\(formatBytes(training.naiveBytes)) without reuse, \(formatFixed(saving, digits: 1))× smaller)\n"
        out += "    eval arena      \(formatBytes(evaluation.arenaBytes)) at batch \(evaluation.batchSize) "
            + "(\(formatBytes(evaluation.naiveBytes)) without reuse)\n"
        out += "    total           \(formatBytes(memory.total + training.arenaBytes + evaluation.arenaBytes))"
        return out
    }

    func renderedPlan() -> String {
        var table = TextTable(headers: ["tensor", "role", "elements", "bytes", "offset", "live"], rightAligned: [2, 3, 4])
        for tensor in training.tensors.sorted(by: { ($0.offset, $0.id) < ($1.offset, $1.id) }) {
            let alias = tensor.aliasOf.map { " = \(training.tensors[$0].name)" } ?? ""
            table.rows.append([tensor.name + alias, tensor.role.rawValue, groupedThousands(tensor.elementCount),
                               groupedThousands(tensor.bytes), groupedThousands(tensor.offset),
                               "\(tensor.firstUse)–\(tensor.lastUse)"])
        }
        var out = "\n  training plan at batch \(training.batchSize): schedule positions\n"
        for (time, label) in training.schedule.enumerated() {
            out += "    \(time): \(label)\n"
        }
        out += "\n" + table.rendered(indent: "  ")
        return out
    }
}

/// `check --json`: a stable, machine-readable form of the summary and the diagnostics.
func checkJSON(file: String, compilation: Compilation, summary: ModelSummary?) -> JSON {
    let diagnostics = JSON.array(compilation.diagnostics.map { diagnostic in
        .object([
            ("severity", .string(diagnostic.severity.rawValue)),
            ("file", .string(file)),
            ("line", diagnostic.location.map { .int($0.line) } ?? .null),
            ("column", diagnostic.location.map { .int($0.column) } ?? .null),
            ("message", .string(diagnostic.message)),
            ("hint", diagnostic.hint.map { .string($0) } ?? .null),
            ("end_line", diagnostic.end.map { .int($0.line) } ?? .null),
            ("end_column", diagnostic.end.map { .int($0.column) } ?? .null),
            ("fixes", .array(diagnostic.fixes.map(fixJSON))),
        ])
    })
    guard let summary else {
        return .object([
            ("file", .string(file)),
            ("valid", .bool(false)),
            ("name", compilation.spec.map { .string($0.name) } ?? .null),
            ("diagnostics", diagnostics),
        ])
    }
    let graph = summary.graph
    let fields = graph.receptiveFields
    let layers = JSON.array(graph.steps.map { step in
        .object([
            ("index", .int(step.index)),
            ("name", .string(step.name)),
            ("kind", .string(step.op.kindName)),
            ("input_shape", .array(step.input.dims.map { .int($0) })),
            ("output_shape", .array(step.output.dims.map { .int($0) })),
            ("params", .int(step.op.parameterCount)),
            ("macs", .int(step.op.macs)),
            ("receptive_field", receptiveField(step, fields[step.index])),
            ("line", .int(step.location.line)),
            ("implicit", .bool(step.isImplicit)),
        ])
    })
    let slots = JSON.array(graph.slots.map { slot in
        .object([
            ("name", .string(slot.name)),
            ("shape", .array(slot.shape.map { .int($0) })),
            ("dtype", .string(slot.role.storage == .counters ? "int64" : "float32")),
            ("trainable", .bool(slot.role.storage == .parameters)),
            ("offset", .int(slot.offset)),
        ])
    })
    let memory = JSON.object([
        ("batch_size", .int(summary.training.batchSize)),
        ("threads", .int(summary.training.lanes)),
        ("optimizer", .string(summary.optimizer.kind.rawValue)),
        ("parameter_bytes", .int(summary.memory.parameters)),
        ("gradient_bytes", .int(summary.memory.gradients)),
        ("optimizer_state_bytes", .int(summary.memory.optimizerState)),
        ("statistics_bytes", .int(summary.memory.statistics)),
        ("training_arena_bytes", .int(summary.training.arenaBytes)),
        ("training_naive_bytes", .int(summary.training.naiveBytes)),
        ("evaluation_batch_size", .int(summary.evaluation.batchSize)),
        ("evaluation_arena_bytes", .int(summary.evaluation.arenaBytes)),
        ("evaluation_naive_bytes", .int(summary.evaluation.naiveBytes)),
    ])
    return .object([
        ("file", .string(file)),
        ("valid", .bool(true)),
        ("name", .string(graph.name)),
        ("params", .int(graph.parameterCount)),
        ("non_trainable", .int(graph.nonTrainableCount)),
        ("macs", .int(graph.macsPerExample)),
        ("input", .array(graph.input.dims.map { .int($0) })),
        ("output", .string(graph.outputsProbabilities ? "probabilities" : "logits")),
        ("layers", layers),
        ("state_dict", slots),
        ("memory", memory),
        ("diagnostics", diagnostics),
    ])
}

/// `[h, w]` of a conv or pool step's receptive field, else null.
private func receptiveField(_ step: Step, _ field: Pair?) -> JSON {
    guard step.op.window != nil, let field else { return .null }
    return .array([.int(field.h), .int(field.w)])
}

/// A fix for tools: its title and edits, positions 1-based as in the diagnostics (columns count
/// Unicode scalars; each range is start up to, not including, end).
private func fixJSON(_ fix: FixIt) -> JSON {
    .object([
        ("title", .string(fix.title)),
        ("edits", .array(fix.edits.map { edit in
            .object([
                ("start_line", .int(edit.range.start.line)),
                ("start_column", .int(edit.range.start.column)),
                ("end_line", .int(edit.range.end.line)),
                ("end_column", .int(edit.range.end.column)),
                ("replacement", .string(edit.replacement)),
            ])
        })),
    ])
}
