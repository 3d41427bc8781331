import Foundation
import Graph
import Spec

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

/// The loss and accuracy curves of a run, one panel each: the training loss per window of
/// `StepRecord.interval` steps (so a one-epoch run is a curve, not a dot) with each epoch's mean,
/// and the accuracies at each epoch's end. The x axis is in epochs (step / steps per epoch).
public func curvesFigure(_ record: RunRecord) -> Figure {
    let epochs = record.result.epochs
    let note = runConditionsNote(record.settings, specEpochs: record.compilation.spec?.train.epochs)
    let x = { (report: EpochReport) in Double(report.epoch) }
    // Steps per epoch: the last record of a finished epoch is its last step.
    var stepsPerEpoch: [Int: Int] = [:]
    for step in record.result.steps { stepsPerEpoch[step.epoch] = max(stepsPerEpoch[step.epoch] ?? 0, step.step) }
    let fullEpoch = stepsPerEpoch.filter { e, _ in epochs.contains { $0.epoch == e } }.values.max()
    let stepPoints = record.result.steps.map { step -> (x: Double, y: Double) in
        let perEpoch = Double(fullEpoch ?? stepsPerEpoch[step.epoch] ?? step.step)
        return (Double(step.epoch - 1) + Double(step.step) / perEpoch, step.trainLoss)
    }
    var lossSeries = [PlotSeries(name: "train loss (mean of \(StepRecord.interval) steps)", color: RGB.palette[0],
                                 points: stepPoints, dots: stepPoints.count <= 1)]
    lossSeries.append(PlotSeries(name: "epoch mean", color: RGB.palette[3], points: epochs.map { (x($0), $0.trainLoss) }))
    var loss = LineChart(title: "\(record.graph.name): training loss", subtitle: note, xLabel: "epoch",
                         yLabel: "mean cross-entropy", series: lossSeries)
    loss.yRange = .full
    var accuracySeries = [
        PlotSeries(name: "train (epoch)", color: RGB.palette[0], points: epochs.map { (x($0), $0.trainAccuracy) }, dashed: true),
        PlotSeries(name: "test", color: RGB.palette[2], points: epochs.map { (x($0), $0.testAccuracy) }),
    ]
    if epochs.contains(where: { $0.validationAccuracy != nil }) {
        accuracySeries.append(PlotSeries(name: "validation", color: RGB.palette[1],
                                         points: epochs.compactMap { r in r.validationAccuracy.map { (x(r), $0) } }))
    }
    var accuracy = LineChart(title: "\(record.graph.name): accuracy at epoch ends", subtitle: note, xLabel: "epoch",
                             yLabel: "accuracy", series: accuracySeries)
    accuracy.yRange = .full
    let span = Double(max(epochs.count, record.settings.epochs))
    loss.xRange = (0, span)
    accuracy.xRange = (0, span)
    if span <= 20 {
        loss.xTicks = (0...Int(span)).map(Double.init)
        accuracy.xTicks = loss.xTicks
    }
    return Figure.row([loss.figure(), accuracy.figure()])
}
