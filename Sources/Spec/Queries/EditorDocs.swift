/// The words an editor shows for entries of the layer table: completion items and hovers. Both
/// read the same text, so a completion's documentation and the hover on the written key agree.

/// One completion: what to show and insert.
public struct CompletionFact: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case layer
        case key
        case value
    }

    public var label: String
    public var kind: Kind
    /// One line beside the label: the type and default, or the PyTorch class.
    public var detail: String
    /// Markdown.
    public var documentation: String
    /// The text to insert when it differs from the label (`- Conv2D` on a line without a dash).
    public var insertText: String?
}

extension ArgumentSchema {
    /// `integer or [h, w], required` / `number in [0, 1), default 0.5`.
    public var editorDetail: String {
        var detail = type.description
        if let range {
            detail += " " + range.description
        }
        detail += isRequired ? ", required" : ", default " + defaultValue.text
        return detail
    }

    /// The doc line, then type, default, range and PyTorch spelling, in Markdown.
    public func editorDocumentation(pytorchOwner: String?) -> String {
        var lines = [doc, ""]
        lines.append("- type: \(type.description)")
        lines.append("- default: \(defaultValue.text)")
        if let range {
            lines.append("- range: \(range.description)")
        }
        if let pytorchName {
            let owner = pytorchOwner.map { "\($0)(\(pytorchName)=…)" } ?? pytorchName
            lines.append("- PyTorch: `\(owner)`")
        } else {
            lines.append("- PyTorch: no equivalent keyword (cnnc only)")
        }
        return lines.joined(separator: "\n")
    }

    /// Hover text for the key as written in a spec: its name and where it belongs, then the docs.
    public func editorHover(owner: String, pytorchOwner: String?) -> String {
        "**\(key)** · \(owner)\n\n" + editorDocumentation(pytorchOwner: pytorchOwner)
    }

    func completion(pytorchOwner: String?) -> CompletionFact {
        CompletionFact(label: key, kind: .key, detail: editorDetail,
                       documentation: editorDocumentation(pytorchOwner: pytorchOwner), insertText: nil)
    }
}

extension LayerSchema {
    /// The doc line, the PyTorch class and the arguments with their defaults, in Markdown.
    public var editorDocumentation: String {
        var lines = [doc, "", "PyTorch: `\(pytorchClass)`", ""]
        for argument in arguments {
            lines.append("- `\(argument.key)`: \(argument.editorDetail)")
        }
        return lines.joined(separator: "\n")
    }
}

extension CompletionContext {
    /// What may be typed here, from the layer table, without the keys already written.
    public var items: [CompletionFact] {
        switch self {
        case let .layerName(_, needsDash):
            return LayerTable.layers.map { schema in
                CompletionFact(label: schema.canonicalName, kind: .layer, detail: schema.pytorchClass,
                               documentation: schema.editorDocumentation,
                               insertText: needsDash ? "- " + schema.canonicalName : nil)
            }
        case let .argumentKey(layer, present, _):
            guard let schema = LayerTable.schema(forSpelling: layer) else { return [] }
            return schema.arguments.filter { !present.contains($0.key) }.map {
                $0.completion(pytorchOwner: schema.pytorchClass)
            }
        case let .argumentValue(layer, key, _):
            guard let argument = LayerTable.schema(forSpelling: layer)?.argument(named: key) else { return [] }
            return Self.values(of: argument)
        case let .topLevelKey(present, _):
            return LayerTable.topLevelKeys.filter { !present.contains($0.key) }.map { $0.completion(pytorchOwner: nil) }
        case let .trainKey(present, _):
            return LayerTable.trainKeys.filter { !present.contains($0.key) }.map { $0.completion(pytorchOwner: nil) }
        case let .optimizerKey(present, _):
            return LayerTable.optimizerKeys.filter { !present.contains($0.key) }.map { $0.completion(pytorchOwner: nil) }
        case .optimizerName:
            guard let name = LayerTable.optimizerKeys.argument(named: "name") else { return [] }
            return Self.values(of: name)
        }
    }

    /// The fixed choices of a key: its words, or true and false.
    private static func values(of argument: ArgumentSchema) -> [CompletionFact] {
        let words: [String]
        switch argument.type {
        case let .choice(choices), let .choiceOrMapping(choices, _):
            words = choices
        case .boolean:
            words = ["true", "false"]
        default:
            words = []
        }
        return words.map { word in
            CompletionFact(label: word, kind: .value, detail: argument.key, documentation: argument.doc, insertText: nil)
        }
    }
}
