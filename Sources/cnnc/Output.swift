import Foundation
import Graph
import Runtime
import Spec

/// Writes to standard error.
func printError(_ text: String, terminator: String = "\n") {
    FileHandle.standardError.write((text + terminator).data(using: .utf8) ?? Data())
}

/// True when standard error is a terminal (progress bars draw there).
var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

/// A fixed-width text table: right-aligned numbers, left-aligned text.
struct TextTable {
    var headers: [String]
    var rightAligned: Set<Int>
    var rows: [[String]] = []

    func rendered(indent: String = "") -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }
            return indent + padded.joined(separator: "  ").trimmingTrailingSpaces()
        }
        var out = line(headers) + "\n"
        out += indent + widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ") + "\n"
        for row in rows { out += line(row) + "\n" }
        return out
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var copy = self
        while copy.hasSuffix(" ") { copy.removeLast() }
        return copy
    }
}

/// `12345678` bytes → `11.8 MiB`.
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : "\(formatFixed(value, digits: 1)) \(units[unit])"
}

/// A compact count: 1234567 → `1.23 M`.
func formatCount(_ value: Double) -> String {
    if value >= 1e12 { return formatFixed(value / 1e12, digits: 2) + " T" }
    if value >= 1e9 { return formatFixed(value / 1e9, digits: 2) + " G" }
    if value >= 1e6 { return formatFixed(value / 1e6, digits: 2) + " M" }
    if value >= 1e3 { return formatFixed(value / 1e3, digits: 1) + " k" }
    return formatFixed(value, digits: 0)
}

/// `75.5` seconds → `1m15.5s`.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    if seconds < 60 { return formatFixed(seconds, digits: 1) + "s" }
    let minutes = Int(seconds / 60)
    let rest = seconds - Double(minutes) * 60
    if minutes < 60 { return "\(minutes)m\(formatFixed(rest, digits: 0))s" }
    return "\(minutes / 60)h\(minutes % 60)m"
}
