/// One line of a chart.
public struct PlotSeries: Sendable {
    public var name: String
    public var color: String
    public var points: [(x: Double, y: Double)]
    public var dashed: Bool

    public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
        self.name = name
        self.color = color
        self.points = points
        self.dashed = dashed
    }
}

/// A line chart panel: axes with labelled ticks, a legend, and optional marked x positions.
public struct LinePlot: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]
    /// Vertical markers (the chosen p of a sweep, say).
    public var markers: [(x: Double, label: String)] = []
    /// Fixed x tick values; by default five evenly spaced ticks.
    public var xTicks: [Double]?

    public init(title: String, xLabel: String, yLabel: String, series: [PlotSeries]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    static let width = 560.0
    static let height = 380.0
    static let margin = (left: 70.0, right: 24.0, top: 62.0, bottom: 56.0)

    /// The panel's SVG elements, drawn at (0, 0) in a width × height box.
    func elements() -> String {
        let m = LinePlot.margin
        let plotWidth = LinePlot.width - m.left - m.right
        let plotHeight = LinePlot.height - m.top - m.bottom
        let xs = series.flatMap { $0.points.map(\.x) } + markers.map(\.x)
        let ys = series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        let (xLow, xHigh) = paddedRange(xs, pad: 0)
        let (yLow, yHigh) = paddedRange(ys, pad: 0.05)
        func px(_ x: Double) -> Double { m.left + (x - xLow) / (xHigh - xLow) * plotWidth }
        func py(_ y: Double) -> Double { m.top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight }
        var out = ""
        out += "<rect x=\"0\" y=\"0\" width=\"\(LinePlot.width)\" height=\"\(LinePlot.height)\" fill=\"white\"/>\n"
        out += text(LinePlot.width / 2, 24, title, size: 16, anchor: "middle", bold: true)
        // Grid and ticks.
        for tick in niceTicks(yLow, yHigh) {
            let y = py(tick)
            out += "<line x1=\"\(f(m.left))\" y1=\"\(f(y))\" x2=\"\(f(m.left + plotWidth))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
            out += text(m.left - 8, y + 4, tickLabel(tick), size: 12, anchor: "end")
        }
        for tick in xTicks ?? niceTicks(xLow, xHigh) where tick >= xLow - 1e-9 && tick <= xHigh + 1e-9 {
            let x = px(tick)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(m.top))\" x2=\"\(f(x))\" y2=\"\(f(m.top + plotHeight))\" stroke=\"#f0f0f0\"/>\n"
            out += text(x, m.top + plotHeight + 18, tickLabel(tick), size: 12, anchor: "middle")
        }
        out += "<rect x=\"\(f(m.left))\" y=\"\(f(m.top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
        out += text(m.left + plotWidth / 2, LinePlot.height - 16, xLabel, size: 13, anchor: "middle")
        out += "<text x=\"18\" y=\"\(f(m.top + plotHeight / 2))\" font-family=\"sans-serif\" font-size=\"13\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 18 \(f(m.top + plotHeight / 2)))\">\(escapeXML(yLabel))</text>\n"
        for marker in markers {
            let x = px(marker.x)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(m.top))\" x2=\"\(f(x))\" y2=\"\(f(m.top + plotHeight))\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n"
            let rightHalf = x > m.left + plotWidth / 2
            out += text(rightHalf ? x - 4 : x + 4, m.top + 14, marker.label, size: 12, anchor: rightHalf ? "end" : "start",
                        color: "#d62728")
        }
        for line in series {
            let finite = line.points.filter { $0.y.isFinite }
            guard !finite.isEmpty else { continue }
            let path = finite.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"\(dash)/>\n"
            for point in finite {
                out += "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3\" fill=\"\(line.color)\"/>\n"
            }
        }
        // Legend: one row under the title, outside the plot area.
        var legendX = m.left
        for line in series {
            let y = 46.0
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<line x1=\"\(f(legendX))\" y1=\"\(f(y - 4))\" x2=\"\(f(legendX + 22))\" y2=\"\(f(y - 4))\" "
                + "stroke=\"\(line.color)\" stroke-width=\"2\"\(dash)/>\n"
            out += text(legendX + 28, y, line.name, size: 12, anchor: "start")
            legendX += 28 + Double(line.name.count) * 7 + 24
        }
        return out
    }
}

/// Panels side by side in one SVG document.
public func renderSVG(_ panels: [LinePlot]) -> String {
    let width = LinePlot.width * Double(panels.count)
    var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(LinePlot.height))\" "
        + "viewBox=\"0 0 \(f(width)) \(f(LinePlot.height))\">\n"
    for (i, panel) in panels.enumerated() {
        out += "<g transform=\"translate(\(f(Double(i) * LinePlot.width)) 0)\">\n" + panel.elements() + "</g>\n"
    }
    return out + "</svg>\n"
}

private func paddedRange(_ values: [Double], pad: Double) -> (Double, Double) {
    guard var low = values.min(), var high = values.max() else { return (0, 1) }
    if high - low < 1e-12 {
        low -= 0.5
        high += 0.5
    }
    let extra = (high - low) * pad
    return (low - extra, high + extra)
}

/// Round tick values (1, 2 or 5 times a power of ten) covering [low, high].
private func niceTicks(_ low: Double, _ high: Double) -> [Double] {
    let raw = (high - low) / 5
    let power = pow(10, (log10(raw)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? raw
    var ticks: [Double] = []
    var tick = (low / step).rounded(.up) * step
    while tick <= high + step * 1e-9 {
        ticks.append(abs(tick) < step * 1e-9 ? 0 : tick)
        tick += step
    }
    return ticks
}

private func tickLabel(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
    var text = formatFixed(value, digits: 4)
    while text.hasSuffix("0") { text.removeLast() }
    return text
}

private func f(_ value: Double) -> String { formatFixed(value, digits: 1) }

private func text(_ x: Double, _ y: Double, _ content: String, size: Int, anchor: String,
                  bold: Bool = false, color: String = "#222") -> String {
    let weight = bold ? " font-weight=\"bold\"" : ""
    return "<text x=\"\(f(x))\" y=\"\(f(y))\" font-family=\"sans-serif\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" "
        + "fill=\"\(color)\"\(weight)>\(escapeXML(content))</text>\n"
}

func escapeXML(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(character)
        }
    }
    return out
}
