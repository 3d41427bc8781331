import Graph
import Spec

/// `LAYER.ARGUMENT` of `--set`: a layer by its `name:` (or the default name `cnnc check` shows,
/// like `dropout_16`) or by its step index in `cnnc check`'s table, and a numeric argument the
/// layer's kind takes. Values are checked by the spec's own rules when the point is compiled.
public struct LayerArgumentReference: Hashable, Sendable, CustomStringConvertible {
    /// As written: `head` or `7`.
    public var layer: String
    /// The YAML key: `p`, `weight_decay`, `eps`, `out_channels`, …
    public var argument: LayerArgumentKey

    public init(layer: String, argument: LayerArgumentKey) {
        self.layer = layer
        self.argument = argument
    }

    public var description: String { "\(layer).\(argument.key)" }
}

/// A numeric layer argument key; the layer table (`LayerName.schema`) says which kinds take it.
public struct LayerArgumentKey: Hashable, Sendable {
    public var key: String

    /// Every numeric argument of any layer kind.
    public static var all: [String] {
        var keys: [String] = []
        for name in LayerName.allCases {
            for key in name.schema.numericArguments.map(\.key) where !keys.contains(key) { keys.append(key) }
        }
        return keys
    }

    public init?(_ key: String) {
        guard LayerArgumentKey.all.contains(key) else { return nil }
        self.key = key
    }

    /// Loose bounds (finite, no overflow); the spec's rules check the rest when compiled.
    public var domain: SweepDomain { SweepDomain(lower: -1e15, upper: 1e15, upperIncluded: true) }
}

/// `LAYER.ARGUMENT=VALUES`, the text of one `--set`.
public struct LayerSetting: Hashable, Sendable {
    public var reference: LayerArgumentReference
    public var values: SweepValueList

    /// Parses `head.weight_decay=0:0.002:0.0005` or `7.p=0.1,0.3`.
    public init(parsing text: String) throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw SweepValueError(description: "--set takes LAYER.ARGUMENT=VALUES, like head.weight_decay=0,0.001 or 7.p=0.1:0.5:0.1; got '\(text)'")
        }
        let target = text[..<equals].trimmingCharacters(in: .whitespaces)
        guard let dot = target.lastIndex(of: "."), dot != target.startIndex, target.index(after: dot) != target.endIndex else {
            throw SweepValueError(description: "--set takes LAYER.ARGUMENT=VALUES (a layer name or index, a dot, an argument); got '\(target)'")
        }
        let layer = String(target[..<dot])
        let key = String(target[target.index(after: dot)...])
        guard let argument = LayerArgumentKey(key) else {
            throw SweepValueError(description: "'\(key)' is not a numeric layer argument; the numeric arguments are \(LayerArgumentKey.all.joined(separator: ", "))")
        }
        reference = LayerArgumentReference(layer: layer, argument: argument)
        do {
            values = try parseSweepValueList(String(text[text.index(after: equals)...]), domain: argument.domain)
        } catch let error as SweepValueError {
            throw SweepValueError(description: "--set \(reference): \(error.description)")
        }
    }
}

/// The position in the spec's `layers:` list of the layer `reference` names, checked to take the
/// argument. `graph` is the spec compiled as written (its step names and indices are `check`'s).
func resolveLayer(_ reference: LayerArgumentReference, spec: ModelSpec, graph: Graph) throws -> Int {
    // Steps that come from spec layers, in order (the implicit flatten has none).
    let layerSteps = graph.steps.filter { !$0.isImplicit }
    let stepIndex: Int?
    if let index = Int(reference.layer) {
        stepIndex = layerSteps.firstIndex { $0.index == index }
        if stepIndex == nil {
            let flatten = graph.steps.contains { $0.index == index && $0.isImplicit }
            throw SweepValueError(description: flatten
                ? "--set \(reference): step \(index) is the implicit flatten, which has no arguments"
                : "--set \(reference): there is no step \(index); `cnnc check` lists steps 0 to \(graph.steps.count - 1)")
        }
    } else {
        stepIndex = layerSteps.firstIndex { $0.name == reference.layer }
        if stepIndex == nil {
            let names = layerSteps.map(\.name)
            throw SweepValueError(description: "--set \(reference): no layer is named '\(reference.layer)'; the layers are \(names.joined(separator: ", "))")
        }
    }
    let layerIndex = stepIndex!
    let layer = spec.layers[layerIndex]
    let keys = layer.kind.name.schema.numericArguments.map(\.key)
    guard keys.contains(reference.argument.key) else {
        let takes = keys.isEmpty ? "takes no numeric arguments" : "takes \(keys.joined(separator: ", "))"
        throw SweepValueError(description: "--set \(reference): \(layer.kind.canonicalName) has no '\(reference.argument.key)'; it \(takes)")
    }
    return layerIndex
}

extension ModelSpec {
    /// The spec without the regularizer: its layers removed, or every weight decay set to 0.
    public func ablating(_ ablation: Ablation) -> ModelSpec {
        var copy = self
        switch ablation {
        case .batchNorm2D:
            copy.layers = layers.filter { $0.kind.name != .batchNorm2d }
        case .dropout:
            copy.layers = layers.filter { $0.kind.name != .dropout }
        case .weightDecay:
            copy.layers = layers.map { layer in
                var spec = layer.kind.spec
                guard spec.weightDecay != nil else { return layer }
                spec.weightDecay = 0
                var layer = layer
                layer.kind = spec.layerKind
                return layer
            }
        }
        return copy
    }

    /// True if ablating would change the model or its training (given the optimizer's decay).
    public func hasRegularizer(_ ablation: Ablation, optimizerWeightDecay: Double) -> Bool {
        switch ablation {
        case .batchNorm2D: return layers.contains { $0.kind.name == .batchNorm2d }
        case .dropout: return layers.contains { $0.kind.name == .dropout }
        case .weightDecay:
            return optimizerWeightDecay > 0 || layers.contains { ($0.kind.spec.weightDecay ?? 0) > 0 }
        }
    }
}
