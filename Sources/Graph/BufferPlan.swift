import Spec

/// Whether a plan covers a training step (forward, loss, backward) or evaluation (forward only).
public enum PlanMode: String, Hashable, Sendable {
    case training
    case evaluation
}

public enum TensorRole: String, Hashable, Sendable {
    /// The batch of images the loader writes before each step.
    case input
    /// The batch's class labels (Int32).
    case labels
    /// A step's output.
    case activation
    /// The loss's gradient with respect to an activation.
    case gradient
    /// Kept by a step's forward pass for its backward pass (see `SavedKind`).
    case saved
    /// Scratch space used inside one op's pass (see `ScratchRequest`).
    case workspace
}

public enum ElementType: String, Hashable, Sendable {
    case float32
    case int32

    public var size: Int { 4 }
}

/// One tensor of the plan, with its lifetime in schedule positions and its place in the arena.
public struct PlannedTensor: Hashable, Sendable {
    public var id: Int
    public var name: String
    public var role: TensorRole
    public var elementType: ElementType
    public var elementCount: Int
    /// The tensor whose memory this one shares (in-place ops), if any.
    public var aliasOf: Int?
    /// First and last schedule positions that touch it (see `BufferPlan.schedule`).
    public var firstUse: Int
    public var lastUse: Int
    /// Byte offset into the arena.
    public var offset: Int

    public var bytes: Int { elementCount * elementType.size }
}

/// The tensors one step reads and writes, by id into `BufferPlan.tensors`.
public struct StepBuffers: Hashable, Sendable {
    public var input: Int
    public var output: Int
    /// Written by the backward pass; absent when no earlier step needs it.
    public var inputGradient: Int?
    /// Read by the backward pass; absent when the step runs no backward pass.
    public var outputGradient: Int?
    /// Tensors kept from forward for backward (training only).
    public var saved: [SavedKind: Int]
    /// Scratch tensors the op asked for (`Op.scratch`), alive only during one of its passes.
    public var scratch: [ScratchKind: Int] = [:]

    /// The step's backward pass runs (it has parameters, or an earlier step needs its gradient).
    public var runsBackward: Bool { outputGradient != nil }
}

/// The tensors the loss reads and writes (training only).
public struct LossBuffers: Hashable, Sendable {
    /// The last step's input when the model ends in Softmax, else the last step's output.
    public var logits: Int
    public var labels: Int
    /// The loss's gradient with respect to `logits` (p − onehot, averaged over the batch).
    public var logitsGradient: Int
}

/// A static memory plan: every tensor one training step (or one evaluation batch) needs, placed
/// once into a single arena by a best-fit, largest-first planner, as TFLite's arena planner does.
/// The runtime allocates `arenaBytes` and executes the plan as is.
public struct BufferPlan: Hashable, Sendable {
    /// Offsets and sizes are multiples of this.
    public static let alignment = 64
    /// The largest im2col workspace a conv gets; it lowers as many images per GEMM as fit.
    public static let columnBudgetBytes = 2 << 20

    public var mode: PlanMode
    public var batchSize: Int
    /// Threads that execute each step together; each gets its own conv workspace.
    public var lanes: Int
    public var tensors: [PlannedTensor]
    public var steps: [StepBuffers]
    public var input: Int
    public var labels: Int
    /// Training only.
    public var loss: LossBuffers?
    /// What happens at each schedule position: `forward 0 Conv2D`, `loss`, `backward 0 Conv2D`.
    public var schedule: [String]
    /// Bytes the runtime allocates for this plan.
    public var arenaBytes: Int
    /// Bytes without reuse or in-place sharing: every tensor in its own block.
    public var naiveBytes: Int
    /// Neighbouring steps the runtime runs as one kernel (see `FusedPattern`), in step order.
    public var fusions: [FusedSteps]

    /// Plans `graph` for `mode` at `batchSize` examples per step, executed by `lanes` threads.
    /// `fuse: false` runs every step as its own kernel (tests compare the two). `scratch` answers
    /// for each op which scratch tensors it needs (the runtime's kernels choose; see `ScratchPlanner`).
    public init(graph: Graph, mode: PlanMode, batchSize: Int, lanes: Int = 1, fuse: Bool = true,
                scratch: @escaping ScratchPlanner = { $0.scratch($1) }) {
        precondition(batchSize >= 1, "batch size must be positive")
        precondition(lanes >= 1, "at least one lane")
        var builder = PlanBuilder(graph: graph, mode: mode, batchSize: batchSize, lanes: lanes, fuse: fuse,
                                  scratch: scratch)
        builder.build()
        self.mode = mode
        self.batchSize = batchSize
        self.lanes = lanes
        self.steps = builder.steps
        self.input = builder.inputTensor
        self.labels = builder.labelsTensor
        self.loss = builder.loss
        self.schedule = builder.schedule
        let fusions = fuse ? BufferPlan.fusions(graph: graph, steps: builder.steps, tensors: builder.tensors) : []
        var tensors = builder.tensors
        BufferPlan.widenLifetimes(&tensors, for: fusions, steps: builder.steps, stepCount: graph.steps.count, training: mode == .training)
        let placed = placeTensors(tensors)
        self.tensors = placed.tensors
        self.arenaBytes = placed.arenaBytes
        self.naiveBytes = builder.tensors.reduce(0) { $0 + alignUp($1.bytes) }
        self.fusions = fusions
    }

    public func tensor(_ id: Int) -> PlannedTensor { tensors[id] }
}

/// Rounds `bytes` up to the plan's alignment.
public func alignUp(_ bytes: Int) -> Int {
    (bytes + BufferPlan.alignment - 1) / BufferPlan.alignment * BufferPlan.alignment
}

/// Collects the tensors of a plan and their uses. Schedule positions: forward of step k at k,
/// the loss at n, backward of step k at 2n − k (training).
private struct PlanBuilder {
    let graph: Graph
    let mode: PlanMode
    let batchSize: Int
    let lanes: Int
    var tensors: [PlannedTensor] = []
    var steps: [StepBuffers] = []
    var schedule: [String] = []
    var inputTensor = 0
    var labelsTensor = 0
    var loss: LossBuffers?
    let fuse: Bool
    let scratch: ScratchPlanner

    init(graph: Graph, mode: PlanMode, batchSize: Int, lanes: Int, fuse: Bool, scratch: @escaping ScratchPlanner) {
        self.scratch = scratch
        self.graph = graph
        self.mode = mode
        self.batchSize = batchSize
        self.lanes = lanes
        self.fuse = fuse
    }

    var n: Int { graph.steps.count }
    var training: Bool { mode == .training }

    func backwardTime(_ k: Int) -> Int { 2 * n - k }

    mutating func add(_ name: String, _ role: TensorRole, _ type: ElementType = .float32, count: Int, aliasOf: Int? = nil) -> Int {
        let id = tensors.count
        tensors.append(PlannedTensor(id: id, name: name, role: role, elementType: type, elementCount: count,
                                     aliasOf: aliasOf, firstUse: Int.max, lastUse: Int.min, offset: 0))
        return id
    }

    mutating func use(_ id: Int, at time: Int) {
        tensors[id].firstUse = min(tensors[id].firstUse, time)
        tensors[id].lastUse = max(tensors[id].lastUse, time)
    }

    /// Steps whose input gradient is needed: some earlier step has parameters.
    func needsInputGradient(_ k: Int) -> Bool {
        graph.steps[..<k].contains { $0.op.hasParameters }
    }

    /// A fused final Softmax: the loss writes the gradient of its input directly.
    func isFusedSoftmax(_ k: Int) -> Bool {
        training && graph.outputsProbabilities && k == n - 1
    }

    func runsBackward(_ k: Int) -> Bool {
        training && !isFusedSoftmax(k) && (graph.steps[k].op.hasParameters || needsInputGradient(k))
    }

    /// Step k is a conv that the plan runs fused with the ReLU and MaxPool2D after it
    /// (`FusedPattern.convReLUMaxPool`), so its backward pass is the fused group's: a training plan
    /// that fuses, and a ReLU that will run in place in both passes (the facts `build` and
    /// `buildLossAndBackward` alias it by). Decided here, before the ReLU is built, so that the conv
    /// asks for the fused backward's scratch instead of its own; `BufferPlan.fusions` then fuses
    /// exactly these.
    func fusesConvWithReLUMaxPool(_ k: Int) -> Bool {
        guard fuse, k + 2 < n, runsBackward(k), case .conv2d = graph.steps[k].op,
              case .relu = graph.steps[k + 1].op, case .maxPool2d = graph.steps[k + 2].op else { return false }
        let relu = graph.steps[k + 1].op
        return relu.forwardCanRunInPlace(training: training) && inputIsFree(k + 1) && relu.backwardCanRunInPlace
            && needsInputGradient(k + 1)
    }

    mutating func build() {
        let steps = graph.steps
        inputTensor = add("input", .input, count: batchSize * graph.input.elementCount)
        labelsTensor = add("labels", .labels, .int32, count: batchSize)
        use(inputTensor, at: 0)
        use(labelsTensor, at: 0)
        schedule = steps.map { "forward \($0.index) \($0.op.kindName)" }
        var activation = inputTensor
        for (k, step) in steps.enumerated() {
            let backward = runsBackward(k)
            let count = batchSize * step.output.elementCount
            let output: Int
            if step.op.forwardCanRunInPlace(training: training) && inputIsFree(k) {
                output = add("\(k).output", .activation, count: count, aliasOf: root(activation))
            } else {
                output = add("\(k).output", .activation, count: count)
            }
            use(activation, at: k)
            use(output, at: k)
            if backward && step.op.backwardReadsInput { use(activation, at: backwardTime(k)) }
            if backward && step.op.backwardReadsOutput { use(output, at: backwardTime(k)) }
            // Training-mode forward passes write these even when no backward pass reads them
            // (dropout draws its mask either way).
            var saved: [SavedKind: Int] = [:]
            if training {
                for (kind, elements, perExample) in step.op.saved(output: step.output) {
                    let type: ElementType = kind == .poolIndices ? .int32 : .float32
                    let id = add("\(k).\(kind.rawValue)", .saved, type, count: perExample ? elements * batchSize : elements)
                    use(id, at: k)
                    if backward { use(id, at: backwardTime(k)) }
                    saved[kind] = id
                }
            }
            var buffers = StepBuffers(input: activation, output: output, saved: saved)
            let context = ScratchContext(batchSize: batchSize, lanes: lanes, runsBackward: backward,
                                         computesInputGradient: backward && needsInputGradient(k),
                                         backwardFusedWithReLUMaxPool: fusesConvWithReLUMaxPool(k))
            for request in scratch(step.op, context) {
                let id = add("\(k).\(request.kind.rawValue)", .workspace, count: request.elementCount)
                use(id, at: request.pass == .forward ? k : backwardTime(k))
                buffers.scratch[request.kind] = id
            }
            self.steps.append(buffers)
            activation = output
        }
        guard training else {
            use(labelsTensor, at: n - 1)
            return
        }
        buildLossAndBackward()
    }

    /// The input of step k may be overwritten: no backward pass reads it except through the
    /// alias (ReLU reads its own output, which is the same memory).
    func inputIsFree(_ k: Int) -> Bool {
        guard k > 0, training else { return true }
        let previous = graph.steps[k - 1].op
        return !(runsBackward(k - 1) && previous.backwardReadsOutput)
    }

    func root(_ id: Int) -> Int {
        tensors[id].aliasOf ?? id
    }

    mutating func buildLossAndBackward() {
        schedule.append("loss")
        let lastStep = n - 1
        let logitsStep = graph.outputsProbabilities ? lastStep : n
        // The loss reads the logits: the final Softmax's input, or the last step's output.
        let logits = logitsStep == n ? steps[lastStep].output : steps[lastStep].input
        let lossTime = n
        use(logits, at: lossTime)
        use(labelsTensor, at: lossTime)
        let lossGradient = add("\(logitsStep == n ? lastStep : lastStep - 1).output.grad", .gradient,
                               count: tensors[logits].elementCount)
        use(lossGradient, at: lossTime)
        loss = LossBuffers(logits: logits, labels: labelsTensor, logitsGradient: lossGradient)

        var gradient = lossGradient
        let firstBackward = logitsStep == n ? lastStep : lastStep - 1
        for k in stride(from: lastStep, through: 0, by: -1) {
            schedule.append("backward \(graph.steps[k].index) \(graph.steps[k].op.kindName)")
            guard k <= firstBackward, runsBackward(k) else { continue }
            let time = backwardTime(k)
            use(gradient, at: time)
            steps[k].outputGradient = gradient
            if needsInputGradient(k) {
                let count = tensors[steps[k].input].elementCount
                let alias = graph.steps[k].op.backwardCanRunInPlace ? root(gradient) : nil
                let inputGradient = add("\(k - 1).output.grad", .gradient, count: count, aliasOf: alias)
                use(inputGradient, at: time)
                steps[k].inputGradient = inputGradient
                gradient = inputGradient
            }
        }
    }
}

/// Best-fit, largest-first placement. Tensors sharing memory (aliases) are placed as one block
/// whose lifetime is the union of theirs. For each block, in order of decreasing size, the gaps
/// between already-placed blocks that are alive at the same time are scanned, and the smallest
/// gap that fits wins; with none, the block goes after the highest overlapping one.
func placeTensors(_ tensors: [PlannedTensor]) -> (tensors: [PlannedTensor], arenaBytes: Int) {
    struct Block {
        var root: Int
        var size: Int
        var first: Int
        var last: Int
        var offset = 0
    }
    var blocks: [Int: Block] = [:]
    for tensor in tensors {
        let root = tensor.aliasOf ?? tensor.id
        var block = blocks[root] ?? Block(root: root, size: 0, first: Int.max, last: Int.min)
        block.size = max(block.size, alignUp(tensor.bytes))
        block.first = min(block.first, tensor.firstUse)
        block.last = max(block.last, tensor.lastUse)
        blocks[root] = block
    }
    let order = blocks.values.sorted { a, b in
        if a.size != b.size { return a.size > b.size }
        if a.first != b.first { return a.first < b.first }
        return a.root < b.root
    }
    var placed: [Block] = []
    var arenaBytes = 0
    for var block in order {
        let live = placed
            .filter { $0.first <= block.last && block.first <= $0.last }
            .sorted { $0.offset < $1.offset }
        var cursor = 0
        var best: (offset: Int, gap: Int)?
        for other in live {
            let gap = other.offset - cursor
            if gap >= block.size, best.map({ gap < $0.gap }) ?? true {
                best = (cursor, gap)
            }
            cursor = max(cursor, other.offset + other.size)
        }
        block.offset = best?.offset ?? cursor
        arenaBytes = max(arenaBytes, block.offset + block.size)
        placed.append(block)
        blocks[block.root] = block
    }
    var result = tensors
    for i in result.indices {
        let root = result[i].aliasOf ?? result[i].id
        result[i].offset = blocks[root]?.offset ?? 0
    }
    return (result, arenaBytes)
}
