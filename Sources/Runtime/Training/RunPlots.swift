import Foundation

/// What made a run smaller than the spec's full training, for plot subtitles and reports:
/// "1 of 10 epochs · first 2,000 training images (--limit) · 5,000 held out for validation (--val)".
/// Nil when the run trained the spec's epochs on all 60,000 images.
public func runConditionsNote(_ settings: TrainingSettings, specEpochs: Int?) -> String? {
    var parts: [String] = []
    let full = specEpochs ?? TrainDefaults.epochs
    if settings.epochs < full {
        parts.append("\(settings.epochs) of \(full) epochs")
    } else if settings.epochs != full {
        parts.append("\(settings.epochs) epochs (spec: \(full))")
    }
    if let limit = settings.limit { parts.append("first \(groupedThousands(limit)) training images (--limit)") }
    if settings.validation > 0 { parts.append("\(groupedThousands(settings.validation)) held out for validation (--val)") }
    return parts.isEmpty ? nil : parts.joined(separator: " · ")
}

/// The loss and accuracy curves of a run, one panel each.
public func curvesFigure(_ record: RunRecord) -> Figure {
    let epochs = record.result.epochs
    let note = runConditionsNote(record.settings, specEpochs: record.compilation.spec?.train.epochs)
    let x = { (report: EpochReport) in Double(report.epoch) }
    var loss = LineChart(title: "\(record.graph.name): training loss", subtitle: note, xLabel: "epoch",
                         yLabel: "mean cross-entropy",
                         series: [PlotSeries(name: "train loss (epoch mean)", color: RGB.palette[0],
                                             points: epochs.map { (x($0), $0.trainLoss) })])
    loss.yRange = .full
    var accuracySeries = [
        PlotSeries(name: "train", color: RGB.palette[0], points: epochs.map { (x($0), $0.trainAccuracy) }, dashed: true),
        PlotSeries(name: "test", color: RGB.palette[2], points: epochs.map { (x($0), $0.testAccuracy) }),
    ]
    if epochs.contains(where: { $0.validationAccuracy != nil }) {
        accuracySeries.append(PlotSeries(name: "validation", color: RGB.palette[1],
                                         points: epochs.compactMap { r in r.validationAccuracy.map { (x(r), $0) } }))
    }
    var accuracy = LineChart(title: "\(record.graph.name): accuracy", subtitle: note, xLabel: "epoch", yLabel: "accuracy",
                             series: accuracySeries)
    accuracy.yRange = .full
    let ticks = epochs.map(x)
    if ticks.count <= 20 {
        loss.xTicks = ticks
        accuracy.xTicks = ticks
    }
    return Figure.row([loss.figure(), accuracy.figure()])
}
