import Foundation
import Graph
import Spec

// A checkpoint is everything a training run needs to continue bit for bit: the network's
// memory (parameters, gradients, optimizer state, batch-norm statistics and counters, the step
// count, the dropout stream), the trainer's position (epoch, step, the epoch's shuffled order,
// the shuffle stream, the sums of the epoch so far, every metric so far) and what the run is
// (spec text and hash, the resolved settings, the dropout override). The initialization stream
// is used only before the first step; its product, the weights, is in the checkpoint.
//
// On disk, `RUN/checkpoint/` holds `state-<id>.safetensors` (tensors, and the rest as JSON in
// its metadata) and `manifest.json` naming that file with its size and SHA-256. Each is written
// to a temporary file, fsynced and renamed; the manifest is renamed last, so the checkpoint is
// the old one until that rename and the new one after it, never a mixture. Files the manifest
// does not name are then removed.
//
// Reading is split into pure functions of bytes (`CheckpointManifest.decode`,
// `TrainingCheckpoint.decode`), which fuzzers call, and `readCheckpoint`, which reads the files.

/// The part of a `Network` that changes as it trains.
public struct NetworkState: Sendable {
    public var parameters: [Float]
    public var gradients: [Float]
    public var optimizerState: [Float]
    public var statistics: [Float]
    public var counters: [Int64]
    public var stepCount: Int
    public var dropoutGenerator: SeededGenerator
}

extension Network {
    /// A copy of everything training changes.
    public func snapshot() -> NetworkState {
        let p = graph.parameterCount
        return NetworkState(
            parameters: Array(UnsafeBufferPointer(start: parameters, count: p)),
            gradients: Array(UnsafeBufferPointer(start: gradients, count: p)),
            optimizerState: Array(UnsafeBufferPointer(start: optimizerState, count: p * optimizer.stateBlocks)),
            statistics: Array(UnsafeBufferPointer(start: statistics, count: graph.statisticCount)),
            counters: Array(UnsafeBufferPointer(start: counters, count: graph.counterCount)),
            stepCount: stepCount,
            dropoutGenerator: dropoutGenerator)
    }

    /// Puts a snapshot back; refuses one whose sizes are not this network's.
    public func restore(_ state: NetworkState) throws {
        let p = graph.parameterCount
        let expected: [(String, Int, Int)] = [
            ("parameters", state.parameters.count, p), ("gradients", state.gradients.count, p),
            ("optimizer_state", state.optimizerState.count, p * optimizer.stateBlocks),
            ("statistics", state.statistics.count, graph.statisticCount), ("counters", state.counters.count, graph.counterCount),
        ]
        for (name, count, want) in expected where count != want {
            throw CheckpointError.mismatch("its \(name) has \(count) values; this network has \(want)")
        }
        guard state.stepCount >= 0 else { throw CheckpointError.mismatch("its step count \(state.stepCount) is negative") }
        parameters.update(from: state.parameters, count: p)
        gradients.update(from: state.gradients, count: p)
        optimizerState.update(from: state.optimizerState, count: state.optimizerState.count)
        statistics.update(from: state.statistics, count: state.statistics.count)
        counters.update(from: state.counters, count: state.counters.count)
        stepCount = state.stepCount
        dropoutGenerator = state.dropoutGenerator
    }
}

extension SeededGenerator {
    /// The four state words, for checkpoints.
    public var words: [UInt64] { [state.0, state.1, state.2, state.3] }

    /// A generator continuing from saved state words.
    public init?(words: [UInt64]) {
        guard words.count == 4, words.contains(where: { $0 != 0 }) else { return nil }
        self.init(seed: 0)
        state = (words[0], words[1], words[2], words[3])
    }
}

/// What a checkpointed run is: the spec it compiled, the `--dropout` override and the settings,
/// and for a run of a sweep, which one.
public struct CheckpointedRun: Hashable, Sendable {
    public var specPath: String
    public var specText: String
    public var dropout: Double?
    public var settings: TrainingSettings
    /// For a run of `cnnc sweep`, the SHA-256 of its entry in the sweep's manifest (`run_sha256`
    /// in its run.json), which also covers layer arguments set with `--set` and ablations that
    /// the spec text and settings do not show; nil for `cnnc train`.
    public var sweepRun: String?

    public init(specPath: String, specText: String, dropout: Double?, settings: TrainingSettings, sweepRun: String? = nil) {
        self.specPath = specPath
        self.specText = specText
        self.dropout = dropout
        self.settings = settings
        self.sweepRun = sweepRun
    }

    public var specSHA256: String { sha256Hex(Array(specText.utf8)) }
}

public struct TrainingCheckpoint: Sendable {
    public static let formatVersion = 1

    public var run: CheckpointedRun
    public var network: NetworkState
    public var position: TrainingPosition

    public init(run: CheckpointedRun, network: NetworkState, position: TrainingPosition) {
        self.run = run
        self.network = network
        self.position = position
    }
}

public enum CheckpointError: Error, CustomStringConvertible {
    /// No complete checkpoint in the directory.
    case missing(directory: String)
    /// The bytes are not a checkpoint this version wrote, or do not match their manifest.
    case corrupt(String)
    /// A sound checkpoint that belongs to another network or data split.
    case mismatch(String)

    public var description: String {
        switch self {
        case let .missing(directory): return "no checkpoint in '\(directory)' (no \(directory)/checkpoint/manifest.json)"
        case let .corrupt(reason): return "the checkpoint is corrupt: \(reason)"
        case let .mismatch(reason): return "the checkpoint does not fit this run: \(reason)"
        }
    }
}

extension Trainer {
    /// The run's state now, for `writeCheckpoint`.
    public func checkpoint(run: CheckpointedRun) -> TrainingCheckpoint {
        var run = run
        run.settings = settings
        return TrainingCheckpoint(run: run, network: network.snapshot(), position: position)
    }

    /// Continues from `checkpoint`: the trainer must have been made with the checkpoint's
    /// settings (`checkpoint.run.settings`, with any number of epochs) and graph.
    public func restore(_ checkpoint: TrainingCheckpoint) throws {
        var saved = checkpoint.run.settings
        saved.epochs = settings.epochs
        guard saved == settings else { throw CheckpointError.mismatch("it was written with other settings") }
        let position = checkpoint.position
        let steps = (split.training.count + settings.batchSize - 1) / settings.batchSize
        guard position.order.count == split.training.count, position.order.sorted() == split.training else {
            throw CheckpointError.mismatch("its shuffled order is not a permutation of this run's \(split.training.count) training images")
        }
        guard position.epoch >= 1, position.step >= 0, position.step < steps || (position.step == 0 && steps == 0),
              position.reports.count == position.epoch - 1, position.seen >= 0, position.windowSeen >= 0
        else { throw CheckpointError.mismatch("its position (epoch \(position.epoch), step \(position.step)) is not one this run reaches") }
        guard position.epoch - 1 <= settings.epochs else {
            throw CheckpointError.mismatch("it has \(position.epoch - 1) epochs done, more than the \(settings.epochs) asked for")
        }
        try network.restore(checkpoint.network)
        self.position = position
    }
}

// MARK: - Encoding

/// `manifest.json`: the state file's name, size and SHA-256.
public struct CheckpointManifest: Hashable, Sendable {
    public var stateFile: String
    public var stateBytes: Int
    public var stateSHA256: String
    public var epoch: Int
    public var step: Int

    public func encoded() -> [UInt8] {
        let json = JSON.object([
            ("format", .string("cnnc-checkpoint")),
            ("version", .int(TrainingCheckpoint.formatVersion)),
            ("epoch", .int(epoch)),
            ("step", .int(step)),
            ("files", .array([.object([("name", .string(stateFile)), ("bytes", .int(stateBytes)),
                                       ("sha256", .string(stateSHA256))])])),
        ])
        return Array((json.rendered(pretty: true) + "\n").utf8)
    }

    /// Parses manifest.json; pure.
    public static func decode(_ bytes: [UInt8]) throws -> CheckpointManifest {
        let root = try parseJSON(bytes, what: "manifest.json")
        let object = JSONFields(root, "manifest.json")
        guard try object.string("format") == "cnnc-checkpoint" else { throw CheckpointError.corrupt("manifest.json is not a cnnc checkpoint manifest") }
        let version = try object.int("version")
        guard version == TrainingCheckpoint.formatVersion else {
            throw CheckpointError.corrupt("format version \(version); this cnnc reads version \(TrainingCheckpoint.formatVersion)")
        }
        let files = try object.array("files")
        guard files.count == 1 else { throw CheckpointError.corrupt("manifest.json names \(files.count) files, not 1") }
        let file = JSONFields(files[0], "manifest.json files[0]")
        let name = try file.string("name")
        guard name.hasPrefix("state-"), name.hasSuffix(".safetensors"), !name.contains("/"), name.utf8.count <= 128 else {
            throw CheckpointError.corrupt("manifest.json names '\(name)', not a state file")
        }
        return CheckpointManifest(stateFile: name, stateBytes: try file.int("bytes"), stateSHA256: try file.string("sha256"),
                                  epoch: try object.int("epoch"), step: try object.int("step"))
    }
}

extension TrainingCheckpoint {
    /// The state file's bytes (safetensors: tensors, plus the rest as JSON in its metadata).
    public func encoded() -> [UInt8] {
        let position = self.position
        let tensors: [SafetensorsTensor] = [
            .init(name: "parameters", shape: [network.parameters.count], payload: .float32(network.parameters)),
            .init(name: "gradients", shape: [network.gradients.count], payload: .float32(network.gradients)),
            .init(name: "optimizer_state", shape: [network.optimizerState.count], payload: .float32(network.optimizerState)),
            .init(name: "statistics", shape: [network.statistics.count], payload: .float32(network.statistics)),
            .init(name: "counters", shape: [network.counters.count], payload: .int64(network.counters)),
            .init(name: "order", shape: [position.order.count], payload: .int64(position.order.map(Int64.init))),
            .init(name: "dropout_generator", shape: [4], payload: .int64(network.dropoutGenerator.words.map { Int64(bitPattern: $0) })),
            .init(name: "shuffle_generator", shape: [4], payload: .int64(position.shuffleGenerator.words.map { Int64(bitPattern: $0) })),
        ]
        let progress = JSON.object([
            ("version", .int(TrainingCheckpoint.formatVersion)),
            ("spec_path", .string(run.specPath)),
            ("spec_text", .string(run.specText)),
            ("spec_sha256", .string(run.specSHA256)),
            ("settings", settingsJSON(run.settings, dropout: run.dropout)),
            ("sweep_run_sha256", run.sweepRun.map { .string($0) } ?? .null),
            ("step_count", .int(network.stepCount)),
            ("epoch", .int(position.epoch)),
            ("step", .int(position.step)),
            ("loss_sum", .double(position.lossSum)),
            ("correct", .int(position.correct)),
            ("seen", .int(position.seen)),
            ("window_loss_sum", .double(position.windowLossSum)),
            ("window_seen", .int(position.windowSeen)),
            ("epoch_train_seconds", .double(position.epochTrainSeconds)),
            ("total_seconds", .double(position.totalSeconds)),
            ("epochs", .array(position.reports.map(epochJSON))),
            ("steps", .array(position.stepRecords.map(stepJSON))),
            ("resumed_from", resumePointsJSON(position.resumedFrom)),
        ])
        return encodeSafetensors(tensors, metadata: [("cnnc_checkpoint", progress.rendered())])
    }

    /// Decodes a state file checked against its manifest; pure.
    public static func decode(manifest: CheckpointManifest, state bytes: [UInt8]) throws -> TrainingCheckpoint {
        guard bytes.count == manifest.stateBytes else {
            throw CheckpointError.corrupt("\(manifest.stateFile) is \(bytes.count) bytes; the manifest says \(manifest.stateBytes)")
        }
        guard sha256Hex(bytes) == manifest.stateSHA256 else {
            throw CheckpointError.corrupt("\(manifest.stateFile) does not match the SHA-256 in manifest.json")
        }
        let (tensors, metadata) = try decodeSafetensors(bytes, source: manifest.stateFile)
        func tensor(_ name: String) throws -> SafetensorsTensor.Payload {
            guard let t = tensors.first(where: { $0.name == name }) else { throw CheckpointError.corrupt("no '\(name)' tensor") }
            return t.payload
        }
        func floats(_ name: String) throws -> [Float] {
            guard case let .float32(v) = try tensor(name) else { throw CheckpointError.corrupt("'\(name)' is not F32") }
            return v
        }
        func ints(_ name: String) throws -> [Int64] {
            guard case let .int64(v) = try tensor(name) else { throw CheckpointError.corrupt("'\(name)' is not I64") }
            return v
        }
        func generator(_ name: String) throws -> SeededGenerator {
            guard let g = SeededGenerator(words: try ints(name).map { UInt64(bitPattern: $0) }) else {
                throw CheckpointError.corrupt("'\(name)' is not a generator state")
            }
            return g
        }
        guard let text = metadata.first(where: { $0.0 == "cnnc_checkpoint" })?.1 else {
            throw CheckpointError.corrupt("no cnnc_checkpoint metadata")
        }
        let progress = JSONFields(try parseJSON(Array(text.utf8), what: "cnnc_checkpoint"), "cnnc_checkpoint")
        let specText = try progress.string("spec_text")
        let settingsObject = JSONFields(try progress.value("settings"), "settings")
        let run = CheckpointedRun(specPath: try progress.string("spec_path"), specText: specText,
                                  dropout: try settingsObject.optionalDouble("dropout"),
                                  settings: try decodeSettings(settingsObject),
                                  sweepRun: try progress.optionalString("sweep_run_sha256"))
        guard run.specSHA256 == (try progress.string("spec_sha256")) else { throw CheckpointError.corrupt("the spec text does not match its hash") }
        let order = try ints("order")
        guard order.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else { throw CheckpointError.corrupt("'order' holds an invalid index") }
        let network = NetworkState(
            parameters: try floats("parameters"), gradients: try floats("gradients"),
            optimizerState: try floats("optimizer_state"), statistics: try floats("statistics"), counters: try ints("counters"),
            stepCount: try progress.int("step_count"), dropoutGenerator: try generator("dropout_generator"))
        var position = TrainingPosition(
            epoch: try progress.int("epoch"), step: try progress.int("step"), order: order.map { Int32($0) },
            shuffleGenerator: try generator("shuffle_generator"),
            lossSum: try progress.double("loss_sum"), correct: try progress.int("correct"), seen: try progress.int("seen"),
            windowLossSum: try progress.double("window_loss_sum"), windowSeen: try progress.int("window_seen"),
            epochTrainSeconds: try progress.double("epoch_train_seconds"), totalSeconds: try progress.double("total_seconds"),
            reports: try progress.array("epochs").map { try decodeEpochReport(JSONFields($0, "epochs")) },
            stepRecords: try progress.array("steps").map { try decodeStepRecord(JSONFields($0, "steps")) })
        // Absent in checkpoints written before runs recorded their resumes.
        if progress.has("resumed_from") {
            position.resumedFrom = try progress.array("resumed_from").map { value in
                let point = JSONFields(value, "resumed_from")
                return ResumePoint(epoch: try point.int("epoch"), step: try point.int("step"))
            }
        }
        guard position.epoch == manifest.epoch, position.step == manifest.step else {
            throw CheckpointError.corrupt("the manifest and the state file disagree on the position")
        }
        return TrainingCheckpoint(run: run, network: network, position: position)
    }
}

private func decodeSettings(_ object: JSONFields) throws -> TrainingSettings {
    guard let kind = OptimizerKind(rawValue: try object.string("optimizer")) else {
        throw CheckpointError.corrupt("unknown optimizer '\(try object.string("optimizer"))'")
    }
    var optimizer = OptimizerSettings(kind: kind, lr: try object.double("lr"), momentum: try object.double("momentum"),
                                      weightDecay: try object.double("weight_decay"))
    optimizer.beta1 = try object.double("beta1")
    optimizer.beta2 = try object.double("beta2")
    optimizer.eps = try object.double("eps")
    let settings = TrainingSettings(
        epochs: try object.int("epochs"), batchSize: try object.int("batch_size"), optimizer: optimizer,
        seed: UInt64(bitPattern: Int64(try object.int("seed"))), threads: try object.int("threads"),
        validation: try object.int("validation_images"), limit: try object.optionalInt("limit"),
        evaluationBatch: try object.int("evaluation_batch"))
    guard settings.epochs >= 1, settings.batchSize >= 1, settings.threads >= 1, settings.validation >= 0,
          settings.evaluationBatch >= 1, (settings.limit ?? 1) >= 1
    else { throw CheckpointError.corrupt("settings out of range") }
    return settings
}

private func decodeEpochReport(_ object: JSONFields) throws -> EpochReport {
    EpochReport(epoch: try object.int("epoch"), trainLoss: try object.double("train_loss"),
                trainAccuracy: try object.double("train_accuracy"), validationAccuracy: try object.optionalDouble("validation_accuracy"),
                testAccuracy: try object.double("test_accuracy"), trainSeconds: try object.double("train_seconds"),
                evaluationSeconds: try object.double("evaluation_seconds"), imagesPerSecond: try object.double("images_per_second"))
}

private func decodeStepRecord(_ object: JSONFields) throws -> StepRecord {
    StepRecord(epoch: try object.int("epoch"), step: try object.int("step"), globalStep: try object.int("global_step"),
               examples: try object.int("examples"), trainLoss: try object.double("train_loss"))
}

private func parseJSON(_ bytes: [UInt8], what: String) throws -> JSON {
    do {
        return try JSON.parse(bytes)
    } catch let failure as JSONParseError {
        throw CheckpointError.corrupt("\(what): \(failure.description)")
    }
}

/// Typed access to a JSON object's fields, failing with `CheckpointError.corrupt`.
private struct JSONFields {
    var pairs: [(String, JSON)]
    var what: String

    init(_ value: JSON, _ what: String) {
        if case let .object(pairs) = value { self.pairs = pairs } else { self.pairs = [] }
        self.what = what
    }

    func value(_ key: String) throws -> JSON {
        guard let v = pairs.first(where: { $0.0 == key })?.1 else { throw CheckpointError.corrupt("\(what) has no '\(key)'") }
        return v
    }

    func int(_ key: String) throws -> Int {
        guard case let .int(i) = try value(key) else { throw CheckpointError.corrupt("\(what).\(key) is not an integer") }
        return i
    }

    func double(_ key: String) throws -> Double {
        switch try value(key) {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: throw CheckpointError.corrupt("\(what).\(key) is not a number")
        }
    }

    func optionalDouble(_ key: String) throws -> Double? {
        if case .null = try value(key) { return nil }
        return try double(key)
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.0 == key } }

    /// A string, or nil when the key is absent or null.
    func optionalString(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        if case .null = try value(key) { return nil }
        return try string(key)
    }

    func optionalInt(_ key: String) throws -> Int? {
        if case .null = try value(key) { return nil }
        return try int(key)
    }

    func string(_ key: String) throws -> String {
        guard case let .string(s) = try value(key) else { throw CheckpointError.corrupt("\(what).\(key) is not a string") }
        return s
    }

    func array(_ key: String) throws -> [JSON] {
        guard case let .array(a) = try value(key) else { throw CheckpointError.corrupt("\(what).\(key) is not an array") }
        return a
    }
}

// MARK: - Files

/// The checkpoint directory of a run directory.
public func checkpointDirectory(_ runDirectory: String) -> String { runDirectory + "/checkpoint" }

/// Writes `checkpoint` into `runDirectory/checkpoint/` atomically (see the top of this file).
public func writeCheckpoint(_ checkpoint: TrainingCheckpoint, runDirectory: String) throws {
    let directory = checkpointDirectory(runDirectory)
    try createDirectory(directory)
    let state = checkpoint.encoded()
    let name = "state-\(UUID().uuidString.lowercased()).safetensors"
    try writeFileAtomically(state, to: directory + "/" + name)
    let manifest = CheckpointManifest(stateFile: name, stateBytes: state.count, stateSHA256: sha256Hex(state),
                                      epoch: checkpoint.position.epoch, step: checkpoint.position.step)
    try writeFileAtomically(manifest.encoded(), to: directory + "/manifest.json")
    try syncDirectory(directory)
    let stale: [String]
    do {
        stale = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != name && $0 != "manifest.json" }
    } catch {
        throw FormatError.cannotRead(path: directory, reason: error.localizedDescription)
    }
    for file in stale where unlink(directory + "/" + file) != 0 && errno != ENOENT {
        throw FormatError.cannotWrite(path: directory + "/" + file, reason: "cannot remove an old checkpoint file: \(String(cString: strerror(errno)))")
    }
}

/// Reads and verifies the checkpoint in `runDirectory/checkpoint/`.
public func readCheckpoint(runDirectory: String) throws -> TrainingCheckpoint {
    let directory = checkpointDirectory(runDirectory)
    let manifestPath = directory + "/manifest.json"
    guard FileManager.default.fileExists(atPath: manifestPath) else { throw CheckpointError.missing(directory: runDirectory) }
    let manifest = try CheckpointManifest.decode(try readBytes(manifestPath))
    return try TrainingCheckpoint.decode(manifest: manifest, state: try readBytes(directory + "/" + manifest.stateFile))
}

private func readBytes(_ path: String) throws -> [UInt8] {
    do {
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
        throw FormatError.cannotRead(path: path, reason: error.localizedDescription)
    }
}

/// fsyncs a directory, so the renames in it are on disk.
func syncDirectory(_ path: String) throws {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw FormatError.cannotWrite(path: path, reason: "cannot open the directory: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw FormatError.cannotWrite(path: path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
}
