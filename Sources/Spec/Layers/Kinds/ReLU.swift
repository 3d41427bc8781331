/// ReLU: its table entry (it takes no arguments but `name`; shape rule: Graph/Layers/ReLU.swift;
/// step: Runtime/Ops/ReLUStep.swift).

public struct ReLUSpec: LayerKindSpec {
    public init() {}

    public static let name = LayerName.relu

    public static let schema = LayerSchema(
        kind: name, otherSpellings: [],
        doc: "Rectified linear unit: max(0, x), elementwise.",
        pytorchClass: "nn.ReLU",
        arguments: [LayerTable.layerName])

    public init?(_ arguments: inout LayerArguments) {
        self.init()
    }

    public var argumentValues: [String: ArgumentValue] { [:] }

    public var layerKind: LayerKind { .relu }
}
