import Dispatch

/// Images as bytes and their labels, one example's C·H·W pixels contiguous. The runtime turns
/// bytes into network inputs through `normalization`, a 256-entry table, as it gathers a batch.
public struct LabeledImages: Sendable {
    public var pixels: [UInt8]
    public var labels: [Int32]
    public var featuresPerExample: Int
    public var normalization: [Float]

    public init(pixels: [UInt8], labels: [Int32], featuresPerExample: Int, normalization: [Float]) {
        precondition(pixels.count == labels.count * featuresPerExample, "pixels and labels disagree")
        precondition(normalization.count == 256, "the normalization table maps every byte")
        self.pixels = pixels
        self.labels = labels
        self.featuresPerExample = featuresPerExample
        self.normalization = normalization
    }

    public var count: Int { labels.count }

    /// Calls `body` with the batch source the network gathers from.
    func withSource<R>(_ body: (ImageSource, UnsafePointer<Int32>) -> R) -> R {
        pixels.withUnsafeBufferPointer { pixelBuffer in
            normalization.withUnsafeBufferPointer { table in
                labels.withUnsafeBufferPointer { labelBuffer in
                    body(.bytes(pixelBuffer.baseAddress!, table: table.baseAddress!), labelBuffer.baseAddress!)
                }
            }
        }
    }
}

/// Which training examples train and which validate. The validation examples are drawn by a
/// permutation with a fixed seed of its own, so every run, seed and sweep value holds out the
/// same images; `--limit` then takes the first N of the remaining training examples.
public struct DataSplit: Hashable, Sendable {
    /// The generator seed of the validation draw; independent of the run's seed on purpose.
    public static let validationSeed: UInt64 = 0x5EED_0000_0000_5A17

    public var training: [Int32]
    public var validation: [Int32]

    public init(total: Int, validation: Int, limit: Int?) {
        precondition(validation >= 0 && validation < total, "validation must leave training examples")
        var order = (0..<Int32(total)).map { $0 }
        var generator = SeededGenerator(seed: DataSplit.validationSeed)
        order.withUnsafeMutableBufferPointer { generator.shuffle($0) }
        self.validation = order[..<validation].sorted()
        var training = order[validation...].sorted()
        if let limit, limit < training.count {
            training = Array(training[..<limit])
        }
        self.training = training
    }
}

/// Everything that decides a training run, after spec and flags have been merged.
public struct TrainingSettings: Hashable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerSettings
    public var seed: UInt64
    public var threads: Int
    public var validation: Int
    public var limit: Int?
    public var evaluationBatch: Int

    /// The evaluation plan's batch: large enough for fast GEMMs, small enough to keep the arena small.
    public static let defaultEvaluationBatch = 250

    public init(epochs: Int, batchSize: Int, optimizer: OptimizerSettings, seed: UInt64, threads: Int,
                validation: Int, limit: Int?, evaluationBatch: Int = TrainingSettings.defaultEvaluationBatch) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.seed = seed
        self.threads = threads
        self.validation = validation
        self.limit = limit
        self.evaluationBatch = evaluationBatch
    }
}

/// One epoch's results.
public struct EpochReport: Hashable, Sendable {
    public var epoch: Int
    /// Mean cross-entropy over the epoch's training examples.
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationAccuracy: Double?
    public var testAccuracy: Double
    /// Seconds of training steps (evaluation not included).
    public var trainSeconds: Double
    public var evaluationSeconds: Double
    public var imagesPerSecond: Double
}

/// Where a run is, for progress displays.
public struct TrainingProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var step: Int
    public var steps: Int
    public var meanLoss: Double
    public var imagesPerSecond: Double
    public var elapsedSeconds: Double
}

public enum TrainingOutcome: Hashable, Sendable {
    case finished
    /// The loss became NaN or infinite.
    case diverged(epoch: Int, step: Int, loss: Double)
    /// `shouldStop` asked to stop (Ctrl-C).
    case interrupted(epoch: Int, step: Int)

    public var description: String {
        switch self {
        case .finished: return "finished"
        case let .diverged(epoch, step, loss): return "diverged: loss \(loss) at epoch \(epoch), step \(step)"
        case let .interrupted(epoch, step): return "interrupted at epoch \(epoch), step \(step)"
        }
    }
}

public struct TrainingResult: Sendable {
    public var epochs: [EpochReport]
    public var outcome: TrainingOutcome
    public var totalSeconds: Double
}

/// The two plans a training run executes.
public struct TrainingPlans: Sendable {
    public var training: BufferPlan
    public var evaluation: BufferPlan

    public init(graph: Graph, settings: TrainingSettings) {
        training = BufferPlan(runtimeFor: graph, mode: .training, batchSize: settings.batchSize, lanes: settings.threads)
        evaluation = BufferPlan(runtimeFor: graph, mode: .evaluation, batchSize: settings.evaluationBatch,
                                lanes: settings.threads)
    }

    /// Bytes one run allocates: parameters and their companions plus both arenas.
    public func bytes(graph: Graph, optimizer: OptimizerSettings) -> Int {
        ParameterMemory(graph: graph, optimizer: optimizer).total + training.arenaBytes + evaluation.arenaBytes
    }
}

/// Runs the epochs of one training run over a `Network`.
public final class Trainer {
    public let network: Network
    public let settings: TrainingSettings
    public let split: DataSplit
    private let train: LabeledImages
    private let test: LabeledImages
    private var shuffleGenerator: SeededGenerator

    public convenience init(graph: Graph, settings: TrainingSettings, train: LabeledImages, test: LabeledImages) {
        self.init(graph: graph, plans: TrainingPlans(graph: graph, settings: settings), settings: settings,
                  train: train, test: test)
    }

    /// Trains `graph` over plans made once for it (or for a graph differing only in dropout p).
    public init(graph: Graph, plans: TrainingPlans, settings: TrainingSettings, train: LabeledImages, test: LabeledImages) {
        self.settings = settings
        self.train = train
        self.test = test
        split = DataSplit(total: train.count, validation: settings.validation, limit: settings.limit)
        network = Network(graph: graph, trainingPlan: plans.training, evaluationPlan: plans.evaluation,
                          optimizer: settings.optimizer, seed: settings.seed)
        shuffleGenerator = SeededGenerator(seed: settings.seed).derived(3)
    }

    /// Trains for the configured epochs. `progress` is called every `progressEvery` steps and at
    /// the end of each epoch; `epochEnd` after each epoch's evaluation with every report so far; `shouldStop` before each step.
    public func run(progressEvery: Int = 25,
                    progress: (TrainingProgress) -> Void = { _ in },
                    epochEnd: (_ reports: [EpochReport]) -> Void = { _ in },
                    shouldStop: () -> Bool = { false }) -> TrainingResult {
        // The lanes split every step between `settings.threads` threads; each GEMM runs on one.
        setBLASThreads(1)
        var reports: [EpochReport] = []
        let start = now()
        var order = split.training
        let batch = settings.batchSize
        let steps = (order.count + batch - 1) / batch
        for epoch in 1...settings.epochs {
            order.withUnsafeMutableBufferPointer { shuffleGenerator.shuffle($0) }
            let epochStart = now()
            var lossSum = 0.0
            var correct = 0
            var seen = 0
            for step in 0..<steps {
                if shouldStop() {
                    return TrainingResult(epochs: reports, outcome: .interrupted(epoch: epoch, step: step), totalSeconds: now() - start)
                }
                let first = step * batch
                let count = min(batch, order.count - first)
                let result = order.withUnsafeBufferPointer { indices in
                    train.withSource { images, labels in
                        network.trainStep(images: images, labels: labels, indices: indices.baseAddress! + first, count: count)
                    }
                }
                guard result.loss.isFinite else {
                    return TrainingResult(epochs: reports, outcome: .diverged(epoch: epoch, step: step + 1, loss: result.loss),
                                          totalSeconds: now() - start)
                }
                lossSum += result.loss
                correct += result.correct
                seen += count
                if (step + 1) % progressEvery == 0 || step + 1 == steps {
                    let elapsed = now() - epochStart
                    progress(TrainingProgress(epoch: epoch, epochs: settings.epochs, step: step + 1, steps: steps,
                                              meanLoss: lossSum / Double(seen), imagesPerSecond: Double(seen) / max(elapsed, 1e-9),
                                              elapsedSeconds: elapsed))
                }
            }
            let trainSeconds = now() - epochStart
            let evaluationStart = now()
            let validationAccuracy = split.validation.isEmpty ? nil : accuracy(on: train, indices: split.validation)
            let testAccuracy = accuracy(on: test, indices: (0..<Int32(test.count)).map { $0 })
            let report = EpochReport(epoch: epoch, trainLoss: lossSum / Double(seen), trainAccuracy: Double(correct) / Double(seen),
                                     validationAccuracy: validationAccuracy, testAccuracy: testAccuracy,
                                     trainSeconds: trainSeconds, evaluationSeconds: now() - evaluationStart,
                                     imagesPerSecond: Double(seen) / max(trainSeconds, 1e-9))
            reports.append(report)
            epochEnd(reports)
        }
        return TrainingResult(epochs: reports, outcome: .finished, totalSeconds: now() - start)
    }

    /// Accuracy of the network in evaluation mode on `indices` of `data`.
    public func accuracy(on data: LabeledImages, indices: [Int32]) -> Double {
        guard !indices.isEmpty else { return 0 }
        var correct = 0
        let batch = settings.evaluationBatch
        indices.withUnsafeBufferPointer { indexBuffer in
            data.withSource { images, labels in
                var first = 0
                while first < indexBuffer.count {
                    let count = min(batch, indexBuffer.count - first)
                    correct += network.evaluate(images: images, labels: labels,
                                                indices: indexBuffer.baseAddress! + first, count: count)
                    first += count
                }
            }
        }
        return Double(correct) / Double(indices.count)
    }
}

/// Seconds on a monotonic clock.
public func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}
