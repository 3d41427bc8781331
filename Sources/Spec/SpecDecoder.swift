/// Decodes a `YAMLNode` tree into a `ModelSpec` by hand, collecting every problem it finds.
/// Each layer is decoded on its own, so one bad layer never hides errors in the others.
public struct SpecDecoder {
    /// The top-level keys of a v1 spec.
    public static let topLevelKeys = ["name", "input", "layers", "train"]
    /// The keys of the `train:` section.
    public static let trainKeys = ["epochs", "batch_size", "optimizer", "seed"]
    /// The keys of a `train.optimizer` mapping.
    public static let optimizerKeys = ["name", "lr", "momentum", "weight_decay"]

    /// Every problem found so far, in discovery order.
    public private(set) var diagnostics: [Diagnostic] = []
    private let defaultName: String

    /// - Parameter defaultName: the model name used when the spec has no `name:`.
    public init(defaultName: String) {
        self.defaultName = defaultName
    }

    /// Decodes `root`; returns nil when any error was found (see `diagnostics`).
    public mutating func decode(_ root: YAMLNode) -> ModelSpec? {
        if root.isNull {
            diagnostics.append(.error(at: nil, YAMLParser.emptyFileMessage))
            return nil
        }
        guard let entries = mapping(root, what: "the top level of a spec",
                                    hint: "a spec is a mapping with at least `layers:`") else {
            return nil
        }
        var name = defaultName
        var input = LayerDefaults.input
        var inputLocation: SourceLocation?
        var layers: [LayerSpec] = []
        var layersLocation: SourceLocation?
        var train = TrainSpec()

        for entry in entries {
            switch entry.key {
            case "name":
                if let text = string(entry.value, key: "name") {
                    name = text
                }
            case "input":
                inputLocation = entry.value.location
                if let shape = decodeInput(entry.value) {
                    input = shape
                }
            case "layers":
                layersLocation = entry.keyNode.location
                layers = decodeLayers(entry.value, keyLocation: entry.keyNode.location)
            case "train":
                train = decodeTrain(entry.value)
            default:
                reportUnknownKey(entry, among: Self.topLevelKeys, what: "key", place: "",
                                 fallback: "a spec has the keys \(Self.list(Self.topLevelKeys))")
            }
        }
        if layersLocation == nil {
            diagnostics.append(.error(at: root.location, "missing required key 'layers'",
                                      hint: "add `layers:` with a list of layers, e.g. `- Linear: {out_features: 10}`"))
        }
        guard let layersLocation, !hasErrors else {
            return nil
        }
        return ModelSpec(name: name, input: input, inputLocation: inputLocation, layers: layers,
                         layersLocation: layersLocation, train: train)
    }

    private var hasErrors: Bool {
        diagnostics.contains { $0.severity == .error }
    }

    // MARK: - Sections

    private mutating func decodeInput(_ node: YAMLNode) -> [Int]? {
        guard case .sequence(let items) = node.value, items.count == 3 else {
            diagnostics.append(.error(at: node.location,
                                      "'input' must be [channels, height, width], got \(node.summary)",
                                      hint: "MNIST is `input: [1, 28, 28]`"))
            return nil
        }
        var shape: [Int] = []
        for item in items {
            if let value = integer(item, key: "input", atLeast: 1) {
                shape.append(value)
            }
        }
        return shape.count == 3 ? shape : nil
    }

    private mutating func decodeLayers(_ node: YAMLNode, keyLocation: SourceLocation) -> [LayerSpec] {
        if node.isNull {
            diagnostics.append(.error(at: keyLocation, "'layers' is empty",
                                      hint: "list at least one layer, e.g. `- Linear: {out_features: 10}`"))
            return []
        }
        guard case .sequence(let items) = node.value else {
            diagnostics.append(.error(at: node.location, "'layers' must be a list, got \(node.summary)",
                                      hint: "start each layer on its own line with `- `"))
            return []
        }
        if items.isEmpty {
            diagnostics.append(.error(at: keyLocation, "'layers' is empty",
                                      hint: "list at least one layer, e.g. `- Linear: {out_features: 10}`"))
            return []
        }
        var layers: [LayerSpec] = []
        var softmaxLocations: [(index: Int, location: SourceLocation)] = []
        for (index, item) in items.enumerated() {
            let decoded = decodeLayerItem(item)
            if decoded.isSoftmax, let location = decoded.nameLocation {
                softmaxLocations.append((index, location))
            }
            if let layer = decoded.layer {
                layers.append(layer)
            }
        }
        for softmax in softmaxLocations where softmax.index != items.count - 1 {
            diagnostics.append(.error(
                at: softmax.location, "Softmax must be the last layer",
                hint: "cnnc pairs a final Softmax with cross-entropy; drop it or move it to the end"))
        }
        return layers
    }

    private mutating func decodeTrain(_ node: YAMLNode) -> TrainSpec {
        var train = TrainSpec()
        if node.isNull {
            return train
        }
        guard let entries = mapping(node, what: "'train'",
                                    hint: "write e.g. `train: {epochs: 10, batch_size: 32}`") else {
            return train
        }
        for entry in entries {
            switch entry.key {
            case "epochs":
                train.epochs = integer(entry.value, key: "epochs", atLeast: 1)
            case "batch_size":
                train.batchSize = integer(entry.value, key: "batch_size", atLeast: 1)
            case "seed":
                train.seed = integer(entry.value, key: "seed", atLeast: 0).map { UInt64($0) }
            case "optimizer":
                train.optimizer = decodeOptimizer(entry.value, keyLocation: entry.keyNode.location)
            default:
                reportUnknownKey(entry, among: Self.trainKeys, what: "key", place: " in 'train'",
                                 fallback: "'train' has the keys \(Self.list(Self.trainKeys))")
            }
        }
        return train
    }

    private mutating func decodeOptimizer(_ node: YAMLNode, keyLocation: SourceLocation) -> OptimizerSpec? {
        if case .scalar = node.value, !node.isNull {
            guard let kind = optimizerKind(node) else { return nil }
            return OptimizerSpec(kind: kind)
        }
        guard let entries = mapping(node, what: "'optimizer'",
                                    hint: "write `optimizer: adam` or `optimizer: {name: sgd, lr: 0.05}`") else {
            return nil
        }
        var kind: OptimizerKind?
        var sawName = false
        var spec = OptimizerSpec(kind: TrainDefaults.optimizer)
        var momentumLocation: SourceLocation?
        for entry in entries {
            switch entry.key {
            case "name":
                sawName = true
                kind = optimizerKind(entry.value)
            case "lr":
                spec.lr = number(entry.value, key: "lr", range: .positive)
            case "momentum":
                momentumLocation = entry.keyNode.location
                spec.momentum = number(entry.value, key: "momentum", range: .unitHalfOpen)
            case "weight_decay":
                spec.weightDecay = number(entry.value, key: "weight_decay", range: .nonNegative)
            default:
                reportUnknownKey(entry, among: Self.optimizerKeys, what: "key", place: " in 'optimizer'",
                                 fallback: "'optimizer' has the keys \(Self.list(Self.optimizerKeys))")
            }
        }
        if !sawName {
            diagnostics.append(.error(at: node.location, "'optimizer' needs 'name'",
                                      hint: "add `name: adam` or `name: sgd`"))
        }
        guard let kind else { return nil }
        spec.kind = kind
        if kind == .adam, let momentumLocation {
            diagnostics.append(.warning(at: momentumLocation, "'momentum' is ignored by adam",
                                        hint: "momentum applies to sgd; remove it or use `name: sgd`"))
        }
        return spec
    }

    private mutating func optimizerKind(_ node: YAMLNode) -> OptimizerKind? {
        guard let text = string(node, key: "optimizer name") else { return nil }
        if let kind = OptimizerKind(rawValue: text.lowercased()) {
            return kind
        }
        let names = OptimizerKind.allCases.map(\.rawValue)
        var hint = "cnnc supports \(Self.list(names))"
        if let guess = suggest(text, among: names) {
            hint = "did you mean '\(guess)'?"
        }
        diagnostics.append(.error(at: node.location, "unknown optimizer '\(text)'", hint: hint))
        return nil
    }

    // MARK: - Layers

    private struct DecodedItem {
        var layer: LayerSpec?
        var isSoftmax = false
        var nameLocation: SourceLocation?
    }

    private mutating func decodeLayerItem(_ item: YAMLNode) -> DecodedItem {
        switch item.value {
        case .scalar:
            if item.isNull {
                diagnostics.append(.error(at: item.location, "empty layer item",
                                          hint: "write a layer name after `- `, e.g. `- ReLU`"))
                return DecodedItem()
            }
            return decodeLayer(nameNode: item, arguments: nil)
        case .sequence:
            diagnostics.append(.error(at: item.location, "a layer must be a name or `Name: {arguments}`, got a list"))
            return DecodedItem()
        case .mapping(let pairs):
            guard let first = pairs.first else {
                diagnostics.append(.error(at: item.location, "empty layer item",
                                          hint: "write a layer name, e.g. `- ReLU`"))
                return DecodedItem()
            }
            if pairs.count > 1 {
                let extra = pairs[1].key
                let layerName = first.key.scalarText ?? "the layer"
                let extraName = extra.scalarText ?? "?"
                diagnostics.append(.error(
                    at: extra.location,
                    "a layer must be a single `Name: {arguments}` entry; found extra key '\(extraName)'",
                    hint: "indent the arguments under '\(layerName):' or write `- \(layerName): {\(extraName): …}`"))
                var partial = DecodedItem()
                partial.isSoftmax = layerKindName(first.key) == "softmax"
                partial.nameLocation = first.key.location
                return partial
            }
            return decodeLayer(nameNode: first.key, arguments: first.value)
        }
    }

    /// The lowercased canonical name when `node` names a whitelisted layer.
    private func layerKindName(_ node: YAMLNode) -> String? {
        guard case .scalar(let text, _) = node.value else { return nil }
        let lowered = text.lowercased()
        let canonical = LayerKind.canonicalNames.map { $0.lowercased() }
        return canonical.contains(lowered) ? lowered : nil
    }

    private mutating func decodeLayer(nameNode: YAMLNode, arguments: YAMLNode?) -> DecodedItem {
        var result = DecodedItem()
        result.nameLocation = nameNode.location
        guard case .scalar(let text, _) = nameNode.value else {
            diagnostics.append(.error(at: nameNode.location, "a layer name must be a plain word, got \(nameNode.summary)"))
            return result
        }
        guard let kindName = layerKindName(nameNode) else {
            reportUnknownLayer(text, at: nameNode.location)
            return result
        }
        result.isSoftmax = kindName == "softmax"
        let canonical = LayerKind.canonicalNames.first { $0.lowercased() == kindName } ?? text
        var args = Arguments(layer: canonical, layerLocation: nameNode.location)
        if let arguments, !arguments.isNull {
            guard let entries = mapping(arguments, what: "the arguments of \(canonical)",
                                        hint: "write arguments as `- \(canonical): {key: value, …}`") else {
                return result
            }
            args.entries = entries
        }
        let allowed = Self.argumentNames[kindName] ?? ["name"]
        for entry in args.entries where !allowed.contains(entry.key) {
            reportUnknownKey(entry, among: allowed, what: "argument", place: " for \(canonical)",
                             fallback: "\(canonical) takes \(Self.list(allowed))")
        }
        let name = args.node("name").flatMap { string($0, key: "name") }
        guard let kind = decodeKind(kindName, args) else {
            return result
        }
        result.layer = LayerSpec(kind: kind, name: name, location: nameNode.location,
                                 argumentLocations: args.locations)
        return result
    }

    /// The arguments each layer accepts, by lowercased canonical name.
    private static let argumentNames: [String: [String]] = [
        "conv2d": ["out_channels", "kernel_size", "stride", "padding", "bias", "weight_decay", "name"],
        "maxpool2d": ["kernel_size", "stride", "padding", "name"],
        "batchnorm2d": ["eps", "momentum", "name"],
        "dropout": ["p", "name"],
        "linear": ["out_features", "bias", "weight_decay", "name"],
        "relu": ["name"],
        "softmax": ["name"],
    ]

    private mutating func decodeKind(_ kindName: String, _ args: Arguments) -> LayerKind? {
        switch kindName {
        case "conv2d":
            let outChannels = require(integerField(args, "out_channels", atLeast: 1), "out_channels", args)
            let kernel = require(pairField(args, "kernel_size", atLeast: 1), "kernel_size", args)
            let stride = pairField(args, "stride", atLeast: 1).or(LayerDefaults.convStride)
            let padding = pairField(args, "padding", atLeast: 0).or(LayerDefaults.convPadding)
            let bias = booleanField(args, "bias").or(LayerDefaults.bias)
            let decay = numberField(args, "weight_decay", range: .nonNegative)
            guard let outChannels, let kernel, let stride, let padding, let bias, decay.isValid else {
                return nil
            }
            let conv = Conv2DSpec(outChannels: outChannels, kernel: kernel, stride: stride,
                                  padding: padding, bias: bias, weightDecay: decay.value)
            return .conv2d(conv)
        case "maxpool2d":
            let kernel = require(pairField(args, "kernel_size", atLeast: 1), "kernel_size", args)
            let stride = pairField(args, "stride", atLeast: 1)
            let padding = pairField(args, "padding", atLeast: 0).or(LayerDefaults.poolPadding)
            guard let kernel, stride.isValid, let padding else {
                return nil
            }
            guard checkPoolPadding(padding, kernel: kernel, at: args.node("padding")?.location) else {
                return nil
            }
            return .maxPool2d(MaxPool2DSpec(kernel: kernel, stride: stride.value, padding: padding))
        case "batchnorm2d":
            let eps = numberField(args, "eps", range: .positive).or(LayerDefaults.batchNormEps)
            let momentum = numberField(args, "momentum", range: .unitClosed).or(LayerDefaults.batchNormMomentum)
            guard let eps, let momentum else {
                return nil
            }
            return .batchNorm2d(BatchNorm2DSpec(eps: eps, momentum: momentum))
        case "dropout":
            guard let p = numberField(args, "p", range: .unitHalfOpen).or(LayerDefaults.dropoutP) else {
                return nil
            }
            return .dropout(DropoutSpec(p: p))
        case "linear":
            let outFeatures = require(integerField(args, "out_features", atLeast: 1), "out_features", args)
            let bias = booleanField(args, "bias").or(LayerDefaults.bias)
            let decay = numberField(args, "weight_decay", range: .nonNegative)
            guard let outFeatures, let bias, decay.isValid else {
                return nil
            }
            return .linear(LinearSpec(outFeatures: outFeatures, bias: bias, weightDecay: decay.value))
        case "relu":
            return .relu
        default:
            return .softmax
        }
    }

    /// One layer argument after reading: not written, written but wrong, or a good value.
    private enum Field<T> {
        case absent
        case invalid
        case value(T)

        init(_ parsed: T?) {
            if let parsed {
                self = .value(parsed)
            } else {
                self = .invalid
            }
        }

        /// The value, or `fallback` when absent; nil when invalid.
        func or(_ fallback: T) -> T? {
            switch self {
            case .absent:
                return fallback
            case .invalid:
                return nil
            case .value(let value):
                return value
            }
        }

        var value: T? {
            if case .value(let value) = self {
                return value
            }
            return nil
        }

        var isValid: Bool {
            if case .invalid = self {
                return false
            }
            return true
        }
    }

    private mutating func integerField(_ args: Arguments, _ key: String, atLeast minimum: Int) -> Field<Int> {
        guard let node = args.node(key) else { return .absent }
        return Field(integer(node, key: key, atLeast: minimum))
    }

    private mutating func pairField(_ args: Arguments, _ key: String, atLeast minimum: Int) -> Field<Pair> {
        guard let node = args.node(key) else { return .absent }
        return Field(pair(node, key: key, atLeast: minimum))
    }

    private mutating func numberField(_ args: Arguments, _ key: String, range: NumberRange) -> Field<Double> {
        guard let node = args.node(key) else { return .absent }
        return Field(number(node, key: key, range: range))
    }

    private mutating func booleanField(_ args: Arguments, _ key: String) -> Field<Bool> {
        guard let node = args.node(key) else { return .absent }
        return Field(boolean(node, key: key))
    }

    /// PyTorch refuses pooling padding above half the kernel; so does cnnc.
    private mutating func checkPoolPadding(_ padding: Pair, kernel: Pair, at location: SourceLocation?) -> Bool {
        let dims = [(padding.h, kernel.h), (padding.w, kernel.w)]
        for (pad, size) in dims where pad > size / 2 {
            diagnostics.append(.error(at: location, "padding \(pad) exceeds half the kernel \(size)",
                                      hint: "MaxPool2D padding must be at most kernel_size / 2"))
            return false
        }
        return true
    }

    /// A required argument: reports it missing at the layer name. nil when missing or invalid.
    private mutating func require<T>(_ field: Field<T>, _ key: String, _ args: Arguments) -> T? {
        if case .absent = field {
            diagnostics.append(.error(at: args.layerLocation, "\(args.layer) needs '\(key)'",
                                      hint: "write e.g. `- \(args.layer): {\(key): …}`"))
        }
        return field.value
    }

    private mutating func reportUnknownLayer(_ text: String, at location: SourceLocation) {
        let lowered = text.lowercased()
        let guess = suggest(text, among: LayerKind.canonicalNames)
        let supported = "supported layers: \(LayerKind.canonicalNames.joined(separator: ", "))"
        if Self.knownUnsupportedLayers.contains(lowered) {
            var hint = guess.map { "did you mean '\($0)'? \(supported)" } ?? supported
            if lowered == "flatten" {
                hint = "flattening is implicit: Linear flattens its input; remove this layer"
            }
            diagnostics.append(.error(at: location, "'\(text)' is not a supported layer", hint: hint))
            return
        }
        let hint = guess.map { "did you mean '\($0)'?" } ?? supported
        diagnostics.append(.error(at: location, "unknown layer '\(text)'", hint: hint))
    }

    /// PyTorch layers cnnc knows of but does not implement, lowercased.
    private static let knownUnsupportedLayers: Set<String> = [
        "flatten", "unflatten", "identity", "sigmoid", "tanh", "logsoftmax", "softmin", "softmax2d",
        "leakyrelu", "prelu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
        "hardtanh", "hardswish", "hardsigmoid", "logsigmoid", "threshold",
        "conv1d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d",
        "avgpool1d", "avgpool2d", "avgpool3d", "maxpool1d", "maxpool3d",
        "adaptiveavgpool1d", "adaptiveavgpool2d", "adaptivemaxpool2d", "lppool2d",
        "batchnorm1d", "batchnorm3d", "layernorm", "groupnorm", "instancenorm2d", "localresponsenorm",
        "dropout1d", "dropout2d", "dropout3d", "alphadropout",
        "bilinear", "embedding", "rnn", "lstm", "gru", "transformer", "multiheadattention",
        "upsample", "pixelshuffle", "zeropad2d", "constantpad2d", "reflectionpad2d",
    ]

    // MARK: - Values

    private enum NumberRange {
        case positive
        case nonNegative
        case unitHalfOpen
        case unitClosed
    }

    private mutating func integer(_ node: YAMLNode, key: String, atLeast minimum: Int) -> Int? {
        guard case .scalar(let text, let plain) = node.value, plain, Self.isInteger(text) else {
            diagnostics.append(.error(at: node.location, "'\(key)' must be an integer, got \(node.summary)"))
            return nil
        }
        guard let value = Int(text) else {
            diagnostics.append(.error(at: node.location, "'\(key)' is too large, got \(node.summary)"))
            return nil
        }
        guard value >= minimum else {
            diagnostics.append(.error(at: node.location, "'\(key)' must be at least \(minimum), got \(text)"))
            return nil
        }
        return value
    }

    private mutating func pair(_ node: YAMLNode, key: String, atLeast minimum: Int) -> Pair? {
        if case .sequence(let items) = node.value {
            guard items.count == 2 else {
                diagnostics.append(.error(at: node.location,
                                          "'\(key)' must be an integer or a pair [h, w], got \(node.summary)"))
                return nil
            }
            let h = integer(items[0], key: key, atLeast: minimum)
            let w = integer(items[1], key: key, atLeast: minimum)
            guard let h, let w else { return nil }
            return Pair(h, w)
        }
        guard let k = integer(node, key: key, atLeast: minimum) else { return nil }
        return Pair(square: k)
    }

    private mutating func number(_ node: YAMLNode, key: String, range: NumberRange) -> Double? {
        guard case .scalar(let text, let plain) = node.value, plain, Self.isDecimal(text),
              let value = Double(text), value.isFinite else {
            diagnostics.append(.error(at: node.location, "'\(key)' must be a number, got \(node.summary)"))
            return nil
        }
        let problem: String?
        switch range {
        case .positive:
            problem = value > 0 ? nil : "must be greater than 0"
        case .nonNegative:
            problem = value >= 0 ? nil : "must be at least 0"
        case .unitHalfOpen:
            problem = value >= 0 && value < 1 ? nil : "must be in [0, 1)"
        case .unitClosed:
            problem = value >= 0 && value <= 1 ? nil : "must be in [0, 1]"
        }
        if let problem {
            diagnostics.append(.error(at: node.location, "'\(key)' \(problem), got \(text)"))
            return nil
        }
        return value
    }

    private mutating func boolean(_ node: YAMLNode, key: String) -> Bool? {
        if case .scalar(let text, true) = node.value {
            switch text.lowercased() {
            case "true", "yes", "on":
                return true
            case "false", "no", "off":
                return false
            default:
                break
            }
        }
        diagnostics.append(.error(at: node.location, "'\(key)' must be true or false, got \(node.summary)"))
        return nil
    }

    private mutating func string(_ node: YAMLNode, key: String) -> String? {
        guard case .scalar(let text, _) = node.value, !node.isNull, !text.isEmpty else {
            diagnostics.append(.error(at: node.location, "'\(key)' must be a string, got \(node.summary)"))
            return nil
        }
        return text
    }

    /// `-?[0-9]+`, optionally with a leading `+`.
    private static func isInteger(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" || digits.first == "+" {
            digits = digits.dropFirst()
        }
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Decimal notation only: digits, one optional sign, point and exponent (no hex, inf, nan).
    private static func isDecimal(_ text: String) -> Bool {
        guard text.contains(where: { $0.isASCII && $0.isNumber }) else { return false }
        return text.allSatisfy { character in
            character.isASCII && (character.isNumber || "+-.eE".contains(character))
        }
    }

    // MARK: - Mappings and keys

    private struct Entry {
        var key: String
        var keyNode: YAMLNode
        var value: YAMLNode
    }

    /// The arguments of one layer, with the locations of the keys that were read.
    private struct Arguments {
        var layer: String
        var layerLocation: SourceLocation
        var entries: [Entry] = []

        var locations: [String: SourceLocation] {
            var result: [String: SourceLocation] = [:]
            for entry in entries where result[entry.key] == nil {
                result[entry.key] = entry.keyNode.location
            }
            return result
        }

        func node(_ key: String) -> YAMLNode? {
            entries.first { $0.key == key }?.value
        }
    }

    /// The entries of a mapping with scalar keys, first occurrence of each key only.
    /// Reports a non-mapping, non-scalar keys and duplicate keys.
    private mutating func mapping(_ node: YAMLNode, what: String, hint: String) -> [Entry]? {
        guard case .mapping(let pairs) = node.value else {
            diagnostics.append(.error(at: node.location, "\(what) must be a mapping, got \(node.summary)", hint: hint))
            return nil
        }
        var entries: [Entry] = []
        var firstLines: [String: Int] = [:]
        for pair in pairs {
            guard case .scalar(let key, _) = pair.key.value, !pair.key.isNull else {
                diagnostics.append(.error(at: pair.key.location, "a key must be a plain name, got \(pair.key.summary)"))
                continue
            }
            if let firstLine = firstLines[key] {
                diagnostics.append(.error(at: pair.key.location, "duplicate key '\(key)' (first at line \(firstLine))",
                                          hint: "remove one of them"))
                continue
            }
            firstLines[key] = pair.key.location.line
            entries.append(Entry(key: key, keyNode: pair.key, value: pair.value))
        }
        return entries
    }

    /// `unknown <what> '<key>'<place>` with a did-you-mean, or `fallback` when nothing is close.
    private mutating func reportUnknownKey(_ entry: Entry, among candidates: [String], what: String,
                                           place: String, fallback: String) {
        let hint = suggest(entry.key, among: candidates).map { "did you mean '\($0)'?" } ?? fallback
        let message = "unknown \(what) '\(entry.key)'\(place)"
        diagnostics.append(.error(at: entry.keyNode.location, message, hint: hint))
    }

    private static func list(_ names: [String]) -> String {
        names.joined(separator: ", ")
    }
}
