import Spec

/// Bounds on what a plan may be asked for, checked before `BufferPlan.init` runs so that no size
/// from outside (a spec's `batch_size`, `--batch-size`, `--threads`) can make its arithmetic
/// overflow: an oversized request is a diagnostic, never a trap.
extension BufferPlan {
    /// The largest batch a plan is made for (2^24 = 16,777,216 examples).
    public static let maxBatchSize = 1 << 24
    /// The most lanes a plan is made for (each gets its own conv workspace).
    public static let maxLanes = 1 << 12
    /// Plans whose tensors, laid out without any reuse, would pass this many bytes (2^56, 64 PiB)
    /// are refused: far beyond any machine, and far below `Int.max`, so every sum, product and
    /// offset `BufferPlan.init` computes for an accepted request stays exact.
    public static let maxPlanBytes = 1 << 56

    /// Why a plan for `graph` at `batchSize` examples and `lanes` threads cannot be made, or nil
    /// when it can. Computes, with overflow-checked arithmetic, an upper bound of the plan's bytes
    /// without reuse: per example the input, every step's output, its gradient and what it saves;
    /// per conv step two im2col workspaces per lane and lanes − 1 weight-gradient partials; and one
    /// alignment pad per tensor.
    public static func sizeProblem(graph: Graph, batchSize: Int, lanes: Int) -> String? {
        guard (1...maxBatchSize).contains(batchSize) else {
            return "batch size \(batchSize) is outside 1...\(maxBatchSize)"
        }
        guard (1...maxLanes).contains(lanes) else {
            return "\(lanes) threads is outside 1...\(maxLanes)"
        }
        var bound = Bound()
        var perExample = Bound(graph.input.elementCount)
        var tensors = 2
        for step in graph.steps {
            perExample.add(Bound(step.output.elementCount).times(2))
            tensors += 2
            for saved in step.op.saved(output: step.output) {
                perExample.add(saved.perExample ? Bound(saved.count) : Bound(0))
                bound.add(saved.perExample ? Bound(0) : Bound(saved.count))
                tensors += 1
            }
            if case let .conv2d(g) = step.op {
                // A lane's workspace holds at least one image's columns and at most the budget's.
                let perImage = Bound(g.columnRows).times(g.outSpatial)
                let columns = perImage.atLeast(BufferPlan.columnBudgetBytes / ElementType.float32.size)
                bound.add(columns.times(lanes).times(2))
                bound.add(Bound(g.weightCount).times(lanes))
                tensors += 3
            }
        }
        bound.add(perExample.times(batchSize))
        bound = bound.times(ElementType.float32.size)
        bound.add(Bound(tensors).times(BufferPlan.alignment))
        guard let bytes = bound.value, bytes <= maxPlanBytes else {
            return "the plan at batch \(batchSize) with \(lanes) thread\(lanes == 1 ? "" : "s") would need more than "
                + "\(maxPlanBytes >> 50) PiB"
        }
        return nil
    }
}

/// A non-negative size that becomes nil (too large) instead of overflowing.
private struct Bound {
    var value: Int?

    init(_ value: Int = 0) { self.value = value }

    func times(_ factor: Int) -> Bound {
        guard let value else { return self }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        return Bound(optional: overflow ? nil : product)
    }

    func times(_ other: Bound) -> Bound {
        guard let factor = other.value else { return other }
        return times(factor)
    }

    /// The larger of this bound and `floor`.
    func atLeast(_ floor: Int) -> Bound {
        value.map { Bound(max($0, floor)) } ?? self
    }

    mutating func add(_ other: Bound) {
        guard let a = value, let b = other.value else {
            value = nil
            return
        }
        let (sum, overflow) = a.addingReportingOverflow(b)
        value = overflow ? nil : sum
    }

    private init(optional value: Int?) { self.value = value }
}
