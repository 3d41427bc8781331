import Spec

/// Softmax in Graph: its shape rule, its op and every fact the planner and reports take from it
/// (spec: Spec/Layers/Kinds/Softmax.swift; step: Runtime/Ops/SoftmaxStep.swift).
extension SoftmaxSpec: LayerShapeRule {
    public func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
        guard case .flat = input else {
            return .failure(.error(at: layer.location, "\(Self.name.rawValue) needs a flat input, got \(input)",
                                   hint: "put a Linear before it"))
        }
        return .success((.softmax, input))
    }

    public static let shapeRuleText = "unchanged (must be last)"
    public static let parameterRuleText = "0"
}

/// The op `Op.softmax` stands for.
public struct SoftmaxGeometry: OpRule {
    public init() {}

    public static let layerName: LayerName? = .softmax
    public var slotShapes: [(role: SlotRole, shape: [Int])] { [] }
    public var macs: Int { 0 }
    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] { [] }

    /// The Jacobian-vector product uses the probabilities.
    public var dataflow: OpDataflow { OpDataflow(backwardReadsOutput: true) }
}
