/// A scratch tensor an op uses inside one of its passes. The planner places it like any other
/// tensor, alive only at that pass's schedule position; the runtime op binds it by kind.
public enum ScratchKind: String, Hashable, Sendable, CaseIterable {
    /// im2col columns for a conv's forward pass: one region of `columnsPerLane` elements per lane.
    case columns
    /// im2col columns for a conv's backward pass, laid out as `columns`.
    case backwardColumns = "columns.backward"
    /// A conv's weight-gradient partial sums of work items 1…: lanes − 1 regions of the weight's
    /// size, added in a fixed order into the gradient after the backward pass.
    case weightGradientPartials = "weight.grad.partials"
    /// A Winograd conv's transformed weights, made at the start of each forward pass.
    case winogradWeights = "winograd.weights"
    /// A Winograd conv's forward workspace (padded planes, transformed tiles, products), per lane.
    case winogradColumns = "winograd.columns"
    /// The transformed flipped weights of a Winograd conv's input-gradient pass.
    case winogradFlippedWeights = "winograd.weights.flipped"
    /// A Winograd conv's backward workspace (weight gradient, then input gradient), per lane.
    case winogradBackwardColumns = "winograd.columns.backward"
    /// A direct conv's weights as [C·KH·KW, OC rounded up to 8], made at the start of each forward pass.
    case directWeights = "direct.weights"
    /// A direct conv's forward workspace (zero-padded input, tap and pixel tables), per lane.
    case directColumns = "direct.columns"
    /// A direct conv's flipped weights for its input-gradient pass, [OC·KH·KW, C rounded up to 8].
    case directFlippedWeights = "direct.weights.flipped"
    /// A direct conv's backward workspace (weight gradient, then input gradient), per lane.
    case directBackwardColumns = "direct.columns.backward"
    /// The workspace of a conv's weight and input gradients taken straight from a following max
    /// pool's gradient (`FusedPattern.convReLUMaxPool`, `Conv2DGeometry.pooledGradientColumnsPerLane`),
    /// per lane. Planned, instead of the conv's own backward scratch, exactly for the convs the plan
    /// fuses that way (`ScratchContext.backwardFusedWithReLUMaxPool`).
    case pooledWeightGradient = "pooled.columns.backward"
}

/// What the planner tells an op when it asks for its scratch.
public struct ScratchContext: Hashable, Sendable {
    public var batchSize: Int
    public var lanes: Int
    /// The plan runs the op's backward pass.
    public var runsBackward: Bool
    /// The backward pass computes the input gradient (some earlier step needs it).
    public var computesInputGradient: Bool
    /// The plan runs this conv fused with the ReLU and MaxPool2D after it
    /// (`FusedPattern.convReLUMaxPool`): its backward pass is the fused group's, which needs
    /// `ScratchKind.pooledWeightGradient` instead of the conv's own backward scratch.
    public var backwardFusedWithReLUMaxPool: Bool

    public init(batchSize: Int, lanes: Int, runsBackward: Bool, computesInputGradient: Bool,
                backwardFusedWithReLUMaxPool: Bool = false) {
        self.batchSize = batchSize
        self.lanes = lanes
        self.runsBackward = runsBackward
        self.computesInputGradient = computesInputGradient
        self.backwardFusedWithReLUMaxPool = backwardFusedWithReLUMaxPool
    }
}

/// Answers the planner's question "which scratch does this op need?". Graph's own answer is
/// `Op.scratch` (each family's `OpRule.scratch`: a conv's im2col); the runtime answers for the kernels it picks (Winograd).
public typealias ScratchPlanner = (Op, ScratchContext) -> [ScratchRequest]

/// The pass of an op during which a scratch tensor lives.
public enum Pass: String, Hashable, Sendable {
    case forward
    case backward
}

/// What an op asks the planner for: `elementCount` floats alive during `pass`.
public struct ScratchRequest: Hashable, Sendable {
    public var kind: ScratchKind
    public var elementCount: Int
    public var pass: Pass

    public init(_ kind: ScratchKind, elementCount: Int, pass: Pass) {
        self.kind = kind
        self.elementCount = elementCount
        self.pass = pass
    }
}
