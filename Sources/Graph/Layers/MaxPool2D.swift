import Spec

/// MaxPool2D in Graph: its shape rule, its op's geometry and every fact the planner and reports
/// take from it (spec: Spec/Layers/Kinds/MaxPool2D.swift; step: Runtime/Ops/MaxPoolStep.swift).
extension MaxPool2DSpec: LayerShapeRule {
    public func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
        guard case let .image(c, h, w) = input else {
            return .failure(flatInputError(layer, input: input))
        }
        let geometry = Pool2DGeometry(channels: c, inHeight: h, inWidth: w, kernel: kernel, stride: stride, padding: padding)
        if let problem = windowProblem("pooling window", window: kernel, padding: padding, layer: layer, input: input) {
            return .failure(problem)
        }
        return .success((.maxPool2d(geometry), .image(channels: c, height: geometry.outHeight, width: geometry.outWidth)))
    }

    public static let shapeRuleText = "C × ⌊(H + 2p − k)/s⌋+1 × … (floor)"
    public static let parameterRuleText = "0"
}

/// Geometry of a max pooling window over a C×H×W input (floor rounding, implicit −∞ padding).
public struct Pool2DGeometry: OpRule {
    public var channels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var kernel: Pair
    public var stride: Pair
    public var padding: Pair

    public var outHeight: Int { windowOutputSize(inHeight, padding: padding.h, kernel: kernel.h, stride: stride.h) }
    public var outWidth: Int { windowOutputSize(inWidth, padding: padding.w, kernel: kernel.w, stride: stride.w) }

    public static let layerName: LayerName? = .maxPool2d
    public var slotShapes: [(role: SlotRole, shape: [Int])] { [] }
    public var macs: Int { 0 }

    /// The argmax of each output, for backward to scatter the gradient to.
    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] {
        [(.poolIndices, output.elementCount, true)]
    }

    public var dataflow: OpDataflow { .none }
    public var window: (kernel: Pair, stride: Pair)? { (kernel, stride) }

    public var settingsText: String {
        "k\(settingsPair(kernel)) s\(settingsPair(stride)) p\(settingsPair(padding))"
    }
}
