/// The one typed description of spec format v1: every layer kind of the whitelist with its
/// arguments, the `train:` section, the `train.optimizer` mapping and the top-level keys.
///
/// Everything that needs these facts reads them from here: the decoder (unknown keys,
/// did-you-mean, types and ranges), `cnnc schema` (the JSON Schema), the README's layer table
/// (generated, tested equal), the language server (completion, hover, quick fixes), `--set`
/// sweeps (which numeric arguments a kind has and their ranges) and the PyTorch code export
/// (class and keyword names).
///
/// Stability: names here are public API for other parts of cnnc. Add cases and fields; do not
/// rename or remove them.
///
/// Adding a layer kind: each layer family keeps its facts in one file per target, and each
/// target has one table of kinds with a line per kind. For a kind `Gelu`:
///
/// 1. Spec/Layers/Kinds/Gelu.swift — `GeluSpec: LayerKindSpec`: the typed arguments, the
///    `LayerSchema` (arguments with type, default, range, doc, PyTorch name), the decoding from
///    the values the table read, and other frameworks' names for the kind and its arguments.
/// 2. Spec/ModelSpec.swift — a case in `LayerName` and in `LayerKind`, and an arm in
///    `LayerName.family` and `LayerKind.spec`.
/// 3. Graph/Layers/Gelu.swift — `GeluSpec: LayerShapeRule` (the shape rule and its words for the
///    README) and the op's geometry `GeluGeometry: OpRule` (parameter slots and shapes, MACs,
///    tensors saved for backward, dataflow and in-place facts, scratch, window, settings text).
/// 4. Graph/Ops.swift — a case in `Op`, and an arm in `Op.rule` and `LayerName.shapeFamily`.
/// 5. Runtime/Ops/GeluStep.swift — the bound step (`RunnableStep`) and `GeluGeometry: RuntimeOp`:
///    how the step is bound, how PyTorch initializes its slots, its PyTorch module and ONNX node.
/// 6. Runtime/Ops/BoundStep.swift — an arm in `Op.runtime`.
/// 7. Runtime/Kernels/ — the kernel functions the step calls, when no existing kernel serves.
///
/// Then regenerate the two copies tests compare with the table: schema/cnnc-spec.schema.json
/// (`cnnc schema`) and README.md's layer table (`cnnc schema --readme-table`); and, for the
/// PyTorch cross-checks (scripts/compare-pytorch, lockstep-pytorch), add the kind to
/// scripts/cnnc_torch.py.
///
/// Everything else — the decoder, did-you-mean, `cnnc schema`, the README table, the language
/// server, `--set` sweeps, `resolved.yaml`, the buffer planner, `cnnc check`, parameter
/// initialization and the exporters — reads the families through these protocols. Every switch
/// in the tables is exhaustive and each arm names the family type, so a new case does not compile
/// until its three family files (spec, op, step) conform.

// MARK: - Value types, defaults and ranges

/// What kind of YAML value a key takes.
public indirect enum ValueType: Hashable, Sendable {
    /// A plain decimal integer (`8`; no leading zeros, no quotes, no tags).
    case integer
    /// An integer `k` (meaning `[k, k]`) or a pair `[h, w]`.
    case integerOrPair
    /// A decimal number (`0.5`, `1e-5`; no quotes, no `inf`/`nan`).
    case number
    /// `true` or `false`.
    case boolean
    /// Any non-empty text.
    case string
    /// One of a fixed set of words (case-insensitive when read).
    case choice([String])
    /// A list of exactly `count` integers (`input: [C, H, W]`).
    case integerList(count: Int)
    /// The list of layers, each a bare layer name or a single `Name: {arguments}` entry.
    case layerList
    /// A mapping with exactly these keys allowed (unknown keys are errors).
    case mapping([ArgumentSchema])
    /// Either one of the words or a mapping with these keys (`optimizer: adam` or `{name: sgd, …}`).
    case choiceOrMapping([String], [ArgumentSchema])

    /// A short name for messages and hover: `integer`, `integer or [h, w]`, `adam | sgd`.
    public var description: String {
        switch self {
        case .integer: return "integer"
        case .integerOrPair: return "integer or [h, w]"
        case .number: return "number"
        case .boolean: return "true | false"
        case .string: return "string"
        case .choice(let words): return words.joined(separator: " | ")
        case .integerList(let count): return "list of \(count) integers"
        case .layerList: return "list of layers"
        case .mapping: return "mapping"
        case .choiceOrMapping(let words, _): return words.joined(separator: " | ") + " or mapping"
        }
    }

    /// True for the types a sweep can vary numerically (`integer`, `integerOrPair`, `number`).
    public var isNumeric: Bool {
        switch self {
        case .integer, .integerOrPair, .number: return true
        case .boolean, .string, .choice, .integerList, .layerList, .mapping, .choiceOrMapping: return false
        }
    }
}

/// What a key means when it is left out.
public enum ArgumentDefault: Hashable, Sendable {
    /// The key must be written.
    case required
    case integer(Int)
    case pair(Pair)
    case number(Double)
    case boolean(Bool)
    case choice(String)
    case integerList([Int])
    /// No single value: `explanation` says what applies instead (`= kernel_size`,
    /// `the optimizer's`, `0.001 for adam, 0.01 for sgd`, `the file name`).
    case derived(String)

    public var isRequired: Bool { self == .required }

    /// As written in a spec (`1`, `[3, 5]`, `true`, `adam`), or the explanation for `.derived`;
    /// `required` for `.required`.
    public var text: String {
        switch self {
        case .required: return "required"
        case .integer(let value): return String(value)
        case .pair(let pair): return pair.h == pair.w ? String(pair.h) : "[\(pair.h), \(pair.w)]"
        case .number(let value): return numberText(value)
        case .boolean(let value): return value ? "true" : "false"
        case .choice(let word): return word
        case .integerList(let values): return "[" + values.map(String.init).joined(separator: ", ") + "]"
        case .derived(let explanation): return explanation
        }
    }
}

/// An interval of allowed values for a numeric key; integers use the same bounds.
public struct ValueRange: Hashable, Sendable {
    public var minimum: Double?
    public var minimumInclusive: Bool
    public var maximum: Double?
    public var maximumInclusive: Bool

    public init(minimum: Double?, minimumInclusive: Bool = true, maximum: Double? = nil, maximumInclusive: Bool = true) {
        self.minimum = minimum
        self.minimumInclusive = minimumInclusive
        self.maximum = maximum
        self.maximumInclusive = maximumInclusive
    }

    /// ≥ `value`.
    public static func atLeast(_ value: Int) -> ValueRange { ValueRange(minimum: Double(value)) }
    /// > 0.
    public static let positive = ValueRange(minimum: 0, minimumInclusive: false)
    /// ≥ 0.
    public static let nonNegative = ValueRange(minimum: 0)
    /// [0, 1).
    public static let unitHalfOpen = ValueRange(minimum: 0, maximum: 1, maximumInclusive: false)
    /// [0, 1].
    public static let unitClosed = ValueRange(minimum: 0, maximum: 1)

    public func contains(_ value: Double) -> Bool {
        if let minimum, minimumInclusive ? value < minimum : value <= minimum { return false }
        if let maximum, maximumInclusive ? value > maximum : value >= maximum { return false }
        return true
    }

    /// `[0, 1)`, `> 0`, `≥ 1`: for hover, docs and the README.
    public var description: String {
        switch (minimum, maximum) {
        case let (low?, high?):
            return (minimumInclusive ? "[" : "(") + numberText(low) + ", " + numberText(high) + (maximumInclusive ? "]" : ")")
        case let (low?, nil):
            return (minimumInclusive ? "≥ " : "> ") + numberText(low)
        case let (nil, high?):
            return (maximumInclusive ? "≤ " : "< ") + numberText(high)
        case (nil, nil):
            return "any"
        }
    }

    /// The decoder's wording: `must be in [0, 1)`, `must be greater than 0`, `must be at least 1`.
    public var requirement: String {
        switch (minimum, maximum) {
        case (_?, _?):
            return "must be in \(description)"
        case let (low?, nil):
            return minimumInclusive ? "must be at least \(numberText(low))" : "must be greater than \(numberText(low))"
        case let (nil, high?):
            return maximumInclusive ? "must be at most \(numberText(high))" : "must be less than \(numberText(high))"
        case (nil, nil):
            return "may be any number"
        }
    }
}

/// `1` for 1.0, `0.5`, `1e-05` as Swift prints it otherwise.
func numberText(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 {
        return String(Int(value))
    }
    return "\(value)"
}

// MARK: - Keys

/// One key of a mapping in a spec: a layer argument, a `train:` key, an optimizer key or a
/// top-level key.
public struct ArgumentSchema: Hashable, Sendable {
    /// The key as written in YAML (`kernel_size`).
    public var key: String
    public var type: ValueType
    public var defaultValue: ArgumentDefault
    /// Allowed values for numeric types (each element of a pair or list); nil for others.
    public var range: ValueRange?
    /// One line for hover, completion and the JSON Schema's `description`.
    public var doc: String
    /// The keyword of the PyTorch constructor (`nn.Conv2d(kernel_size=…)`) or of `torch.optim`;
    /// nil when PyTorch has no such keyword (`name`, per-layer `weight_decay`).
    public var pytorchName: String?

    public init(_ key: String, _ type: ValueType, default defaultValue: ArgumentDefault, range: ValueRange? = nil,
                doc: String, pytorch pytorchName: String? = nil) {
        self.key = key
        self.type = type
        self.defaultValue = defaultValue
        self.range = range
        self.doc = doc
        self.pytorchName = pytorchName
    }

    public var isRequired: Bool { defaultValue.isRequired }
}

extension Array where Element == ArgumentSchema {
    /// The key schema named `key` (exact spelling), if any.
    public func argument(named key: String) -> ArgumentSchema? {
        first { $0.key == key }
    }

    /// The keys in table order.
    public var keys: [String] { map(\.key) }

    /// The key closest to a misspelt `key` (`kernal_size` → `kernel_size`), if any.
    public func suggestion(for key: String) -> ArgumentSchema? {
        suggest(key, among: keys).flatMap { argument(named: $0) }
    }
}

// MARK: - Layers

/// The description of one layer kind of the whitelist.
public struct LayerSchema: Hashable, Sendable {
    public var kind: LayerName
    /// Other spellings accepted besides the canonical one (any letter case of any spelling is
    /// accepted too): PyTorch's `Conv2d` for `Conv2D`.
    public var otherSpellings: [String]
    /// One line for hover, completion and the schema.
    public var doc: String
    /// The PyTorch module, e.g. `nn.Conv2d` (the `torch.nn` class name after `nn.`).
    public var pytorchClass: String
    /// Every argument in documentation order, `name` last.
    public var arguments: [ArgumentSchema]

    /// `Conv2D`.
    public var canonicalName: String { kind.rawValue }

    /// Canonical spelling first, then the others.
    public var spellings: [String] { [canonicalName] + otherSpellings }

    /// The argument called `key` (exact spelling), if this kind takes it.
    public func argument(named key: String) -> ArgumentSchema? {
        arguments.argument(named: key)
    }

    /// The argument keys in table order.
    public var argumentKeys: [String] { arguments.keys }

    /// The argument closest to a misspelt `key`, if any.
    public func suggestedArgument(for key: String) -> ArgumentSchema? {
        arguments.suggestion(for: key)
    }

    /// The arguments that must be written.
    public var requiredArguments: [ArgumentSchema] { arguments.filter(\.isRequired) }

    /// A kind without required arguments may be written as a bare name (`- ReLU`).
    public var canBeBare: Bool { requiredArguments.isEmpty }
}

extension LayerName {
    /// Every layer kind, in the order docs list them (same as `allCases`).
    public static var all: [LayerName] { allCases }

    /// The kind written as `spelling`: any accepted spelling in any letter case (`conv2d`,
    /// `Conv2d`, `CONV2D`); nil for anything else (including `nn.Conv2d`, see `Habits`).
    public init?(spelling: String) {
        let lowered = spelling.lowercased()
        guard let kind = LayerName.allCases.first(where: { kind in
            kind.schema.spellings.contains { $0.lowercased() == lowered }
        }) else { return nil }
        self = kind
    }

    /// The closest canonical layer name to a misspelt `word` (`Conv3D` → `Conv2D`), if any.
    public static func suggestion(for word: String) -> LayerName? {
        suggest(word, among: allCases.map(\.rawValue)).flatMap { LayerName(rawValue: $0) }
    }

    /// This kind's description, from its family's file in Layers/Kinds/.
    public var schema: LayerSchema { family.schema }
}

// MARK: - The table

/// Entry points to the table: layers, `train:`, `train.optimizer` and the top-level keys.
public enum LayerTable {
    /// The most layers a spec may list; more is an error (it keeps every later stage, which is
    /// linear or close to it, well under a second).
    public static let maxLayers = 1_000

    /// Every layer kind's description, in the order docs list them.
    public static var layers: [LayerSchema] { LayerName.allCases.map(\.schema) }

    /// The description of `kind`.
    public static func schema(for kind: LayerName) -> LayerSchema { kind.schema }

    /// The description of the kind written as `spelling` (any accepted spelling, any case).
    public static func schema(forSpelling spelling: String) -> LayerSchema? {
        LayerName(spelling: spelling)?.schema
    }

    // Arguments shared by several kinds.
    static let bias = ArgumentSchema("bias", .boolean, default: .boolean(LayerDefaults.bias),
                                     doc: "Learn an additive bias per output.", pytorch: "bias")
    static let weightDecay = ArgumentSchema(
        "weight_decay", .number, default: .derived("the optimizer's"), range: .nonNegative,
        doc: "L2 weight decay for this layer's parameters, overriding the optimizer's.")
    static let layerName = ArgumentSchema(
        "name", .string, default: .derived("kind and index, e.g. conv2d_0"),
        doc: "A name for messages and the check table; weight names stay PyTorch's (0.weight).")

    /// The keys of a `train.optimizer` mapping.
    public static let optimizerKeys: [ArgumentSchema] = [
        ArgumentSchema("name", .choice(OptimizerKind.allCases.map(\.rawValue)), default: .required,
                       doc: "The optimizer: adam or sgd.", pytorch: "torch.optim.Adam / torch.optim.SGD"),
        ArgumentSchema("lr", .number, default: .derived(
            "\(numberText(TrainDefaults.adamLR)) for adam, \(numberText(TrainDefaults.sgdLR)) for sgd"),
                       range: .positive, doc: "Learning rate.", pytorch: "lr"),
        ArgumentSchema("momentum", .number, default: .number(TrainDefaults.momentum), range: .unitHalfOpen,
                       doc: "SGD momentum (ignored by adam).", pytorch: "momentum"),
        ArgumentSchema("weight_decay", .number, default: .number(TrainDefaults.weightDecay), range: .nonNegative,
                       doc: "L2 weight decay added to the gradient, as torch.optim does.", pytorch: "weight_decay"),
    ]

    /// The keys of the `train:` section.
    public static let trainKeys: [ArgumentSchema] = [
        ArgumentSchema("epochs", .integer, default: .integer(TrainDefaults.epochs), range: .atLeast(1),
                       doc: "Passes over the training set (--epochs overrides)."),
        ArgumentSchema("batch_size", .integer, default: .integer(TrainDefaults.batchSize), range: .atLeast(1),
                       doc: "Examples per training step (--batch-size overrides)."),
        ArgumentSchema("optimizer", .choiceOrMapping(OptimizerKind.allCases.map(\.rawValue), optimizerKeys),
                       default: .choice(TrainDefaults.optimizer.rawValue),
                       doc: "adam or sgd, or a mapping {name, lr, momentum, weight_decay} (--optimizer, --lr, … override)."),
        ArgumentSchema("seed", .integer, default: .integer(Int(TrainDefaults.seed)), range: .atLeast(0),
                       doc: "Seed for initialization, shuffling and dropout (--seed overrides)."),
    ]

    /// The top-level keys of a spec.
    public static let topLevelKeys: [ArgumentSchema] = [
        ArgumentSchema("name", .string, default: .derived("the file name without extension"),
                       doc: "The model's name, used in messages and run directories."),
        ArgumentSchema("input", .integerList(count: 3), default: .integerList(LayerDefaults.input), range: .atLeast(1),
                       doc: "Input shape C, H, W (channels first); MNIST is [1, 28, 28]."),
        ArgumentSchema("layers", .layerList, default: .required,
                       doc: "The layers, applied in order as an nn.Sequential."),
        ArgumentSchema("train", .mapping(trainKeys), default: .derived("every key's default"),
                       doc: "Training settings; command-line flags override them."),
    ]
}
