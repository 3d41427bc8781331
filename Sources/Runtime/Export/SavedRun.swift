import Foundation
import Graph
import Spec

/// Why a saved run (or a spec given for export) could not be used; each message is one line that
/// names the file and, for weights, the tensor.
public struct HandinError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A run directory written by `cnnc train` (or one run of a sweep): its spec, the settings it
/// actually ran with, its summary and its weights; or a bare spec (for export without weights).
public struct SavedRun {
    /// The run directory; nil for a bare spec.
    public var directory: String?
    public var compilation: Compilation
    /// The graph as it was trained (the run's dropout override applied).
    public var graph: Graph
    public var settings: TrainingSettings
    /// The `--dropout` override the run recorded.
    public var dropout: Double?
    /// summary.json as parsed (empty for a bare spec).
    public var summary: [String: Any]
    /// The validated state_dict tensors, in the graph's slot order; nil for a bare spec.
    public var weights: [SafetensorsTensor]?

    public var weightsPath: String? { directory.map { $0 + "/weights.safetensors" } }
    public var finalTestAccuracy: Double? { summary["final_test_accuracy"] as? Double }
    public var finalValidationAccuracy: Double? { summary["final_validation_accuracy"] as? Double }

    /// A run directory (weights required) or a spec file (no weights).
    public static func load(_ path: String) throws -> SavedRun {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw HandinError("\(path): no such file or directory")
        }
        return isDirectory.boolValue ? try loadRun(directory: path) : try loadSpec(path: path)
    }

    public static func loadSpec(path: String) throws -> SavedRun {
        let compilation = Compilation.compile(path: path)
        guard let graph = compilation.graph, let spec = compilation.spec else {
            throw HandinError(compilation.renderedDiagnostics.split(separator: "\n").first.map(String.init)
                              ?? "\(path): invalid spec")
        }
        let settings = TrainingSettings.resolve(spec: spec.train, overrides: TrainingOverrides(), threads: 1, validation: 0, limit: nil)
        return SavedRun(directory: nil, compilation: compilation, graph: graph, settings: settings, dropout: nil, summary: [:],
                        weights: nil)
    }

    public static func loadRun(directory: String) throws -> SavedRun {
        let summaryPath = directory + "/summary.json"
        guard let data = FileManager.default.contents(atPath: summaryPath) else {
            throw HandinError("\(summaryPath): missing (is \(directory) a directory written by cnnc train?)")
        }
        guard let summary = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let specRecorded = summary["spec"] as? String, let s = summary["settings"] as? [String: Any] else {
            throw HandinError("\(summaryPath): not a cnnc summary (no 'spec' and 'settings')")
        }
        // The run directory keeps a copy of the spec under its own file name.
        let specPath = directory + "/" + specCopyName(specRecorded)
        guard FileManager.default.fileExists(atPath: specPath) else {
            throw HandinError("\(specPath): missing (the run's copy of its spec)")
        }
        func number(_ key: String) throws -> Double {
            guard let v = s[key] as? NSNumber else { throw HandinError("\(summaryPath): settings.\(key) missing") }
            return v.doubleValue
        }
        let dropout = (s["dropout"] as? NSNumber)?.doubleValue
        let compilation = Compilation.compile(path: specPath, dropout: dropout)
        guard let graph = compilation.graph else {
            throw HandinError(compilation.renderedDiagnostics.split(separator: "\n").first.map(String.init) ?? "\(specPath): invalid spec")
        }
        guard let kind = OptimizerKind(rawValue: s["optimizer"] as? String ?? "") else {
            throw HandinError("\(summaryPath): settings.optimizer missing or unknown")
        }
        var optimizer = OptimizerSettings(kind: kind, lr: try number("lr"), momentum: try number("momentum"),
                                          weightDecay: try number("weight_decay"))
        // Adam's constants as the run recorded them (older summaries lack them: the defaults).
        if let beta1 = s["beta1"] as? NSNumber { optimizer.beta1 = beta1.doubleValue }
        if let beta2 = s["beta2"] as? NSNumber { optimizer.beta2 = beta2.doubleValue }
        if let eps = s["eps"] as? NSNumber { optimizer.eps = eps.doubleValue }
        let settings = TrainingSettings(epochs: Int(try number("epochs")), batchSize: Int(try number("batch_size")),
                                        optimizer: optimizer, seed: UInt64(try number("seed")), threads: Int(try number("threads")),
                                        validation: Int(try number("validation_images")),
                                        limit: (s["limit"] as? NSNumber).map { $0.intValue },
                                        evaluationBatch: (s["evaluation_batch"] as? NSNumber)?.intValue
                                            ?? TrainingSettings.defaultEvaluationBatch)
        let weightsPath = directory + "/weights.safetensors"
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw HandinError("\(weightsPath): missing (the run wrote no weights)")
        }
        let tensors: [SafetensorsTensor]
        do {
            tensors = try readSafetensors(path: weightsPath).tensors
        } catch {
            throw HandinError("\(error)")
        }
        let weights = try matchStateDict(tensors, graph: graph, file: weightsPath)
        return SavedRun(directory: directory, compilation: compilation, graph: graph, settings: settings, dropout: dropout,
                        summary: summary, weights: weights)
    }

    /// A network holding the run's weights, evaluating `evaluationBatch` images at a time on
    /// `lanes` threads (the run's thread count reproduces its evaluation exactly).
    public func makeNetwork(evaluationBatch: Int? = nil, lanes: Int? = nil) -> Network {
        guard let weights else { preconditionFailure("makeNetwork needs weights") }
        let network = Network(graph: graph, trainingBatch: 1, evaluationBatch: evaluationBatch ?? settings.evaluationBatch,
                              optimizer: settings.optimizer,
                              seed: settings.seed, lanes: lanes ?? settings.threads)
        for (slot, tensor) in zip(graph.slots, weights) {
            switch tensor.payload {
            case let .float32(values): network.setValues(values, of: slot)
            case let .int64(values): network.setValues(values.map { Float($0) }, of: slot)
            }
        }
        return network
    }
}

/// The tensors of `tensors` in the graph's state_dict order, after checking that every expected
/// tensor is there with its shape and dtype and that there is no other.
public func matchStateDict(_ tensors: [SafetensorsTensor], graph: Graph, file: String) throws -> [SafetensorsTensor] {
    var byName: [String: SafetensorsTensor] = [:]
    for tensor in tensors { byName[tensor.name] = tensor }
    var out: [SafetensorsTensor] = []
    for slot in graph.slots {
        let step = graph.steps[slot.stepIndex]
        let layer = "\(step.op.kindName) at spec line \(step.location.line)"
        guard let tensor = byName.removeValue(forKey: slot.name) else {
            throw HandinError("\(file): tensor '\(slot.name)' is missing (\(layer) expects shape \(slot.shape))")
        }
        let dtype = slot.role.storage == .counters ? "I64" : "F32"
        guard tensor.payload.dtype == dtype else {
            throw HandinError("\(file): tensor '\(slot.name)' has dtype \(tensor.payload.dtype), expected \(dtype) (\(layer))")
        }
        guard tensor.shape == slot.shape else {
            throw HandinError("\(file): tensor '\(slot.name)' has shape \(tensor.shape), expected \(slot.shape) (\(layer))")
        }
        out.append(tensor)
    }
    if let extra = tensors.first(where: { byName[$0.name] != nil }) {
        throw HandinError("\(file): unexpected tensor '\(extra.name)' (shape \(extra.shape)); the spec has no such parameter")
    }
    return out
}

/// Refuses to overwrite: `path` must not exist yet.
public func requireNew(_ path: String) throws {
    if FileManager.default.fileExists(atPath: path) {
        throw HandinError("\(path): already exists (remove it or choose another name)")
    }
}
