import Graph
import Spec

/// Timings of training steps on synthetic data, per layer, like `caffe time`.
public struct BenchmarkResult: Sendable {
    public var batchSize: Int
    public var steps: Int
    public var threads: Int
    /// Mean milliseconds per training step, per graph step.
    public var forwardMilliseconds: [Double]
    public var backwardMilliseconds: [Double]
    public var updateMilliseconds: Double
    /// Mean wall-clock milliseconds of a whole training step (gather, forward, loss, backward, update).
    public var stepMilliseconds: Double

    public var imagesPerSecond: Double { Double(batchSize) / (stepMilliseconds / 1000) }
    /// Seconds for one epoch of 60,000 images at this speed (training steps only).
    public var projectedEpochSeconds: Double { 60_000 / imagesPerSecond }
}

/// Runs `warmup` then `steps` training steps at `batchSize` on random images and labels and
/// reports per-layer times from a second, profiled pass of the same length.
public func runBenchmark(graph: Graph, batchSize: Int, steps: Int, warmup: Int = 5, threads: Int,
                         optimizer: OptimizerSettings, seed: UInt64) -> BenchmarkResult {
    setBLASThreads(1)
    let network = Network(graph: graph, trainingBatch: batchSize, evaluationBatch: benchmarkEvaluationBatch,
                          optimizer: optimizer, seed: seed, lanes: threads)
    var generator = SeededGenerator(seed: seed)
    let features = graph.input.elementCount
    let examples = batchSize * benchmarkBatchesOfData
    let images = (0..<(examples * features)).map { _ in generator.nextFloat(in: -1, 1) }
    let labels = (0..<examples).map { _ in Int32(generator.nextInt(below: Graph.classCount)) }
    let indices = (0..<Int32(examples)).map { $0 }
    func step(_ i: Int) {
        images.withUnsafeBufferPointer { imageBuffer in
            labels.withUnsafeBufferPointer { labelBuffer in
                indices.withUnsafeBufferPointer { indexBuffer in
                    let first = (i % 4) * batchSize
                    _ = network.trainStep(images: imageBuffer.baseAddress!, labels: labelBuffer.baseAddress!,
                                          indices: indexBuffer.baseAddress! + first, count: batchSize)
                }
            }
        }
    }
    for i in 0..<warmup { step(i) }
    let started = now()
    for i in 0..<steps { step(i) }
    let wall = (now() - started) / Double(steps)
    let profile = LayerProfile(steps: graph.steps.count)
    network.profile = profile
    for i in 0..<steps { step(i) }
    let scale = 1000 / Double(steps)
    return BenchmarkResult(batchSize: batchSize, steps: steps, threads: threads,
                           forwardMilliseconds: profile.forward.map { $0 * scale },
                           backwardMilliseconds: profile.backward.map { $0 * scale },
                           updateMilliseconds: profile.update * scale, stepMilliseconds: wall * 1000)
}

/// The benchmark's network evaluates nothing: its evaluation plan is for one example.
public let benchmarkEvaluationBatch = 1
/// Synthetic examples the benchmark cycles through, in batches.
let benchmarkBatchesOfData = 4

/// Bytes of the benchmark's synthetic images, labels and indices (besides the network).
public func benchmarkDataBytes(graph: Graph, batchSize: Int) -> Int {
    batchSize * benchmarkBatchesOfData * (graph.input.elementCount * MemoryLayout<Float>.size + 2 * MemoryLayout<Int32>.size)
}
