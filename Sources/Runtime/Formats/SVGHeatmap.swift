import Foundation

/// A grid of cells coloured by value (light = low, dark = high), each with its value printed;
/// empty cells (runs that did not finish) are grey. `marked` outlines one cell (the chosen point).
public struct Heatmap: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xValues: [String]
    public var yValues: [String]
    /// `cells[y][x]`.
    public var cells: [[Double?]]
    public var marked: (x: Int, y: Int)?

    public init(title: String, xLabel: String, yLabel: String, xValues: [String], yValues: [String], cells: [[Double?]],
                marked: (x: Int, y: Int)? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xValues = xValues
        self.yValues = yValues
        self.cells = cells
        self.marked = marked
    }

    public func svg() -> String {
        let cell = (width: 70.0, height: 34.0)
        let margin = (left: 110.0, right: 30.0, top: 62.0, bottom: 60.0)
        let width = margin.left + cell.width * Double(xValues.count) + margin.right
        let height = margin.top + cell.height * Double(yValues.count) + margin.bottom
        let values = cells.flatMap { $0 }.compactMap { $0 }.filter(\.isFinite)
        let low = values.min() ?? 0
        let high = values.max() ?? 1
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" fill=\"white\"/>\n"
        out += svgText(width / 2, 24, title, size: 16, anchor: "middle", bold: true)
        out += svgText(width / 2, 44, "colour from \(formatFixed(low, digits: 4)) (light) to \(formatFixed(high, digits: 4)) (dark)",
                     size: 12, anchor: "middle")
        // The first y value at the bottom, as on a plot's axis.
        for (yi, yValue) in yValues.enumerated() {
            let top = margin.top + cell.height * Double(yValues.count - 1 - yi)
            out += svgText(margin.left - 8, top + cell.height / 2 + 4, yValue, size: 12, anchor: "end")
            for (xi, _) in xValues.enumerated() {
                let left = margin.left + cell.width * Double(xi)
                let value = yi < cells.count && xi < cells[yi].count ? cells[yi][xi] : nil
                let fraction = value.map { high > low ? ($0 - low) / (high - low) : 1 } ?? 0
                let fill = value == nil ? "#dddddd" : heatColor(fraction)
                out += "<rect x=\"\(svgNumber(left))\" y=\"\(svgNumber(top))\" width=\"\(svgNumber(cell.width))\" height=\"\(svgNumber(cell.height))\" fill=\"\(fill)\" stroke=\"white\"/>\n"
                let text = value.map { formatFixed($0, digits: 4) } ?? "–"
                out += svgText(left + cell.width / 2, top + cell.height / 2 + 4, text, size: 11, anchor: "middle",
                             color: fraction > 0.55 ? "white" : "#222")
                if let marked, marked.x == xi, marked.y == yi {
                    out += "<rect x=\"\(svgNumber(left + 1.5))\" y=\"\(svgNumber(top + 1.5))\" width=\"\(svgNumber(cell.width - 3))\" height=\"\(svgNumber(cell.height - 3))\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"3\"/>\n"
                }
            }
        }
        for (xi, xValue) in xValues.enumerated() {
            out += svgText(margin.left + cell.width * (Double(xi) + 0.5), margin.top + cell.height * Double(yValues.count) + 18, xValue,
                         size: 12, anchor: "middle")
        }
        out += svgText(margin.left + cell.width * Double(xValues.count) / 2, height - 16, xLabel, size: 13, anchor: "middle")
        let middle = margin.top + cell.height * Double(yValues.count) / 2
        out += "<text x=\"18\" y=\"\(svgNumber(middle))\" font-family=\"sans-serif\" font-size=\"13\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 18 \(svgNumber(middle)))\">\(escapeXML(yLabel))</text>\n"
        if marked != nil {
            out += svgText(width - margin.right, height - 16, "outlined: chosen", size: 11, anchor: "end", color: "#d62728")
        }
        return out + "</svg>\n"
    }
}

/// White-to-blue ramp.
private func heatColor(_ fraction: Double) -> String {
    let t = min(max(fraction, 0), 1)
    let (r, g, b) = (247 - (247 - 8) * t, 251 - (251 - 48) * t, 255 - (255 - 107) * t)
    func hex(_ v: Double) -> String {
        let text = String(Int(v.rounded()), radix: 16)
        return text.count == 1 ? "0" + text : text
    }
    return "#" + hex(r) + hex(g) + hex(b)
}
