import Foundation

/// One plot of a sweep, by file name.
public struct SweepFigure: Sendable {
    public var name: String
    public var svg: String
}

/// The plot that fits the sweep: a bar chart for ablations, a heatmap for a 2-D grid, accuracy
/// against the parameter for one swept parameter (log axis where the values are log-spaced).
/// Larger grids get no plot (their table and files still hold every point).
func sweepFigures(_ plan: SweepPlan, _ rows: [SweepRow], chosen: Int?) -> [SweepFigure] {
    let swept = plan.sweptAxes
    let axes = plan.definition.axes
    let name = plan.base.graph?.name ?? "sweep"
    let epochs = plan.runs.first.map { $0.settings.epochs == 1 ? "1 epoch" : "\($0.settings.epochs) epochs" } ?? ""
    let validation = plan.definition.validation > 0
    let seedNote = plan.seeds.count > 1 ? ", mean of \(plan.seeds.count) seeds" : ""
    if plan.hasAblations && swept.isEmpty {
        let ordered = orderedRows(plan, rows)
        let labels = ordered.map { plan.points[$0.point].ablation?.label ?? "baseline (all regularizers)" }
        var series: [BarSeries] = []
        if validation {
            series.append(BarSeries(name: "validation accuracy", color: "#ff7f0e",
                                    values: ordered.map { $0.validationAccuracy?.mean }, errors: ordered.map { $0.validationAccuracy?.standardDeviation }))
        }
        series.append(BarSeries(name: "test accuracy", color: "#2ca02c",
                                values: ordered.map { $0.testAccuracy?.mean }, errors: ordered.map { $0.testAccuracy?.standardDeviation }))
        let chart = BarChart(title: "\(name): ablations (\(epochs) each\(seedNote))", yLabel: "accuracy", categories: labels, series: series)
        return [SweepFigure(name: "sweep.svg", svg: chart.svg())]
    }
    if swept.count == 2 && !plan.hasAblations {
        let (xAxis, yAxis) = (axes[swept[0]], axes[swept[1]])
        var cells: [[Double?]] = Array(repeating: Array(repeating: nil, count: xAxis.values.values.count), count: yAxis.values.values.count)
        for row in rows {
            let point = plan.points[row.point]
            guard let x = xAxis.values.values.firstIndex(of: point.values[swept[0]]),
                  let y = yAxis.values.values.firstIndex(of: point.values[swept[1]]) else { continue }
            cells[y][x] = (validation ? row.validationAccuracy : row.testAccuracy)?.mean
        }
        let chosenCell = chosen.flatMap { index -> (Int, Int)? in
            let point = plan.points[rows[index].point]
            guard let x = xAxis.values.values.firstIndex(of: point.values[swept[0]]),
                  let y = yAxis.values.values.firstIndex(of: point.values[swept[1]]) else { return nil }
            return (x, y)
        }
        let heatmap = Heatmap(title: "\(name): \(validation ? "validation" : "test") accuracy (\(epochs) each\(seedNote))",
                              xLabel: xAxis.parameter.name, yLabel: yAxis.parameter.name,
                              xValues: xAxis.values.values.map(\.description), yValues: yAxis.values.values.map(\.description),
                              cells: cells, marked: chosenCell)
        return [SweepFigure(name: "sweep.svg", svg: heatmap.svg())]
    }
    guard swept.count == 1 && !plan.hasAblations else { return [] }
    let axis = axes[swept[0]]
    let log = axis.values.logSpaced
    let x = { (row: SweepRow) -> Double in
        let value = plan.points[row.point].values[swept[0]].value
        return log ? log10(value) : value
    }
    let finished = rows.filter { $0.testAccuracy != nil }
    var series: [PlotSeries] = []
    if validation {
        series.append(PlotSeries(name: "validation accuracy", color: "#ff7f0e",
                                 points: finished.compactMap { r in r.validationAccuracy.map { (x(r), $0.mean) } }))
    }
    series.append(PlotSeries(name: "test accuracy", color: "#2ca02c",
                             points: finished.compactMap { r in r.testAccuracy.map { (x(r), $0.mean) } }))
    let parameter = axis.parameter.name
    var plot = LinePlot(title: "\(name): accuracy vs \(parameter) (\(epochs) each\(seedNote))",
                        xLabel: log ? "log10 \(parameter)" : parameter, yLabel: "accuracy", series: series)
    plot.xTicks = axis.values.values.map { log ? log10($0.value) : $0.value }
    if let chosen {
        let value = plan.points[rows[chosen].point].values[swept[0]]
        plot.markers = [(log ? log10(value.value) : value.value, "chosen \(parameter) = \(value) (\(plan.definition.selectOn.rawValue))")]
    }
    return [SweepFigure(name: "sweep.svg", svg: renderSVG([plot]))]
}

/// Writes a figure (the one place plots reach the disk, so other formats can join here).
func writeFigure(_ figure: SweepFigure, to path: String) throws {
    try writeFileAtomically(Array(figure.svg.utf8), to: path)
}
