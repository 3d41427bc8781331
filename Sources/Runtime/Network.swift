import CBLAS

/// Optimizer settings after the spec and the command line have been merged.
public struct OptimizerSettings: Hashable, Sendable {
    public var kind: OptimizerKind
    public var lr: Double
    public var momentum: Double
    public var weightDecay: Double
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var eps = 1e-8

    public init(kind: OptimizerKind, lr: Double, momentum: Double = 0, weightDecay: Double = 0) {
        self.kind = kind
        self.lr = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// Float blocks of optimizer state per parameter: Adam's two moments, SGD's velocity.
    public var stateBlocks: Int {
        switch kind {
        case .adam: return 2
        case .sgd: return momentum == 0 ? 0 : 1
        }
    }
}

/// Bytes of the parameter block and its companions, as `check` reports and `Network` allocates.
public struct ParameterMemory: Hashable, Sendable {
    public var parameters: Int
    public var gradients: Int
    public var optimizerState: Int
    public var statistics: Int

    public init(graph: Graph, optimizer: OptimizerSettings) {
        parameters = graph.parameterCount * 4
        gradients = graph.parameterCount * 4
        optimizerState = graph.parameterCount * 4 * optimizer.stateBlocks
        statistics = graph.statisticCount * 4 + graph.counterCount * 8
    }

    public var total: Int { parameters + gradients + optimizerState + statistics }
}

/// A compiled model with all of its memory: parameters, gradients, optimizer state, running
/// statistics and one arena per plan, each allocated once here. `trainStep` and `evaluate` run
/// the plans as Graph made them and allocate nothing.
public final class Network {
    public let graph: Graph
    public let trainingPlan: BufferPlan
    public let evaluationPlan: BufferPlan
    public let optimizer: OptimizerSettings

    let parameters: UnsafeMutablePointer<Float>
    let gradients: UnsafeMutablePointer<Float>
    let optimizerState: UnsafeMutablePointer<Float>
    let statistics: UnsafeMutablePointer<Float>
    let counters: UnsafeMutablePointer<Int64>
    let trainingArena: UnsafeMutableRawPointer
    let evaluationArena: UnsafeMutableRawPointer
    private let trainingBindings: [StepBinding]
    private let evaluationBindings: [StepBinding]
    private let updateGroups: [UpdateGroup]
    /// Optimizer steps taken.
    public internal(set) var stepCount = 0
    /// The threads that execute each step together (as many as the plans were made for).
    private let pool: LanePool
    private let inputFeatures: Int
    private let inputChannels: Int
    /// When set, every forward and backward pass adds each step's seconds to it (benchmarks).
    public var profile: LayerProfile?
    var dropoutGenerator: SeededGenerator

    public convenience init(graph: Graph, trainingBatch: Int, evaluationBatch: Int, optimizer: OptimizerSettings,
                            seed: UInt64, lanes: Int = 1) {
        self.init(graph: graph,
                  trainingPlan: BufferPlan(graph: graph, mode: .training, batchSize: trainingBatch, lanes: lanes),
                  evaluationPlan: BufferPlan(graph: graph, mode: .evaluation, batchSize: evaluationBatch, lanes: lanes),
                  optimizer: optimizer, seed: seed)
    }

    /// Executes plans made earlier for this graph (a sweep plans once and reuses them).
    public init(graph: Graph, trainingPlan: BufferPlan, evaluationPlan: BufferPlan, optimizer: OptimizerSettings, seed: UInt64) {
        precondition(trainingPlan.mode == .training && evaluationPlan.mode == .evaluation, "plans of the wrong mode")
        precondition(trainingPlan.steps.count == graph.steps.count && evaluationPlan.steps.count == graph.steps.count,
                     "plans made for another graph")
        precondition(trainingPlan.lanes == evaluationPlan.lanes, "plans for different lane counts")
        let lanes = trainingPlan.lanes
        pool = LanePool(lanes: lanes) { job, lane in
            perform(job.assumingMemoryBound(to: LaneWork.self).pointee, lane: lane, lanes: lanes)
        }
        inputFeatures = graph.input.elementCount
        inputChannels = graph.input.dims[0]
        self.graph = graph
        self.optimizer = optimizer
        self.trainingPlan = trainingPlan
        self.evaluationPlan = evaluationPlan
        let p = graph.parameterCount
        parameters = .allocate(capacity: max(p, 1))
        gradients = .allocate(capacity: max(p, 1))
        optimizerState = .allocate(capacity: max(p * optimizer.stateBlocks, 1))
        optimizerState.initialize(repeating: 0, count: max(p * optimizer.stateBlocks, 1))
        gradients.initialize(repeating: 0, count: max(p, 1))
        statistics = .allocate(capacity: max(graph.statisticCount, 1))
        counters = .allocate(capacity: max(graph.counterCount, 1))
        counters.initialize(repeating: 0, count: max(graph.counterCount, 1))
        trainingArena = .allocate(byteCount: max(trainingPlan.arenaBytes, BufferPlan.alignment), alignment: BufferPlan.alignment)
        evaluationArena = .allocate(byteCount: max(evaluationPlan.arenaBytes, BufferPlan.alignment), alignment: BufferPlan.alignment)
        trainingArena.initializeMemory(as: UInt8.self, repeating: 0, count: trainingPlan.arenaBytes)
        evaluationArena.initializeMemory(as: UInt8.self, repeating: 0, count: evaluationPlan.arenaBytes)
        var generator = SeededGenerator(seed: seed)
        dropoutGenerator = generator.derived(2)
        let blocks = Blocks(parameters: parameters, gradients: gradients, statistics: statistics, counters: counters)
        trainingBindings = bind(graph: graph, plan: trainingPlan, arena: trainingArena, blocks: blocks)
        evaluationBindings = bind(graph: graph, plan: evaluationPlan, arena: evaluationArena, blocks: blocks)
        updateGroups = graph.slots.filter { $0.role.storage == .parameters }.map { slot in
            UpdateGroup(offset: slot.offset, count: slot.count,
                        weightDecay: graph.steps[slot.stepIndex].weightDecay ?? optimizer.weightDecay)
        }
        var initGenerator = generator.derived(1)
        initializeParameters(generator: &initGenerator)
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
        optimizerState.deallocate()
        statistics.deallocate()
        counters.deallocate()
        trainingArena.deallocate()
        evaluationArena.deallocate()
    }

    /// PyTorch's default initialization: Conv2D and Linear weights and biases uniform in
    /// ±1/√fan_in (kaiming_uniform with a = √5 gives the same bound), batch norm γ = 1, β = 0,
    /// running mean 0, running variance 1. Slots are filled in state_dict order.
    public func initializeParameters(generator: inout SeededGenerator) {
        for slot in graph.slots {
            let step = graph.steps[slot.stepIndex]
            switch (slot.role, step.op) {
            case (.weight, .conv2d(let g)):
                fillUniform(parameters + slot.offset, count: slot.count, bound: 1 / Float(g.columnRows).squareRoot(), &generator)
            case (.bias, .conv2d(let g)):
                fillUniform(parameters + slot.offset, count: slot.count, bound: 1 / Float(g.columnRows).squareRoot(), &generator)
            case (.weight, .linear(let g)), (.bias, .linear(let g)):
                fillUniform(parameters + slot.offset, count: slot.count, bound: 1 / Float(g.inFeatures).squareRoot(), &generator)
            case (.weight, _):
                (parameters + slot.offset).update(repeating: 1, count: slot.count)
            case (.bias, _):
                (parameters + slot.offset).update(repeating: 0, count: slot.count)
            case (.runningMean, _):
                (statistics + slot.offset).update(repeating: 0, count: slot.count)
            case (.runningVar, _):
                (statistics + slot.offset).update(repeating: 1, count: slot.count)
            case (.numBatchesTracked, _):
                counters[slot.offset] = 0
            }
        }
        optimizerState.update(repeating: 0, count: max(graph.parameterCount * optimizer.stateBlocks, 1))
        stepCount = 0
    }

    /// Copies examples `indices[0..<count]` of a data set into a plan's input and labels tensors.
    private func gather(_ io: PlanIO, images: ImageSource, labels: UnsafePointer<Int32>,
                        indices: UnsafePointer<Int32>, count: Int) {
        run(.gather(io, images, labels: labels, indices: indices, count: count, features: inputFeatures,
                    channels: inputChannels))
    }

    /// Runs `work` on every lane.
    private func run(_ work: LaneWork) {
        var work = work
        withUnsafePointer(to: &work) { pool.run(UnsafeRawPointer($0)) }
    }

    /// One training step on `count` examples (count ≤ the plan's batch size): forward, fused
    /// loss, backward, optimizer update. Returns the summed loss and the correct predictions.
    public func trainStep(images: ImageSource, labels: UnsafePointer<Int32>,
                          indices: UnsafePointer<Int32>, count: Int) -> (loss: Double, correct: Int) {
        let result = computeGradients(images: images, labels: labels, indices: indices, count: count)
        update()
        return result
    }

    /// Forward, fused loss and backward on `count` examples, leaving the gradients of the mean
    /// loss in the gradient block; no update. Returns the summed loss and the correct predictions.
    public func computeGradients(images: ImageSource, labels: UnsafePointer<Int32>,
                                 indices: UnsafePointer<Int32>, count: Int) -> (loss: Double, correct: Int) {
        precondition(count >= 1 && count <= trainingPlan.batchSize, "batch larger than the plan")
        let io = planIO(trainingPlan, arena: trainingArena)
        gather(io, images: images, labels: labels, indices: indices, count: count)
        forward(trainingBindings, training: true, batch: count)
        guard let loss = trainingPlan.loss else { preconditionFailure("a training plan has a loss") }
        let classes = Graph.classCount
        let result = crossEntropyForwardBackward(
            logits: floatPointer(trainingArena, trainingPlan, loss.logits),
            labels: int32Pointer(trainingArena, trainingPlan, loss.labels),
            gradient: floatPointer(trainingArena, trainingPlan, loss.logitsGradient),
            batch: count, classes: classes)
        backward(trainingBindings, batch: count)
        return result
    }

    /// Predictions for `count` examples (count ≤ the evaluation plan's batch size), in
    /// evaluation mode. Returns how many match their labels.
    public func evaluate(images: ImageSource, labels: UnsafePointer<Int32>,
                         indices: UnsafePointer<Int32>, count: Int) -> Int {
        precondition(count >= 1 && count <= evaluationPlan.batchSize, "batch larger than the plan")
        let io = planIO(evaluationPlan, arena: evaluationArena)
        gather(io, images: images, labels: labels, indices: indices, count: count)
        forward(evaluationBindings, training: false, batch: count)
        guard let last = evaluationBindings.last else { return 0 }
        return countCorrect(scores: last.output, labels: io.labels, batch: count, classes: Graph.classCount)
    }

    /// Float-image conveniences (tests, benchmarks): images are [N, C·H·W] network inputs.
    public func trainStep(images: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                          indices: UnsafePointer<Int32>, count: Int) -> (loss: Double, correct: Int) {
        trainStep(images: .floats(images), labels: labels, indices: indices, count: count)
    }

    public func computeGradients(images: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                                 indices: UnsafePointer<Int32>, count: Int) -> (loss: Double, correct: Int) {
        computeGradients(images: .floats(images), labels: labels, indices: indices, count: count)
    }

    public func evaluate(images: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                         indices: UnsafePointer<Int32>, count: Int) -> Int {
        evaluate(images: .floats(images), labels: labels, indices: indices, count: count)
    }

    /// The evaluation plan's output for the last `evaluate` call: [count, 10] scores.
    public var lastEvaluationOutput: UnsafePointer<Float>? {
        evaluationBindings.last.map { UnsafePointer($0.output) }
    }

    /// Runs every step's forward pass; each step's work is split between the lanes.
    private func forward(_ bindings: [StepBinding], training: Bool, batch: Int) {
        for (k, binding) in bindings.enumerated() {
            let started = profile == nil ? 0 : now()
            defer { profile?.forward[k] += profile == nil ? 0 : now() - started }
            let count = batch * binding.outputPerExample
            switch binding.op {
            case let .conv2d(g):
                run(.convolutionForward(binding, g, batch: batch))
            case let .maxPool2d(g):
                run(.poolForward(binding, g, batch: batch))
            case let .batchNorm2d(g):
                if training {
                    run(.batchNormTraining(binding, g, batch: batch))
                    binding.counter?.pointee += 1
                } else {
                    run(.batchNormEvaluation(binding, g, batch: batch))
                }
            case let .dropout(p):
                if training && p > 0 {
                    run(.dropoutForward(binding, p: p, seed: dropoutGenerator.next(), count: count))
                } else {
                    if training { binding.mask!.update(repeating: 1, count: count) }
                    copyUnlessSame(binding.input, binding.output, count: count)
                }
            case .relu:
                run(.reluForward(binding, count: count))
            case .softmax:
                softmaxForward(input: binding.input, output: binding.output, batch: batch, classes: binding.outputPerExample)
            case let .flatten(g):
                run(.flattenForward(binding, g, batch: batch))
            case let .linear(g):
                run(.linearForward(binding, g, batch: batch))
            }
        }
    }

    /// Runs the backward passes in reverse order; each step's work is split between the lanes.
    private func backward(_ bindings: [StepBinding], batch: Int) {
        for k in stride(from: bindings.count - 1, through: 0, by: -1) {
            let binding = bindings[k]
            guard let outputGradient = binding.outputGradient else { continue }
            let started = profile == nil ? 0 : now()
            defer { profile?.backward[k] += profile == nil ? 0 : now() - started }
            let computesInputGradient = binding.inputGradient != nil
            let count = batch * binding.outputPerExample
            switch binding.op {
            case let .conv2d(g):
                run(.convolutionBackward(binding, g, batch: batch))
                if pool.lanes > 1 {
                    run(.convolutionReduce(binding, g))
                }
            case let .maxPool2d(g):
                if computesInputGradient { run(.poolBackward(binding, g, batch: batch)) }
            case let .batchNorm2d(g):
                run(.batchNormBackward(binding, g, batch: batch))
            case .dropout:
                if computesInputGradient { run(.dropoutBackward(binding, count: count)) }
            case .relu:
                if computesInputGradient { run(.reluBackward(binding, count: count)) }
            case .softmax:
                if let inputGradient = binding.inputGradient {
                    softmaxBackward(output: binding.output, outputGradient: outputGradient, inputGradient: inputGradient,
                                    batch: batch, classes: binding.outputPerExample)
                }
            case let .flatten(g):
                if computesInputGradient { run(.flattenBackward(binding, g, batch: batch)) }
            case let .linear(g):
                run(.linearBackward(binding, g, batch: batch))
            }
        }
    }

    /// One optimizer step over every parameter with the gradients in the gradient block.
    public func update() {
        let started = profile == nil ? 0 : now()
        defer { profile?.update += profile == nil ? 0 : now() - started }
        stepCount += 1
        run(.update(UpdateWork(groups: updateGroups, parameters: parameters, gradients: gradients,
                               optimizerState: optimizerState, parameterCount: graph.parameterCount,
                               optimizer: optimizer, step: stepCount)))
    }

    /// The values of one state_dict slot, as floats (counters as their value).
    public func values(of slot: ParameterSlot) -> [Float] {
        switch slot.role.storage {
        case .parameters: return Array(UnsafeBufferPointer(start: parameters + slot.offset, count: slot.count))
        case .statistics: return Array(UnsafeBufferPointer(start: statistics + slot.offset, count: slot.count))
        case .counters: return [Float(counters[slot.offset])]
        }
    }

    /// The gradient of a trainable slot from the last `trainStep`.
    public func gradient(of slot: ParameterSlot) -> [Float] {
        precondition(slot.role.storage == .parameters, "only parameters have gradients")
        return Array(UnsafeBufferPointer(start: gradients + slot.offset, count: slot.count))
    }

    /// Overwrites a float slot (tests, loading weights).
    public func setValues(_ values: [Float], of slot: ParameterSlot) {
        precondition(values.count == slot.count, "size mismatch for \(slot.name)")
        switch slot.role.storage {
        case .parameters: (parameters + slot.offset).update(from: values, count: slot.count)
        case .statistics: (statistics + slot.offset).update(from: values, count: slot.count)
        case .counters: counters[slot.offset] = Int64(values[0])
        }
    }

    /// The int64 counter of a `num_batches_tracked` slot.
    public func counter(of slot: ParameterSlot) -> Int64 {
        precondition(slot.role.storage == .counters, "not a counter")
        return counters[slot.offset]
    }
}

/// Where a batch's images come from: network-ready floats, or bytes and a 256-entry table.
public enum ImageSource {
    case floats(UnsafePointer<Float>)
    case bytes(UnsafePointer<UInt8>, table: UnsafePointer<Float>)
}

/// Sets the number of threads OpenBLAS uses for every GEMM.
public func setBLASThreads(_ count: Int) {
    openblas_set_num_threads(Int32(count))
}

/// Seconds spent per step of the graph, forward and backward, and in the optimizer.
public final class LayerProfile {
    public var forward: [Double]
    public var backward: [Double]
    public var update = 0.0

    public init(steps: Int) {
        forward = Array(repeating: 0, count: steps)
        backward = Array(repeating: 0, count: steps)
    }
}

private struct Blocks {
    var parameters: UnsafeMutablePointer<Float>
    var gradients: UnsafeMutablePointer<Float>
    var statistics: UnsafeMutablePointer<Float>
    var counters: UnsafeMutablePointer<Int64>
}

struct PlanIO {
    var input: UnsafeMutablePointer<Float>
    var labels: UnsafeMutablePointer<Int32>
}

/// One step's pointers into the arena and the parameter blocks, resolved once from the plan.
struct StepBinding {
    var op: Op
    var outputPerExample: Int
    var input: UnsafeMutablePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var inputGradient: UnsafeMutablePointer<Float>?
    var outputGradient: UnsafeMutablePointer<Float>?
    var columns: UnsafeMutablePointer<Float>?
    var backwardColumns: UnsafeMutablePointer<Float>?
    var imagesPerChunk: Int
    var columnsPerLane: Int
    var weightGradientPartials: UnsafeMutablePointer<Float>?
    var indices: UnsafeMutablePointer<Int32>?
    var mask: UnsafeMutablePointer<Float>?
    var mean: UnsafeMutablePointer<Float>?
    var invStd: UnsafeMutablePointer<Float>?
    var weight: UnsafeMutablePointer<Float>?
    var bias: UnsafeMutablePointer<Float>?
    var weightGradient: UnsafeMutablePointer<Float>?
    var biasGradient: UnsafeMutablePointer<Float>?
    var runningMean: UnsafeMutablePointer<Float>?
    var runningVar: UnsafeMutablePointer<Float>?
    var counter: UnsafeMutablePointer<Int64>?
}

private func floatPointer(_ arena: UnsafeMutableRawPointer, _ plan: BufferPlan, _ id: Int) -> UnsafeMutablePointer<Float> {
    (arena + plan.tensors[id].offset).assumingMemoryBound(to: Float.self)
}

private func int32Pointer(_ arena: UnsafeMutableRawPointer, _ plan: BufferPlan, _ id: Int) -> UnsafeMutablePointer<Int32> {
    (arena + plan.tensors[id].offset).assumingMemoryBound(to: Int32.self)
}

private func planIO(_ plan: BufferPlan, arena: UnsafeMutableRawPointer) -> PlanIO {
    PlanIO(input: floatPointer(arena, plan, plan.input), labels: int32Pointer(arena, plan, plan.labels))
}

private func bind(graph: Graph, plan: BufferPlan, arena: UnsafeMutableRawPointer, blocks: Blocks) -> [StepBinding] {
    graph.steps.enumerated().map { k, step in
        let buffers = plan.steps[k]
        let float = { (id: Int?) in id.map { floatPointer(arena, plan, $0) } }
        func slot(_ role: SlotRole) -> ParameterSlot? { graph.slot(step: k, role) }
        return StepBinding(
            op: step.op,
            outputPerExample: step.output.elementCount,
            input: floatPointer(arena, plan, buffers.input),
            output: floatPointer(arena, plan, buffers.output),
            inputGradient: float(buffers.inputGradient),
            outputGradient: float(buffers.outputGradient),
            columns: float(buffers.columns),
            backwardColumns: float(buffers.backwardColumns),
            imagesPerChunk: buffers.imagesPerChunk ?? 1,
            columnsPerLane: buffers.columnsPerLane ?? 0,
            weightGradientPartials: float(buffers.weightGradientPartials),
            indices: buffers.saved[.poolIndices].map { int32Pointer(arena, plan, $0) },
            mask: float(buffers.saved[.dropoutMask]),
            mean: float(buffers.saved[.batchMean]),
            invStd: float(buffers.saved[.batchInvStd]),
            weight: slot(.weight).map { blocks.parameters + $0.offset },
            bias: slot(.bias).map { blocks.parameters + $0.offset },
            weightGradient: slot(.weight).map { blocks.gradients + $0.offset },
            biasGradient: slot(.bias).map { blocks.gradients + $0.offset },
            runningMean: slot(.runningMean).map { blocks.statistics + $0.offset },
            runningVar: slot(.runningVar).map { blocks.statistics + $0.offset },
            counter: slot(.numBatchesTracked).map { blocks.counters + $0.offset })
    }
}

private func fillUniform(_ values: UnsafeMutablePointer<Float>, count: Int, bound: Float, _ generator: inout SeededGenerator) {
    for i in 0..<count {
        values[i] = generator.nextFloat(in: -bound, bound)
    }
}

private func copyUnlessSame(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, count: Int) {
    if UnsafePointer(to) != from {
        to.update(from: from, count: count)
    }
}
