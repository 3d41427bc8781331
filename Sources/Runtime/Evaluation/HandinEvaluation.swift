import Foundation
import Graph
import Spec

/// `cnnc eval`: a saved run re-evaluated on the test set (and its validation split), with the
/// files it writes into the run directory.
public struct HandinEvaluation {
    public var saved: SavedRun
    public var test: Evaluation
    public var validation: Evaluation?
    public var mistakes: [Mistake]
    private let testImages: LabeledImages
    public static let mistakeCount = 25

    public init(saved: SavedRun, data: MNIST) throws {
        self.saved = saved
        let network = saved.makeNetwork()
        test = evaluate(network, on: data.test, indices: (0..<Int32(data.test.count)).map { $0 })
        if saved.settings.validation > 0 {
            let split = DataSplit(total: data.train.count, validation: saved.settings.validation, limit: saved.settings.limit)
            validation = evaluate(network, on: data.train, indices: split.validation)
        }
        mistakes = test.mistakes(limit: HandinEvaluation.mistakeCount)
        testImages = data.test
    }

    /// Set when the re-evaluated accuracy differs from the one summary.json recorded.
    public var summaryMismatch: String? {
        guard let recorded = saved.finalTestAccuracy else { return "summary.json records no test accuracy" }
        guard recorded != test.accuracy else { return nil }
        return "test accuracy \(test.accuracy) differs from summary.json's \(recorded) (different data, or the run was interrupted?)"
    }

    private var name: String { saved.graph.name }

    private func metricsJSON(_ e: Evaluation) -> JSON {
        let perClass = e.perClass
        func mean(_ key: KeyPath<ClassMetrics, Double>) -> Double { perClass.reduce(0) { $0 + $1[keyPath: key] } / Double(perClass.count) }
        return .object([
            ("images", .int(e.count)),
            ("correct", .int(e.correct)),
            ("accuracy", .double(e.accuracy)),
            ("mean_cross_entropy", .double(e.meanCrossEntropy)),
            ("macro_precision", .double(mean(\.precision))),
            ("macro_recall", .double(mean(\.recall))),
            ("macro_f1", .double(mean(\.f1))),
            ("per_class", .array(perClass.enumerated().map { c, m in
                .object([("class", .int(c)), ("precision", .double(m.precision)), ("recall", .double(m.recall)),
                         ("f1", .double(m.f1)), ("support", .int(m.support))])
            })),
            ("confusion", .array(e.confusion.map { .array($0.map { .int($0) }) })),
        ])
    }

    /// eval.json.
    public var json: JSON {
        .object([
            ("name", .string(name)),
            ("run", .string(saved.directory ?? "")),
            ("summary_test_accuracy", .number(saved.finalTestAccuracy)),
            ("matches_summary", .bool(summaryMismatch == nil)),
            ("test", metricsJSON(test)),
            ("validation", validation.map(metricsJSON) ?? .null),
            ("mistakes", .array(mistakes.map { m in
                .object([("index", .int(m.index)), ("label", .int(m.label)), ("predicted", .int(m.predicted)),
                         ("confidence", .double(m.confidence))])
            })),
            ("cnnc_version", .string(cnncVersion)),
        ])
    }

    /// The tables `cnnc eval` prints.
    public var text: String {
        var out = "\(name) (\(saved.directory ?? "")): test accuracy \(formatFixed(test.accuracy, digits: 4)) "
            + "(\(groupedThousands(test.correct)) / \(groupedThousands(test.count)))"
        out += summaryMismatch == nil ? ", equal to summary.json\n" : "\n"
        out += "mean cross-entropy \(formatFixed(test.meanCrossEntropy, digits: 4))\n"
        if let validation {
            out += "validation accuracy \(formatFixed(validation.accuracy, digits: 4)) on \(groupedThousands(validation.count)) held-out "
                + "training images; mean cross-entropy \(formatFixed(validation.meanCrossEntropy, digits: 4))\n"
        }
        out += "\nclass  precision  recall      F1  support\n"
        for (c, m) in test.perClass.enumerated() {
            out += "    \(c)" + [m.precision, m.recall, m.f1].map { pad(formatFixed($0, digits: 4), 9) }.joined()
                + pad(groupedThousands(m.support), 9) + "\n"
        }
        out += "\nconfusion matrix (rows: true label, columns: predicted label)\n"
        out += "      " + (0..<Evaluation.classes).map { pad(String($0), 6) }.joined() + "\n"
        for (c, row) in test.confusion.enumerated() {
            out += "    \(c) " + row.map { pad(String($0), 6) }.joined() + "\n"
        }
        out += "\nmost confident mistakes: "
            + mistakes.prefix(5).map { "#\($0.index) \($0.label)→\($0.predicted) (\(formatFixed($0.confidence, digits: 3)))" }
            .joined(separator: ", ")
        return out
    }

    /// Writes eval.json, confusion.svg/.pdf and mistakes.png into the run directory (and the
    /// outputs file when asked); returns the paths written.
    public func write(saveOutputs: String?) throws -> [String] {
        guard let directory = saved.directory else { preconditionFailure("a saved run has a directory") }
        let subtitle = "\(groupedThousands(test.count)) MNIST test images · accuracy \(formatFixed(test.accuracy, digits: 4))"
        let confusion = confusionFigure(test, title: "\(name): confusion matrix", subtitle: subtitle)
        let grid = mistakesFigure(mistakes, images: testImages)
        var written: [String] = []
        do {
            if let saveOutputs {
                let tensors = [SafetensorsTensor(name: "outputs", shape: [test.count, Evaluation.classes], payload: .float32(test.outputs)),
                               SafetensorsTensor(name: "labels", shape: [test.count], payload: .int64(test.labels.map(Int64.init)))]
                try writeSafetensors(tensors, metadata: [("run", directory)], to: saveOutputs)
                written.append(saveOutputs)
            }
            try writeFigure(confusion, stem: directory + "/confusion")
            written += [directory + "/confusion.svg", directory + "/confusion.pdf"]
            try writeFileAtomically(grid.png(scale: 2), to: directory + "/mistakes.png")
            written.append(directory + "/mistakes.png")
            try writeFileAtomically(Array((json.rendered(pretty: true) + "\n").utf8), to: directory + "/eval.json")
            written.append(directory + "/eval.json")
        } catch {
            throw HandinError("\(error)")
        }
        return written
    }
}

private func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}
