import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

/// `cnnc lockstep` (hidden; used by scripts/lockstep-pytorch): trains N steps on MNIST's first
/// N × B training images in file order, with every Dropout's p set to 0, and writes the initial
/// weights, the final weights and each step's mean loss, so that a PyTorch twin can start from the
/// same weights, see the same batches and be compared step by step.
struct Lockstep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train N steps deterministically and export initial weights, per-step losses and final weights.",
        shouldDisplay: false)

    @Argument(help: "Spec file (YAML).")
    var file: String

    @Option(help: "Training steps.")
    var steps = 100

    @Option(help: "Directory for init.safetensors, final.safetensors and losses.json.")
    var out: String

    @OptionGroup var training: TrainingFlags
    @OptionGroup var dataFlags: DataFlags

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
    }

    func run() throws {
        let plain = Compilation.compile(path: file)
        printError(plain.renderedDiagnostics, terminator: "")
        guard let plainGraph = plain.graph else { throw ExitCode.failure }
        let hasDropout = plainGraph.steps.contains { if case .dropout = $0.op { return true } else { return false } }
        let compilation = hasDropout ? Compilation.compile(path: file, dropout: 0) : plain
        guard let graph = compilation.graph, let spec = compilation.spec else { throw ExitCode.failure }
        try requireMNISTInput(graph, file: file)
        let settings = TrainingSettings.resolve(spec: spec.train, overrides: training.overrides,
                                                threads: training.resolvedThreads, validation: 0, limit: nil)
        let plans = try plansThatFit(graph: graph, settings: settings, file: file)
        let data = try loadData(dataFlags, quiet: true).train
        let batch = settings.batchSize
        guard steps * batch <= data.count else {
            printError("error: \(steps) steps of \(batch) images need \(steps * batch) training images; MNIST has \(data.count)")
            throw ExitCode.failure
        }
        setBLASThreads(1)
        let network = Network(graph: graph, trainingPlan: plans.training, evaluationPlan: plans.evaluation,
                              optimizer: settings.optimizer, seed: settings.seed)
        try prepareOutputDirectory(out)
        try writeSafetensors(stateDictTensors(network), metadata: [], to: out + "/init.safetensors")
        var losses: [JSON] = []
        let indices = (0..<Int32(steps * batch)).map { $0 }
        data.pixels.withUnsafeBufferPointer { pixels in
            data.normalization.withUnsafeBufferPointer { table in
                data.labels.withUnsafeBufferPointer { labels in
                    indices.withUnsafeBufferPointer { order in
                        for step in 0..<steps {
                            let result = network.trainStep(images: .bytes(pixels.baseAddress!, table: table.baseAddress!),
                                                           labels: labels.baseAddress!, indices: order.baseAddress! + step * batch,
                                                           count: batch)
                            losses.append(.double(result.loss / Double(batch)))
                        }
                    }
                }
            }
        }
        try writeSafetensors(stateDictTensors(network), metadata: [], to: out + "/final.safetensors")
        let record = JSON.object([
            ("spec", .string(file)), ("steps", .int(steps)), ("batch_size", .int(batch)),
            ("optimizer", .string(settings.optimizer.kind.rawValue)), ("lr", .double(settings.optimizer.lr)),
            ("momentum", .double(settings.optimizer.momentum)), ("weight_decay", .double(settings.optimizer.weightDecay)),
            ("threads", .int(settings.threads)), ("dropout_off", .bool(hasDropout)), ("losses", .array(losses)),
        ])
        try writeFileAtomically(Array((record.rendered(pretty: true) + "\n").utf8), to: out + "/losses.json")
    }
}
