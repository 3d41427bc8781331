import Graph
import Spec

/// One step of a plan bound to its memory: the op's runtime value, made once when a `Network` is
/// built (as TFLite's Prepare) and run many times (its Eval). Each step holds its pointers, runs
/// its forward and backward passes over one work item's share, and has asked the planner for its
/// scratch tensors through `Op.scratch`.
typealias BoundStep = any RunnableStep

/// What the network's loops ask of a bound step. Each family's step conforms in its file in
/// Runtime/Ops/ (`ConvolutionStep`, `ReLUStep`, …), as does the fused `BatchNormReLUStep`.
protocol RunnableStep {
    /// The step's output: [batch, …] in the plan's arena.
    var output: UnsafeMutablePointer<Float> { get }
    /// The forward pass needs a fresh random seed (none does unless it says).
    func drawsSeed(training: Bool) -> Bool
    /// Jobs the forward pass takes one after another (one unless a step says).
    var forwardPhases: Int { get }
    /// Jobs the backward pass takes one after another (0: the plan runs no backward pass here).
    var backwardPhases: Int { get }
    func forward(_ run: ForwardRun, _ lane: Lane)
    func backward(phase: Int, batch: Int, _ lane: Lane)
}

extension RunnableStep {
    func drawsSeed(training: Bool) -> Bool { false }
    var forwardPhases: Int { 1 }
}

/// A step whose backward pass is one job, run when the plan bound its gradients.
protocol SinglePassStep: RunnableStep {
    associatedtype Gradients
    /// Bound when the plan runs the step's backward pass.
    var gradients: Gradients? { get }
    func backward(batch: Int, _ lane: Lane)
}

extension SinglePassStep {
    var backwardPhases: Int { gradients == nil ? 0 : 1 }

    func backward(phase: Int, batch: Int, _ lane: Lane) {
        backward(batch: batch, lane)
    }
}

/// What the runtime knows of an op, on its geometry (Graph's `OpRule`): its bound step, how
/// PyTorch initializes its slots, and its PyTorch and ONNX exports. Each family conforms in its
/// step's file in Runtime/Ops/.
protocol RuntimeOp: OpRule {
    /// The op's step bound to step `binder.k`'s tensors and slots.
    func bind(_ binder: StepBinder) -> BoundStep
    /// How PyTorch's `reset_parameters` fills each float slot of the op (`slotShapes`), by role;
    /// counters start at 0.
    var slotInitialization: [SlotRole: SlotInitialization] { get }
    /// Its module in the exported `nn.Sequential` (`pytorchConstructor`).
    var pytorchModule: String { get }
    /// Its node in the exported ONNX graph; nil where evaluation leaves the op out.
    var onnxNode: ONNXNode? { get }
}

extension Op {
    /// The op's runtime family: the one switch in Runtime from an op to its `RuntimeOp`.
    var runtime: any RuntimeOp {
        switch self {
        case let .conv2d(g): return g
        case let .maxPool2d(g): return g
        case let .batchNorm2d(g): return g
        case let .dropout(p): return DropoutGeometry(p: p)
        case .relu: return ReLUGeometry()
        case .softmax: return SoftmaxGeometry()
        case let .flatten(g): return g
        case let .linear(g): return g
        }
    }
}

/// How a float slot starts, as PyTorch's `reset_parameters` fills it.
enum SlotInitialization: Hashable {
    /// Uniform in ±bound, drawn in slot order from the initialization generator.
    case uniform(bound: Float)
    case constant(Float)

    func fill(_ values: UnsafeMutablePointer<Float>, count: Int, _ generator: inout SeededGenerator) {
        switch self {
        case let .uniform(bound):
            for i in 0..<count {
                values[i] = generator.nextFloat(in: -bound, bound)
            }
        case let .constant(value):
            values.update(repeating: value, count: count)
        }
    }
}

/// The input and output gradients of a step without parameters, bound when the plan runs its
/// backward pass (some earlier step needs the input gradient).
struct PassThroughGradients {
    var outputGradient: UnsafeMutablePointer<Float>
    var inputGradient: UnsafeMutablePointer<Float>

    init?(_ b: StepBinder) {
        guard let outputGradient = b.outputGradient, let inputGradient = b.inputGradient else { return nil }
        self.outputGradient = outputGradient
        self.inputGradient = inputGradient
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
    func single(_ k: Int) -> BoundStep { graph.steps[k].op.runtime.bind(binder(k)) }
    var kernels: [Kernel] = []
    var fusions = plan.fusions[...]
    var k = 0
    while k < graph.steps.count {
        if let fused = fusions.first, fused.first == k {
            fusions.removeFirst()
            switch fused.pattern {
            case .batchNormReLU, .batchNormReLUMaxPool:
                guard let norm = single(k) as? BatchNormStep else { preconditionFailure("a fusion starts at batch norm") }
                var pool: MaxPoolStep?
                if fused.pattern == .batchNormReLUMaxPool { pool = single(k + 2) as? MaxPoolStep }
                kernels.append(Kernel(step: BatchNormReLUStep(norm: norm, pool: pool), steps: fused.steps))
            case .convReLUMaxPool:
                guard let conv = single(k) as? ConvolutionStep, var pool = single(k + 2) as? MaxPoolStep else {
                    preconditionFailure("Conv2D+ReLU+MaxPool2D: a conv, then a pool")
                }
                pool.relu = true
                kernels.append(Kernel(step: ConvReLUPoolStep(conv: conv, pool: pool), steps: fused.steps))
            case .reluMaxPool:
                guard var pool = single(k + 1) as? MaxPoolStep else { preconditionFailure("ReLU+MaxPool2D ends at a pool") }
                pool.relu = true
                kernels.append(Kernel(step: pool, steps: fused.steps))
            }
            k = fused.steps.upperBound
        } else {
            kernels.append(Kernel(step: single(k), steps: k..<(k + 1)))
            k += 1
        }
    }
    return kernels
}

extension BatchNormReLUStep: RunnableStep {
    func backward(phase: Int, batch: Int, _ lane: Lane) {
        backward(batch: batch, lane)
    }
}
