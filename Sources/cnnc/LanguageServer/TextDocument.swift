import Graph
import Runtime
import Spec

/// A position as LSP counts it: 0-based line (lines end at `\n`, `\r\n` or `\r`) and 0-based
/// character in UTF-16 code units.
struct LSPPosition: Hashable, Comparable {
    var line: Int
    var character: Int

    static func < (a: LSPPosition, b: LSPPosition) -> Bool {
        (a.line, a.character) < (b.line, b.character)
    }

    var json: JSON { .object([("line", .int(line)), ("character", .int(character))]) }

    init(line: Int, character: Int) {
        self.line = line
        self.character = character
    }

    /// From `{"line": L, "character": C}`; nil when either is missing or negative.
    init?(_ json: JSON?) {
        guard let line = json?["line"]?.intValue, let character = json?["character"]?.intValue,
              line >= 0, character >= 0 else { return nil }
        self.init(line: line, character: character)
    }
}

struct LSPRange: Hashable {
    var start: LSPPosition
    var end: LSPPosition

    var json: JSON { .object([("start", start.json), ("end", end.json)]) }

    init(start: LSPPosition, end: LSPPosition) {
        self.start = start
        self.end = end
    }

    init?(_ json: JSON?) {
        guard let start = LSPPosition(json?["start"]), let end = LSPPosition(json?["end"]) else { return nil }
        self.init(start: min(start, end), end: max(start, end))
    }

    func overlaps(_ other: LSPRange) -> Bool {
        start <= other.end && other.start <= end
    }
}

/// The text of an open document, kept as Unicode scalars with the line starts of both counting
/// schemes: LSP's (`\n`, `\r\n`, `\r`) and YAML's, which also breaks lines at NEL, LS and PS
/// (`SourceLocation`, 1-based, columns in scalars). Conversions clamp to the text, never trap.
struct TextDocument {
    let uri: String
    var version: Int
    private(set) var text: String
    private var scalars: [Unicode.Scalar] = []
    private var lspLineStarts: [Int] = []
    private var yamlLineStarts: [Int] = []

    init(uri: String, version: Int, text: String) {
        self.uri = uri
        self.version = version
        self.text = text
        index()
    }

    /// The file path the URI names (`file:///a/b.yaml` → `/a/b.yaml`), or the URI itself.
    var path: String {
        guard uri.hasPrefix("file://") else { return uri }
        return percentDecoded(String(uri.dropFirst("file://".count)))
    }

    /// Replaces `range` (the whole text when nil) with `newText`.
    mutating func apply(range: LSPRange?, newText: String) {
        guard let range else {
            text = newText
            index()
            return
        }
        let lower = offset(of: range.start)
        let upper = max(lower, offset(of: range.end))
        var updated = Array(scalars[..<lower])
        updated.append(contentsOf: newText.unicodeScalars)
        updated.append(contentsOf: scalars[upper...])
        var view = String.UnicodeScalarView()
        view.append(contentsOf: updated)
        text = String(view)
        index()
    }

    private mutating func index() {
        scalars = Array(text.unicodeScalars)
        lspLineStarts = [0]
        yamlLineStarts = [0]
        var i = 0
        while i < scalars.count {
            let scalar = scalars[i]
            i += 1
            switch scalar {
            case "\r":
                if i < scalars.count, scalars[i] == "\n" { i += 1 }
                lspLineStarts.append(i)
                yamlLineStarts.append(i)
            case "\n":
                lspLineStarts.append(i)
                yamlLineStarts.append(i)
            case "\u{85}", "\u{2028}", "\u{2029}":
                yamlLineStarts.append(i)
            default:
                break
            }
        }
    }

    /// The scalar offset of an LSP position, clamped to its line (a position inside a surrogate
    /// pair moves past it).
    func offset(of position: LSPPosition) -> Int {
        guard position.line < lspLineStarts.count else { return scalars.count }
        var offset = lspLineStarts[position.line]
        let lineEnd = lineContentEnd(lspLineStarts, position.line)
        var units = 0
        while offset < lineEnd, units < position.character {
            units += scalars[offset].utf16.count
            offset += 1
        }
        return offset
    }

    /// The LSP position of a scalar offset.
    func position(ofOffset offset: Int) -> LSPPosition {
        let clamped = max(0, min(offset, scalars.count))
        let line = lineIndex(lspLineStarts, containing: clamped)
        var units = 0
        for i in lspLineStarts[line]..<min(clamped, lineContentEnd(lspLineStarts, line)) {
            units += scalars[i].utf16.count
        }
        return LSPPosition(line: line, character: units)
    }

    /// The LSP position of a 1-based YAML location (clamped to its line's end).
    func position(of location: SourceLocation) -> LSPPosition {
        let line = max(0, min(location.line - 1, yamlLineStarts.count - 1))
        let start = yamlLineStarts[line]
        let end = lineContentEnd(yamlLineStarts, line)
        return position(ofOffset: min(start + max(0, location.column - 1), end))
    }

    /// The 1-based YAML location of an LSP position.
    func location(of position: LSPPosition) -> SourceLocation {
        let offset = offset(of: position)
        let line = lineIndex(yamlLineStarts, containing: offset)
        return SourceLocation(line: line + 1, column: offset - yamlLineStarts[line] + 1)
    }

    /// The end of the text's last LSP line.
    var endPosition: LSPPosition { position(ofOffset: scalars.count) }

    /// Where line `line`'s content ends: before its line break (or at the end of the text).
    private func lineContentEnd(_ starts: [Int], _ line: Int) -> Int {
        guard line + 1 < starts.count else { return scalars.count }
        var end = starts[line + 1]
        if end > starts[line], scalars[end - 1] == "\n" || scalars[end - 1] == "\r" || scalars[end - 1] == "\u{85}"
            || scalars[end - 1] == "\u{2028}" || scalars[end - 1] == "\u{2029}" {
            end -= 1
            if end > starts[line], scalars[end] == "\n", scalars[end - 1] == "\r" { end -= 1 }
        }
        return end
    }

    /// The last line whose start is at or before `offset` (binary search).
    private func lineIndex(_ starts: [Int], containing offset: Int) -> Int {
        var low = 0
        var high = starts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if starts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }
}

/// `%20` → space; invalid escapes stay as written.
private func percentDecoded(_ text: String) -> String {
    var bytes: [UInt8] = []
    let utf8 = Array(text.utf8)
    var i = 0
    while i < utf8.count {
        if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count, let high = hexValue(utf8[i + 1]), let low = hexValue(utf8[i + 2]) {
            bytes.append(high << 4 | low)
            i += 3
        } else {
            bytes.append(utf8[i])
            i += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
