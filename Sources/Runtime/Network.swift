import CBLAS
import Graph
import Spec

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
    /// Each step (or fused group of steps) of each plan as a runtime value bound to its memory.
    private let trainingKernels: [Kernel]
    private let evaluationKernels: [Kernel]
    private let updateGroups: [UpdateGroup]
    /// Optimizer steps taken.
    public internal(set) var stepCount = 0
    /// The threads that execute each step together (as many as the plans were made for).
    private let pool: LanePool
    /// Why fewer threads than the plans' lanes run the steps (a thread could not be started), if
    /// so; the results are the same, only slower.
    public var threadStartFailure: String? { pool.startFailure }
    private let inputFeatures: Int
    private let inputChannels: Int
    /// When set, every forward and backward pass adds each step's seconds to it (benchmarks).
    public var profile: LayerProfile?
    /// The stream dropout masks are drawn from (one seed per training step with dropout).
    var dropoutGenerator: SeededGenerator

    public convenience init(graph: Graph, trainingBatch: Int, evaluationBatch: Int, optimizer: OptimizerSettings,
                            seed: UInt64, lanes: Int = 1) {
        self.init(graph: graph,
                  trainingPlan: BufferPlan(runtimeFor: graph, mode: .training, batchSize: trainingBatch, lanes: lanes),
                  evaluationPlan: BufferPlan(runtimeFor: graph, mode: .evaluation, batchSize: evaluationBatch,
                                             lanes: lanes),
                  optimizer: optimizer, seed: seed)
    }

    /// Executes plans made earlier for this graph (a sweep plans once and reuses them).
    public init(graph: Graph, trainingPlan: BufferPlan, evaluationPlan: BufferPlan, optimizer: OptimizerSettings, seed: UInt64) {
        precondition(trainingPlan.mode == .training && evaluationPlan.mode == .evaluation, "plans of the wrong mode")
        precondition(trainingPlan.steps.count == graph.steps.count && evaluationPlan.steps.count == graph.steps.count,
                     "plans made for another graph")
        precondition(trainingPlan.lanes == evaluationPlan.lanes, "plans for different lane counts")
        let lanes = trainingPlan.lanes
        pool = LanePool(lanes: lanes) { job, task, lane in
            perform(job.assumingMemoryBound(to: LaneJob.self).pointee, Lane(task: task, tasks: lanes, lane: lane))
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
        let blocks = ParameterBlocks(parameters: parameters, gradients: gradients, statistics: statistics,
                                     counters: counters)
        trainingKernels = bindKernels(graph: graph, plan: trainingPlan, arena: trainingArena, blocks: blocks)
        evaluationKernels = bindKernels(graph: graph, plan: evaluationPlan, arena: evaluationArena, blocks: blocks)
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

    /// PyTorch's default initialization, each op's as its family says (`RuntimeOp.slotInitialization`:
    /// Conv2D and Linear weights and biases uniform in ±1/√fan_in, batch norm γ = 1, β = 0, running
    /// mean 0, running variance 1); counters start at 0. Slots are filled in state_dict order.
    public func initializeParameters(generator: inout SeededGenerator) {
        for slot in graph.slots {
            if slot.role.storage == .counters {
                counters[slot.offset] = 0
                continue
            }
            guard let initialization = graph.steps[slot.stepIndex].op.runtime.slotInitialization[slot.role] else {
                preconditionFailure("\(slot.name) has no initialization")
            }
            let block = slot.role.storage == .parameters ? parameters : statistics
            initialization.fill(block + slot.offset, count: slot.count, &generator)
        }
        optimizerState.update(repeating: 0, count: max(graph.parameterCount * optimizer.stateBlocks, 1))
        stepCount = 0
    }

    /// Copies examples `indices[0..<count]` of a data set into a plan's input and labels tensors.
    private func gather(_ plan: BufferPlan, arena: UnsafeMutableRawPointer, images: ImageSource,
                        labels: UnsafePointer<Int32>, indices: UnsafePointer<Int32>, count: Int) {
        run(.gather(GatherWork(input: floatPointer(arena, plan, plan.input), labels: int32Pointer(arena, plan, plan.labels),
                               images: images, sourceLabels: labels, indices: indices, count: count,
                               features: inputFeatures, channels: inputChannels)))
    }

    /// Runs every work item of `job` on the lanes.
    private func run(_ job: LaneJob) {
        var job = job
        withUnsafePointer(to: &job) { pool.run(UnsafeRawPointer($0), tasks: pool.lanes) }
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
        gather(trainingPlan, arena: trainingArena, images: images, labels: labels, indices: indices, count: count)
        forward(trainingKernels, training: true, batch: count)
        guard let loss = trainingPlan.loss else { preconditionFailure("a training plan has a loss") }
        let classes = Graph.classCount
        let result = crossEntropyForwardBackward(
            logits: floatPointer(trainingArena, trainingPlan, loss.logits),
            labels: int32Pointer(trainingArena, trainingPlan, loss.labels),
            gradient: floatPointer(trainingArena, trainingPlan, loss.logitsGradient),
            batch: count, classes: classes)
        backward(trainingKernels, batch: count)
        return result
    }

    /// Predictions for `count` examples (count ≤ the evaluation plan's batch size), in
    /// evaluation mode. Returns how many match their labels.
    public func evaluate(images: ImageSource, labels: UnsafePointer<Int32>,
                         indices: UnsafePointer<Int32>, count: Int) -> Int {
        precondition(count >= 1 && count <= evaluationPlan.batchSize, "batch larger than the plan")
        gather(evaluationPlan, arena: evaluationArena, images: images, labels: labels, indices: indices, count: count)
        forward(evaluationKernels, training: false, batch: count)
        guard let last = evaluationKernels.last else { return 0 }
        return countCorrect(scores: last.step.output, labels: int32Pointer(evaluationArena, evaluationPlan, evaluationPlan.labels),
                            batch: count, classes: Graph.classCount)
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
        evaluationKernels.last.map { UnsafePointer($0.step.output) }
    }

    /// Runs every step's forward pass; each step's work is split between the lanes. A fused
    /// group's time is profiled under its first step.
    private func forward(_ kernels: [Kernel], training: Bool, batch: Int) {
        for kernel in kernels {
            let step = kernel.step
            let started = profile == nil ? 0 : now()
            defer { profile?.forward[kernel.steps.lowerBound] += profile == nil ? 0 : now() - started }
            let seed = step.drawsSeed(training: training) ? dropoutGenerator.next() : 0
            for phase in 0..<step.forwardPhases {
                run(.forward(step, ForwardRun(phase: phase, batch: batch, training: training, seed: seed)))
            }
        }
    }

    /// Runs the backward passes in reverse order; each step's work is split between the lanes.
    private func backward(_ kernels: [Kernel], batch: Int) {
        for kernel in kernels.reversed() {
            let step = kernel.step
            let phases = step.backwardPhases
            guard phases > 0 else { continue }
            let started = profile == nil ? 0 : now()
            defer { profile?.backward[kernel.steps.lowerBound] += profile == nil ? 0 : now() - started }
            for phase in 0..<phases {
                run(.backward(step, phase: phase, batch: batch))
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

private func floatPointer(_ arena: UnsafeMutableRawPointer, _ plan: BufferPlan, _ id: Int) -> UnsafeMutablePointer<Float> {
    (arena + plan.tensors[id].offset).assumingMemoryBound(to: Float.self)
}

private func int32Pointer(_ arena: UnsafeMutableRawPointer, _ plan: BufferPlan, _ id: Int) -> UnsafeMutablePointer<Int32> {
    (arena + plan.tensors[id].offset).assumingMemoryBound(to: Int32.self)
}
