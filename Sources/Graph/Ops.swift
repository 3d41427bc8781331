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

/// One step of the static graph, with everything shape-dependent already resolved.
public enum Op: Hashable, Sendable {
    case conv2d(Conv2DGeometry)
    case maxPool2d(Pool2DGeometry)
    case batchNorm2d(BatchNormGeometry)
    case dropout(p: Double)
    case relu
    case softmax
    case flatten(FlattenGeometry)
    case linear(LinearGeometry)

    /// The canonical layer name (`Flatten` for the implicit flatten).
    public var kindName: String {
        switch self {
        case .conv2d: return LayerName.conv2d.rawValue
        case .maxPool2d: return LayerName.maxPool2d.rawValue
        case .batchNorm2d: return LayerName.batchNorm2d.rawValue
        case .dropout: return LayerName.dropout.rawValue
        case .relu: return LayerName.relu.rawValue
        case .softmax: return LayerName.softmax.rawValue
        case .flatten: return "Flatten"
        case .linear: return LayerName.linear.rawValue
        }
    }

    /// The state_dict entries of this op, in PyTorch's order, with their shapes.
    public var slotShapes: [(role: SlotRole, shape: [Int])] {
        switch self {
        case let .conv2d(g):
            let weight: [(role: SlotRole, shape: [Int])] = [(.weight, [g.outChannels, g.inChannels, g.kernel.h, g.kernel.w])]
            return g.bias ? weight + [(.bias, [g.outChannels])] : weight
        case let .batchNorm2d(g):
            return [(.weight, [g.channels]), (.bias, [g.channels]),
                    (.runningMean, [g.channels]), (.runningVar, [g.channels]), (.numBatchesTracked, [])]
        case let .linear(g):
            let weight: [(role: SlotRole, shape: [Int])] = [(.weight, [g.outFeatures, g.inFeatures])]
            return g.bias ? weight + [(.bias, [g.outFeatures])] : weight
        case .maxPool2d, .dropout, .relu, .softmax, .flatten:
            return []
        }
    }

    /// Trainable parameters, as `sum(p.numel() for p in module.parameters())`.
    public var parameterCount: Int {
        slotShapes.filter { $0.role.storage == .parameters }.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// Forward multiply-accumulates per example: conv OC·OH·OW·IC·KH·KW, linear in·out, others 0.
    public var macs: Int {
        switch self {
        case let .conv2d(g): return g.outChannels * g.outSpatial * g.columnRows
        case let .linear(g): return g.inFeatures * g.outFeatures
        case .maxPool2d, .batchNorm2d, .dropout, .relu, .softmax, .flatten: return 0
        }
    }

    /// Tensors kept from forward to backward, each with its element count for one example
    /// (`perExample`) or for the whole batch regardless of its size.
    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] {
        switch self {
        case .maxPool2d: return [(.poolIndices, output.elementCount, true)]
        case .dropout: return [(.dropoutMask, output.elementCount, true)]
        case let .batchNorm2d(g): return [(.batchMean, g.channels, false), (.batchInvStd, g.channels, false)]
        case .conv2d, .relu, .softmax, .flatten, .linear: return []
        }
    }

    /// Backward reads the forward input (conv and linear for weight gradients, batch norm to
    /// rebuild the normalized input).
    public var backwardReadsInput: Bool {
        switch self {
        case .conv2d, .linear, .batchNorm2d: return true
        case .maxPool2d, .dropout, .relu, .softmax, .flatten: return false
        }
    }

    /// Backward reads the forward output (ReLU's mask is output > 0; softmax's Jacobian uses p).
    public var backwardReadsOutput: Bool {
        switch self {
        case .relu, .softmax: return true
        case .conv2d, .linear, .batchNorm2d, .maxPool2d, .dropout, .flatten: return false
        }
    }

    /// The forward pass may write its output over its input (elementwise ops).
    public func forwardCanRunInPlace(training: Bool) -> Bool {
        switch self {
        case .relu, .dropout: return true
        case .batchNorm2d: return !training
        case .conv2d, .linear, .maxPool2d, .softmax, .flatten: return false
        }
    }

    /// The backward pass may write the input gradient over the output gradient.
    public var backwardCanRunInPlace: Bool {
        switch self {
        case .relu, .dropout: return true
        case .conv2d, .linear, .batchNorm2d, .maxPool2d, .softmax, .flatten: return false
        }
    }

    /// The op has trainable parameters.
    public var hasParameters: Bool { parameterCount > 0 }
}
