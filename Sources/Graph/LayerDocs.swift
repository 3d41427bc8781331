import Spec

/// The documentation side of each layer kind's shape and parameter rules (`LayerShapeRule`, in
/// Graph/Layers/), and the README's layer table generated from them and from Spec's `LayerTable`.
extension LayerName {
    /// The output shape for a C×H×W (or flat) input, in words.
    public var shapeRuleText: String { shapeFamily.shapeRuleText }

    /// The trainable parameter count, in words, as `sum(p.numel() for p in module.parameters())`.
    public var parameterRuleText: String { shapeFamily.parameterRuleText }
}

/// Markers around the generated table in README.md.
public let layerTableBeginMarker = "<!-- layer table: generated from LayerTable by `cnnc schema --readme-table`; edit the kind's file in Sources/Spec/Layers/Kinds/ -->"
public let layerTableEndMarker = "<!-- end of layer table -->"

/// The README's layer table (Markdown), without the markers.
public func layerTableMarkdown() -> String {
    var out = "| layer | PyTorch | arguments (default; range) | output shape | parameters |\n"
    out += "|---|---|---|---|---|\n"
    for layer in LayerTable.layers {
        let arguments = layer.arguments.map { argument -> String in
            var facts: [String] = []
            switch argument.defaultValue {
            case .required: facts.append("required")
            case .derived where argument.key == "name": break
            default: facts.append(argument.defaultValue.text)
            }
            if let range = argument.range, argument.type.isNumeric, !(argument.type != .number && range == .atLeast(1)) {
                facts.append(range.description)
            }
            return "`\(argument.key)`" + (facts.isEmpty ? "" : " (\(facts.joined(separator: "; ")))")
        }
        let spellings = layer.spellings.map { "`\($0)`" }.joined(separator: ", ")
        out += "| \(spellings) | `\(layer.pytorchClass)` | \(arguments.joined(separator: ", ")) "
            + "| \(layer.kind.shapeRuleText) | \(layer.kind.parameterRuleText) |\n"
    }
    return out
}
