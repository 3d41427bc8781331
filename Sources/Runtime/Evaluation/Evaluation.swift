import Foundation
import Graph
import Spec

/// Precision, recall and F1 of one class, and how many examples have that label.
public struct ClassMetrics: Hashable, Sendable {
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var support: Int
}

/// A misclassified image with the network's confidence in its wrong answer.
public struct Mistake: Hashable, Sendable {
    /// Index into the evaluated data set (the MNIST test set's order).
    public var index: Int
    public var label: Int
    public var predicted: Int
    /// Softmax probability of the predicted class.
    public var confidence: Double
}

/// The network's answers on a set of images, with everything derived from them.
public struct Evaluation: Sendable {
    public static let classes = Graph.classCount
    /// Dataset indices evaluated, in order.
    public var indices: [Int32]
    public var labels: [Int32]
    /// [count, classes]: what the network outputs (probabilities when it ends in Softmax, else logits).
    public var outputs: [Float]
    /// Correct predictions as the trainer counts them.
    public var correct: Int
    public var outputsProbabilities: Bool

    public var count: Int { labels.count }
    /// Computed exactly as the trainer computes it, so it equals summary.json's figure.
    public var accuracy: Double { Double(correct) / Double(count) }

    public func predicted(_ i: Int) -> Int {
        outputs.withUnsafeBufferPointer { predictedClass($0.baseAddress! + i * Evaluation.classes, classes: Evaluation.classes) }
    }

    /// Softmax probabilities of example `i`, in double precision.
    public func probabilities(_ i: Int) -> [Double] {
        let row = outputs[(i * Evaluation.classes)..<((i + 1) * Evaluation.classes)].map(Double.init)
        if outputsProbabilities { return row }
        let top = row.max()!
        let exps = row.map { exp($0 - top) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }

    /// Mean cross-entropy of the labels, as cnnc trains it: log-softmax of the logits, or for a
    /// model ending in Softmax the log of its probabilities (a probability that underflowed to 0
    /// counts as the smallest normal float, −log = 87.3, instead of an infinite loss).
    public var meanCrossEntropy: Double {
        var sum = 0.0
        for i in 0..<count {
            let label = Int(labels[i])
            let row = outputs[(i * Evaluation.classes)..<((i + 1) * Evaluation.classes)].map(Double.init)
            if outputsProbabilities {
                sum -= log(max(row[label], Double(Float.leastNormalMagnitude)))
            } else {
                let top = row.max()!
                let logSum = top + log(row.reduce(0) { $0 + exp($1 - top) })
                sum += logSum - row[label]
            }
        }
        return sum / Double(count)
    }

    /// confusion[label][predicted].
    public var confusion: [[Int]] {
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: Evaluation.classes), count: Evaluation.classes)
        for i in 0..<count { matrix[Int(labels[i])][predicted(i)] += 1 }
        return matrix
    }

    public var perClass: [ClassMetrics] {
        let matrix = confusion
        return (0..<Evaluation.classes).map { c in
            let truePositives = Double(matrix[c][c])
            let support = matrix[c].reduce(0, +)
            let predictedCount = matrix.reduce(0) { $0 + $1[c] }
            let precision = predictedCount == 0 ? 0 : truePositives / Double(predictedCount)
            let recall = support == 0 ? 0 : truePositives / Double(support)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            return ClassMetrics(precision: precision, recall: recall, f1: f1, support: support)
        }
    }

    /// The `limit` wrong predictions with the highest confidence, most confident first.
    public func mistakes(limit: Int) -> [Mistake] {
        var all: [Mistake] = []
        for i in 0..<count {
            let p = predicted(i)
            guard p != Int(labels[i]) else { continue }
            all.append(Mistake(index: Int(indices[i]), label: Int(labels[i]), predicted: p, confidence: probabilities(i)[p]))
        }
        return Array(all.sorted { $0.confidence > $1.confidence || ($0.confidence == $1.confidence && $0.index < $1.index) }
            .prefix(limit))
    }
}

/// Runs `network` in evaluation mode over `indices` of `data`, batch by batch, as the trainer
/// evaluates, keeping every output row.
public func evaluate(_ network: Network, on data: LabeledImages, indices: [Int32]) -> Evaluation {
    let classes = Evaluation.classes
    var outputs = [Float](repeating: 0, count: indices.count * classes)
    var correct = 0
    let batch = network.evaluationPlan.batchSize
    indices.withUnsafeBufferPointer { indexBuffer in
        data.withSource { images, labels in
            var first = 0
            while first < indexBuffer.count {
                let count = min(batch, indexBuffer.count - first)
                correct += network.evaluate(images: images, labels: labels, indices: indexBuffer.baseAddress! + first, count: count)
                outputs.withUnsafeMutableBufferPointer {
                    ($0.baseAddress! + first * classes).update(from: network.lastEvaluationOutput!, count: count * classes)
                }
                first += count
            }
        }
    }
    return Evaluation(indices: indices, labels: indices.map { data.labels[Int($0)] }, outputs: outputs, correct: correct,
                      outputsProbabilities: network.graph.outputsProbabilities)
}

/// The confusion matrix as a labelled heatmap: correct predictions on the diagonal in green,
/// mistakes in red, each colour scaled to its own maximum so that small error counts show.
public func confusionFigure(_ evaluation: Evaluation, title: String, subtitle: String?) -> Figure {
    let digits = (0..<Evaluation.classes).map(String.init)
    var heatmap = Heatmap(title: title, subtitle: subtitle, rowLabels: digits, columnLabels: digits, rowTitle: "true label",
                          columnTitle: "predicted label", values: evaluation.confusion.map { $0.map(Double.init) })
    heatmap.color = RGB(hex: 0xcb181d)
    heatmap.diagonalColor = RGB(hex: 0x238b45)
    return heatmap.figure()
}

/// The mistakes as a grid of the actual 28×28 digits (scaled 3×), each with its true and
/// predicted label and the confidence; `images` are the data set's pixels (784 bytes each).
public func mistakesFigure(_ mistakes: [Mistake], images: LabeledImages, columns: Int = 5) -> Figure {
    let side = MNIST.side
    let tile = Double(side * 3), labelHeight = 26.0, gap = 8.0, header = 24.0
    let rows = max(1, (mistakes.count + columns - 1) / columns)
    var figure = Figure(width: Double(columns) * (tile + gap) + gap,
                        height: header + Double(rows) * (tile + labelHeight + gap) + gap)
    figure.text("most confident mistakes", figure.width / 2, 17, size: 11, anchor: .middle)
    for (k, mistake) in mistakes.enumerated() {
        let x = gap + Double(k % columns) * (tile + gap)
        let y = header + Double(k / columns) * (tile + labelHeight + gap)
        let start = mistake.index * images.featuresPerExample
        // MNIST stores ink as 255; drawn dark on white.
        let pixels = images.pixels[start..<(start + side * side)].map { 255 - $0 }
        figure.marks.append(.image(GrayImage(width: side, height: side, pixels: Array(pixels)), x: x, y: y, width: tile, height: tile))
        figure.rect(x, y, tile, tile, stroke: RGB(hex: 0xbbbbbb))
        figure.text("true \(mistake.label) pred \(mistake.predicted)", x + tile / 2, y + tile + 11, size: 9, anchor: .middle,
                    color: .text)
        figure.text("conf \(formatFixed(mistake.confidence * 100, digits: 1))%", x + tile / 2, y + tile + 22, size: 9,
                    anchor: .middle, color: RGB.highlight)
    }
    return figure
}
