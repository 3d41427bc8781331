/// Conv2D: its typed arguments, table entry and decoding (shape rule: Graph/Layers/Conv2D.swift;
/// step: Runtime/Ops/ConvolutionStep.swift).

extension LayerDefaults {
    public static let convStride = Pair(square: 1)
    public static let convPadding = Pair(square: 0)
}

public struct Conv2DSpec: LayerKindSpec {
    public var outChannels: Int
    public var kernel: Pair
    public var stride: Pair = LayerDefaults.convStride
    public var padding: Pair = LayerDefaults.convPadding
    public var bias: Bool = LayerDefaults.bias
    public var weightDecay: Double?

    public init(outChannels: Int, kernel: Pair, stride: Pair = LayerDefaults.convStride,
                padding: Pair = LayerDefaults.convPadding, bias: Bool = LayerDefaults.bias,
                weightDecay: Double? = nil) {
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.bias = bias
        self.weightDecay = weightDecay
    }

    public static let name = LayerName.conv2d

    public static let schema = LayerSchema(
        kind: name, otherSpellings: ["Conv2d"],
        doc: "2-D convolution over a C×H×W input (cross-correlation, as PyTorch).",
        pytorchClass: "nn.Conv2d",
        arguments: [
            ArgumentSchema("out_channels", .integer, default: .required, range: .atLeast(1),
                           doc: "Number of output channels (filters).", pytorch: "out_channels"),
            ArgumentSchema("kernel_size", .integerOrPair, default: .required, range: .atLeast(1),
                           doc: "Height and width of the kernel.", pytorch: "kernel_size"),
            ArgumentSchema("stride", .integerOrPair, default: .pair(LayerDefaults.convStride), range: .atLeast(1),
                           doc: "Step between kernel positions.", pytorch: "stride"),
            ArgumentSchema("padding", .integerOrPair, default: .pair(LayerDefaults.convPadding), range: .atLeast(0),
                           doc: "Zeros added on each side; (kernel_size − 1) / 2 keeps an odd kernel's size (\"same\").",
                           pytorch: "padding"),
            LayerTable.bias,
            LayerTable.weightDecay,
            LayerTable.layerName,
        ])

    public static let foreignArguments: [String: ForeignArgument] = [
        "filters": .keras("out_channels"),
        "strides": .keras("stride"),
        "use_bias": .keras("bias"),
    ]

    public init?(_ arguments: inout LayerArguments) {
        guard let outChannels = arguments.integer("out_channels"), let kernel = arguments.pair("kernel_size") else {
            return nil
        }
        self.init(outChannels: outChannels, kernel: kernel,
                  stride: arguments.pair("stride") ?? LayerDefaults.convStride,
                  padding: arguments.pair("padding") ?? LayerDefaults.convPadding,
                  bias: arguments.boolean("bias") ?? LayerDefaults.bias,
                  weightDecay: arguments.number("weight_decay"))
    }

    public var argumentValues: [String: ArgumentValue] {
        var values: [String: ArgumentValue] = ["out_channels": .integer(outChannels), "kernel_size": .pair(kernel),
                                               "stride": .pair(stride), "padding": .pair(padding), "bias": .boolean(bias)]
        values["weight_decay"] = weightDecay.map { .number($0) }
        return values
    }

    public var layerKind: LayerKind { .conv2d(self) }
}
