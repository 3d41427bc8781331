import Dispatch
import Graph
import Spec

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
    /// Seconds of training steps (evaluation not included). A timing field.
    public var trainSeconds: Double
    /// A timing field.
    public var evaluationSeconds: Double
    /// A timing field.
    public var imagesPerSecond: Double

    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, validationAccuracy: Double?, testAccuracy: Double,
                trainSeconds: Double, evaluationSeconds: Double, imagesPerSecond: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.validationAccuracy = validationAccuracy
        self.testAccuracy = testAccuracy
        self.trainSeconds = trainSeconds
        self.evaluationSeconds = evaluationSeconds
        self.imagesPerSecond = imagesPerSecond
    }
}

/// The training loss over a window of steps: every `StepRecord.interval` steps of an epoch and
/// at its last step, the mean cross-entropy per example over the steps since the previous record
/// of the same epoch. Windows never cross an epoch boundary.
public struct StepRecord: Hashable, Sendable {
    /// Steps between records (the epoch's last step always ends a window).
    public static let interval = 50

    public var epoch: Int
    /// Steps of this epoch done, 1-based.
    public var step: Int
    /// Optimizer steps since the run began.
    public var globalStep: Int
    /// Training examples in the window.
    public var examples: Int
    /// Mean cross-entropy per example over the window.
    public var trainLoss: Double

    public init(epoch: Int, step: Int, globalStep: Int, examples: Int, trainLoss: Double) {
        self.epoch = epoch
        self.step = step
        self.globalStep = globalStep
        self.examples = examples
        self.trainLoss = trainLoss
    }
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
    /// The loss became NaN, infinite, or larger than `Trainer.divergenceLoss`.
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
    /// The training loss every `StepRecord.interval` steps and at each epoch's last step.
    public var steps: [StepRecord]
    public var outcome: TrainingOutcome
    /// A timing field: seconds of this run, over every session of a resumed run.
    public var totalSeconds: Double
    /// Where each later session of the run continued from, oldest first; empty for a run never resumed.
    public var resumedFrom: [ResumePoint]

    public init(epochs: [EpochReport], steps: [StepRecord] = [], outcome: TrainingOutcome, totalSeconds: Double,
                resumedFrom: [ResumePoint] = []) {
        self.epochs = epochs
        self.steps = steps
        self.outcome = outcome
        self.totalSeconds = totalSeconds
        self.resumedFrom = resumedFrom
    }
}

/// Where a run stands between two steps: everything besides the network's state that decides
/// what happens next. `order` is the shuffled order of epoch `epoch`, of which steps `0..<step`
/// are done (the next epoch's shuffle is drawn as an epoch ends).
public struct TrainingPosition: Sendable {
    /// The epoch in progress, 1-based (`settings.epochs + 1` once every epoch is done).
    public var epoch: Int
    /// Steps of `epoch` done.
    public var step: Int
    public var order: [Int32]
    /// The shuffle stream, after drawing `order`.
    public var shuffleGenerator: SeededGenerator
    /// Sums over the steps of `epoch` done so far.
    public var lossSum: Double
    public var correct: Int
    public var seen: Int
    /// Sums over the current `StepRecord` window.
    public var windowLossSum: Double
    public var windowSeen: Int
    /// Timing: seconds of training steps in `epoch` so far, and of the whole run so far.
    public var epochTrainSeconds: Double
    public var totalSeconds: Double
    public var reports: [EpochReport]
    public var stepRecords: [StepRecord]
    /// Where the run was resumed so far (`Trainer.resume`), oldest first.
    public var resumedFrom: [ResumePoint] = []
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

/// Runs the epochs of one training run over a `Network`. A run can stop between steps and
/// continue later, bit for bit, from a `TrainingCheckpoint` (see Checkpoint.swift).
public final class Trainer {
    public let network: Network
    public private(set) var settings: TrainingSettings
    public let split: DataSplit
    private let train: LabeledImages
    private let test: LabeledImages
    /// Where the run stands; `run` continues from here.
    public internal(set) var position: TrainingPosition

    /// A batch's mean cross-entropy above this many nats per example counts as divergence
    /// (chance on 10 classes is ln 10 ≈ 2.3): the run is going nowhere, and such numbers only
    /// overflow what prints and plots them.
    public static let divergenceLoss = 1_000.0

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
        var shuffleGenerator = SeededGenerator(seed: settings.seed).derived(3)
        var order = split.training
        order.withUnsafeMutableBufferPointer { shuffleGenerator.shuffle($0) }
        position = TrainingPosition(epoch: 1, step: 0, order: order, shuffleGenerator: shuffleGenerator,
                                    lossSum: 0, correct: 0, seen: 0, windowLossSum: 0, windowSeen: 0,
                                    epochTrainSeconds: 0, totalSeconds: 0, reports: [], stepRecords: [])
    }

    /// Runs to `epochs` in all (more than the settings' to extend a finished run; the settings
    /// record the new count). Nothing else about the run may change.
    public func extend(toEpochs epochs: Int) {
        precondition(epochs >= position.epoch - 1, "cannot end before the epochs already done")
        settings.epochs = epochs
    }

    /// Trains from `position` to the configured epochs without checkpoints.
    public func run(progressEvery: Int = 25,
                    progress: (TrainingProgress) -> Void = { _ in },
                    epochEnd: (_ reports: [EpochReport]) -> Void = { _ in },
                    shouldStop: () -> Bool = { false }) -> TrainingResult {
        run(progressEvery: progressEvery, progress: progress, epochEnd: epochEnd, checkpoint: { _ in }, shouldStop: shouldStop)
    }

    /// Trains from `position` to the configured epochs. `progress` is called every
    /// `progressEvery` steps and at the end of each epoch; `epochEnd` after each epoch's
    /// evaluation with every report so far, then `checkpoint`; `shouldStop` before each step,
    /// and when it says stop, `checkpoint` is called once more before returning. An error thrown
    /// by `epochEnd` or `checkpoint` ends the run and is rethrown.
    public func run(progressEvery: Int = 25,
                    progress: (TrainingProgress) -> Void = { _ in },
                    epochEnd: (_ reports: [EpochReport]) throws -> Void,
                    checkpoint: (Trainer) throws -> Void,
                    shouldStop: () -> Bool = { false }) rethrows -> TrainingResult {
        // The lanes split every step between `settings.threads` threads; each GEMM runs on one.
        setBLASThreads(1)
        let sessionStart = now()
        let totalBefore = position.totalSeconds
        func result(_ outcome: TrainingOutcome) -> TrainingResult {
            TrainingResult(epochs: position.reports, steps: position.stepRecords, outcome: outcome,
                           totalSeconds: totalBefore + now() - sessionStart, resumedFrom: position.resumedFrom)
        }
        let batch = settings.batchSize
        let steps = (position.order.count + batch - 1) / batch
        while position.epoch <= settings.epochs {
            let epoch = position.epoch
            let epochStart = now() - position.epochTrainSeconds
            while position.step < steps {
                let step = position.step
                if shouldStop() {
                    position.epochTrainSeconds = now() - epochStart
                    position.totalSeconds = totalBefore + now() - sessionStart
                    try checkpoint(self)
                    return result(.interrupted(epoch: epoch, step: step))
                }
                let first = step * batch
                let count = min(batch, position.order.count - first)
                let stepResult = position.order.withUnsafeBufferPointer { indices in
                    train.withSource { images, labels in
                        network.trainStep(images: images, labels: labels, indices: indices.baseAddress! + first, count: count)
                    }
                }
                guard stepResult.loss.isFinite, stepResult.loss / Double(count) <= Trainer.divergenceLoss else {
                    return result(.diverged(epoch: epoch, step: step + 1, loss: stepResult.loss / Double(count)))
                }
                position.step = step + 1
                position.lossSum += stepResult.loss
                position.correct += stepResult.correct
                position.seen += count
                position.windowLossSum += stepResult.loss
                position.windowSeen += count
                if position.step % StepRecord.interval == 0 || position.step == steps {
                    position.stepRecords.append(StepRecord(
                        epoch: epoch, step: position.step, globalStep: network.stepCount, examples: position.windowSeen,
                        trainLoss: position.windowLossSum / Double(position.windowSeen)))
                    position.windowLossSum = 0
                    position.windowSeen = 0
                }
                if position.step % progressEvery == 0 || position.step == steps {
                    let elapsed = now() - epochStart
                    progress(TrainingProgress(epoch: epoch, epochs: settings.epochs, step: position.step, steps: steps,
                                              meanLoss: position.lossSum / Double(position.seen),
                                              imagesPerSecond: Double(position.seen) / max(elapsed, 1e-9),
                                              elapsedSeconds: elapsed))
                }
            }
            let trainSeconds = now() - epochStart
            let evaluationStart = now()
            let validationAccuracy = split.validation.isEmpty ? nil : accuracy(on: train, indices: split.validation)
            let testAccuracy = accuracy(on: test, indices: (0..<Int32(test.count)).map { $0 })
            let seen = position.seen
            position.reports.append(EpochReport(
                epoch: epoch, trainLoss: position.lossSum / Double(seen), trainAccuracy: Double(position.correct) / Double(seen),
                validationAccuracy: validationAccuracy, testAccuracy: testAccuracy,
                trainSeconds: trainSeconds, evaluationSeconds: now() - evaluationStart,
                imagesPerSecond: Double(seen) / max(trainSeconds, 1e-9)))
            // The next epoch's order is drawn now, so a checkpoint taken here holds it.
            var (order, shuffleGenerator) = (position.order, position.shuffleGenerator)
            order.withUnsafeMutableBufferPointer { shuffleGenerator.shuffle($0) }
            (position.order, position.shuffleGenerator) = (order, shuffleGenerator)
            position.epoch += 1
            position.step = 0
            position.lossSum = 0
            position.correct = 0
            position.seen = 0
            position.epochTrainSeconds = 0
            position.totalSeconds = totalBefore + now() - sessionStart
            try epochEnd(position.reports)
            try checkpoint(self)
        }
        return result(.finished)
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
