import Spec

/// A layer kind's shape rule, on its typed spec (Spec's `LayerKindSpec`): the op it becomes on an
/// input. Each kind conforms in its file in Graph/Layers/, next to its op's `OpRule`;
/// `LayerName.shapeFamily` (Ops.swift) is the switch that names it, `LayerKind.shapeRule` reaches it.
public protocol LayerShapeRule: LayerKindSpec {
    /// The op and output shape of `layer` (this spec) on `input`, or why the input does not fit.
    /// Arguments are already checked against `Graph.sizeLimit`.
    func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic>
    /// A C×H×W input reaches the layer through the implicit flatten (`nn.Flatten()`), as Linear's does.
    static var flattensImageInput: Bool { get }
    /// The output shape for a C×H×W (or flat) input, in words (README table, hover).
    static var shapeRuleText: String { get }
    /// The trainable parameter count, in words, as `sum(p.numel() for p in module.parameters())`.
    static var parameterRuleText: String { get }
}

extension LayerShapeRule {
    public static var flattensImageInput: Bool { false }
}

/// Everything Graph knows of an op with its shapes resolved, on the op's geometry: what the
/// buffer planner, parameter layout, reports and editors ask of it. `Op.rule` (Ops.swift) is the
/// switch that reaches it; each family conforms in its file in Graph/Layers/.
public protocol OpRule: Hashable, Sendable {
    /// The whitelist entry; nil for the implicit flatten, which no spec writes.
    static var layerName: LayerName? { get }
    /// The state_dict entries, in PyTorch's order, with their shapes.
    var slotShapes: [(role: SlotRole, shape: [Int])] { get }
    /// Forward multiply-accumulates per example.
    var macs: Int { get }
    /// Tensors kept from forward to backward, each with its element count for one example
    /// (`perExample`) or for the whole batch regardless of its size.
    func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)]
    /// What the passes read besides their own arguments, and which may overwrite their input.
    var dataflow: OpDataflow { get }
    /// The scratch tensors the op needs in a plan, in the order the planner adds them (none
    /// unless a family says).
    func scratch(_ context: ScratchContext) -> [ScratchRequest]
    /// The sliding window (kernel and stride) of windowed ops, for receptive fields; nil otherwise.
    var window: (kernel: Pair, stride: Pair)? { get }
    /// The layer's settings in a few characters for the `check` table and hover: `k5 s1 p2`,
    /// `p 0.25`; empty for layers without settings.
    var settingsText: String { get }
}

extension OpRule {
    public func scratch(_ context: ScratchContext) -> [ScratchRequest] { [] }
    public var window: (kernel: Pair, stride: Pair)? { nil }
    public var settingsText: String { "" }
}

/// What an op's passes read and where they may write, for the buffer planner.
public struct OpDataflow: Hashable, Sendable {
    /// Backward reads the forward input (conv and linear for weight gradients, batch norm to
    /// rebuild the normalized input).
    public var backwardReadsInput: Bool
    /// Backward reads the forward output (ReLU's mask is output > 0; softmax's Jacobian uses p).
    public var backwardReadsOutput: Bool
    /// When the forward pass may write its output over its input.
    public var forwardInPlace: InPlace
    /// The backward pass may write the input gradient over the output gradient.
    public var backwardInPlace: Bool

    public init(backwardReadsInput: Bool = false, backwardReadsOutput: Bool = false, forwardInPlace: InPlace = .never,
                backwardInPlace: Bool = false) {
        self.backwardReadsInput = backwardReadsInput
        self.backwardReadsOutput = backwardReadsOutput
        self.forwardInPlace = forwardInPlace
        self.backwardInPlace = backwardInPlace
    }

    /// Reads nothing but its arguments, never in place.
    public static let none = OpDataflow()

    /// When a pass may overwrite its input.
    public enum InPlace: Hashable, Sendable {
        case never
        case always
        /// Only in evaluation plans (batch norm's training backward reads its input).
        case evaluation
    }
}

/// `5` or `3×5`: a pair in the `check` table's settings.
func settingsPair(_ p: Pair) -> String { p.h == p.w ? String(p.h) : "\(p.h)×\(p.w)" }
