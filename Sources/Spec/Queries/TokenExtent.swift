/// Where the token that starts at a diagnostic's or node's location ends, so an editor can
/// underline the whole word (`kernal_size`, `Conv3D`, `eight`, `[3, 3]`) rather than one character.
///
/// Columns are 1-based and count Unicode scalars, as libyaml's marks (and `SourceLocation`) do.
extension SourceFile {
    /// The column just past the token starting at `location` (at least one past it while the
    /// line has characters there); `location.column` itself when the location is beyond the line.
    public func tokenEnd(at location: SourceLocation) -> Int {
        guard let text = line(location.line) else { return location.column }
        let scalars = Array(text.unicodeScalars)
        let start = location.column - 1
        guard start >= 0, start < scalars.count else { return location.column }
        return tokenEndIndex(scalars, from: start) + 1
    }
}

/// The index just past the token starting at `scalars[start]`: a quoted string through its closing
/// quote, a flow collection through its matching bracket, else a plain scalar up to `,`, `]`,
/// `}`, `: `, ` #` or the end of the line, without trailing blanks.
private func tokenEndIndex(_ scalars: [Unicode.Scalar], from start: Int) -> Int {
    let first = scalars[start]
    switch first {
    case "\"", "'":
        var index = start + 1
        while index < scalars.count {
            if scalars[index] == "\\" && first == "\"" {
                index += 2
                continue
            }
            if scalars[index] == first {
                return index + 1
            }
            index += 1
        }
        return scalars.count
    case "[", "{":
        var depth = 0
        var index = start
        while index < scalars.count {
            switch scalars[index] {
            case "[", "{": depth += 1
            case "]", "}":
                depth -= 1
                if depth == 0 { return index + 1 }
            default: break
            }
            index += 1
        }
        return scalars.count
    default:
        var index = start
        while index < scalars.count {
            let scalar = scalars[index]
            if index > start, [",", "]", "}"].contains(scalar) { break }
            if scalar == ":", index + 1 == scalars.count || scalars[index + 1] == " " || scalars[index + 1] == "\t" { break }
            if scalar == "#", index > start, scalars[index - 1] == " " || scalars[index - 1] == "\t" { break }
            index += 1
        }
        while index > start + 1, scalars[index - 1] == " " || scalars[index - 1] == "\t" {
            index -= 1
        }
        return max(index, start + 1)
    }
}
