/// A 1-based position in a source file.
public struct SourceLocation: Hashable, Sendable, Comparable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

public enum Severity: String, Sendable, Comparable {
    case warning
    case error

    public static func < (a: Severity, b: Severity) -> Bool {
        a == .warning && b == .error
    }
}

/// A span of a source file from `start` up to but not including `end` (both 1-based; columns
/// count Unicode scalars, as libyaml does). `start == end` is an insertion point.
public struct SourceRange: Hashable, Sendable {
    public var start: SourceLocation
    public var end: SourceLocation

    public init(start: SourceLocation, end: SourceLocation) {
        self.start = start
        self.end = end
    }
}

/// One replacement in a source file; an empty `replacement` deletes the range.
public struct TextEdit: Hashable, Sendable {
    public var range: SourceRange
    public var replacement: String

    public init(range: SourceRange, replacement: String) {
        self.range = range
        self.replacement = replacement
    }

    public static func deletion(_ range: SourceRange) -> TextEdit {
        TextEdit(range: range, replacement: "")
    }
}

/// A fix a diagnostic can offer where the edit is clear (`kernal_size` → `kernel_size`,
/// delete `in_channels: 1`): what an editor shows as a quick fix. `title` is the menu text.
public struct FixIt: Hashable, Sendable {
    public var title: String
    public var edits: [TextEdit]

    public init(title: String, edits: [TextEdit]) {
        self.title = title
        self.edits = edits
    }
}

/// One problem found in a spec. `location` is absent only for problems that belong to the
/// whole file (it cannot be read, it is empty); those render as `file: error: message`.
public struct Diagnostic: Hashable, Sendable {
    public var severity: Severity
    public var location: SourceLocation?
    public var message: String
    public var hint: String?
    /// Extra lines printed after the caret (a table of per-layer shares, say).
    public var notes: [String]
    /// Where the offending token ends (exclusive), when known: `location..<end` is the span an
    /// editor underlines. nil means "the token at `location`".
    public var end: SourceLocation?
    /// Machine-applicable fixes, best first (the hint says the same in words).
    public var fixes: [FixIt] = []

    public init(_ severity: Severity, at location: SourceLocation?, _ message: String,
                hint: String? = nil, notes: [String] = [], end: SourceLocation? = nil, fixes: [FixIt] = []) {
        self.severity = severity
        self.location = location
        self.message = message
        self.hint = hint
        self.notes = notes
        self.end = end
        self.fixes = fixes
    }

    public static func error(at location: SourceLocation?, _ message: String,
                             hint: String? = nil, notes: [String] = [], end: SourceLocation? = nil,
                             fixes: [FixIt] = []) -> Diagnostic {
        Diagnostic(.error, at: location, message, hint: hint, notes: notes, end: end, fixes: fixes)
    }

    public static func warning(at location: SourceLocation?, _ message: String,
                               hint: String? = nil, notes: [String] = [], end: SourceLocation? = nil,
                               fixes: [FixIt] = []) -> Diagnostic {
        Diagnostic(.warning, at: location, message, hint: hint, notes: notes, end: end, fixes: fixes)
    }
}

/// The text of one spec file, kept so diagnostics can quote the offending line.
public struct SourceFile: Sendable {
    public var path: String
    public var text: String
    public let lines: [Substring]

    public init(path: String, text: String) {
        self.path = path
        self.text = text
        self.lines = SourceFile.splitLines(text)
    }

    /// Splits on every break libyaml counts as a line: LF, CRLF, CR, NEL, LS and PS. One pass
    /// over the UTF-8 bytes (linear, and fast on megabyte files).
    static func splitLines(_ text: String) -> [Substring] {
        let utf8 = text.utf8
        var lines: [Substring] = []
        var start = utf8.startIndex
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            var breakLength = 0
            if byte == 0x0A {
                breakLength = 1
            } else if byte == 0x0D {
                let next = utf8.index(after: index)
                breakLength = next != utf8.endIndex && utf8[next] == 0x0A ? 2 : 1
            } else if byte == 0xC2 || byte == 0xE2 {
                let second = utf8.index(after: index)
                if second != utf8.endIndex {
                    if byte == 0xC2 && utf8[second] == 0x85 {
                        breakLength = 2
                    } else if byte == 0xE2, utf8[second] == 0x80 {
                        let third = utf8.index(after: second)
                        if third != utf8.endIndex && (utf8[third] == 0xA8 || utf8[third] == 0xA9) {
                            breakLength = 3
                        }
                    }
                }
            }
            if breakLength == 0 {
                index = utf8.index(after: index)
                continue
            }
            lines.append(text[start..<index])
            index = utf8.index(index, offsetBy: breakLength)
            start = index
        }
        lines.append(text[start..<utf8.endIndex])
        return lines
    }

    /// The 1-based line `number` without its line terminator, if the file has it.
    public func line(_ number: Int) -> Substring? {
        guard number >= 1, number <= lines.count else { return nil }
        var line = lines[number - 1]
        if line.hasSuffix("\r") { line = line.dropLast() }
        return line
    }

    /// `file:line:col: error: message`, the source line, a caret under the column, then the hint.
    public func render(_ diagnostic: Diagnostic) -> String {
        var out: String
        if let location = diagnostic.location {
            out = "\(path):\(location.line):\(location.column): \(diagnostic.severity.rawValue): \(diagnostic.message)\n"
            if let source = line(location.line) {
                let shown = String(source).replacingTabs()
                out += shown + "\n"
                let prefix = String(source.prefix(max(0, location.column - 1))).replacingTabs()
                out += String(repeating: " ", count: prefix.count) + "^\n"
            }
        } else {
            out = "\(path): \(diagnostic.severity.rawValue): \(diagnostic.message)\n"
        }
        for note in diagnostic.notes {
            out += note + "\n"
        }
        if let hint = diagnostic.hint {
            out += "hint: \(hint)\n"
        }
        return out
    }
}

extension String {
    /// Tabs shown as `→`, one column wide like the tab's single character, so the caret still
    /// lines up and a tab in the indentation is visible.
    fileprivate func replacingTabs() -> String {
        var out = ""
        for character in self {
            out += character == "\t" ? "→" : String(character)
        }
        return out
    }
}
