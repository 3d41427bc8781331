/// Dropout: its typed arguments, table entry and decoding (shape rule: Graph/Layers/Dropout.swift;
/// step: Runtime/Ops/DropoutStep.swift).

extension LayerDefaults {
    public static let dropoutP = 0.5
}

public struct DropoutSpec: LayerKindSpec {
    public var p: Double = LayerDefaults.dropoutP

    public init(p: Double = LayerDefaults.dropoutP) {
        self.p = p
    }

    public static let name = LayerName.dropout

    public static let schema = LayerSchema(
        kind: name, otherSpellings: [],
        doc: "Zeroes each activation with probability p in training (scaling the rest by 1/(1 − p)); identity in evaluation.",
        pytorchClass: "nn.Dropout",
        arguments: [
            ArgumentSchema("p", .number, default: .number(LayerDefaults.dropoutP), range: .unitHalfOpen,
                           doc: "Probability of zeroing an activation.", pytorch: "p"),
            LayerTable.layerName,
        ])

    public static let foreignArguments: [String: ForeignArgument] = [
        "rate": .keras("p"),
    ]

    public init?(_ arguments: inout LayerArguments) {
        self.init(p: arguments.number("p") ?? LayerDefaults.dropoutP)
    }

    public var argumentValues: [String: ArgumentValue] { ["p": .number(p)] }

    public var layerKind: LayerKind { .dropout(self) }
}
