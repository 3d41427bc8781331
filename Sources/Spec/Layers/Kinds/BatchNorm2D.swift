/// BatchNorm2D: its typed arguments, table entry and decoding (shape rule:
/// Graph/Layers/BatchNorm2D.swift; step: Runtime/Ops/BatchNormStep.swift).

extension LayerDefaults {
    public static let batchNormEps = 1e-5
    public static let batchNormMomentum = 0.1
}

public struct BatchNorm2DSpec: LayerKindSpec {
    public var eps: Double = LayerDefaults.batchNormEps
    public var momentum: Double = LayerDefaults.batchNormMomentum

    public init(eps: Double = LayerDefaults.batchNormEps, momentum: Double = LayerDefaults.batchNormMomentum) {
        self.eps = eps
        self.momentum = momentum
    }

    public static let name = LayerName.batchNorm2d

    public static let schema = LayerSchema(
        kind: name, otherSpellings: ["BatchNorm2d"],
        doc: "Batch normalization per channel, with learned scale and shift and running statistics.",
        pytorchClass: "nn.BatchNorm2d",
        arguments: [
            ArgumentSchema("eps", .number, default: .number(LayerDefaults.batchNormEps), range: .positive,
                           doc: "Added to the variance before the square root.", pytorch: "eps"),
            ArgumentSchema("momentum", .number, default: .number(LayerDefaults.batchNormMomentum), range: .unitClosed,
                           doc: "Weight of the batch statistics in the running mean and variance.", pytorch: "momentum"),
            LayerTable.layerName,
        ])

    public static let foreignArguments: [String: ForeignArgument] = [
        "epsilon": .keras("eps"),
    ]

    public static let foreignNames: [String: (message: String, hint: String)] = [
        "batchnormalization": ("'BatchNormalization' is Keras's name for BatchNorm2D", "write `BatchNorm2D`"),
    ]

    public init?(_ arguments: inout LayerArguments) {
        self.init(eps: arguments.number("eps") ?? LayerDefaults.batchNormEps,
                  momentum: arguments.number("momentum") ?? LayerDefaults.batchNormMomentum)
    }

    public var argumentValues: [String: ArgumentValue] { ["eps": .number(eps), "momentum": .number(momentum)] }

    public var layerKind: LayerKind { .batchNorm2d(self) }
}
