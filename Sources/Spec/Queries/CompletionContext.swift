/// What may be typed at a cursor in a spec: a layer name, an argument key of a layer, a key of
/// the top level, `train:` or `train.optimizer`, or a value with a fixed set of choices.
///
/// Read from the text around the cursor (indentation, `- `, `{`, `,` and `:`), not from the YAML
/// tree, because a spec being typed is usually not valid YAML yet (`- Conv2D: {out_ch`).
public enum CompletionContext: Equatable, Sendable {
    /// A layer name; `needsDash` when the line has no `- ` yet.
    case layerName(prefix: String, needsDash: Bool)
    /// An argument key of the layer written as `layer` (as typed, any case); `present` are the
    /// keys the item already has.
    case argumentKey(layer: String, present: [String], prefix: String)
    /// The value of argument `key` of the layer written as `layer`.
    case argumentValue(layer: String, key: String, prefix: String)
    case topLevelKey(present: [String], prefix: String)
    case trainKey(present: [String], prefix: String)
    case optimizerKey(present: [String], prefix: String)
    /// `optimizer: …` in `train:` or `name: …` in `train.optimizer`.
    case optimizerName(prefix: String)

    /// The word typed so far, which completions replace.
    public var prefix: String {
        switch self {
        case let .layerName(prefix, _), let .argumentKey(_, _, prefix), let .argumentValue(_, _, prefix),
             let .topLevelKey(_, prefix), let .trainKey(_, prefix), let .optimizerKey(_, prefix),
             let .optimizerName(prefix):
            return prefix
        }
    }

    /// The context at `location` (1-based line, column in Unicode scalars) of `source`; nil
    /// where nothing from a fixed list fits (a comment, a number, a name).
    public static func at(_ location: SourceLocation, in source: SourceFile) -> CompletionContext? {
        let lines = source.lines.indices.map { index in
            Array((source.line(index + 1) ?? "").unicodeScalars)
        }
        let current = location.line >= 1 && location.line <= lines.count ? lines[location.line - 1] : []
        let cursor = max(0, min(location.column - 1, current.count))
        let before = Array(current[..<cursor])
        if commentStart(before) != nil { return nil }
        let prefix = String(String.UnicodeScalarView(before.reversed().prefix { isWordScalar($0) }.reversed()))
        if let flow = flowContext(line: current, cursor: cursor, prefix: prefix, lines: lines, lineIndex: location.line - 1) {
            return flow
        }
        if openBrackets(before).count > 0 { return nil }
        return blockContext(before: before, prefix: prefix, lines: lines, lineIndex: location.line - 1)
    }

    // MARK: - Flow mappings: `- Conv2D: {out_channels: 8, |}`

    private static func flowContext(line: [Unicode.Scalar], cursor: Int, prefix: String,
                                    lines: [[Unicode.Scalar]], lineIndex: Int) -> CompletionContext? {
        let before = Array(line[..<cursor])
        let open = openBrackets(before)
        guard open.count == 1, let brace = open.first, line[brace] == "{" else { return nil }
        let owner = parseLine(Array(line[..<brace]))
        guard let ownerKey = owner.key else { return nil }
        let pieces = flowPieces(line, from: brace + 1)
        let segmentStart = pieces.last { $0.lowerBound <= cursor }?.lowerBound ?? brace + 1
        let segment = String(String.UnicodeScalarView(line[segmentStart..<cursor]))
        let present = pieces.filter { !($0.lowerBound <= cursor && cursor <= $0.upperBound) }.compactMap { piece in
            flowKey(String(String.UnicodeScalarView(line[piece])))
        }
        if let colon = segment.firstIndex(of: ":") {
            let key = segment[..<colon].trimmingBlanks()
            return valueContext(owner: owner, ownerKey: ownerKey, key: key, prefix: prefix,
                                lines: lines, lineIndex: lineIndex)
        }
        guard segment.trimmingBlanks() == prefix else { return nil }
        return keyContext(owner: owner, ownerKey: ownerKey, present: present, prefix: prefix,
                          lines: lines, lineIndex: lineIndex)
    }

    /// The ranges between top-level commas of the flow mapping whose `{` is at `start - 1`.
    private static func flowPieces(_ line: [Unicode.Scalar], from start: Int) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var depth = 0
        var pieceStart = start
        var quote: Unicode.Scalar?
        var index = start
        while index < line.count {
            let scalar = line[index]
            if let open = quote {
                if scalar == open { quote = nil }
            } else if scalar == "\"" || scalar == "'" {
                quote = scalar
            } else if scalar == "[" || scalar == "{" {
                depth += 1
            } else if scalar == "]" || scalar == "}" {
                if depth == 0 { break }
                depth -= 1
            } else if scalar == ",", depth == 0 {
                pieces.append(pieceStart..<index)
                pieceStart = index + 1
            }
            index += 1
        }
        pieces.append(pieceStart..<index)
        return pieces
    }

    private static func flowKey(_ piece: String) -> String? {
        guard let colon = piece.firstIndex(of: ":") else { return nil }
        let key = piece[..<colon].trimmingBlanks()
        return key.isEmpty ? nil : key
    }

    // MARK: - Block mappings and sequences

    private static func blockContext(before: [Unicode.Scalar], prefix: String,
                                     lines: [[Unicode.Scalar]], lineIndex: Int) -> CompletionContext? {
        let line = parseLine(before)
        let parent = parentLine(of: line.indent, isDash: line.isDash, lines: lines, lineIndex: lineIndex)
        if line.isDash {
            guard line.key == nil, line.rest == prefix, parent?.line.key == "layers", parent?.line.isDash == false else {
                return nil
            }
            return .layerName(prefix: prefix, needsDash: false)
        }
        if let key = line.key {
            guard let parent, let ownerKey = parent.line.key else { return nil }
            return valueContext(owner: parent.line, ownerKey: ownerKey, key: key, prefix: prefix,
                                lines: lines, lineIndex: parent.index)
        }
        guard line.rest == prefix else { return nil }
        let present = siblingKeys(indent: line.indent, after: parent?.index ?? -1, excluding: lineIndex, lines: lines)
        guard let parent, let ownerKey = parent.line.key else {
            return .topLevelKey(present: present, prefix: prefix)
        }
        return keyContext(owner: parent.line, ownerKey: ownerKey, present: present, prefix: prefix,
                          lines: lines, lineIndex: parent.index)
    }

    /// Keys at `indent` on the lines after `after` up to the first line indented less.
    private static func siblingKeys(indent: Int, after: Int, excluding: Int, lines: [[Unicode.Scalar]]) -> [String] {
        var keys: [String] = []
        var index = after + 1
        while index < lines.count {
            defer { index += 1 }
            let line = parseLine(lines[index])
            if line.isBlank { continue }
            if line.indent < indent { break }
            if index != excluding, line.indent == indent, !line.isDash, let key = line.key {
                keys.append(key)
            }
        }
        return keys
    }

    /// The key `ownerKey` written on `owner` decides what its keys are.
    private static func keyContext(owner: ParsedLine, ownerKey: String, present: [String], prefix: String,
                                   lines: [[Unicode.Scalar]], lineIndex: Int) -> CompletionContext? {
        if owner.isDash {
            return .argumentKey(layer: ownerKey, present: present, prefix: prefix)
        }
        switch ownerKey {
        case "layers":
            return .layerName(prefix: prefix, needsDash: true)
        case "train" where owner.indent == 0:
            return .trainKey(present: present, prefix: prefix)
        case "optimizer" where isInsideTrain(lineIndex: lineIndex, indent: owner.indent, lines: lines):
            return .optimizerKey(present: present, prefix: prefix)
        default:
            return nil
        }
    }

    private static func valueContext(owner: ParsedLine, ownerKey: String, key: String, prefix: String,
                                     lines: [[Unicode.Scalar]], lineIndex: Int) -> CompletionContext? {
        if owner.isDash {
            return .argumentValue(layer: ownerKey, key: key, prefix: prefix)
        }
        switch (ownerKey, key) {
        case ("train", "optimizer") where owner.indent == 0:
            return .optimizerName(prefix: prefix)
        case ("optimizer", "name") where isInsideTrain(lineIndex: lineIndex, indent: owner.indent, lines: lines):
            return .optimizerName(prefix: prefix)
        default:
            return nil
        }
    }

    private static func isInsideTrain(lineIndex: Int, indent: Int, lines: [[Unicode.Scalar]]) -> Bool {
        guard indent > 0 else { return false }
        return parentLine(of: indent, isDash: false, lines: lines, lineIndex: lineIndex)?.line.key == "train"
    }

    /// The nearest line above `lineIndex` that owns a line at `indent`: indented less, or (for a
    /// `- ` item) a key line at the same indent, since YAML lets a list sit level with its key.
    private static func parentLine(of indent: Int, isDash: Bool, lines: [[Unicode.Scalar]],
                                   lineIndex: Int) -> (line: ParsedLine, index: Int)? {
        var index = min(lineIndex, lines.count) - 1
        while index >= 0 {
            let line = parseLine(lines[index])
            if !line.isBlank {
                if line.indent < indent { return (line, index) }
                if isDash, line.indent == indent, !line.isDash, line.key != nil, line.value.isEmpty {
                    return (line, index)
                }
            }
            index -= 1
        }
        return nil
    }

    // MARK: - Lines

    struct ParsedLine {
        /// Blanks before the first character (a tab counts as one).
        var indent = 0
        var isDash = false
        /// The key before `: ` (or a final `:`), after any `- `.
        var key: String?
        /// The text after the key's colon, trimmed; empty without a key.
        var value = ""
        /// The text after the indent and any `- `, when there is no key.
        var rest = ""
        var isBlank = false
    }

    private static func parseLine(_ scalars: [Unicode.Scalar]) -> ParsedLine {
        var line = ParsedLine()
        var content = scalars
        if let comment = commentStart(content) {
            content = Array(content[..<comment])
        }
        var index = 0
        while index < content.count, content[index] == " " || content[index] == "\t" { index += 1 }
        line.indent = index
        if index == content.count {
            line.isBlank = true
            return line
        }
        if content[index] == "-", index + 1 == content.count || content[index + 1] == " " || content[index + 1] == "\t" {
            line.isDash = true
            index += 1
            while index < content.count, content[index] == " " || content[index] == "\t" { index += 1 }
        }
        let text = Array(content[index...])
        for (position, scalar) in text.enumerated() where scalar == ":" {
            let atEnd = position + 1 == text.count
            if atEnd || text[position + 1] == " " || text[position + 1] == "\t" {
                let key = String(String.UnicodeScalarView(text[..<position])).trimmingBlanks()
                if !key.isEmpty, !key.contains("{"), !key.contains("[") {
                    line.key = key
                    line.value = String(String.UnicodeScalarView(text[(position + 1)...])).trimmingBlanks()
                    return line
                }
                break
            }
        }
        line.rest = String(String.UnicodeScalarView(text)).trimmingBlanks()
        return line
    }

    /// Where a `#` comment starts (at the line start or after a blank, outside quotes).
    private static func commentStart(_ scalars: [Unicode.Scalar]) -> Int? {
        var quote: Unicode.Scalar?
        for (index, scalar) in scalars.enumerated() {
            if let open = quote {
                if scalar == open { quote = nil }
            } else if scalar == "\"" || scalar == "'" {
                quote = scalar
            } else if scalar == "#", index == 0 || scalars[index - 1] == " " || scalars[index - 1] == "\t" {
                return index
            }
        }
        return nil
    }

    /// Positions of the `[` and `{` still open at the end of `scalars`, outermost first.
    private static func openBrackets(_ scalars: [Unicode.Scalar]) -> [Int] {
        var open: [Int] = []
        var quote: Unicode.Scalar?
        for (index, scalar) in scalars.enumerated() {
            if let current = quote {
                if scalar == current { quote = nil }
            } else if scalar == "\"" || scalar == "'" {
                quote = scalar
            } else if scalar == "[" || scalar == "{" {
                open.append(index)
            } else if scalar == "]" || scalar == "}" {
                _ = open.popLast()
            }
        }
        return open
    }

    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar == "." || (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmingBlanks() -> String {
        let scalars = Array(unicodeScalars)
        var start = 0
        var end = scalars.count
        while start < end, scalars[start] == " " || scalars[start] == "\t" { start += 1 }
        while end > start, scalars[end - 1] == " " || scalars[end - 1] == "\t" { end -= 1 }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }
}
