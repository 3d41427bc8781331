import Spec

/// The implicit flatten the compiler puts before a Linear that gets a C×H×W input (no spec writes
/// it, so it has no shape rule; step: Runtime/Ops/FlattenStep.swift).

/// Geometry of the implicit flatten that PyTorch writes as `nn.Flatten()` before a Linear.
public struct FlattenGeometry: OpRule {
    public var channels: Int
    /// H·W.
    public var spatial: Int

    public static let layerName: LayerName? = nil
    public var slotShapes: [(role: SlotRole, shape: [Int])] { [] }
    public var macs: Int { 0 }
    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] { [] }
    public var dataflow: OpDataflow { .none }
}
