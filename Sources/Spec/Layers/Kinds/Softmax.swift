/// Softmax: its table entry (it takes no arguments but `name`, and must be the last layer; shape
/// rule: Graph/Layers/Softmax.swift; step: Runtime/Ops/SoftmaxStep.swift).

public struct SoftmaxSpec: LayerKindSpec {
    public init() {}

    public static let name = LayerName.softmax

    public static let schema = LayerSchema(
        kind: name, otherSpellings: [],
        doc: "Softmax over the features; only as the last layer (the loss is cross-entropy either way).",
        pytorchClass: "nn.Softmax",
        arguments: [LayerTable.layerName])

    public static let foreignArguments: [String: ForeignArgument] = [
        "dim": .fixed(reason: "Softmax is always over the features (PyTorch's dim=1)"),
    ]

    public static let foreignNames: [String: (message: String, hint: String)] = [
        "logsoftmax": ("'LogSoftmax' is not needed: the loss is always cross-entropy",
                       "cnnc computes log-softmax inside the loss; end with the last Linear, or add Softmax (optional) to output probabilities"),
    ]

    public init?(_ arguments: inout LayerArguments) {
        self.init()
    }

    public var argumentValues: [String: ArgumentValue] { [:] }

    public var layerKind: LayerKind { .softmax }
}
