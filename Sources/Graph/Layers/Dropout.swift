import Spec

/// Dropout in Graph: its shape rule, its op's geometry and every fact the planner and reports take
/// from it (spec: Spec/Layers/Kinds/Dropout.swift; step: Runtime/Ops/DropoutStep.swift).
extension DropoutSpec: LayerShapeRule {
    public func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
        .success((.dropout(p: p), input))
    }

    public static let shapeRuleText = "unchanged"
    public static let parameterRuleText = "0"
}

/// The op `Op.dropout(p:)` carries.
public struct DropoutGeometry: OpRule {
    public var p: Double

    public init(p: Double) {
        self.p = p
    }

    public static let layerName: LayerName? = .dropout
    public var slotShapes: [(role: SlotRole, shape: [Int])] { [] }
    public var macs: Int { 0 }

    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] {
        [(.dropoutMask, output.elementCount, true)]
    }

    /// Elementwise both ways.
    public var dataflow: OpDataflow { OpDataflow(forwardInPlace: .always, backwardInPlace: true) }

    public var settingsText: String { "p \(formatShortest(p))" }
}
