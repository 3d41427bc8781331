/// Linear: its typed arguments, table entry and decoding (shape rule: Graph/Layers/Linear.swift;
/// step: Runtime/Ops/LinearStep.swift).

public struct LinearSpec: LayerKindSpec {
    public var outFeatures: Int
    public var bias: Bool = LayerDefaults.bias
    public var weightDecay: Double?

    public init(outFeatures: Int, bias: Bool = LayerDefaults.bias, weightDecay: Double? = nil) {
        self.outFeatures = outFeatures
        self.bias = bias
        self.weightDecay = weightDecay
    }

    public static let name = LayerName.linear

    public static let schema = LayerSchema(
        kind: name, otherSpellings: [],
        doc: "Fully connected layer: y = x·Wᵀ + b; a C×H×W input is flattened first.",
        pytorchClass: "nn.Linear",
        arguments: [
            ArgumentSchema("out_features", .integer, default: .required, range: .atLeast(1),
                           doc: "Number of output features.", pytorch: "out_features"),
            LayerTable.bias,
            LayerTable.weightDecay,
            LayerTable.layerName,
        ])

    public static let foreignArguments: [String: ForeignArgument] = [
        "units": .keras("out_features"),
        "use_bias": .keras("bias"),
    ]

    public static let foreignNames: [String: (message: String, hint: String)] = [
        "dense": ("'Dense' is Keras's name for Linear", "write `Linear: {out_features: N}` (Keras's units is out_features)"),
    ]

    public init?(_ arguments: inout LayerArguments) {
        guard let outFeatures = arguments.integer("out_features") else { return nil }
        self.init(outFeatures: outFeatures, bias: arguments.boolean("bias") ?? LayerDefaults.bias,
                  weightDecay: arguments.number("weight_decay"))
    }

    public var argumentValues: [String: ArgumentValue] {
        var values: [String: ArgumentValue] = ["out_features": .integer(outFeatures), "bias": .boolean(bias)]
        values["weight_decay"] = weightDecay.map { .number($0) }
        return values
    }

    public var layerKind: LayerKind { .linear(self) }
}
