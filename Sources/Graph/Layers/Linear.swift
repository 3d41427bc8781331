import Spec

/// Linear in Graph: its shape rule, its op's geometry and every fact the planner and reports take
/// from it (spec: Spec/Layers/Kinds/Linear.swift; step: Runtime/Ops/LinearStep.swift).
extension LinearSpec: LayerShapeRule {
    public func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
        let geometry = LinearGeometry(inFeatures: input.elementCount, outFeatures: outFeatures, bias: bias)
        return .success((.linear(geometry), .flat(outFeatures)))
    }

    public static let flattensImageInput = true
    public static let shapeRuleText = "out_features (a C×H×W input is flattened first)"
    public static let parameterRuleText = "out·in (+ out)"
}

/// Geometry of a fully connected layer. Weight layout is PyTorch's [out, in].
public struct LinearGeometry: OpRule {
    public var inFeatures: Int
    public var outFeatures: Int
    public var bias: Bool

    public static let layerName: LayerName? = .linear

    public var slotShapes: [(role: SlotRole, shape: [Int])] {
        let weight: [(role: SlotRole, shape: [Int])] = [(.weight, [outFeatures, inFeatures])]
        return bias ? weight + [(.bias, [outFeatures])] : weight
    }

    /// in·out.
    public var macs: Int { inFeatures * outFeatures }

    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] { [] }

    /// The weight gradient reads the input.
    public var dataflow: OpDataflow { OpDataflow(backwardReadsInput: true) }

    public var settingsText: String { bias ? "" : "no bias" }
}
