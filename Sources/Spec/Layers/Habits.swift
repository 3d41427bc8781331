/// Diagnostics for the habits people bring from PyTorch and Keras (`nn.Conv2d`, `Dense`,
/// `in_channels`, `filters`, `padding: same`, a top-level `loss:`), and for unknown keys in
/// general: each says what cnnc writes instead and, where the edit is clear, carries a `FixIt`.

/// A layer name from another framework, and what cnnc writes instead.
struct ForeignLayer {
    /// The cnnc kind to write instead, when there is one (`Dense` → `Linear`).
    var replacement: LayerName?
    var message: String
    var hint: String
}

/// A layer argument from another framework, and what to do about it.
public enum ForeignArgument: Hashable, Sendable {
    /// PyTorch's input sizes (`in_channels`, `in_features`, `num_features`): cnnc infers them.
    case inferred
    /// Another framework's name for a cnnc argument (`filters` → `out_channels`).
    case renamed(to: String, framework: String)
    /// Keras's `activation:`: an activation is a layer of its own in cnnc.
    case activation
    /// Arguments whose behaviour cnnc fixes (`inplace`, Softmax's `dim`): `reason` says how.
    case fixed(reason: String)

    /// Keras's name for the cnnc argument `target`.
    static func keras(_ target: String) -> ForeignArgument { .renamed(to: target, framework: "Keras") }
}

enum Habits {
    /// Prefixes people copy from PyTorch code: `torch.nn.MaxPool2d`, `nn.Conv2d`.
    static let modulePrefixes = ["torch.nn.", "nn."]

    /// Other frameworks' layer names, lowercased: the kinds' own (`LayerKindSpec.foreignNames`,
    /// `Dense` → Linear) and those with no cnnc kind to write instead.
    static var foreignLayers: [String: ForeignLayer] {
        var layers: [String: ForeignLayer] = [
            "flatten": ForeignLayer(replacement: nil, message: "'Flatten' is not a supported layer",
                                    hint: "flattening is implicit: Linear flattens its input; remove this layer"),
            "activation": ForeignLayer(replacement: nil, message: "'Activation' is Keras's wrapper; cnnc names the activation itself",
                                       hint: "write the activation as a layer, e.g. `- ReLU`"),
        ]
        for kind in LayerName.allCases {
            for (name, words) in kind.family.foreignNames {
                layers[name] = ForeignLayer(replacement: kind, message: words.message, hint: words.hint)
            }
        }
        return layers
    }

    /// PyTorch layers cnnc knows of but does not implement, lowercased.
    static let unsupportedLayers: Set<String> = [
        "unflatten", "identity", "sigmoid", "tanh", "softmin", "softmax2d",
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

    /// Arguments from PyTorch and Keras that cnnc spells differently or does not take: those of
    /// any layer here, each kind's own from its family (`LayerKindSpec.foreignArguments`).
    static func foreignArgument(_ key: String, for kind: LayerName) -> ForeignArgument? {
        switch key {
        case "in_channels", "in_features", "num_features", "input_shape", "input_dim":
            return .inferred
        case "activation":
            return .activation
        case "inplace":
            return .fixed(reason: "cnnc decides itself when a layer works in place")
        default:
            return kind.family.foreignArguments[key]
        }
    }

    /// Top-level keys that belong elsewhere, and why.
    static func foreignTopLevelKey(_ key: String) -> (message: String, hint: String)? {
        switch key {
        case "loss":
            return ("there is no 'loss' key: the loss is always cross-entropy",
                    "delete this line; a final Softmax is optional (cnnc pairs it with cross-entropy either way)")
        case "epochs", "batch_size", "optimizer", "seed":
            return ("'\(key)' belongs in the 'train:' section", "move it under `train:`, e.g. `train: {\(key): …}`")
        default:
            return nil
        }
    }
}

extension SourceLocation {
    /// The location `count` columns to the right.
    func advanced(by count: Int) -> SourceLocation {
        SourceLocation(line: line, column: column + count)
    }
}

extension SpecDecoder {
    // MARK: - Layer names

    mutating func reportUnknownLayer(_ text: String, node: YAMLNode) {
        let lowered = text.lowercased()
        if let prefix = Habits.modulePrefixes.first(where: { lowered.hasPrefix($0) }) {
            let bare = String(text.dropFirst(prefix.count))
            if LayerName(spelling: bare) != nil {
                let start = node.location.advanced(by: quoteOffset(node))
                let edit = TextEdit.deletion(SourceRange(start: start, end: start.advanced(by: prefix.count)))
                diagnostics.append(.error(
                    at: node.location, "'\(text)': cnnc layer names have no '\(prefix)' prefix",
                    hint: "write `\(bare)`", end: node.end,
                    fixes: [FixIt(title: "Remove '\(prefix)'", edits: [edit])]))
                return
            }
        }
        let supported = "supported layers: \(LayerKind.canonicalNames.joined(separator: ", "))"
        if let foreign = Habits.foreignLayers[lowered] {
            var fixes: [FixIt] = []
            if let replacement = foreign.replacement {
                fixes.append(FixIt(title: "Replace with \(replacement.rawValue)",
                                   edits: [TextEdit(range: node.range, replacement: replacement.rawValue)]))
            } else if let deletion = itemLineDeletion(node, text: text) {
                fixes.append(FixIt(title: "Delete this layer", edits: [deletion]))
            }
            diagnostics.append(.error(at: node.location, foreign.message, hint: foreign.hint, end: node.end, fixes: fixes))
            return
        }
        let guess = LayerName.suggestion(for: text)
        let fixes = guess.map { [FixIt(title: "Replace with \($0.rawValue)",
                                       edits: [TextEdit(range: node.range, replacement: $0.rawValue)])] } ?? []
        let bareName = Habits.modulePrefixes.first { lowered.hasPrefix($0) }.map { String(lowered.dropFirst($0.count)) }
        if Habits.unsupportedLayers.contains(bareName ?? lowered) {
            let hint = guess.map { "did you mean '\($0.rawValue)'? \(supported)" } ?? supported
            diagnostics.append(.error(at: node.location, "'\(text)' is not a supported layer", hint: hint,
                                      end: node.end, fixes: fixes))
            return
        }
        let hint = guess.map { "did you mean '\($0.rawValue)'?" } ?? supported
        diagnostics.append(.error(at: node.location, "unknown layer '\(text)'", hint: hint, end: node.end, fixes: fixes))
    }

    /// 1 for a quoted scalar (the quote comes first), else 0.
    private func quoteOffset(_ node: YAMLNode) -> Int {
        if case .scalar(_, plain: false) = node.value { return 1 }
        return 0
    }

    /// Deletes the line `- Name` when the layer is a bare name alone on its line.
    private func itemLineDeletion(_ node: YAMLNode, text: String) -> TextEdit? {
        guard let line = source?.line(node.location.line) else { return nil }
        let trimmed = line.drop { $0 == " " }
        guard trimmed == "- \(text)" || trimmed == "- \(text):" else { return nil }
        return lineDeletion(node.location.line, through: node.location.line)
    }

    /// Deletes whole lines `first...last`.
    func lineDeletion(_ first: Int, through last: Int) -> TextEdit {
        .deletion(SourceRange(start: SourceLocation(line: first, column: 1),
                              end: SourceLocation(line: last + 1, column: 1)))
    }

    // MARK: - Keys

    /// Deletes entry `index` of a mapping with its separator: the whole lines of a block mapping
    /// entry, or `key: value, ` in a flow mapping. nil when the layout is not clear.
    func entryDeletion(_ entries: [Entry], _ index: Int, in mapping: YAMLNode?) -> TextEdit? {
        let entry = entries[index]
        let valueEnd = max(entry.value.end, entry.keyNode.end)
        // A block mapping starts at its first key; a flow mapping at its `{`.
        let isBlock = mapping?.location == entries.first?.keyNode.location
        if isBlock {
            guard let line = source?.line(entry.keyNode.location.line),
                  line.prefix(entry.keyNode.location.column - 1).allSatisfy({ $0 == " " }) else { return nil }
            return lineDeletion(entry.keyNode.location.line, through: valueEnd.line)
        }
        if index + 1 < entries.count {
            return .deletion(SourceRange(start: entry.keyNode.location, end: entries[index + 1].keyNode.location))
        }
        if index > 0 {
            let previous = entries[index - 1]
            return .deletion(SourceRange(start: max(previous.value.end, previous.keyNode.end), end: valueEnd))
        }
        return .deletion(SourceRange(start: entry.keyNode.location, end: valueEnd))
    }

    /// Renames the key of `entry` to `name`.
    func keyRename(_ entry: Entry, to name: String) -> FixIt {
        FixIt(title: "Rename to '\(name)'", edits: [TextEdit(range: entry.keyNode.range, replacement: name)])
    }

    /// `unknown <what> '<key>'<place>` with a did-you-mean (and its rename fix), or `fallback`
    /// when nothing is close. Returns the key it suggested.
    @discardableResult
    mutating func reportUnknownKey(_ entries: [Entry], _ index: Int, in mapping: YAMLNode?, among keys: [ArgumentSchema],
                                   what: String, place: String, fallback: String) -> String? {
        if omitting() { return nil }
        let entry = entries[index]
        let guess = keys.suggestion(for: entry.key)?.key
        let hint = guess.map { "did you mean '\($0)'?" } ?? fallback
        let fixes = guess.map { [keyRename(entry, to: $0)] } ?? []
        diagnostics.append(.error(at: entry.keyNode.location, "unknown \(what) '\(entry.key)'\(place)", hint: hint,
                                  end: entry.keyNode.end, fixes: fixes))
        return guess
    }

    mutating func reportUnknownTopLevelKey(_ entries: [Entry], _ index: Int, in root: YAMLNode) {
        if omitting() { return }
        let entry = entries[index]
        if let (message, hint) = Habits.foreignTopLevelKey(entry.key) {
            var fixes: [FixIt] = []
            if entry.key == "loss", let deletion = entryDeletion(entries, index, in: root) {
                fixes.append(FixIt(title: "Delete the 'loss' line", edits: [deletion]))
            }
            diagnostics.append(.error(at: entry.keyNode.location, message, hint: hint, end: entry.keyNode.end, fixes: fixes))
            return
        }
        reportUnknownKey(entries, index, in: root, among: LayerTable.topLevelKeys, what: "key", place: "",
                         fallback: "a spec has the keys \(Self.list(Self.topLevelKeys))")
    }

    /// Reports an argument `layer` does not take; returns the argument the report points at
    /// instead (a did-you-mean or another framework's name), if any.
    mutating func reportUnknownArgument(_ entries: [Entry], _ index: Int, in mapping: YAMLNode?, layer: LayerSchema,
                                        nameNode: YAMLNode) -> String? {
        let entry = entries[index]
        let name = layer.canonicalName
        let location = entry.keyNode.location
        switch Habits.foreignArgument(entry.key, for: layer.kind) {
        case .inferred?:
            let fixes = entryDeletion(entries, index, in: mapping).map { [FixIt(title: "Delete '\(entry.key)'", edits: [$0])] } ?? []
            diagnostics.append(.error(at: location, "'\(entry.key)' is inferred from the previous layer; delete this line",
                                      hint: "cnnc computes every layer's input size from the layers before it",
                                      end: entry.keyNode.end, fixes: fixes))
            return nil
        case .renamed(let target, let framework)?:
            diagnostics.append(.error(at: location, "unknown argument '\(entry.key)' for \(name)",
                                      hint: "\(framework)'s '\(entry.key)' is '\(target)' in cnnc (PyTorch's name)",
                                      end: entry.keyNode.end, fixes: [keyRename(entry, to: target)]))
            return target
        case .activation?:
            var edits: [TextEdit] = []
            let activation = entry.value.scalarText.flatMap { LayerName(spelling: $0) }
            if let activation, let deletion = entryDeletion(entries, index, in: mapping),
               let insertion = layerInsertion(activation.rawValue, after: nameNode, arguments: mapping) {
                edits = [deletion, insertion]
            }
            let layerText = activation?.rawValue ?? "ReLU"
            let fixes = edits.isEmpty ? [] : [FixIt(title: "Move the activation to a `- \(layerText)` layer", edits: edits)]
            diagnostics.append(.error(at: location, "\(name) has no 'activation': an activation is a layer of its own",
                                      hint: "delete this argument and add `- \(layerText)` as the next layer",
                                      end: entry.keyNode.end, fixes: fixes))
            return nil
        case .fixed(let reason)?:
            let fixes = entryDeletion(entries, index, in: mapping).map { [FixIt(title: "Delete '\(entry.key)'", edits: [$0])] } ?? []
            diagnostics.append(.error(at: location, "\(name) takes no '\(entry.key)': \(reason)",
                                      hint: "delete this argument", end: entry.keyNode.end, fixes: fixes))
            return nil
        case nil:
            return reportUnknownKey(entries, index, in: mapping, among: layer.arguments, what: "argument",
                                    place: " for \(name)", fallback: "\(name) takes \(Self.list(layer.argumentKeys))")
        }
    }

    /// Inserts `- Name` on a new line after the layer item that starts at `nameNode`, indented like it.
    private func layerInsertion(_ layerName: String, after nameNode: YAMLNode, arguments: YAMLNode?) -> TextEdit? {
        guard let line = source?.line(nameNode.location.line) else { return nil }
        let characters = Array(line)
        let dash = nameNode.location.column - 3
        guard dash >= 0, dash + 1 < characters.count, characters[dash] == "-", characters[dash + 1] == " ",
              characters[..<dash].allSatisfy({ $0 == " " }) else { return nil }
        let last = max(arguments?.end.line ?? nameNode.location.line, nameNode.location.line)
        let point = SourceLocation(line: last + 1, column: 1)
        return TextEdit(range: SourceRange(start: point, end: point),
                        replacement: String(repeating: " ", count: dash) + "- \(layerName)\n")
    }

    // MARK: - Values

    /// `padding: same` or `padding: valid` (Keras): says which number gives that for this kernel.
    /// Returns true when it reported.
    mutating func reportPaddingWord(_ entry: Entry, layer: LayerSchema, entries: [Entry]) -> Bool {
        guard entry.key == "padding", case .scalar(let text, _) = entry.value.value else { return false }
        let word = text.lowercased()
        guard word == "same" || word == "valid" else { return false }
        let node = entry.value
        if word == "valid" {
            diagnostics.append(.error(at: node.location, "'padding' must be a number; 'valid' is padding 0",
                                      hint: "write `padding: 0` (or leave it out: 0 is the default)", end: node.end,
                                      fixes: [FixIt(title: "Write 0", edits: [TextEdit(range: node.range, replacement: "0")])]))
            return true
        }
        let kernel = entries.first { $0.key == "kernel_size" }.flatMap { peekPair($0.value) }
        guard let kernel else {
            diagnostics.append(.error(at: node.location, "'padding' must be a number; cnnc has no 'same'",
                                      hint: "for an odd kernel_size k, padding (k − 1) / 2 keeps the size at stride 1",
                                      end: node.end))
            return true
        }
        let kernelText = kernel.h == kernel.w ? String(kernel.h) : "[\(kernel.h), \(kernel.w)]"
        guard kernel.h % 2 == 1, kernel.w % 2 == 1 else {
            diagnostics.append(.error(
                at: node.location, "'padding' must be a number; cnnc has no 'same'",
                hint: "kernel_size \(kernelText) is even: no padding keeps the size exactly (PyTorch pads one side more); "
                    + "use an odd kernel_size with padding (k − 1) / 2", end: node.end))
            return true
        }
        let padding = Pair((kernel.h - 1) / 2, (kernel.w - 1) / 2)
        let paddingText = padding.h == padding.w ? String(padding.h) : "[\(padding.h), \(padding.w)]"
        diagnostics.append(.error(
            at: node.location, "'padding' must be a number; cnnc has no 'same'",
            hint: "for kernel_size \(kernelText), `padding: \(paddingText)` keeps the size at stride 1 ((k − 1) / 2)",
            end: node.end,
            fixes: [FixIt(title: "Write \(paddingText)", edits: [TextEdit(range: node.range, replacement: paddingText)])]))
        return true
    }

    /// A kernel size as written, read without reporting anything (nil when not a valid size).
    private func peekPair(_ node: YAMLNode) -> Pair? {
        func positive(_ node: YAMLNode) -> Int? {
            guard case .scalar(let text, true) = node.value, let value = Int(text), value >= 1 else { return nil }
            return value
        }
        if case .sequence(let items) = node.value {
            guard items.count == 2, let h = positive(items[0]), let w = positive(items[1]) else { return nil }
            return Pair(h, w)
        }
        return positive(node).map { Pair(square: $0) }
    }
}
