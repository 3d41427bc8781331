import Graph
import Spec

/// One step of a plan bound to its memory: the op's runtime value, made once when a `Network` is
/// built (as TFLite's Prepare) and run many times (its Eval). Each payload holds its pointers,
/// runs its forward and backward passes over one work item's share, and has asked the planner for
/// its scratch tensors through `Op.scratch`.
enum BoundStep {
    case convolution(ConvolutionStep)
    case maxPool(MaxPoolStep)
    case batchNorm(BatchNormStep)
    case dropout(DropoutStep)
    case relu(ReLUStep)
    case softmax(SoftmaxStep)
    case flatten(FlattenStep)
    case linear(LinearStep)
    case batchNormReLU(BatchNormReLUStep)

    init(_ op: Op, _ binder: StepBinder) {
        switch op {
        case let .conv2d(g): self = .convolution(ConvolutionStep(g, binder))
        case let .maxPool2d(g): self = .maxPool(MaxPoolStep(g, binder))
        case let .batchNorm2d(g): self = .batchNorm(BatchNormStep(g, binder))
        case let .dropout(p): self = .dropout(DropoutStep(p: p, binder))
        case .relu: self = .relu(ReLUStep(binder))
        case .softmax: self = .softmax(SoftmaxStep(binder))
        case let .flatten(g): self = .flatten(FlattenStep(g, binder))
        case let .linear(g): self = .linear(LinearStep(g, binder))
        }
    }

    /// The step's output: [batch, …] in the plan's arena.
    var output: UnsafeMutablePointer<Float> {
        switch self {
        case let .convolution(s): return s.output
        case let .maxPool(s): return s.output
        case let .batchNorm(s): return s.output
        case let .dropout(s): return s.output
        case let .relu(s): return s.output
        case let .softmax(s): return s.output
        case let .flatten(s): return s.output
        case let .linear(s): return s.output
        case let .batchNormReLU(s): return s.output
        }
    }

    /// The forward pass needs a fresh random seed.
    func drawsSeed(training: Bool) -> Bool {
        if case let .dropout(s) = self { return s.drawsSeed(training: training) }
        return false
    }

    /// Jobs the forward pass takes one after another.
    var forwardPhases: Int {
        if case let .convolution(s) = self { return s.forwardPhases }
        return 1
    }

    /// Jobs the backward pass takes one after another (0: the plan runs no backward pass here).
    var backwardPhases: Int {
        switch self {
        case let .convolution(s): return s.backwardPhases
        case let .maxPool(s): return s.gradients == nil ? 0 : 1
        case let .batchNorm(s): return s.gradients == nil ? 0 : 1
        case let .dropout(s): return s.gradients == nil ? 0 : 1
        case let .relu(s): return s.gradients == nil ? 0 : 1
        case let .softmax(s): return s.gradients == nil ? 0 : 1
        case let .flatten(s): return s.gradients == nil ? 0 : 1
        case let .linear(s): return s.gradients == nil ? 0 : 1
        case let .batchNormReLU(s): return s.backwardPhases
        }
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        switch self {
        case let .convolution(s): s.forward(run, lane)
        case let .maxPool(s): s.forward(run, lane)
        case let .batchNorm(s): s.forward(run, lane)
        case let .dropout(s): s.forward(run, lane)
        case let .relu(s): s.forward(run, lane)
        case let .softmax(s): s.forward(run, lane)
        case let .flatten(s): s.forward(run, lane)
        case let .linear(s): s.forward(run, lane)
        case let .batchNormReLU(s): s.forward(run, lane)
        }
    }

    func backward(phase: Int, batch: Int, _ lane: Lane) {
        switch self {
        case let .convolution(s): s.backward(phase: phase, batch: batch, lane)
        case let .maxPool(s): s.backward(batch: batch, lane)
        case let .batchNorm(s): s.backward(batch: batch, lane)
        case let .dropout(s): s.backward(batch: batch, lane)
        case let .relu(s): s.backward(batch: batch, lane)
        case let .softmax(s): s.backward(batch: batch, lane)
        case let .flatten(s): s.backward(batch: batch, lane)
        case let .linear(s): s.backward(batch: batch, lane)
        case let .batchNormReLU(s): s.backward(batch: batch, lane)
        }
    }
}

/// The parameter blocks a network allocates.
struct ParameterBlocks {
    var parameters: UnsafeMutablePointer<Float>
    var gradients: UnsafeMutablePointer<Float>
    var statistics: UnsafeMutablePointer<Float>
    var counters: UnsafeMutablePointer<Int64>
}

/// Resolves step `k`'s tensors in a plan's arena and its slots in the parameter blocks.
struct StepBinder {
    let graph: Graph
    let plan: BufferPlan
    let arena: UnsafeMutableRawPointer
    let blocks: ParameterBlocks
    let k: Int

    var buffers: StepBuffers { plan.steps[k] }
    var outputPerExample: Int { graph.steps[k].output.elementCount }
    var input: UnsafeMutablePointer<Float> { float(buffers.input) }
    var output: UnsafeMutablePointer<Float> { float(buffers.output) }
    var inputGradient: UnsafeMutablePointer<Float>? { buffers.inputGradient.map(float) }
    var outputGradient: UnsafeMutablePointer<Float>? { buffers.outputGradient.map(float) }

    func float(_ id: Int) -> UnsafeMutablePointer<Float> {
        (arena + plan.tensors[id].offset).assumingMemoryBound(to: Float.self)
    }

    func int32(_ id: Int) -> UnsafeMutablePointer<Int32> {
        (arena + plan.tensors[id].offset).assumingMemoryBound(to: Int32.self)
    }

    func scratch(_ kind: ScratchKind) -> UnsafeMutablePointer<Float>? { buffers.scratch[kind].map(float) }
    func saved(_ kind: SavedKind) -> UnsafeMutablePointer<Float>? { buffers.saved[kind].map(float) }
    func savedIndices(_ kind: SavedKind) -> UnsafeMutablePointer<Int32>? { buffers.saved[kind].map(int32) }

    func parameter(_ role: SlotRole) -> UnsafeMutablePointer<Float>? {
        graph.slot(step: k, role).map { blocks.parameters + $0.offset }
    }

    func gradient(_ role: SlotRole) -> UnsafeMutablePointer<Float>? {
        graph.slot(step: k, role).map { blocks.gradients + $0.offset }
    }

    func statistic(_ role: SlotRole) -> UnsafeMutablePointer<Float>? {
        graph.slot(step: k, role).map { blocks.statistics + $0.offset }
    }

    func counter(_ role: SlotRole) -> UnsafeMutablePointer<Int64>? {
        graph.slot(step: k, role).map { blocks.counters + $0.offset }
    }
}

/// A bound step and the graph steps it runs (several when fused).
struct Kernel {
    var step: BoundStep
    var steps: Range<Int>
}

/// Binds every step of `plan` to `arena` and the parameter blocks, fusing the steps the plan says.
func bindKernels(graph: Graph, plan: BufferPlan, arena: UnsafeMutableRawPointer, blocks: ParameterBlocks) -> [Kernel] {
    func binder(_ k: Int) -> StepBinder { StepBinder(graph: graph, plan: plan, arena: arena, blocks: blocks, k: k) }
    func single(_ k: Int) -> BoundStep { BoundStep(graph.steps[k].op, binder(k)) }
    var kernels: [Kernel] = []
    var fusions = plan.fusions[...]
    var k = 0
    while k < graph.steps.count {
        if let fused = fusions.first, fused.first == k {
            fusions.removeFirst()
            switch fused.pattern {
            case .batchNormReLU, .batchNormReLUMaxPool:
                guard case let .batchNorm(norm) = single(k) else { preconditionFailure("a fusion starts at batch norm") }
                var pool: MaxPoolStep?
                if fused.pattern == .batchNormReLUMaxPool, case let .maxPool(p) = single(k + 2) { pool = p }
                kernels.append(Kernel(step: .batchNormReLU(BatchNormReLUStep(norm: norm, pool: pool)), steps: fused.steps))
            case .reluMaxPool:
                guard case var .maxPool(pool) = single(k + 1) else { preconditionFailure("ReLU+MaxPool2D ends at a pool") }
                pool.relu = true
                kernels.append(Kernel(step: .maxPool(pool), steps: fused.steps))
            }
            k = fused.steps.upperBound
        } else {
            kernels.append(Kernel(step: single(k), steps: k..<(k + 1)))
            k += 1
        }
    }
    return kernels
}
