import Foundation
import Graph
import Spec

// Charts built as `Figure`s (see Figure.swift): a line chart, a labelled heatmap and a bar chart.
// Each has `figure()`; render with `.svg()`, `.pdf()` or `.png()`, or write all with `writeFigure`.

/// One line of a line chart.
public struct PlotSeries: Sendable {
    public var name: String
    public var color: RGB
    public var points: [Point]
    /// Half-widths of error bars, one per point (± one standard deviation, say); empty for none.
    public var errors: [Double]
    public var dashed: Bool
    /// Draw a dot at every point (off for dense per-step curves).
    public var dots: Bool

    public init(name: String, color: RGB, points: [(x: Double, y: Double)], errors: [Double] = [], dashed: Bool = false,
                dots: Bool = true) {
        precondition(errors.isEmpty || errors.count == points.count, "PlotSeries '\(name)': one error per point")
        self.name = name
        self.color = color
        self.points = points.map { Point($0.x, $0.y) }
        self.errors = errors
        self.dashed = dashed
        self.dots = dots
    }
}

public enum AxisScale: Sendable { case linear, log }

/// How the y axis covers the data.
public enum YRange: Sendable {
    /// All data; when a few points lie far below the rest (a sweep's collapse at p = 0.9), the
    /// axis is broken: the main panel covers the cluster, a short strip below covers the outliers.
    case automatic
    /// All data on one continuous axis.
    case full
    /// A fixed range; points outside are drawn at the edge with an arrow-free clip marker.
    case fixed(Double, Double)
}

/// A vertical marker line with a label (the chosen p of a sweep, say).
public struct PlotMarker: Sendable {
    public var x: Double
    public var label: String
    public init(x: Double, label: String) {
        self.x = x
        self.label = label
    }
}

/// A line chart panel: title, optional subtitle (what limited the run), legend above the data,
/// axes with nice ticks, error bars, markers whose labels avoid the data.
public struct LineChart: Sendable {
    public var title: String
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]
    public var markers: [PlotMarker] = []
    /// Fixed x tick values; by default nice ticks (powers of ten on a log axis).
    public var xTicks: [Double]?
    public var xScale: AxisScale = .linear
    /// A fixed x range (in data units); by default the data's, padded a little.
    public var xRange: (Double, Double)?
    public var yRange: YRange = .automatic
    public var width = 560.0
    public var height = 380.0

    public init(title: String, subtitle: String? = nil, xLabel: String, yLabel: String, series: [PlotSeries]) {
        self.title = title
        self.subtitle = subtitle
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    /// The y range split of `.automatic`: (outliers low…high, main low…high), or nil for one axis.
    func brokenRange(_ ys: [Double]) -> (lower: (Double, Double), main: (Double, Double))? {
        let sorted = ys.sorted()
        guard sorted.count >= 3 else { return nil }
        var best: (gap: Double, index: Int)?
        for i in 1..<sorted.count {
            let gap = sorted[i] - sorted[i - 1]
            if best.map({ gap > $0.gap }) ?? true { best = (gap, i) }
        }
        guard let best else { return nil }
        let upper = sorted[best.index...]
        let upperSpan = max(upper.last! - upper.first!, 1e-12)
        // Break only when the outliers are few and the gap dwarfs the spread of the rest.
        guard upper.count * 3 >= sorted.count * 2, best.gap > 3 * upperSpan else { return nil }
        return ((sorted.first!, sorted[best.index - 1]), (upper.first!, upper.last!))
    }

    public func figure() -> Figure {
        var fig = Figure(width: width, height: height)
        let legendRows = legendLayout(maxWidth: width - 90)
        var top = 28.0
        fig.text(title, width / 2, top, size: 15, anchor: .middle, bold: true)
        if let subtitle {
            top += 17
            fig.text(subtitle, width / 2, top, size: 11, anchor: .middle, color: .muted)
        }
        let legendTop = top + 10
        top = legendTop + Double(legendRows.count) * 16 + 8
        let left = 70.0, right = width - 20, bottom = height - 48
        let plotHeight = bottom - top

        // x mapping.
        let isLog = xScale == .log
        let allPoints = series.flatMap(\.points).filter { $0.y.isFinite && (!isLog || $0.x > 0) }
        let xs = allPoints.map(\.x) + markers.map(\.x).filter { !isLog || $0 > 0 }
        func tx(_ x: Double) -> Double { isLog ? log10(x) : x }
        var (xLow, xHigh) = paddedRange(xs.map(tx), pad: 0.03)
        if xs.count <= 1 { (xLow, xHigh) = (xLow - 0.5, xHigh + 0.5) }
        if let xRange, !isLog || (xRange.0 > 0 && xRange.1 > 0) {
            let span = tx(xRange.1) - tx(xRange.0)
            (xLow, xHigh) = (tx(xRange.0) - span * 0.02, tx(xRange.1) + span * 0.02)
        }
        func px(_ x: Double) -> Double { left + (tx(x) - xLow) / (xHigh - xLow) * (right - left) }

        // y mapping: one segment, or two with a gap between (broken axis).
        var ys = allPoints.map(\.y)
        for s in series where !s.errors.isEmpty {
            for (p, e) in zip(s.points, s.errors) where p.y.isFinite && e.isFinite { ys += [p.y - e, p.y + e] }
        }
        struct Segment { var low: Double; var high: Double; var top: Double; var bottom: Double }
        var segments: [Segment]
        switch yRange {
        case let .fixed(low, high):
            segments = [Segment(low: low, high: high, top: top, bottom: bottom)]
        case .full:
            let (low, high) = paddedRange(ys, pad: 0.06)
            segments = [Segment(low: low, high: high, top: top, bottom: bottom)]
        case .automatic:
            let centres = allPoints.map(\.y)
            if let split = brokenRange(centres) {
                let mainYs = ys.filter { $0 >= split.main.0 - (split.main.1 - split.main.0) }
                let lowerYs = ys.filter { $0 <= split.lower.1 + 1e-12 }
                let (mainLow, mainHigh) = paddedRange(mainYs, pad: 0.08)
                let (lowLow, lowHigh) = paddedRange(lowerYs, pad: 0.25)
                let strip = plotHeight * 0.2
                segments = [Segment(low: mainLow, high: mainHigh, top: top, bottom: bottom - strip - 10),
                            Segment(low: lowLow, high: lowHigh, top: bottom - strip, bottom: bottom)]
            } else {
                let (low, high) = paddedRange(ys, pad: 0.06)
                segments = [Segment(low: low, high: high, top: top, bottom: bottom)]
            }
        }
        func py(_ y: Double) -> Double {
            // Values between segments (a line crossing the break) interpolate through the gap.
            for s in segments where y >= s.low && y <= s.high {
                return s.bottom - (y - s.low) / (s.high - s.low) * (s.bottom - s.top)
            }
            if segments.count == 2, y < segments[0].low, y > segments[1].high {
                let t = (y - segments[1].high) / (segments[0].low - segments[1].high)
                return segments[1].top - t * (segments[1].top - segments[0].bottom)
            }
            let lowest = segments.last!, highest = segments[0]
            return y < lowest.low ? lowest.bottom : highest.top
        }

        // Frames, grid and ticks per segment.
        for (i, s) in segments.enumerated() {
            let ticks = niceTicks(s.low, s.high, count: i == 0 ? 5 : 2)
            for tick in ticks {
                let y = py(tick)
                fig.line([Point(left, y), Point(right, y)], color: .grid)
                fig.text(tickLabel(tick), left - 6, y + 4, size: 11, anchor: .end)
            }
            fig.rect(left, s.top, right - left, s.bottom - s.top, stroke: .frame)
        }
        if segments.count == 2 {
            // Break marks: two short slanted strokes on each side of the gap.
            for x in [left, right] {
                for y in [segments[0].bottom, segments[1].top] {
                    fig.line([Point(x - 5, y + 3), Point(x + 5, y - 3)], color: .frame)
                }
            }
        }
        let xTickValues: [Double]
        if let xTicks {
            xTickValues = xTicks.filter { !isLog || $0 > 0 }
        } else if isLog {
            xTickValues = logTicks(xLow, xHigh)
        } else {
            xTickValues = niceTicks(xLow, xHigh, count: 5)
        }
        for tick in xTickValues where tx(tick) >= xLow - 1e-9 && tx(tick) <= xHigh + 1e-9 {
            let x = px(tick)
            fig.line([Point(x, top), Point(x, bottom)], color: .grid)
            fig.text(isLog ? logTickLabel(tick) : tickLabel(tick), x, bottom + 16, size: 11, anchor: .middle)
        }
        fig.text(xLabel, (left + right) / 2, height - 14, size: 12, anchor: .middle)
        fig.text(yLabel, 18, (top + bottom) / 2, size: 12, anchor: .middle, rotated: true)

        // Data.
        var obstacles: [(Point, Point)] = []
        for line in series {
            let visible = line.points.enumerated().filter { $0.element.y.isFinite && (!isLog || $0.element.x > 0) }
            let screen = visible.map { Point(px($0.element.x), py($0.element.y)) }
            if !line.errors.isEmpty {
                for (i, p) in visible {
                    let e = line.errors[i]
                    guard e.isFinite, e > 0 else { continue }
                    let x = px(p.x), y0 = py(p.y - e), y1 = py(p.y + e)
                    fig.line([Point(x, y0), Point(x, y1)], color: line.color, width: 1.2)
                    fig.line([Point(x - 4, y0), Point(x + 4, y0)], color: line.color, width: 1.2)
                    fig.line([Point(x - 4, y1), Point(x + 4, y1)], color: line.color, width: 1.2)
                    obstacles.append((Point(x, y0), Point(x, y1)))
                }
            }
            if screen.count > 1 {
                fig.line(screen, color: line.color, width: 1.8, dash: line.dashed ? [6, 4] : [])
            }
            if line.dots || screen.count == 1 {
                for p in screen { fig.marks.append(.disc(center: p, radius: 3, color: line.color)) }
            }
            obstacles += zip(screen, screen.dropFirst()).map { ($0, $1) }
            obstacles += screen.map { ($0, $0) }
        }

        // Markers: dashed line; the label goes where it covers no data.
        for marker in markers where !isLog || marker.x > 0 {
            let x = px(marker.x)
            fig.line([Point(x, top), Point(x, bottom)], color: .highlight, width: 1, dash: [4, 3])
            let size = 11.0
            let w = textWidth(marker.label, size: size)
            var candidates: [(Point, TextAnchor)] = []
            for y in stride(from: top + 14, through: bottom - 6, by: 12) {
                candidates.append((Point(x + 4, y), .start))
                candidates.append((Point(x - 4, y), .end))
            }
            let fits = candidates.filter { c in
                let box = textBox(marker.label, at: c.0, size: size, anchor: c.1, bold: false)
                return box.x >= left + 2 && box.x + box.w <= right - 2
            }
            let clear = fits.first { c in
                let box = textBox(marker.label, at: c.0, size: size, anchor: c.1, bold: false)
                return !obstacles.contains { segmentHitsBox($0.0, $0.1, box, margin: 4) }
            }
            let chosen = clear ?? fits.first ?? (Point(min(x + 4, right - w - 2), top + 14), .start)
            let box = textBox(marker.label, at: chosen.0, size: size, anchor: chosen.1, bold: false)
            fig.rect(box.x - 2, box.y - 1, box.w + 4, box.h + 2, fill: .white)
            fig.text(marker.label, chosen.0.x, chosen.0.y, size: size, anchor: chosen.1, color: .highlight)
        }

        // Legend rows above the plot area.
        for (row, entries) in legendRows.enumerated() {
            var x = left
            let y = legendTop + Double(row) * 16 + 8
            for entry in entries {
                fig.line([Point(x, y - 4), Point(x + 22, y - 4)], color: entry.color, width: 2, dash: entry.dashed ? [6, 4] : [])
                fig.text(entry.name, x + 28, y, size: 11)
                x += 28 + textWidth(entry.name, size: 11) + 18
            }
        }
        return fig
    }

    private func legendLayout(maxWidth: Double) -> [[PlotSeries]] {
        var rows: [[PlotSeries]] = [[]]
        var used = 0.0
        for s in series {
            let w = 28 + textWidth(s.name, size: 11) + 18
            if used + w > maxWidth, !rows[rows.count - 1].isEmpty {
                rows.append([])
                used = 0
            }
            rows[rows.count - 1].append(s)
            used += w
        }
        return rows.filter { !$0.isEmpty }
    }
}

/// A labelled heatmap with the count written in every cell (a confusion matrix, say).
public struct Heatmap: Sendable {
    public var title: String
    public var subtitle: String?
    public var rowLabels: [String]
    public var columnLabels: [String]
    public var rowTitle: String
    public var columnTitle: String
    public var values: [[Double]]
    /// Cell text; by default the value with `digits` fraction digits.
    public var cellText: [[String]]?
    public var digits = 0
    /// Colour of the largest value (zero is white).
    public var color = RGB(hex: 0x08519c)
    /// Values on the diagonal drawn in `diagonalColor` instead (correct predictions).
    public var diagonalColor: RGB?
    public var cellSize = 34.0

    public init(title: String, subtitle: String? = nil, rowLabels: [String], columnLabels: [String], rowTitle: String,
                columnTitle: String, values: [[Double]]) {
        precondition(values.count == rowLabels.count && values.allSatisfy { $0.count == columnLabels.count },
                     "Heatmap: values must be rows × columns")
        self.title = title
        self.subtitle = subtitle
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.rowTitle = rowTitle
        self.columnTitle = columnTitle
        self.values = values
    }

    public func figure() -> Figure {
        let rowLabelWidth = rowLabels.map { textWidth($0, size: 11) }.max() ?? 0
        let left = 40 + rowLabelWidth
        var top = 30.0 + (subtitle == nil ? 0 : 16) + 34
        let gridWidth = cellSize * Double(columnLabels.count), gridHeight = cellSize * Double(rowLabels.count)
        let titleWidth = max(textWidth(title, size: 15, bold: true), textWidth(subtitle ?? "", size: 11))
        let width = max(left + gridWidth + 20, titleWidth + 40)
        var fig = Figure(width: width, height: top + gridHeight + 20)
        fig.text(title, width / 2, 26, size: 15, anchor: .middle, bold: true)
        if let subtitle { fig.text(subtitle, width / 2, 43, size: 11, anchor: .middle, color: .muted) }
        fig.text(columnTitle, left + gridWidth / 2, top - 22, size: 12, anchor: .middle)
        fig.text(rowTitle, 16, top + gridHeight / 2, size: 12, anchor: .middle, rotated: true)
        let offDiagonalMax = max(values.enumerated().flatMap { r, row in row.enumerated().filter { $0.offset != r || diagonalColor == nil }.map(\.element) }.max() ?? 1, 1e-12)
        let diagonalMax = max((0..<min(values.count, columnLabels.count)).map { values[$0][$0] }.max() ?? 1, 1e-12)
        for (c, label) in columnLabels.enumerated() {
            fig.text(label, left + (Double(c) + 0.5) * cellSize, top - 6, size: 11, anchor: .middle)
        }
        let fontSize = min(11, cellSize * 0.34)
        for (r, row) in values.enumerated() {
            let y = top + Double(r) * cellSize
            fig.text(rowLabels[r], left - 6, y + cellSize / 2 + 4, size: 11, anchor: .end)
            for (c, value) in row.enumerated() {
                let x = left + Double(c) * cellSize
                let onDiagonal = r == c && diagonalColor != nil
                let base = onDiagonal ? diagonalColor! : color
                let t = max(0, min(1, value / (onDiagonal ? diagonalMax : offDiagonalMax)))
                let fill = RGB.white.mixed(with: base, value == 0 ? 0 : 0.12 + 0.88 * t)
                fig.rect(x, y, cellSize, cellSize, fill: fill, stroke: RGB(hex: 0xdddddd))
                let text = cellText?[r][c] ?? formatFixed(value, digits: digits)
                fig.text(text, x + cellSize / 2, y + cellSize / 2 + fontSize * 0.36, size: fontSize, anchor: .middle,
                         color: fill.luminance < 0.5 ? .white : (value == 0 ? RGB(hex: 0xaaaaaa) : .text))
            }
        }
        top += 0
        return fig
    }
}

/// A bar chart: one group of bars per category, one bar per series, optional error bars.
public struct BarChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var color: RGB
        public var values: [Double]
        /// Half-widths of error bars, one per category; empty for none.
        public var errors: [Double]
        public init(name: String, color: RGB, values: [Double], errors: [Double] = []) {
            precondition(errors.isEmpty || errors.count == values.count, "BarChart.Series '\(name)': one error per value")
            self.name = name
            self.color = color
            self.values = values
            self.errors = errors
        }
    }

    public var title: String
    public var subtitle: String?
    public var categories: [String]
    public var yLabel: String
    public var series: [Series]
    /// The value axis starts at this value (nil: at zero, or just below the smallest bar when all
    /// bars are far from zero, so differences between accuracies stay visible; the axis says so).
    public var baseline: Double?
    /// Each bar's value written above it with this many fraction digits (nil: none).
    public var valueDigits: Int? = 4
    public var width = 560.0
    public var height = 380.0

    public init(title: String, subtitle: String? = nil, categories: [String], yLabel: String, series: [Series]) {
        precondition(series.allSatisfy { $0.values.count == categories.count }, "BarChart: one value per category")
        self.title = title
        self.subtitle = subtitle
        self.categories = categories
        self.yLabel = yLabel
        self.series = series
    }

    public func figure() -> Figure {
        var fig = Figure(width: width, height: height)
        var top = 28.0
        fig.text(title, width / 2, top, size: 15, anchor: .middle, bold: true)
        if let subtitle {
            top += 17
            fig.text(subtitle, width / 2, top, size: 11, anchor: .middle, color: .muted)
        }
        var x = 70.0
        if series.count > 1 {
            for s in series {
                fig.rect(x, top + 10, 12, 10, fill: s.color)
                fig.text(s.name, x + 18, top + 19, size: 11)
                x += 18 + textWidth(s.name, size: 11) + 18
            }
            top += 22
        }
        top += 14
        let left = 70.0, right = width - 20, bottom = height - 48
        let highs = series.flatMap { s in s.values.enumerated().map { $0.element + (s.errors.isEmpty ? 0 : s.errors[$0.offset]) } }
            .filter(\.isFinite)
        let lows = series.flatMap { s in s.values.enumerated().map { $0.element - (s.errors.isEmpty ? 0 : s.errors[$0.offset]) } }
            .filter(\.isFinite)
        let maxValue = highs.max() ?? 1, minValue = lows.min() ?? 0
        let base: Double
        if let baseline {
            base = baseline
        } else if minValue > 0, (maxValue - minValue) < 0.25 * maxValue {
            let (low, _) = paddedRange([minValue, maxValue], pad: 0.5)
            base = max(0, low)
        } else {
            base = min(0, minValue)
        }
        let (_, high) = paddedRange([base, maxValue], pad: 0.08)
        func py(_ v: Double) -> Double { bottom - (v - base) / (high - base) * (bottom - top) }
        for tick in niceTicks(base, high, count: 5) {
            fig.line([Point(left, py(tick)), Point(right, py(tick))], color: .grid)
            fig.text(tickLabel(tick), left - 6, py(tick) + 4, size: 11, anchor: .end)
        }
        let groupWidth = (right - left) / Double(max(categories.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(series.count, 1))
        for (c, category) in categories.enumerated() {
            let groupLeft = left + Double(c) * groupWidth + groupWidth * 0.1
            fig.text(category, groupLeft + groupWidth * 0.4, bottom + 16, size: 11, anchor: .middle)
            for (i, s) in series.enumerated() {
                let v = s.values[c]
                guard v.isFinite else { continue }
                let bx = groupLeft + Double(i) * barWidth
                fig.rect(bx + 1, py(v), barWidth - 2, bottom - py(v), fill: s.color)
                var labelY = py(v) - 4
                if !s.errors.isEmpty, s.errors[c].isFinite, s.errors[c] > 0 {
                    let cx = bx + barWidth / 2, y0 = py(v - s.errors[c]), y1 = py(v + s.errors[c])
                    fig.line([Point(cx, y0), Point(cx, y1)], color: .frame, width: 1.2)
                    fig.line([Point(cx - 4, y1), Point(cx + 4, y1)], color: .frame, width: 1.2)
                    fig.line([Point(cx - 4, y0), Point(cx + 4, y0)], color: .frame, width: 1.2)
                    labelY = y1 - 4
                }
                if let valueDigits {
                    fig.text(formatFixed(v, digits: valueDigits), bx + barWidth / 2, labelY, size: 9, anchor: .middle, color: .muted)
                }
            }
        }
        fig.rect(left, top, right - left, bottom - top, stroke: .frame)
        fig.text(yLabel + (base != 0 ? " (axis starts at \(tickLabel(base)))" : ""), 18, (top + bottom) / 2, size: 12,
                 anchor: .middle, rotated: true)
        return fig
    }
}

/// Writes `figure` as `<stem>.svg` and `<stem>.pdf` (and `<stem>.png` at 2 pixels per point when
/// `png` is set), each atomically.
public func writeFigure(_ figure: Figure, stem: String, png: Bool = false) throws {
    try writeFileAtomically(Array(figure.svg().utf8), to: stem + ".svg")
    try writeFileAtomically(figure.pdf(), to: stem + ".pdf")
    if png { try writeFileAtomically(figure.png(scale: 2), to: stem + ".png") }
}

// MARK: - Axis helpers

func paddedRange(_ values: [Double], pad: Double) -> (Double, Double) {
    let finite = values.filter(\.isFinite)
    guard var low = finite.min(), var high = finite.max() else { return (0, 1) }
    if high - low < 1e-12 {
        let half = max(abs(low) * 0.05, 0.5e-3)
        low -= half
        high += half
    }
    let extra = (high - low) * pad
    return (low - extra, high + extra)
}

/// Round tick values (1, 2 or 5 times a power of ten) covering [low, high], about `count` of them.
func niceTicks(_ low: Double, _ high: Double, count: Int) -> [Double] {
    guard high > low else { return [low] }
    let raw = (high - low) / Double(count)
    let power = pow(10, log10(raw).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? raw
    var ticks: [Double] = []
    var k = (low / step).rounded(.up)
    while k * step <= high + step * 1e-9 {
        let tick = k * step
        ticks.append(abs(tick) < step * 1e-9 ? 0 : tick)
        k += 1
    }
    return ticks
}

/// Powers of ten within [low, high] (in log10 units), with 2 and 5 between when fewer than three decades.
func logTicks(_ low: Double, _ high: Double) -> [Double] {
    var ticks: [Double] = []
    let few = high - low < 3
    for e in Int(low.rounded(.down))...Int(high.rounded(.up)) {
        for m in few ? [1.0, 2, 5] : [1.0] {
            let v = m * pow(10, Double(e))
            if log10(v) >= low - 1e-9, log10(v) <= high + 1e-9 { ticks.append(v) }
        }
    }
    return ticks
}

func logTickLabel(_ value: Double) -> String {
    let e = log10(value)
    if abs(e - e.rounded()) < 1e-9, abs(e) >= 3 { return "1e\(Int(e.rounded()))" }
    return tickLabel(value)
}

func tickLabel(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
    var text = formatFixed(value, digits: 6)
    while text.hasSuffix("0") { text.removeLast() }
    return text
}

/// Whether the segment a–b passes within `margin` of the box.
func segmentHitsBox(_ a: Point, _ b: Point, _ box: (x: Double, y: Double, w: Double, h: Double), margin: Double) -> Bool {
    let x0 = box.x - margin, x1 = box.x + box.w + margin, y0 = box.y - margin, y1 = box.y + box.h + margin
    // Liang–Barsky clipping of the segment against the box.
    var t0 = 0.0, t1 = 1.0
    let dx = b.x - a.x, dy = b.y - a.y
    for (p, q) in [(-dx, a.x - x0), (dx, x1 - a.x), (-dy, a.y - y0), (dy, y1 - a.y)] {
        if p == 0 {
            if q < 0 { return false }
        } else {
            let r = q / p
            if p < 0 { t0 = max(t0, r) } else { t1 = min(t1, r) }
            if t0 > t1 { return false }
        }
    }
    return true
}
