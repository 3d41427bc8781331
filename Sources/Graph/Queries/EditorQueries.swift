import Spec

/// Text to show for the thing under the cursor, and the span of source it describes.
public struct HoverFacts: Sendable, Hashable {
    public var text: String
    public var start: SourceLocation
    /// Exclusive.
    public var end: SourceLocation
}

/// A label to show at a position (after the end of a layer's line).
public struct InlayHintFacts: Sendable, Hashable {
    public var position: SourceLocation
    public var label: String
}

/// One layer item in an outline of the spec.
public struct LayerSymbol: Sendable, Hashable {
    /// `0 Conv2D conv2d_0`: module index, kind and name when resolved, else item index and kind.
    public var name: String
    /// `→ 32×28×28` when resolved, else nil.
    public var detail: String?
    /// The layer name token.
    public var nameStart: SourceLocation
    public var nameEnd: SourceLocation
    /// The whole item: from its first line to the end of its last line.
    public var start: SourceLocation
    public var end: SourceLocation
}

extension SpecAnalysis {
    /// What to show for `location`: on a layer, its shapes, parameters and MACs (or, when they
    /// could not be resolved, what the layer kind is); on a key, its doc, type, default and
    /// PyTorch name from the layer table; nil elsewhere.
    public func hover(at location: SourceLocation) -> HoverFacts? {
        guard let outline, let target = outline.target(at: location, in: source) else { return nil }
        switch target {
        case let .layer(index):
            let item = outline.layers[index]
            let schema = item.kindText.flatMap(LayerTable.schema(forSpelling:))
            let text: String
            if let facts = facts(atLayer: item.location) {
                text = facts.hoverText + (schema.map { "\n\n" + $0.doc } ?? "")
            } else if let schema {
                text = "**\(schema.canonicalName)** · no shapes until the spec's errors are fixed\n\n"
                    + schema.editorDocumentation
            } else {
                return nil
            }
            return HoverFacts(text: text, start: item.location, end: tokenEnd(item.location))
        case let .argument(index, key):
            guard let schema = outline.layers[index].kindText.flatMap(LayerTable.schema(forSpelling:)),
                  let argument = schema.argument(named: key.name) else { return nil }
            return keyHover(key, argument.editorHover(owner: "\(schema.canonicalName) argument",
                                                      pytorchOwner: schema.pytorchClass))
        case let .trainKey(key):
            return LayerTable.trainKeys.argument(named: key.name).map {
                keyHover(key, $0.editorHover(owner: "train", pytorchOwner: nil))
            }
        case let .optimizerKey(key):
            return LayerTable.optimizerKeys.argument(named: key.name).map {
                keyHover(key, $0.editorHover(owner: "train.optimizer", pytorchOwner: nil))
            }
        case let .topLevelKey(key):
            return LayerTable.topLevelKeys.argument(named: key.name).map {
                keyHover(key, $0.editorHover(owner: "top-level key", pytorchOwner: nil))
            }
        }
    }

    private func keyHover(_ key: SpecOutline.Key, _ text: String) -> HoverFacts {
        HoverFacts(text: text, start: key.location, end: tokenEnd(key.location))
    }

    /// What may be typed at `location`, from the layer table.
    public func completions(at location: SourceLocation) -> [CompletionFact] {
        CompletionContext.at(location, in: source)?.items ?? []
    }

    /// The quick fixes of the diagnostics that touch lines `lines`, each with its diagnostic.
    public func fixes(onLines lines: ClosedRange<Int>) -> [(diagnostic: Diagnostic, fix: FixIt)] {
        diagnostics.flatMap { diagnostic -> [(diagnostic: Diagnostic, fix: FixIt)] in
            guard let location = diagnostic.location else { return [] }
            let last = diagnostic.end?.line ?? location.line
            guard location.line <= lines.upperBound, lines.lowerBound <= last else { return [] }
            return diagnostic.fixes.map { (diagnostic, $0) }
        }
    }

    /// One hint at the end of each resolved layer's first line.
    public func inlayHints() -> [InlayHintFacts] {
        layers.map { facts in
            let line = facts.step.location.line
            let length = source.line(line).map { $0.unicodeScalars.count } ?? 0
            return InlayHintFacts(position: SourceLocation(line: line, column: length + 1), label: facts.inlayLabel)
        }
    }

    /// The layer items as an outline, with shapes where resolved.
    public func symbols() -> [LayerSymbol] {
        guard let outline else { return [] }
        return outline.layers.map { item in
            let lastLength = source.line(item.lastLine).map { $0.unicodeScalars.count } ?? 0
            var symbol = LayerSymbol(
                name: "\(item.index) \(item.kindText ?? "?")", detail: nil,
                nameStart: item.location, nameEnd: tokenEnd(item.location),
                start: SourceLocation(line: item.location.line, column: 1),
                end: SourceLocation(line: item.lastLine, column: lastLength + 1))
            if let facts = facts(atLayer: item.location) {
                symbol.name = "\(facts.step.index) \(facts.step.op.kindName) \(facts.step.name)"
                symbol.detail = "→ \(facts.step.output)"
            }
            return symbol
        }
    }

    /// The end of the token at `location` on its line.
    func tokenEnd(_ location: SourceLocation) -> SourceLocation {
        SourceLocation(line: location.line, column: source.tokenEnd(at: location))
    }
}
