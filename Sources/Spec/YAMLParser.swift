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
        let lineCount = max(1, SourceFile(path: "", text: text).lines.count)
        return bytes.withUnsafeBufferPointer { buffer in
            var builder = TreeBuilder(lineCount: lineCount)
            builder.run(buffer)
            return builder.finish()
        }
    }
}

/// One open collection while events stream in.
private enum OpenCollection {
    case sequence(items: [YAMLNode], location: SourceLocation)
    case mapping(entries: [(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?, location: SourceLocation)
}

/// Assembles nodes from libyaml events with an explicit stack (no recursion).
private struct TreeBuilder {
    let lineCount: Int
    var stack: [OpenCollection] = []
    /// The explicit tag of each open collection, parallel to `stack`.
    var tags: [String?] = []
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
            add(YAMLNode(.scalar(text, plain: plain), at: location, end: clamp(event.end_mark),
                         tag: Self.text(scalar.tag)))
        case YAML_SEQUENCE_START_EVENT:
            return open(.sequence(items: [], location: location), at: location,
                        tag: Self.text(event.data.sequence_start.tag))
        case YAML_MAPPING_START_EVENT:
            return open(.mapping(entries: [], pendingKey: nil, location: location), at: location,
                        tag: Self.text(event.data.mapping_start.tag))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            close(end: clamp(event.end_mark))
        default:
            break
        }
        return false
    }

    /// Pushes a collection, or reports excessive nesting; returns true when parsing should stop.
    mutating func open(_ collection: OpenCollection, at location: SourceLocation, tag: String?) -> Bool {
        if stack.count >= YAMLParser.maxDepth {
            diagnostics.append(.error(at: location, "nesting deeper than \(YAMLParser.maxDepth) levels",
                                      hint: "a cnnc spec needs only a few levels of nesting"))
            failed = true
            return true
        }
        stack.append(collection)
        tags.append(tag)
        return false
    }

    /// A tag's text (`tag:yaml.org,2002:str` for `!!str`), nil when none was written.
    static func text(_ tag: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let tag else { return nil }
        return String(cString: UnsafeRawPointer(tag).assumingMemoryBound(to: CChar.self))
    }

    mutating func close(end: SourceLocation) {
        guard let top = stack.popLast() else { return }
        let tag = tags.popLast() ?? nil
        switch top {
        case .sequence(let items, let location):
            add(YAMLNode(.sequence(items), at: location, end: max(end, items.last?.end ?? end), tag: tag))
        case .mapping(var entries, let pendingKey, let location):
            if let key = pendingKey {
                entries.append((key: key, value: YAMLNode(.scalar("", plain: true), at: key.location, end: key.end)))
            }
            add(YAMLNode(.mapping(entries), at: location, end: max(end, entries.last?.value.end ?? end), tag: tag))
        }
    }

    /// Attaches a finished node to the innermost open collection, or makes it the root.
    mutating func add(_ node: YAMLNode) {
        guard let top = stack.popLast() else {
            if root == nil {
                root = node
            }
            return
        }
        switch top {
        case .sequence(var items, let location):
            items.append(node)
            stack.append(.sequence(items: items, location: location))
        case .mapping(var entries, let pendingKey, let location):
            if let key = pendingKey {
                entries.append((key: key, value: node))
                stack.append(.mapping(entries: entries, pendingKey: nil, location: location))
            } else {
                stack.append(.mapping(entries: entries, pendingKey: node, location: location))
            }
        }
    }

    mutating func reportSyntaxError(_ parser: yaml_parser_t, input: UnsafeBufferPointer<UInt8>) {
        failed = true
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        var location = clamp(parser.problem_mark)
        if parser.error == YAML_READER_ERROR {
            location = self.location(ofByte: parser.problem_offset, in: input)
        }
        var notes: [String] = []
        if let context = parser.context {
            let mark = clamp(parser.context_mark)
            notes.append("note: \(String(cString: context)) at line \(mark.line), column \(mark.column)")
        }
        diagnostics.append(.error(at: location, "YAML syntax error: \(problem)", notes: notes))
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
