import Spec

/// What a parameter slot holds. Trainable roles live in the parameter block (with gradients and
/// optimizer state beside them); the others are state that `state_dict` carries but the optimizer
/// never touches.
public enum SlotRole: String, Hashable, Sendable {
    case weight
    case bias
    case runningMean = "running_mean"
    case runningVar = "running_var"
    case numBatchesTracked = "num_batches_tracked"

    public var storage: SlotStorage {
        switch self {
        case .weight, .bias: return .parameters
        case .runningMean, .runningVar: return .statistics
        case .numBatchesTracked: return .counters
        }
    }
}

/// The block a slot's values live in: float parameters, float running statistics, or int64 counters.
public enum SlotStorage: Hashable, Sendable {
    case parameters
    case statistics
    case counters
}

/// A tensor an op keeps from its forward pass for its backward pass.
public enum SavedKind: String, Hashable, Sendable {
    /// Max pooling: the flat input index (within one channel plane) of each output's maximum, Int32.
    case poolIndices = "indices"
    /// Dropout: 0 or 1/(1−p) per element, Float.
    case dropoutMask = "mask"
    /// Batch norm: per-channel batch mean, Float.
    case batchMean = "mean"
    /// Batch norm: per-channel 1/sqrt(biased batch variance + eps), Float.
    case batchInvStd = "invstd"
}

/// One step of the static graph, with everything shape-dependent already resolved. Each case
/// carries its family's geometry (Graph/Layers/); the facts about it are the family's `OpRule`.
public enum Op: Hashable, Sendable {
    case conv2d(Conv2DGeometry)
    case maxPool2d(Pool2DGeometry)
    case batchNorm2d(BatchNormGeometry)
    case dropout(p: Double)
    case relu
    case softmax
    case flatten(FlattenGeometry)
    case linear(LinearGeometry)

    /// The op's family: the one switch in Graph from an op to its `OpRule`.
    public var rule: any OpRule {
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

    /// The canonical layer name (`Flatten` for the implicit flatten).
    public var kindName: String { type(of: rule).layerName?.rawValue ?? "Flatten" }

    /// The state_dict entries of this op, in PyTorch's order, with their shapes.
    public var slotShapes: [(role: SlotRole, shape: [Int])] { rule.slotShapes }

    /// Trainable parameters, as `sum(p.numel() for p in module.parameters())`.
    public var parameterCount: Int {
        slotShapes.filter { $0.role.storage == .parameters }.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// Forward multiply-accumulates per example: conv OC·OH·OW·IC·KH·KW, linear in·out, others 0.
    public var macs: Int { rule.macs }

    /// Tensors kept from forward to backward, each with its element count for one example
    /// (`perExample`) or for the whole batch regardless of its size.
    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] {
        rule.saved(output: output)
    }

    /// Backward reads the forward input (conv and linear for weight gradients, batch norm to
    /// rebuild the normalized input).
    public var backwardReadsInput: Bool { rule.dataflow.backwardReadsInput }

    /// Backward reads the forward output (ReLU's mask is output > 0; softmax's Jacobian uses p).
    public var backwardReadsOutput: Bool { rule.dataflow.backwardReadsOutput }

    /// The forward pass may write its output over its input (elementwise ops).
    public func forwardCanRunInPlace(training: Bool) -> Bool {
        switch rule.dataflow.forwardInPlace {
        case .never: return false
        case .always: return true
        case .evaluation: return !training
        }
    }

    /// The backward pass may write the input gradient over the output gradient.
    public var backwardCanRunInPlace: Bool { rule.dataflow.backwardInPlace }

    /// The op has trainable parameters.
    public var hasParameters: Bool { parameterCount > 0 }

    /// The scratch tensors this op needs in a plan, in the order the planner adds them.
    public func scratch(_ context: ScratchContext) -> [ScratchRequest] { rule.scratch(context) }

    /// The layer's settings in a few characters for the `check` table and hover: `k5 s1 p2`,
    /// `k3×5 s2 p1×2 no bias`, `p 0.25`; empty for layers without settings.
    public var settingsText: String { rule.settingsText }

    /// The kernel and stride of a windowed op (Conv2D, MaxPool2D); nil for the others.
    public var window: (kernel: Pair, stride: Pair)? { rule.window }
}

extension LayerKind {
    /// The layer's shape rule: its typed spec (`LayerKind.spec`, whose type is `name.family`) as
    /// Graph sees it. `LayerName.shapeFamily` names each family as a `LayerShapeRule`, so the
    /// conformance is checked at compile time; LayerFamilyTests checks both tables name the same types.
    public var shapeRule: any LayerShapeRule {
        guard let rule = spec as? any LayerShapeRule else {
            preconditionFailure("\(name) has no shape rule: LayerName.shapeFamily and LayerName.family disagree")
        }
        return rule
    }
}

extension LayerName {
    /// The kind's family in Graph: the one switch in Graph over the whitelist. Each arm names the
    /// kind's spec type (as `family` does), which does not compile until it conforms to
    /// `LayerShapeRule` in Graph/Layers/.
    public var shapeFamily: any LayerShapeRule.Type {
        switch self {
        case .linear: return LinearSpec.self
        case .conv2d: return Conv2DSpec.self
        case .maxPool2d: return MaxPool2DSpec.self
        case .batchNorm2d: return BatchNorm2DSpec.self
        case .dropout: return DropoutSpec.self
        case .relu: return ReLUSpec.self
        case .softmax: return SoftmaxSpec.self
        }
    }
}
