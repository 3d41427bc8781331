import Foundation

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

/// JSON for one epoch (a line of metrics.jsonl).
public func epochJSON(_ report: EpochReport) -> JSON {
    .object([
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

public func settingsJSON(_ settings: TrainingSettings, dropout: Double?) -> JSON {
    .object([
        ("epochs", .int(settings.epochs)),
        ("batch_size", .int(settings.batchSize)),
        ("optimizer", .string(settings.optimizer.kind.rawValue)),
        ("lr", .double(settings.optimizer.lr)),
        ("momentum", .double(settings.optimizer.momentum)),
        ("weight_decay", .double(settings.optimizer.weightDecay)),
        ("dropout", .number(dropout)),
        ("seed", .int(Int(truncatingIfNeeded: settings.seed))),
        ("threads", .int(settings.threads)),
        ("validation_images", .int(settings.validation)),
        ("limit", settings.limit.map { .int($0) } ?? .null),
    ])
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
        ("started_at", .string(ISO8601DateFormatter().string(from: record.startedAt))),
        ("cnnc_version", .string(cnncVersion)),
        ("epochs", .array(result.epochs.map(epochJSON))),
    ])
}

/// Writes a run's files into `directory` (created if needed), each atomically:
/// weights.safetensors, metrics.jsonl, summary.json, curves.svg/.pdf and a copy of the spec.
public func writeRunFiles(_ record: RunRecord, network: Network, directory: String) throws {
    try createDirectory(directory)
    let metadata = [("format", "pt"), ("cnnc_version", cnncVersion), ("name", record.graph.name),
                    ("spec_sha256", record.specSHA256)]
    try writeSafetensors(stateDictTensors(network), metadata: metadata, to: directory + "/weights.safetensors")
    try writeMetrics(record.result.epochs, directory: directory)
    try writeFileAtomically(Array((summaryJSON(record).rendered(pretty: true) + "\n").utf8), to: directory + "/summary.json")
    try writeFigure(curvesFigure(record), stem: directory + "/curves")
    let specName = (record.compilation.source.path as NSString).lastPathComponent
    try writeFileAtomically(Array(record.compilation.source.text.utf8), to: directory + "/" + specName)
}

/// metrics.jsonl, rewritten whole (atomically) after each epoch.
public func writeMetrics(_ epochs: [EpochReport], directory: String) throws {
    try createDirectory(directory)
    let lines = epochs.map { epochJSON($0).rendered() + "\n" }.joined()
    try writeFileAtomically(Array(lines.utf8), to: directory + "/metrics.jsonl")
}

public func createDirectory(_ path: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw FormatError.cannotWrite(path: path, reason: "\(error.localizedDescription)")
    }
}

/// `runs/<name>-<yyyyMMdd-HHmmss>` (with `suffix` after the name).
public func defaultRunDirectory(name: String, suffix: String = "", at date: Date = Date()) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    formatter.locale = Locale(identifier: "en_US_POSIX")
    return "runs/\(name)\(suffix)-\(formatter.string(from: date))"
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
