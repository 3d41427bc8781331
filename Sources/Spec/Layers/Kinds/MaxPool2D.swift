/// MaxPool2D: its typed arguments, table entry and decoding (shape rule: Graph/Layers/MaxPool2D.swift;
/// step: Runtime/Ops/MaxPoolStep.swift).

extension LayerDefaults {
    public static let poolPadding = Pair(square: 0)
}

public struct MaxPool2DSpec: LayerKindSpec {
    public var kernel: Pair
    /// PyTorch: `stride` defaults to `kernel_size`.
    public var stride: Pair
    public var padding: Pair = LayerDefaults.poolPadding

    public init(kernel: Pair, stride: Pair? = nil, padding: Pair = LayerDefaults.poolPadding) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }

    public static let name = LayerName.maxPool2d

    public static let schema = LayerSchema(
        kind: name, otherSpellings: ["MaxPool2d"],
        doc: "Max pooling over windows of each channel (floor rounding).",
        pytorchClass: "nn.MaxPool2d",
        arguments: [
            ArgumentSchema("kernel_size", .integerOrPair, default: .required, range: .atLeast(1),
                           doc: "Height and width of the pooling window.", pytorch: "kernel_size"),
            ArgumentSchema("stride", .integerOrPair, default: .derived("= kernel_size"), range: .atLeast(1),
                           doc: "Step between windows; defaults to kernel_size.", pytorch: "stride"),
            ArgumentSchema("padding", .integerOrPair, default: .pair(LayerDefaults.poolPadding), range: .atLeast(0),
                           doc: "Implicit −∞ padding on each side; at most half the kernel.", pytorch: "padding"),
            LayerTable.layerName,
        ])

    public static let foreignArguments: [String: ForeignArgument] = [
        "pool_size": .keras("kernel_size"),
        "strides": .keras("stride"),
    ]

    public static let foreignNames: [String: (message: String, hint: String)] = [
        "maxpooling2d": ("'MaxPooling2D' is Keras's name for MaxPool2D",
                         "write `MaxPool2D: {kernel_size: 2}` (Keras's pool_size is kernel_size)"),
    ]

    /// PyTorch refuses pooling padding above half the kernel; so does cnnc.
    public init?(_ arguments: inout LayerArguments) {
        guard let kernel = arguments.pair("kernel_size") else { return nil }
        let padding = arguments.pair("padding") ?? LayerDefaults.poolPadding
        for (pad, size) in [(padding.h, kernel.h), (padding.w, kernel.w)] where pad > size / 2 {
            arguments.report(at: "padding", "padding \(pad) exceeds half the kernel \(size)",
                             hint: "MaxPool2D padding must be at most kernel_size / 2")
            return nil
        }
        self.init(kernel: kernel, stride: arguments.pair("stride"), padding: padding)
    }

    public var argumentValues: [String: ArgumentValue] {
        ["kernel_size": .pair(kernel), "stride": .pair(stride), "padding": .pair(padding)]
    }

    public var layerKind: LayerKind { .maxPool2d(self) }
}
