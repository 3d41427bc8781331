/// Decodes a `YAMLNode` tree into a `ModelSpec` by hand, collecting every problem it finds.
/// Each layer is decoded on its own, so one bad layer never hides errors in the others.
public struct SpecDecoder {
    /// The top-level keys of a v1 spec (`LayerTable.topLevelKeys`).
    public static var topLevelKeys: [String] { LayerTable.topLevelKeys.keys }
    /// The keys of the `train:` section (`LayerTable.trainKeys`).
    public static var trainKeys: [String] { LayerTable.trainKeys.keys }
    /// The keys of a `train.optimizer` mapping (`LayerTable.optimizerKeys`).
    public static var optimizerKeys: [String] { LayerTable.optimizerKeys.keys }

    /// Every problem found so far, in discovery order.
    public internal(set) var diagnostics: [Diagnostic] = []
    /// Problems found but not recorded once `diagnostics` held `maxDiagnostics` (only the cheap,
    /// numerous kinds are skipped: unknown and duplicate keys), so huge broken files stay fast.
    public internal(set) var omittedCount = 0

    /// True (and counts one omitted problem) once `maxDiagnostics` problems are recorded.
    mutating func omitting() -> Bool {
        guard diagnostics.count >= maxDiagnostics else { return false }
        omittedCount += 1
        return true
    }
    private let defaultName: String
    /// The text being decoded, when known: fixes that delete whole lines check it first.
    let source: SourceFile?

    /// - Parameters:
    ///   - defaultName: the model name used when the spec has no `name:`.
    ///   - source: the text the tree was parsed from, for fixes that edit whole lines.
    public init(defaultName: String, source: SourceFile? = nil) {
        self.defaultName = defaultName
        self.source = source
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

        for (index, entry) in entries.enumerated() {
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
                reportUnknownTopLevelKey(entries, index, in: root)
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
            if let value = integer(item, key: "input", range: Self.range(of: "input", in: LayerTable.topLevelKeys)) {
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
        guard case .sequence(let allItems) = node.value else {
            diagnostics.append(.error(at: node.location, "'layers' must be a list, got \(node.summary)",
                                      hint: "start each layer on its own line with `- `"))
            return []
        }
        if allItems.isEmpty {
            diagnostics.append(.error(at: keyLocation, "'layers' is empty",
                                      hint: "list at least one layer, e.g. `- Linear: {out_features: 10}`"))
            return []
        }
        var items = allItems
        if items.count > LayerTable.maxLayers {
            diagnostics.append(.error(
                at: items[LayerTable.maxLayers].location,
                "too many layers: a spec may have at most \(LayerTable.maxLayers) (this file has \(items.count))",
                hint: "a model under the 1,000,000-parameter limit needs far fewer layers"))
            items = Array(items.prefix(LayerTable.maxLayers))
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
        for (index, entry) in entries.enumerated() {
            switch entry.key {
            case "epochs":
                train.epochs = integer(entry.value, key: entry.key, range: Self.range(of: entry.key, in: LayerTable.trainKeys))
            case "batch_size":
                train.batchSize = integer(entry.value, key: entry.key, range: Self.range(of: entry.key, in: LayerTable.trainKeys))
            case "seed":
                train.seed = integer(entry.value, key: entry.key, range: Self.range(of: entry.key, in: LayerTable.trainKeys))
                    .map { UInt64($0) }
            case "optimizer":
                train.optimizer = decodeOptimizer(entry.value, keyLocation: entry.keyNode.location)
            default:
                reportUnknownKey(entries, index, in: node, among: LayerTable.trainKeys, what: "key", place: " in 'train'",
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
        for (index, entry) in entries.enumerated() {
            switch entry.key {
            case "name":
                sawName = true
                kind = optimizerKind(entry.value)
            case "lr":
                spec.lr = number(entry.value, key: entry.key, range: Self.range(of: entry.key, in: LayerTable.optimizerKeys))
            case "momentum":
                momentumLocation = entry.keyNode.location
                spec.momentum = number(entry.value, key: entry.key, range: Self.range(of: entry.key, in: LayerTable.optimizerKeys))
            case "weight_decay":
                spec.weightDecay = number(entry.value, key: entry.key, range: Self.range(of: entry.key, in: LayerTable.optimizerKeys))
            default:
                reportUnknownKey(entries, index, in: node, among: LayerTable.optimizerKeys, what: "key",
                                 place: " in 'optimizer'", fallback: "'optimizer' has the keys \(Self.list(Self.optimizerKeys))")
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
                partial.isSoftmax = first.key.scalarText.flatMap { LayerName(spelling: $0) } == .softmax
                partial.nameLocation = first.key.location
                return partial
            }
            return decodeLayer(nameNode: first.key, arguments: first.value)
        }
    }

    private mutating func decodeLayer(nameNode: YAMLNode, arguments: YAMLNode?) -> DecodedItem {
        var result = DecodedItem()
        result.nameLocation = nameNode.location
        guard case .scalar(let text, _) = nameNode.value else {
            diagnostics.append(.error(at: nameNode.location, "a layer name must be a plain word, got \(nameNode.summary)"))
            return result
        }
        guard let kind = LayerName(spelling: text) else {
            reportUnknownLayer(text, node: nameNode)
            return result
        }
        result.isSoftmax = kind == .softmax
        let schema = kind.schema
        let canonical = schema.canonicalName
        var entries: [Entry] = []
        if let arguments, !arguments.isNull {
            guard let read = mapping(arguments, what: "the arguments of \(canonical)",
                                     hint: "write arguments as `- \(canonical): {key: value, …}`") else {
                return result
            }
            entries = read
        }
        var values: [String: ArgumentValue] = [:]
        var valid = true
        // Required arguments an unknown key already points at (`kernal_size`, `filters`): their
        // did-you-mean is the one error, not also "needs 'kernel_size'".
        var pointedAt: Set<String> = []
        for (index, entry) in entries.enumerated() {
            if let argument = schema.argument(named: entry.key) {
                if reportPaddingWord(entry, layer: schema, entries: entries) {
                    valid = false
                } else if let value = read(entry.value, as: argument) {
                    values[entry.key] = value
                } else {
                    valid = false
                }
            } else if let target = reportUnknownArgument(entries, index, in: arguments, layer: schema, nameNode: nameNode) {
                pointedAt.insert(target)
            }
        }
        for argument in schema.requiredArguments where values[argument.key] == nil {
            let written = entries.contains { $0.key == argument.key }
            if !written && !pointedAt.contains(argument.key) {
                diagnostics.append(.error(at: nameNode.location, "\(canonical) needs '\(argument.key)'",
                                          hint: "write e.g. `- \(canonical): {\(argument.key): …}`"))
            }
            valid = false
        }
        guard valid, let layerKind = build(kind, values, entries: entries) else {
            return result
        }
        var locations: [String: SourceLocation] = [:]
        for entry in entries where locations[entry.key] == nil {
            locations[entry.key] = entry.keyNode.location
        }
        var name: String?
        if case .string(let text)? = values["name"] { name = text }
        result.layer = LayerSpec(kind: layerKind, name: name, location: nameNode.location,
                                 argumentLocations: locations)
        return result
    }

    /// The typed layer from arguments that were all read without error and include every required
    /// one, decoded by the kind's family (`LayerKindSpec`, Layers/Kinds/), which reports what the
    /// table cannot state.
    private mutating func build(_ kind: LayerName, _ values: [String: ArgumentValue], entries: [Entry]) -> LayerKind? {
        var nodes: [String: YAMLNode] = [:]
        for entry in entries { nodes[entry.key] = entry.value }
        var arguments = LayerArguments(values: values, nodes: nodes)
        let spec = kind.family.init(&arguments)
        diagnostics += arguments.diagnostics
        return spec?.layerKind
    }

    /// Reads `node` as the table says `argument` is typed; reports and returns nil when it is not.
    private mutating func read(_ node: YAMLNode, as argument: ArgumentSchema) -> ArgumentValue? {
        let range = argument.range ?? ValueRange(minimum: nil)
        switch argument.type {
        case .integer:
            return integer(node, key: argument.key, range: range).map { .integer($0) }
        case .integerOrPair:
            return pair(node, key: argument.key, range: range).map { .pair($0) }
        case .number:
            return number(node, key: argument.key, range: range).map { .number($0) }
        case .boolean:
            return boolean(node, key: argument.key).map { .boolean($0) }
        case .string:
            return string(node, key: argument.key).map { .string($0) }
        case .choice, .integerList, .layerList, .mapping, .choiceOrMapping:
            // No layer argument has these types; top-level and train keys are read by their sections.
            diagnostics.append(.error(at: node.location, "'\(argument.key)' cannot be read here"))
            return nil
        }
    }

    // MARK: - Values

    /// The range the table gives `key` in `keys` (no bound when it has none).
    private static func range(of key: String, in keys: [ArgumentSchema]) -> ValueRange {
        keys.argument(named: key)?.range ?? ValueRange(minimum: nil)
    }

    private mutating func integer(_ node: YAMLNode, key: String, range: ValueRange) -> Int? {
        guard case .scalar(let text, let plain) = node.value, plain, Self.isInteger(text) else {
            diagnostics.append(.error(at: node.location, "'\(key)' must be an integer, got \(node.summary)", end: node.end))
            return nil
        }
        if let digits = Self.withoutLeadingZeros(text) {
            // YAML 1.1 (PyYAML, which scripts/ use) reads 010 as octal 8, YAML 1.2 as 10: refuse both readings.
            diagnostics.append(.error(
                at: node.location, "'\(key)' has a leading zero: \(text)",
                hint: "YAML 1.1 tools such as PyYAML read \(text) as an octal number, YAML 1.2 tools as decimal; write \(digits)",
                end: node.end,
                fixes: [FixIt(title: "Write \(digits)", edits: [TextEdit(range: node.range, replacement: digits)])]))
            return nil
        }
        guard let value = Int(text) else {
            diagnostics.append(.error(at: node.location, "'\(key)' is too large, got \(node.summary)", end: node.end))
            return nil
        }
        guard range.contains(Double(value)) else {
            diagnostics.append(.error(at: node.location, "'\(key)' \(range.requirement), got \(text)", end: node.end))
            return nil
        }
        return value
    }

    private mutating func pair(_ node: YAMLNode, key: String, range: ValueRange) -> Pair? {
        if case .sequence(let items) = node.value {
            guard items.count == 2 else {
                diagnostics.append(.error(at: node.location,
                                          "'\(key)' must be an integer or a pair [h, w], got \(node.summary)", end: node.end))
                return nil
            }
            let h = integer(items[0], key: key, range: range)
            let w = integer(items[1], key: key, range: range)
            guard let h, let w else { return nil }
            return Pair(h, w)
        }
        guard let k = integer(node, key: key, range: range) else { return nil }
        return Pair(square: k)
    }

    private mutating func number(_ node: YAMLNode, key: String, range: ValueRange) -> Double? {
        guard case .scalar(let text, let plain) = node.value, plain, Self.isDecimal(text),
              let value = Double(text), value.isFinite else {
            diagnostics.append(.error(at: node.location, "'\(key)' must be a number, got \(node.summary)", end: node.end))
            return nil
        }
        guard range.contains(value) else {
            diagnostics.append(.error(at: node.location, "'\(key)' \(range.requirement), got \(text)", end: node.end))
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

    /// The digits of a decimal integer written with leading zeros (`010` → `10`, `-007` → `-7`);
    /// nil when there are none (`0`, `10`).
    static func withoutLeadingZeros(_ text: String) -> String? {
        var digits = Substring(text)
        var sign = ""
        if digits.first == "-" || digits.first == "+" {
            sign = digits.first == "-" ? "-" : ""
            digits = digits.dropFirst()
        }
        guard digits.count > 1, digits.first == "0" else { return nil }
        let trimmed = digits.drop { $0 == "0" }
        return trimmed.isEmpty ? "0" : sign + trimmed
    }

    /// Decimal notation only: digits, one optional sign, point and exponent (no hex, inf, nan).
    private static func isDecimal(_ text: String) -> Bool {
        guard text.contains(where: { $0.isASCII && $0.isNumber }) else { return false }
        return text.allSatisfy { character in
            character.isASCII && (character.isNumber || "+-.eE".contains(character))
        }
    }

    // MARK: - Mappings and keys

    struct Entry {
        var key: String
        var keyNode: YAMLNode
        var value: YAMLNode
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
                if omitting() { continue }
                diagnostics.append(.error(at: pair.key.location, "duplicate key '\(key)' (first at line \(firstLine))",
                                          hint: "remove one of them"))
                continue
            }
            firstLines[key] = pair.key.location.line
            entries.append(Entry(key: key, keyNode: pair.key, value: pair.value))
        }
        return entries
    }

    static func list(_ names: [String]) -> String {
        names.joined(separator: ", ")
    }
}
