import Spec

/// ReLU in Graph: its shape rule, its op and every fact the planner and reports take from it (spec:
/// Spec/Layers/Kinds/ReLU.swift; step: Runtime/Ops/ReLUStep.swift).
extension ReLUSpec: LayerShapeRule {
    public func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
        .success((.relu, input))
    }

    public static let shapeRuleText = "unchanged"
    public static let parameterRuleText = "0"
}

/// The op `Op.relu` stands for.
public struct ReLUGeometry: OpRule {
    public init() {}

    public static let layerName: LayerName? = .relu
    public var slotShapes: [(role: SlotRole, shape: [Int])] { [] }
    public var macs: Int { 0 }
    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] { [] }

    /// Elementwise both ways; the gradient's mask is output > 0.
    public var dataflow: OpDataflow {
        OpDataflow(backwardReadsOutput: true, forwardInPlace: .always, backwardInPlace: true)
    }
}
