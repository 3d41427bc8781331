import Spec

/// BatchNorm2D in Graph: its shape rule, its op's geometry and every fact the planner and reports
/// take from it (spec: Spec/Layers/Kinds/BatchNorm2D.swift; step: Runtime/Ops/BatchNormStep.swift).
extension BatchNorm2DSpec: LayerShapeRule {
    public func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
        guard case let .image(c, h, w) = input else {
            return .failure(flatInputError(layer, input: input))
        }
        return .success((.batchNorm2d(BatchNormGeometry(channels: c, spatial: h * w, eps: eps, momentum: momentum)), input))
    }

    public static let shapeRuleText = "unchanged"
    public static let parameterRuleText = "2·C (running mean/var are buffers)"
}

public struct BatchNormGeometry: OpRule {
    public var channels: Int
    /// H·W: the elements per channel per example.
    public var spatial: Int
    public var eps: Double
    public var momentum: Double

    public static let layerName: LayerName? = .batchNorm2d

    /// γ and β are trained; the running statistics and the counter are state_dict buffers.
    public var slotShapes: [(role: SlotRole, shape: [Int])] {
        [(.weight, [channels]), (.bias, [channels]), (.runningMean, [channels]), (.runningVar, [channels]),
         (.numBatchesTracked, [])]
    }

    public var macs: Int { 0 }

    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] {
        [(.batchMean, channels, false), (.batchInvStd, channels, false)]
    }

    /// Backward rebuilds the normalized input from the input; evaluation normalizes in place.
    public var dataflow: OpDataflow { OpDataflow(backwardReadsInput: true, forwardInPlace: .evaluation) }
}
