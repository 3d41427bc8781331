import Foundation
import Graph
import Spec

/// The sweep's result files: sweep.csv (one line per run), sweep.json (rows and runs) and the plot (sweep.svg, sweep.pdf).
public func writeSweepTables(_ plan: SweepPlan, results: [SweepRunResult], directory: String) throws {
    let rows = sweepRows(plan, results)
    let chosen = selectBest(rows, on: plan.definition.selectOn)
    try createDirectory(directory)
    try writeFileAtomically(Array(sweepCSV(plan, results).utf8), to: directory + "/sweep.csv")
    try writeFileAtomically(Array((sweepJSON(plan, rows, chosen: chosen).rendered(pretty: true) + "\n").utf8),
                            to: directory + "/sweep.json")
    if let figure = sweepFigure(plan, rows, chosen: chosen) {
        try writeFigure(figure, stem: directory + "/sweep")
    }
}

/// Rows in the order tables show them: by mean validation accuracy (best first) for ablations, so
/// the regularizer whose removal hurts most sits at the bottom; else in point order.
public func orderedRows(_ plan: SweepPlan, _ rows: [SweepRow]) -> [SweepRow] {
    guard plan.hasAblations else { return rows }
    let key = { (row: SweepRow) -> Double in
        (plan.definition.validation > 0 ? row.validationAccuracy : row.testAccuracy)?.mean ?? -1
    }
    return rows.enumerated().sorted { a, b in
        key(a.element) != key(b.element) ? key(a.element) > key(b.element) : a.offset < b.offset
    }.map(\.element)
}

/// The columns that tell points apart: swept parameters (more than one value), then the ablation.
public func pointColumns(_ plan: SweepPlan) -> [String] {
    plan.sweptAxes.map { plan.definition.axes[$0].parameter.name } + (plan.hasAblations ? ["ablation"] : [])
}

/// The point's cells for `pointColumns`.
public func pointCells(_ plan: SweepPlan, point index: Int) -> [String] {
    let point = plan.points[index]
    return plan.sweptAxes.map { point.values[$0].description } + (plan.hasAblations ? [point.ablation?.label ?? "baseline"] : [])
}

func sweepCSV(_ plan: SweepPlan, _ results: [SweepRunResult]) -> String {
    var out = (pointColumns(plan) + ["seed", "status", "train_loss", "val_acc", "test_acc", "seconds", "reason", "directory"])
        .map(csvField).joined(separator: ",") + "\n"
    for result in results {
        let cells: [String] = pointCells(plan, point: result.run.point) + [
            String(result.run.seed), result.status.label,
            result.trainLoss.map { "\($0)" } ?? "", result.validationAccuracy.map { "\($0)" } ?? "",
            result.testAccuracy.map { "\($0)" } ?? "", result.status == .notRun ? "" : formatFixed(result.seconds, digits: 3),
            failureReason(result.status), result.run.directoryName,
        ]
        out += cells.map(csvField).joined(separator: ",") + "\n"
    }
    return out
}

func sweepJSON(_ plan: SweepPlan, _ rows: [SweepRow], chosen: Int?) -> JSON {
    func spread(_ s: Spread?) -> JSON {
        guard let s else { return .null }
        return .object([("mean", .double(s.mean)), ("std", .number(s.standardDeviation))])
    }
    let columns = pointColumns(plan)
    func pointFields(_ index: Int) -> [(String, JSON)] {
        zip(columns, pointCells(plan, point: index)).map { ($0, .string($1)) }
    }
    let definition = plan.definition
    return .object([
        ("name", .string(plan.base.graph?.name ?? "")),
        ("spec", .string(plan.source.path)),
        ("spec_sha256", .string(plan.specSHA256)),
        ("parameters", .array(columns.map { .string($0) })),
        ("axes", .array(definition.axes.map { axis in
            .object([("parameter", .string(axis.parameter.name)), ("values", .array(axis.values.values.map { .string($0.description) })),
                     ("log_spaced", .bool(axis.values.logSpaced))])
        })),
        ("ablations", .array(plan.points.compactMap(\.ablation).map { .string($0.rawValue) })),
        ("select_on", .string(definition.selectOn.rawValue)),
        ("selected", chosen.map { .object(pointFields(rows[$0].point)) } ?? .null),
        ("validation_images", .int(definition.validation)),
        ("seeds", .array(plan.seeds.map { .int(Int(truncatingIfNeeded: $0)) })),
        ("run_count", .int(plan.runs.count)),
        ("settings", plan.runs.first.map { settingsJSON($0.settings, dropout: $0.dropout) } ?? .null),
        ("cnnc_version", .string(cnncVersion)),
        ("rows", .array(orderedRows(plan, rows).map { row in
            .object(pointFields(row.point) + [
                ("selected", .bool(chosen.map { rows[$0].point == row.point } ?? false)),
                ("complete", .bool(row.complete)),
                ("train_loss", spread(row.trainLoss)),
                ("validation_accuracy", spread(row.validationAccuracy)),
                ("test_accuracy", spread(row.testAccuracy)),
                ("seconds", spread(row.seconds)),
            ])
        })),
        ("runs", .array(rows.flatMap(\.runs).map { result in
            .object(pointFields(result.run.point) + [
                ("seed", .int(Int(truncatingIfNeeded: result.run.seed))),
                ("status", .string(result.status.label)),
                ("reason", failureReason(result.status).isEmpty ? .null : .string(failureReason(result.status))),
                ("train_loss", .number(result.trainLoss)),
                ("validation_accuracy", .number(result.validationAccuracy)),
                ("test_accuracy", .number(result.testAccuracy)),
                ("seconds", .double(result.seconds)),
                ("directory", .string(result.run.directoryName)),
            ])
        })),
    ])
}
