import CYAML

/// Turns YAML text into a `YAMLNode` tree using libyaml's event API. No libyaml type leaves
/// this file. The parser never crashes on bad input: every problem becomes a `Diagnostic`.
public enum YAMLParser {
    /// The deepest nesting of sequences and mappings a spec may use.
    public static let maxDepth = 32

    /// The message for a file with no YAML content at all.
    public static let emptyFileMessage = "the file is empty; a spec needs at least `layers:`"

    /// Parses `text` as a single YAML document.
    ///
    /// - Returns: the root node (nil when the file is empty or any error occurred) and the
    ///   diagnostics found. Syntax errors point at libyaml's problem position (1-based).
    public static func parse(_ text: String) -> (root: YAMLNode?, diagnostics: [Diagnostic]) {
        let bytes = Array(text.utf8)
        if bytes.isEmpty {
            return (nil, [.error(at: nil, emptyFileMessage)])
        }
        let lineCount = max(1, SourceFile.splitLines(text).count)
        return bytes.withUnsafeBufferPointer { buffer in
            var builder = TreeBuilder(lineCount: lineCount)
            builder.run(buffer)
            return builder.finish()
        }
    }
}

/// One open collection while events stream in. Items are appended in place
/// (`stack[top].items.append`), never through a copy, so building is linear in the file size.
private struct OpenCollection {
    var isMapping: Bool
    var location: SourceLocation
    var tag: String?
    /// A sequence's items, or a mapping's keys and values alternating.
    var items: [YAMLNode] = []
}

/// Assembles nodes from libyaml events with an explicit stack (no recursion).
private struct TreeBuilder {
    let lineCount: Int
    var stack: [OpenCollection] = []
    var root: YAMLNode?
    var diagnostics: [Diagnostic] = []
    var documentCount = 0
    var failed = false

    init(lineCount: Int) {
        self.lineCount = lineCount
    }

    mutating func run(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let base = buffer.baseAddress else { return }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) != 0 else {
            diagnostics.append(.error(at: nil, "cannot start the YAML parser (out of memory)"))
            failed = true
            return
        }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_input_string(&parser, base, buffer.count)

        var finished = false
        while !finished {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) != 0 else {
                reportSyntaxError(parser, input: buffer)
                return
            }
            finished = handle(event)
            yaml_event_delete(&event)
        }
    }

    /// Handles one event; returns true when parsing should stop.
    mutating func handle(_ event: yaml_event_t) -> Bool {
        let location = clamp(event.start_mark)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documentCount += 1
            if documentCount > 1 {
                diagnostics.append(.error(
                    at: location, "a spec file holds one YAML document; found a second one",
                    hint: "remove the `---` line and everything after the first document"))
                failed = true
                return true
            }
        case YAML_ALIAS_EVENT:
            diagnostics.append(.error(at: location, "YAML aliases are not supported in a cnnc spec",
                                      hint: "write the value out in full"))
            failed = true
            add(YAMLNode(.scalar("", plain: true), at: location))
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            var text = ""
            if let value = scalar.value {
                text = String(decoding: UnsafeBufferPointer(start: value, count: scalar.length), as: UTF8.self)
            }
            let plain = scalar.style == YAML_PLAIN_SCALAR_STYLE
            let tag = Self.text(scalar.tag)
            reportTag(tag, at: location)
            add(YAMLNode(.scalar(text, plain: plain), at: location, end: clamp(event.end_mark), tag: tag))
        case YAML_SEQUENCE_START_EVENT:
            let tag = Self.text(event.data.sequence_start.tag)
            reportTag(tag, at: location)
            return open(OpenCollection(isMapping: false, location: location, tag: tag))
        case YAML_MAPPING_START_EVENT:
            let tag = Self.text(event.data.mapping_start.tag)
            reportTag(tag, at: location)
            return open(OpenCollection(isMapping: true, location: location, tag: tag))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            close(end: clamp(event.end_mark))
        default:
            break
        }
        return false
    }

    /// Pushes a collection, or reports excessive nesting; returns true when parsing should stop.
    mutating func open(_ collection: OpenCollection) -> Bool {
        if stack.count >= YAMLParser.maxDepth {
            diagnostics.append(.error(at: collection.location, "nesting deeper than \(YAMLParser.maxDepth) levels",
                                      hint: "a cnnc spec needs only a few levels of nesting"))
            failed = true
            return true
        }
        stack.append(collection)
        return false
    }

    /// A tag's text (`tag:yaml.org,2002:str` for `!!str`), nil when none was written.
    static func text(_ tag: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let tag else { return nil }
        return String(cString: UnsafeRawPointer(tag).assumingMemoryBound(to: CChar.self))
    }

    /// cnnc reads every value by its key's type; a tag (`!!str 3`, `!!null 10`) would say
    /// otherwise, and YAML tools disagree on what tags mean, so a tag is an error. Parsing goes on.
    mutating func reportTag(_ tag: String?, at location: SourceLocation) {
        guard let tag else { return }
        let corePrefix = "tag:yaml.org,2002:"
        let written = tag.hasPrefix(corePrefix) ? "!!" + tag.dropFirst(corePrefix.count) : tag
        let end = location.advanced(by: written.count)
        let deletion = TextEdit.deletion(SourceRange(start: location, end: end.advanced(by: 1)))
        diagnostics.append(.error(at: location, "YAML tags such as '\(written)' are not allowed in a cnnc spec",
                                  hint: "delete '\(written)'; cnnc reads each value as its key's type",
                                  end: end, fixes: [FixIt(title: "Delete '\(written)'", edits: [deletion])]))
    }

    mutating func close(end: SourceLocation) {
        guard let top = stack.popLast() else { return }
        if top.isMapping {
            var entries: [(key: YAMLNode, value: YAMLNode)] = []
            entries.reserveCapacity(top.items.count / 2 + 1)
            var index = 0
            while index < top.items.count {
                let key = top.items[index]
                let value = index + 1 < top.items.count
                    ? top.items[index + 1]
                    : YAMLNode(.scalar("", plain: true), at: key.location, end: key.end)
                entries.append((key: key, value: value))
                index += 2
            }
            add(YAMLNode(.mapping(entries), at: top.location, end: max(end, entries.last?.value.end ?? end), tag: top.tag))
        } else {
            add(YAMLNode(.sequence(top.items), at: top.location, end: max(end, top.items.last?.end ?? end), tag: top.tag))
        }
    }

    /// Attaches a finished node to the innermost open collection, or makes it the root.
    mutating func add(_ node: YAMLNode) {
        guard !stack.isEmpty else {
            if root == nil {
                root = node
            }
            return
        }
        stack[stack.count - 1].items.append(node)
    }

    mutating func reportSyntaxError(_ parser: yaml_parser_t, input: UnsafeBufferPointer<UInt8>) {
        failed = true
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        var location = clamp(parser.problem_mark)
        if parser.error == YAML_READER_ERROR {
            location = self.location(ofByte: parser.problem_offset, in: input)
        }
        var context: (text: String, location: SourceLocation)?
        if let text = parser.context {
            context = (String(cString: text), clamp(parser.context_mark))
        }
        let libyaml = "note: libyaml says: \(problem)" + (context.map { " (\($0.text) at line \($0.location.line), column \($0.location.column))" } ?? "")
        if let tab = tabInIndentation(near: location, input: input) {
            diagnostics.append(.error(
                at: tab, "a tab in the indentation: YAML indents with spaces only",
                hint: "replace the tab (shown as →) with spaces, lining this line up with the lines it belongs to",
                notes: [libyaml], end: tab.advanced(by: 1)))
            return
        }
        switch problem {
        case "did not find expected key", "did not find expected '-' indicator":
            let block = context.map { "the block that starts at line \($0.location.line), column \($0.location.column)" }
                ?? "the lines above it"
            diagnostics.append(.error(
                at: location, "bad indentation: this line does not line up with \(block)",
                hint: "indent every key of a mapping, and every `- ` of a list, by the same number of spaces",
                notes: [libyaml]))
        case "mapping values are not allowed in this context":
            diagnostics.append(.error(
                at: location, "unexpected ':' here: is this line indented too far, or a value missing its quotes?",
                hint: "line keys up under their parent (`- Conv2D:` then its arguments indented further), "
                    + "or quote a value that contains ': '",
                notes: [libyaml]))
        case "could not find expected ':'":
            diagnostics.append(.error(
                at: context?.location ?? location, "a key without ':' (or a line that continues the one above)",
                hint: "write `key: value`, or check the indentation of the line above", notes: [libyaml]))
        default:
            var notes: [String] = []
            if let context {
                notes.append("note: \(context.text) at line \(context.location.line), column \(context.location.column)")
            }
            diagnostics.append(.error(at: location, "YAML syntax error: \(problem)", notes: notes))
        }
    }

    /// The position of a tab in the leading whitespace of the problem's line or the line before
    /// it (libyaml reports a tab where it stops, sometimes one line late), if any.
    func tabInIndentation(near location: SourceLocation, input: UnsafeBufferPointer<UInt8>) -> SourceLocation? {
        var lineStarts: [Int] = [0]
        var lineNumber = 1
        var index = 0
        // Only the first `location.line` lines are needed.
        while index < input.count && lineNumber < location.line {
            if input[index] == UInt8(ascii: "\n") {
                lineStarts.append(index + 1)
                lineNumber += 1
            }
            index += 1
        }
        for line in [location.line, location.line - 1] where line >= 1 && line <= lineStarts.count {
            var cursor = lineStarts[line - 1]
            var column = 1
            while cursor < input.count, input[cursor] == UInt8(ascii: " ") || input[cursor] == UInt8(ascii: "\t")
                || input[cursor] == UInt8(ascii: "-") {
                if input[cursor] == UInt8(ascii: "\t") {
                    return SourceLocation(line: line, column: column)
                }
                cursor += 1
                column += 1
            }
        }
        return nil
    }

    /// 1-based position of a libyaml mark, kept inside the file's lines.
    func clamp(_ mark: yaml_mark_t) -> SourceLocation {
        let line = min(max(1, mark.line + 1), lineCount)
        let column = max(1, mark.column + 1)
        return SourceLocation(line: line, column: column)
    }

    /// 1-based position of a byte offset (libyaml reports reader errors that way).
    func location(ofByte offset: Int, in input: UnsafeBufferPointer<UInt8>) -> SourceLocation {
        var line = 1
        var column = 1
        var index = 0
        let end = min(max(0, offset), input.count)
        while index < end {
            let byte = input[index]
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
            index += 1
        }
        return SourceLocation(line: min(line, lineCount), column: column)
    }

    mutating func finish() -> (root: YAMLNode?, diagnostics: [Diagnostic]) {
        if failed {
            return (nil, diagnostics)
        }
        guard let root else {
            return (nil, [.error(at: nil, YAMLParser.emptyFileMessage)])
        }
        return (root, diagnostics)
    }
}
