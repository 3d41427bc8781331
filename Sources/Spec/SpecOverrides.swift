/// A value for one numeric layer argument, set as if it had been written in the file: it is put
/// into the YAML tree before decoding, so it passes the same checks, with the same diagnostics
/// (at the argument's line, or the layer's where the file does not write it), as any value there.
public struct LayerArgumentOverride: Hashable, Sendable {
    /// Position in the spec's `layers:` list.
    public var layerIndex: Int
    /// The YAML key (`p`, `weight_decay`, `eps`, …).
    public var key: String
    /// The value as YAML text (a plain scalar).
    public var text: String

    public init(layerIndex: Int, key: String, text: String) {
        self.layerIndex = layerIndex
        self.key = key
        self.text = text
    }
}

extension LayerSchema {
    /// The arguments a sweep may vary (`--set LAYER.KEY=…`), from the layer table.
    public var numericArguments: [ArgumentSchema] { arguments.filter(\.type.isNumeric) }
}

/// Parses `source` with `overrides` applied to its layers (see `LayerArgumentOverride`).
public func parseSpec(_ source: SourceFile, overriding overrides: [LayerArgumentOverride]) -> SpecParseResult {
    guard !overrides.isEmpty else { return parseSpec(source) }
    let parsed = YAMLParser.parse(source.text)
    guard var root = parsed.root else {
        return SpecParseResult(source: source, spec: nil, diagnostics: sortedDiagnostics(parsed.diagnostics))
    }
    root = applying(overrides, to: root)
    var decoder = SpecDecoder(defaultName: modelName(fromPath: source.path))
    let spec = decoder.decode(root)
    let diagnostics = sortedDiagnostics(parsed.diagnostics + decoder.diagnostics)
    let failed = diagnostics.contains { $0.severity == .error }
    return SpecParseResult(source: source, spec: failed ? nil : spec, diagnostics: diagnostics)
}

/// The tree with each override's scalar in place; items that are not layers are left for the
/// decoder to report.
private func applying(_ overrides: [LayerArgumentOverride], to root: YAMLNode) -> YAMLNode {
    guard case .mapping(var top) = root.value,
          let layersIndex = top.firstIndex(where: { $0.key.scalarText == "layers" }),
          case .sequence(var items) = top[layersIndex].value.value else { return root }
    for override in overrides where items.indices.contains(override.layerIndex) {
        items[override.layerIndex] = setting(override, in: items[override.layerIndex])
    }
    top[layersIndex].value.value = .sequence(items)
    var copy = root
    copy.value = .mapping(top)
    return copy
}

private func setting(_ override: LayerArgumentOverride, in item: YAMLNode) -> YAMLNode {
    switch item.value {
    case .scalar:
        // `- BatchNorm2D` becomes `- BatchNorm2D: {eps: …}`.
        let key = YAMLNode(.scalar(override.key, plain: true), at: item.location)
        let value = YAMLNode(.scalar(override.text, plain: true), at: item.location)
        let arguments = YAMLNode(.mapping([(key, value)]), at: item.location)
        var copy = item
        copy.value = .mapping([(item, arguments)])
        return copy
    case .mapping(var pairs):
        guard let first = pairs.first else { return item }
        var arguments = first.value
        if arguments.isNull {
            arguments = YAMLNode(.mapping([]), at: first.key.location)
        }
        guard case .mapping(var entries) = arguments.value else { return item }
        if let existing = entries.firstIndex(where: { $0.key.scalarText == override.key }) {
            entries[existing].value = YAMLNode(.scalar(override.text, plain: true), at: entries[existing].value.location)
        } else {
            entries.append((YAMLNode(.scalar(override.key, plain: true), at: first.key.location),
                            YAMLNode(.scalar(override.text, plain: true), at: first.key.location)))
        }
        arguments.value = .mapping(entries)
        pairs[0].value = arguments
        var copy = item
        copy.value = .mapping(pairs)
        return copy
    case .sequence:
        return item
    }
}
