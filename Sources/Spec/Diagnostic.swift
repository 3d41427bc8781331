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

/// One problem found in a spec. `location` is absent only for problems that belong to the
/// whole file (it cannot be read, it is empty); those render as `file: error: message`.
public struct Diagnostic: Hashable, Sendable {
    public var severity: Severity
    public var location: SourceLocation?
    public var message: String
    public var hint: String?
    /// Extra lines printed after the caret (a table of per-layer shares, say).
    public var notes: [String]

    public init(_ severity: Severity, at location: SourceLocation?, _ message: String,
                hint: String? = nil, notes: [String] = []) {
        self.severity = severity
        self.location = location
        self.message = message
        self.hint = hint
        self.notes = notes
    }

    public static func error(at location: SourceLocation?, _ message: String,
                             hint: String? = nil, notes: [String] = []) -> Diagnostic {
        Diagnostic(.error, at: location, message, hint: hint, notes: notes)
    }

    public static func warning(at location: SourceLocation?, _ message: String,
                               hint: String? = nil, notes: [String] = []) -> Diagnostic {
        Diagnostic(.warning, at: location, message, hint: hint, notes: notes)
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
        // Swift reads "\r\n" as one Character; split on every break libyaml counts as a line.
        self.lines = text.split(omittingEmptySubsequences: false) { character in
            SourceFile.lineBreaks.contains(character)
        }
    }

    /// The line terminators YAML recognises: LF, CRLF, CR, NEL, LS and PS.
    private static let lineBreaks: Set<Character> = ["\n", "\r\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"]

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
    fileprivate func replacingTabs() -> String {
        var out = ""
        for character in self {
            out += character == "\t" ? " " : String(character)
        }
        return out
    }
}
