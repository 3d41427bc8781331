import Foundation
import Graph
import Spec

/// The plot that fits the sweep: a bar chart for ablations, a heatmap for a 2-D grid, accuracy
/// against the parameter for one swept parameter (log x axis where the values are log-spaced),
/// with ± sd error bars over seeds. Larger grids get no plot (their table and files hold every point).
func sweepFigure(_ plan: SweepPlan, _ rows: [SweepRow], chosen: Int?) -> Figure? {
    let swept = plan.sweptAxes
    let axes = plan.definition.axes
    let name = plan.base.graph?.name ?? "sweep"
    guard let first = plan.runs.first else { return nil }
    let epochs = first.settings.epochs == 1 ? "1 epoch" : "\(first.settings.epochs) epochs"
    let subtitle = runConditionsNote(first.settings, specEpochs: plan.base.spec?.train.epochs)
    let validation = plan.definition.validation > 0
    let seeds = plan.seeds.count
    let seedNote = seeds > 1 ? " (mean ± sd over \(seeds) seeds)" : ""
    if plan.hasAblations && swept.isEmpty {
        let ordered = orderedRows(plan, rows).filter { $0.testAccuracy != nil }
        guard !ordered.isEmpty else { return nil }
        func bars(_ label: String, _ color: RGB, _ spread: (SweepRow) -> Spread?) -> BarChart.Series {
            BarChart.Series(name: label + seedNote, color: color, values: ordered.map { spread($0)?.mean ?? .nan },
                            errors: seeds > 1 ? ordered.map { spread($0)?.standardDeviation ?? 0 } : [])
        }
        var series: [BarChart.Series] = []
        if validation { series.append(bars("validation accuracy", RGB.palette[1], \.validationAccuracy)) }
        series.append(bars("test accuracy", RGB.palette[2], \.testAccuracy))
        var chart = BarChart(title: "\(name): which regularizer matters (\(epochs) each)", subtitle: subtitle,
                             categories: ordered.map { plan.points[$0.point].ablation?.label ?? "baseline" },
                             yLabel: "accuracy", series: series)
        chart.width = max(560, 150 * Double(ordered.count))
        return chart.figure()
    }
    if swept.count == 2 && !plan.hasAblations {
        let (xAxis, yAxis) = (axes[swept[0]], axes[swept[1]])
        let xs = xAxis.values.values, ys = yAxis.values.values
        var cells = [[Double?]](repeating: [Double?](repeating: nil, count: xs.count), count: ys.count)
        for row in rows {
            let point = plan.points[row.point]
            guard let x = xs.firstIndex(of: point.values[swept[0]]), let y = ys.firstIndex(of: point.values[swept[1]]) else { continue }
            cells[y][x] = (validation ? row.validationAccuracy : row.testAccuracy)?.mean
        }
        // Colour shows each cell's lead over the worst finished cell (accuracies sit close together).
        let low = cells.flatMap { $0 }.compactMap { $0 }.min() ?? 0
        let chosenPoint = chosen.map { rows[$0].point }
        let text = ys.indices.map { y in
            xs.indices.map { x -> String in
                guard let value = cells[y][x] else { return "–" }
                let isChosen = chosenPoint.map { plan.points[$0].values[swept[0]] == xs[x] && plan.points[$0].values[swept[1]] == ys[y] } ?? false
                return formatFixed(value, digits: 4) + (isChosen ? " ←" : "")
            }
        }
        let split = validation ? "validation" : "test"
        var heatmap = Heatmap(title: "\(name): \(split) accuracy (\(epochs) each)\(seedNote)",
                              subtitle: [subtitle, "colour: lead over the worst cell (\(formatFixed(low, digits: 4))); ← chosen"]
                                  .compactMap { $0 }.joined(separator: " · "),
                              rowLabels: ys.map(\.description), columnLabels: xs.map(\.description),
                              rowTitle: yAxis.parameter.name, columnTitle: xAxis.parameter.name,
                              values: cells.map { $0.map { ($0 ?? low) - low } })
        heatmap.cellText = text
        heatmap.cellSize = 62
        return heatmap.figure()
    }
    guard swept.count == 1 && !plan.hasAblations else { return nil }
    let axis = axes[swept[0]]
    let finished = rows.filter { $0.testAccuracy != nil }
    let x = { (row: SweepRow) in plan.points[row.point].values[swept[0]].value }
    func series(_ label: String, _ color: RGB, _ spread: (SweepRow) -> Spread?) -> PlotSeries {
        let points = finished.compactMap { r in spread(r).map { (x(r), $0) } }
        return PlotSeries(name: label + seedNote, color: color, points: points.map { ($0.0, $0.1.mean) },
                          errors: seeds > 1 ? points.map { $0.1.standardDeviation ?? 0 } : [])
    }
    var lines: [PlotSeries] = []
    if validation { lines.append(series("validation accuracy", RGB.palette[1], \.validationAccuracy)) }
    lines.append(series("test accuracy", RGB.palette[2], \.testAccuracy))
    let parameter = axis.parameter.name
    var chart = LineChart(title: "\(name): accuracy vs \(parameter) (\(epochs) each)", subtitle: subtitle,
                          xLabel: parameter, yLabel: "accuracy", series: lines)
    chart.xScale = axis.values.logSpaced ? .log : .linear
    chart.xTicks = axis.values.values.count <= 12 ? axis.values.values.map(\.value) : nil
    if let chosen {
        let value = plan.points[rows[chosen].point].values[swept[0]]
        chart.markers = [PlotMarker(x: value.value, label: "chosen \(parameter) = \(value) (\(plan.definition.selectOn.rawValue))")]
    }
    return chart.figure()
}
