/// Neighbouring steps the runtime runs as one kernel, one pass over memory per channel, planned by
/// the compiler from the static graph: the graph knows every neighbour ahead of time.
public enum FusedPattern: String, Hashable, Sendable {
    /// BatchNorm2D → ReLU: the ReLU is applied as batch norm writes its output, and its mask as
    /// batch norm's backward reads the gradient.
    case batchNormReLU = "BatchNorm2D+ReLU"
    /// BatchNorm2D → ReLU → MaxPool2D: as above, with each channel pooled (and the pool's gradient
    /// scattered) while that channel is in cache.
    case batchNormReLUMaxPool = "BatchNorm2D+ReLU+MaxPool2D"
    /// ReLU → MaxPool2D: the pool takes each window's maximum of the ReLU's input and applies the
    /// ReLU to it (max(relu(x)) = relu(max(x)), exactly), and its backward sends a gradient only
    /// where that maximum is positive; the ReLU itself never runs, in either pass.
    case reluMaxPool = "ReLU+MaxPool2D"
    /// Conv2D → ReLU → MaxPool2D in training: forward as the conv, then ReLU+MaxPool2D on each
    /// work item's images; backward, the conv's weight, bias and input gradients straight from the
    /// pool's gradient at each window's argmax (where the pooled maximum is positive), a quarter
    /// of the conv's outputs for 2×2 windows, without scattering it into a dense output gradient
    /// first. The ReLU never runs, nor the pool's backward.
    case convReLUMaxPool = "Conv2D+ReLU+MaxPool2D"

    /// Steps the pattern covers.
    public var length: Int {
        switch self {
        case .batchNormReLU, .reluMaxPool: return 2
        case .batchNormReLUMaxPool, .convReLUMaxPool: return 3
        }
    }

    /// The fused backward pass reads the last step's output (the pool's maximum as the ReLU's
    /// mask), which the unfused steps' backward passes do not: the plan keeps it alive until then.
    public var backwardReadsLastOutput: Bool {
        switch self {
        case .reluMaxPool, .convReLUMaxPool: return true
        case .batchNormReLU, .batchNormReLUMaxPool: return false
        }
    }
}

/// Steps `first ..< first + pattern.length` of a plan, run as one kernel.
public struct FusedSteps: Hashable, Sendable {
    public var first: Int
    public var pattern: FusedPattern

    public init(first: Int, pattern: FusedPattern) {
        self.first = first
        self.pattern = pattern
    }

    public var steps: Range<Int> { first..<(first + pattern.length) }
}

extension BufferPlan {
    /// A fused kernel touches all of its steps' tensors at once, so every tensor alive at some
    /// schedule position of the group (forward positions first…last, backward 2n − last…2n − first)
    /// is kept alive over all of them: the planner then never gives one group tensor's memory to
    /// another.
    /// A pattern whose backward reads its last step's output (`backwardReadsLastOutput`) keeps that
    /// output alive until then.
    static func widenLifetimes(_ tensors: inout [PlannedTensor], for fusions: [FusedSteps], steps: [StepBuffers],
                               stepCount n: Int, training: Bool) {
        for group in fusions {
            let first = group.first, last = group.steps.upperBound - 1
            if training && group.pattern.backwardReadsLastOutput {
                let output = steps[last].output
                tensors[output].lastUse = max(tensors[output].lastUse, 2 * n - first)
            }
            var spans = [first...last]
            if training { spans.append((2 * n - last)...(2 * n - first)) }
            for span in spans {
                for i in tensors.indices where tensors[i].firstUse <= span.upperBound && span.lowerBound <= tensors[i].lastUse {
                    tensors[i].firstUse = min(tensors[i].firstUse, span.lowerBound)
                    tensors[i].lastUse = max(tensors[i].lastUse, span.upperBound)
                }
            }
        }
    }

    /// The fusions a plan allows: batch norm followed by a ReLU that runs in place on its output
    /// (and, in training, whose gradient runs in place too), then optionally a max pool; in
    /// training, a conv followed by such a ReLU and a max pool (exactly those the builder planned
    /// the fused backward's workspace for, `ScratchKind.pooledWeightGradient`);
    /// else a ReLU that runs in place (both passes) followed by a max pool.
    static func fusions(graph: Graph, steps: [StepBuffers], tensors: [PlannedTensor]) -> [FusedSteps] {
        func root(_ id: Int) -> Int { tensors[id].aliasOf ?? id }
        func sameMemory(_ a: Int?, _ b: Int?) -> Bool {
            guard let a, let b else { return a == nil && b == nil }
            return root(a) == root(b)
        }
        /// Step `k` is a ReLU whose output and gradient are its input's and its output gradient's.
        func reluInPlace(_ k: Int) -> Bool {
            guard k < graph.steps.count, case .relu = graph.steps[k].op else { return false }
            return sameMemory(steps[k].output, steps[k].input)
                && sameMemory(steps[k].inputGradient, steps[k].outputGradient)
        }
        func isMaxPool(_ k: Int) -> Bool {
            guard k < graph.steps.count, case .maxPool2d = graph.steps[k].op else { return false }
            return true
        }
        var result: [FusedSteps] = []
        var k = 0
        while k + 1 < graph.steps.count {
            let pattern: FusedPattern
            if case .batchNorm2d = graph.steps[k].op, case .relu = graph.steps[k + 1].op,
               sameMemory(steps[k + 1].output, steps[k].output),
               sameMemory(steps[k + 1].inputGradient, steps[k + 1].outputGradient),
               sameMemory(steps[k].outputGradient, steps[k + 1].inputGradient) {
                pattern = isMaxPool(k + 2) ? .batchNormReLUMaxPool : .batchNormReLU
            } else if steps[k].scratch[.pooledWeightGradient] != nil {
                precondition(reluInPlace(k + 1) && isMaxPool(k + 2),
                             "step \(k) was planned for Conv2D+ReLU+MaxPool2D, which the plan cannot fuse")
                pattern = .convReLUMaxPool
            } else if reluInPlace(k) && isMaxPool(k + 1) {
                pattern = .reluMaxPool
            } else {
                k += 1
                continue
            }
            result.append(FusedSteps(first: k, pattern: pattern))
            k += pattern.length
        }
        return result
    }
}
