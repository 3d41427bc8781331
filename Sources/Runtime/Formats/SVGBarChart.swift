import Foundation

/// One group member of a bar chart: a value per category, with an optional error bar (± sd).
public struct BarSeries: Sendable {
    public var name: String
    public var color: String
    public var values: [Double?]
    public var errors: [Double?]

    public init(name: String, color: String, values: [Double?], errors: [Double?] = []) {
        self.name = name
        self.color = color
        self.values = values
        self.errors = errors
    }
}

/// Grouped vertical bars, one group per category, the value printed above each bar; the y axis
/// is zoomed to the values (its range is printed) so differences of tenths of a percent show.
public struct BarChart: Sendable {
    public var title: String
    public var yLabel: String
    public var categories: [String]
    public var series: [BarSeries]

    public init(title: String, yLabel: String, categories: [String], series: [BarSeries]) {
        self.title = title
        self.yLabel = yLabel
        self.categories = categories
        self.series = series
    }

    public func svg() -> String {
        let groupWidth = 150.0
        let margin = (left: 70.0, right: 24.0, top: 62.0, bottom: 70.0)
        let plotWidth = max(320, groupWidth * Double(categories.count))
        let plotHeight = 300.0
        let width = margin.left + plotWidth + margin.right
        let height = margin.top + plotHeight + margin.bottom
        var tops: [Double] = []
        var bottoms: [Double] = []
        for line in series {
            for (i, value) in line.values.enumerated() {
                guard let value, value.isFinite else { continue }
                let error = i < line.errors.count ? (line.errors[i] ?? 0) : 0
                tops.append(value + error)
                bottoms.append(value - error)
            }
        }
        var low = bottoms.min() ?? 0
        var high = tops.max() ?? 1
        if high - low < 1e-9 { low -= 0.01; high += 0.01 }
        let pad = (high - low) * 0.25
        low = max(0, low - pad)
        high += pad * 0.6
        func py(_ y: Double) -> Double { margin.top + (1 - (y - low) / (high - low)) * plotHeight }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" fill=\"white\"/>\n"
        out += svgText(width / 2, 24, title, size: 16, anchor: "middle", bold: true)
        for tick in chartTicks(low, high) {
            let y = py(tick)
            out += "<line x1=\"\(svgNumber(margin.left))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(margin.left + plotWidth))\" y2=\"\(svgNumber(y))\" stroke=\"#e5e5e5\"/>\n"
            out += svgText(margin.left - 8, y + 4, formatFixed(tick, digits: 3), size: 12, anchor: "end")
        }
        let barWidth = (groupWidth * 0.7) / Double(max(series.count, 1))
        let groupStep = plotWidth / Double(max(categories.count, 1))
        for (c, category) in categories.enumerated() {
            let groupLeft = margin.left + groupStep * Double(c) + (groupStep - barWidth * Double(series.count)) / 2
            for (s, line) in series.enumerated() {
                guard c < line.values.count, let value = line.values[c], value.isFinite else { continue }
                let x = groupLeft + barWidth * Double(s)
                let y = py(value)
                out += "<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(barWidth - 2))\" height=\"\(svgNumber(margin.top + plotHeight - y))\" fill=\"\(line.color)\"/>\n"
                let error = c < line.errors.count ? line.errors[c] : nil
                if let error, error > 0 {
                    let cx = x + (barWidth - 2) / 2
                    out += "<line x1=\"\(svgNumber(cx))\" y1=\"\(svgNumber(py(value - error)))\" x2=\"\(svgNumber(cx))\" y2=\"\(svgNumber(py(value + error)))\" stroke=\"#222\"/>\n"
                }
                out += svgText(x + (barWidth - 2) / 2, y - 4 - (error.map { py(value) - py(value + $0) } ?? 0), formatFixed(value, digits: 4),
                             size: 10, anchor: "middle")
            }
            out += svgText(margin.left + groupStep * (Double(c) + 0.5), margin.top + plotHeight + 18, category, size: 12, anchor: "middle")
        }
        out += "<rect x=\"\(svgNumber(margin.left))\" y=\"\(svgNumber(margin.top))\" width=\"\(svgNumber(plotWidth))\" height=\"\(svgNumber(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
        out += "<text x=\"18\" y=\"\(svgNumber(margin.top + plotHeight / 2))\" font-family=\"sans-serif\" font-size=\"13\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 18 \(svgNumber(margin.top + plotHeight / 2)))\">\(escapeXML(yLabel + " (axis from " + formatFixed(low, digits: 3) + ")"))</text>\n"
        var legendX = margin.left
        for line in series {
            out += "<rect x=\"\(svgNumber(legendX))\" y=\"36\" width=\"14\" height=\"10\" fill=\"\(line.color)\"/>\n"
            out += svgText(legendX + 20, 46, line.name + (line.errors.contains { $0 != nil } ? " (± sd)" : ""), size: 12, anchor: "start")
            legendX += 20 + Double(line.name.count + 8) * 7 + 24
        }
        return out + "</svg>\n"
    }
}

/// Round ticks (1, 2 or 5 × 10^k) over [low, high].
func chartTicks(_ low: Double, _ high: Double) -> [Double] {
    let raw = (high - low) / 5
    guard raw > 0, raw.isFinite else { return [low] }
    let power = pow(10, log10(raw).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? raw
    var ticks: [Double] = []
    var tick = (low / step).rounded(.up) * step
    while tick <= high + step * 1e-9, ticks.count < 50 {
        ticks.append(tick)
        tick += step
    }
    return ticks
}

func svgNumber(_ value: Double) -> String { formatFixed(value, digits: 1) }

func svgText(_ x: Double, _ y: Double, _ content: String, size: Int, anchor: String, bold: Bool = false,
           color: String = "#222") -> String {
    let weight = bold ? " font-weight=\"bold\"" : ""
    return "<text x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" font-family=\"sans-serif\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" "
        + "fill=\"\(color)\"\(weight)>\(escapeXML(content))</text>\n"
}
