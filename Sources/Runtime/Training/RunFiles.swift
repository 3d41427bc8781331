import Foundation
import Graph
import Spec

/// What one training run was: enough to reproduce it and to read its results.
public struct RunRecord: Sendable {
    public var compilation: Compilation
    public var graph: Graph
    public var settings: TrainingSettings
    /// The `--dropout` override, if one was given.
    public var dropout: Double?
    public var result: TrainingResult
    public var startedAt: Date
    /// Bytes the run allocated: parameter block and companions, and both arenas.
    public var memory: (parameters: ParameterMemory, trainingArena: Int, evaluationArena: Int)

    public init(compilation: Compilation, graph: Graph, settings: TrainingSettings, dropout: Double?,
                result: TrainingResult, startedAt: Date, network: Network) {
        self.compilation = compilation
        self.graph = graph
        self.settings = settings
        self.dropout = dropout
        self.result = result
        self.startedAt = startedAt
        memory = (ParameterMemory(graph: graph, optimizer: settings.optimizer),
                  network.trainingPlan.arenaBytes, network.evaluationPlan.arenaBytes)
    }

    public var specSHA256: String { sha256Hex(Array(compilation.source.text.utf8)) }
    public var finalTestAccuracy: Double? { result.epochs.last?.testAccuracy }
    public var finalValidationAccuracy: Double? { result.epochs.last?.validationAccuracy }
    public var finalTrainLoss: Double? { result.epochs.last?.trainLoss }
}

/// The network's state_dict as safetensors tensors, named and shaped as the equivalent PyTorch
/// `nn.Sequential`'s, so `model.load_state_dict(load_file(path))` works with strict checking.
public func stateDictTensors(_ network: Network) -> [SafetensorsTensor] {
    network.graph.slots.map { slot in
        switch slot.role.storage {
        case .parameters, .statistics:
            return SafetensorsTensor(name: slot.name, shape: slot.shape, payload: .float32(network.values(of: slot)))
        case .counters:
            return SafetensorsTensor(name: slot.name, shape: slot.shape, payload: .int64([network.counter(of: slot)]))
        }
    }
}

/// Fields of metrics.jsonl and summary.json that measure time and so differ between two runs
/// that computed the same numbers (an uninterrupted run and a resumed one); every other field
/// is reproduced exactly.
public let timingFields: Set<String> = ["train_seconds", "evaluation_seconds", "images_per_second", "total_seconds", "started_at"]

/// JSON for one epoch (a metrics.jsonl line with `"kind": "epoch"`).
public func epochJSON(_ report: EpochReport) -> JSON {
    .object([
        ("kind", .string("epoch")),
        ("epoch", .int(report.epoch)),
        ("train_loss", .double(report.trainLoss)),
        ("train_accuracy", .double(report.trainAccuracy)),
        ("validation_accuracy", .number(report.validationAccuracy)),
        ("test_accuracy", .double(report.testAccuracy)),
        ("train_seconds", .double(report.trainSeconds)),
        ("evaluation_seconds", .double(report.evaluationSeconds)),
        ("images_per_second", .double(report.imagesPerSecond)),
    ])
}

/// JSON for one window of steps (a metrics.jsonl line with `"kind": "step"`).
public func stepJSON(_ record: StepRecord) -> JSON {
    .object([
        ("kind", .string("step")),
        ("epoch", .int(record.epoch)),
        ("step", .int(record.step)),
        ("global_step", .int(record.globalStep)),
        ("examples", .int(record.examples)),
        ("train_loss", .double(record.trainLoss)),
    ])
}

/// metrics.jsonl's lines in the order they happened: each epoch's step records, then its epoch
/// line; the step records of an unfinished epoch last.
public func metricsLines(epochs: [EpochReport], steps: [StepRecord]) -> [String] {
    var lines: [String] = []
    var next = 0
    for report in epochs {
        while next < steps.count && steps[next].epoch <= report.epoch {
            lines.append(stepJSON(steps[next]).rendered())
            next += 1
        }
        lines.append(epochJSON(report).rendered())
    }
    lines += steps[next...].map { stepJSON($0).rendered() }
    return lines
}

public func settingsJSON(_ settings: TrainingSettings, dropout: Double?) -> JSON {
    .object([
        ("epochs", .int(settings.epochs)),
        ("batch_size", .int(settings.batchSize)),
        ("optimizer", .string(settings.optimizer.kind.rawValue)),
        ("lr", .double(settings.optimizer.lr)),
        ("momentum", .double(settings.optimizer.momentum)),
        ("weight_decay", .double(settings.optimizer.weightDecay)),
        ("beta1", .double(settings.optimizer.beta1)),
        ("beta2", .double(settings.optimizer.beta2)),
        ("eps", .double(settings.optimizer.eps)),
        ("dropout", .number(dropout)),
        ("seed", .int(Int(truncatingIfNeeded: settings.seed))),
        ("threads", .int(settings.threads)),
        ("validation_images", .int(settings.validation)),
        ("limit", settings.limit.map { .int($0) } ?? .null),
        ("evaluation_batch", .int(settings.evaluationBatch)),
    ])
}

/// The p each Dropout layer trained with (after any `--dropout`), in layer order.
public func dropoutLayersJSON(_ graph: Graph) -> JSON {
    .array(graph.steps.enumerated().compactMap { index, step in
        guard case let .dropout(p) = step.op else { return nil }
        return .object([("step", .int(index)), ("name", .string(step.name)), ("p", .double(p))])
    })
}

/// summary.json: the spec's identity, the hyperparameters, the final accuracies and times.
public func summaryJSON(_ record: RunRecord) -> JSON {
    let result = record.result
    return .object([
        ("name", .string(record.graph.name)),
        ("spec", .string(record.compilation.source.path)),
        ("spec_sha256", .string(record.specSHA256)),
        ("params", .int(record.graph.parameterCount)),
        ("macs", .int(record.graph.macsPerExample)),
        ("settings", settingsJSON(record.settings, dropout: record.dropout)),
        ("dropout_layers", dropoutLayersJSON(record.graph)),
        ("memory", .object([
            ("parameter_bytes", .int(record.memory.parameters.parameters)),
            ("gradient_bytes", .int(record.memory.parameters.gradients)),
            ("optimizer_state_bytes", .int(record.memory.parameters.optimizerState)),
            ("statistics_bytes", .int(record.memory.parameters.statistics)),
            ("training_arena_bytes", .int(record.memory.trainingArena)),
            ("evaluation_arena_bytes", .int(record.memory.evaluationArena)),
        ])),
        ("outcome", .string(result.outcome.description)),
        ("finished", .bool(result.outcome == .finished)),
        ("epochs_completed", .int(result.epochs.count)),
        ("final_train_loss", .number(record.finalTrainLoss)),
        ("final_validation_accuracy", .number(record.finalValidationAccuracy)),
        ("final_test_accuracy", .number(record.finalTestAccuracy)),
        ("train_seconds", .double(result.epochs.reduce(0) { $0 + $1.trainSeconds })),
        ("total_seconds", .double(result.totalSeconds)),
        ("resumed_from", resumePointsJSON(result.resumedFrom)),
        ("started_at", .string(ISO8601DateFormatter().string(from: record.startedAt))),
        ("cnnc_version", .string(cnncVersion)),
        ("epochs", .array(result.epochs.map(epochJSON))),
    ])
}

/// The files `writeRunFiles` writes, besides the copy of the spec; a spec file named like one
/// of these (or like the checkpoint folder or lock) is copied as `spec-<name>` instead.
public let runFileNames: Set<String> = ["weights.safetensors", "metrics.jsonl", "summary.json", "curves.svg", "curves.pdf"]
private let runDirectoryEntries: Set<String> = runFileNames.union(["resolved.yaml", "checkpoint", ".lock",
    // written by cnnc eval
    "eval.json", "confusion.svg", "confusion.pdf", "mistakes.png"])

/// The name the spec's copy gets in a run directory: its own, unless a run file has that name.
public func specCopyName(_ specPath: String) -> String {
    let name = specPath.split(separator: "/").last.map(String.init) ?? ""
    return runDirectoryEntries.contains(name) || name.isEmpty || name.hasPrefix(".") ? "spec-" + name : name
}

/// Writes a run's files into `directory` (created if needed), each atomically:
/// weights.safetensors, metrics.jsonl, summary.json, curves.svg/.pdf and a copy of the spec.
public func writeRunFiles(_ record: RunRecord, network: Network, directory: String) throws {
    try createDirectory(directory)
    let metadata = [("format", "pt"), ("cnnc_version", cnncVersion), ("name", record.graph.name),
                    ("spec_sha256", record.specSHA256)]
    try writeSafetensors(stateDictTensors(network), metadata: metadata, to: directory + "/weights.safetensors")
    try writeMetrics(epochs: record.result.epochs, steps: record.result.steps, directory: directory)
    try writeFileAtomically(Array((summaryJSON(record).rendered(pretty: true) + "\n").utf8), to: directory + "/summary.json")
    try writeFigure(curvesFigure(record), stem: directory + "/curves")
    try writeFileAtomically(Array(record.compilation.source.text.utf8), to: directory + "/" + specCopyName(record.compilation.source.path))
}

/// metrics.jsonl, rewritten whole (atomically) after each epoch.
public func writeMetrics(epochs: [EpochReport], steps: [StepRecord], directory: String) throws {
    try createDirectory(directory)
    let lines = metricsLines(epochs: epochs, steps: steps).map { $0 + "\n" }.joined()
    try writeFileAtomically(Array(lines.utf8), to: directory + "/metrics.jsonl")
}

/// Creates `path` and its missing parents; an existing directory is fine. Errors name the
/// part of the path that is in the way.
public func createDirectory(_ path: String) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        guard isDirectory.boolValue else { throw FormatError.cannotWrite(path: path, reason: "it exists and is not a directory") }
        return
    }
    if let parent = parentDirectory(path) {
        try createDirectory(parent)
    }
    if mkdir(path, 0o755) != 0 && errno != EEXIST {
        throw FormatError.cannotWrite(path: path, reason: "cannot create the directory: \(String(cString: strerror(errno)))")
    }
}

/// The directory holding `path`, or nil for "/" and a single relative component (the working
/// directory). Plain string work: Foundation's `deletingLastPathComponent` traps on some short
/// relative paths (`"a"`).
public func parentDirectory(_ path: String) -> String? {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return nil }
    var parent = trimmed[..<slash]
    while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
    return parent.isEmpty ? nil : String(parent)
}

/// True when `directory` holds a run's files or checkpoint.
public func holdsRun(_ directory: String) -> Bool {
    runDirectoryEntries.subtracting([".lock"]).contains { FileManager.default.fileExists(atPath: directory + "/" + $0) }
}

/// Removes an earlier run's files and checkpoint from `directory` (`train --force`).
public func removeRunFiles(_ directory: String) throws {
    do {
        for name in runDirectoryEntries.subtracting([".lock"]) where FileManager.default.fileExists(atPath: directory + "/" + name) {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    } catch {
        throw FormatError.cannotWrite(path: directory, reason: "cannot remove the earlier run's files: \(error.localizedDescription)")
    }
}

/// Removes the temporary files of atomic writes a killed process left in `directory`
/// (`.NAME.tmp-…`; see `writeFileAtomically`). Only call it while holding the directory's lock.
public func removeAbandonedTemporaryFiles(_ directory: String) throws {
    let names: [String]
    do {
        names = try FileManager.default.contentsOfDirectory(atPath: directory)
    } catch {
        throw FormatError.cannotRead(path: directory, reason: error.localizedDescription)
    }
    for name in names where name.hasPrefix(".") && name.contains(".tmp-") {
        if unlink(directory + "/" + name) != 0 && errno != ENOENT {
            throw FormatError.cannotWrite(path: directory + "/" + name, reason: "cannot remove: \(String(cString: strerror(errno)))")
        }
    }
}

/// A spec's `name:` made safe as one path component: letters, digits, `.`, `_` and `-` kept,
/// anything else (slashes, control characters, spaces) replaced by `_`, no leading dot, at most
/// 64 characters.
public func pathSafeName(_ name: String) -> String {
    var out = String(String.UnicodeScalarView(name.unicodeScalars.prefix(64).map { scalar in
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
            ? scalar : "_"
    }))
    if out.hasPrefix(".") { out = "_" + out.dropFirst() }
    return out.isEmpty ? "run" : out
}

/// `runs/<name>-<yyyyMMdd-HHmmss>` (with `suffix` after the name); `name` is made path-safe.
public func defaultRunDirectory(name: String, suffix: String = "", at date: Date = Date()) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    formatter.locale = Locale(identifier: "en_US_POSIX")
    return "runs/\(pathSafeName(name))\(suffix)-\(formatter.string(from: date))"
}

/// Creates a directory that did not exist before: `base`, else `base-2`, `base-3`, … (two runs
/// started in the same second get different directories).
public func createNewDirectory(_ base: String) throws -> String {
    if let parent = parentDirectory(base) { try createDirectory(parent) }
    for n in 1...10_000 {
        let candidate = n == 1 ? base : "\(base)-\(n)"
        if mkdir(candidate, 0o755) == 0 { return candidate }
        guard errno == EEXIST else {
            throw FormatError.cannotWrite(path: candidate, reason: "cannot create the directory: \(String(cString: strerror(errno)))")
        }
    }
    throw FormatError.cannotWrite(path: base, reason: "10,000 directories of that name exist already")
}

/// An exclusive lock on a run directory (`DIR/.lock`, flock), held while the object lives:
/// a second cnnc writing to the same directory is refused instead of mixing its files in.
public final class RunDirectoryLock {
    private let descriptor: Int32

    public enum Failure: Error, CustomStringConvertible {
        case busy(String)

        public var description: String {
            switch self {
            case let .busy(directory): return "'\(directory)' is in use by another cnnc run (it holds \(directory)/.lock)"
            }
        }
    }

    public init(directory: String) throws {
        let path = directory + "/.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FormatError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw Failure.busy(directory)
        }
    }

    deinit { close(descriptor) }
}

/// Finds MNIST in `directory`, downloading what is missing when `download` is set, then loads
/// and verifies it.
public func prepareMNIST(directory: String, download: Bool, mirrors: [String],
                         progress: MNISTDownloader.Progress? = nil) throws -> MNIST {
    let missing = MNISTFile.all.filter { $0.locate(in: directory) == nil }
    if !missing.isEmpty {
        guard download else {
            throw DataError.missingFile(directory: directory, stem: missing[0].stem,
                                        tried: [missing[0].gzipName, missing[0].stem])
        }
        try createDirectory(directory)
        try MNISTDownloader(mirrors: mirrors, progress: progress).downloadMissing(into: directory, files: missing)
    }
    return try MNIST.load(directory: directory)
}
