import Graph
import Runtime
import Spec
import XCTest

/// The same network at 1, 2 and 3 lanes (threads) computes the same loss, gradients, updated
/// weights, batch-norm statistics and evaluation outputs, within float tolerance: only the order
/// of float sums may differ. Covers the paths that only multi-lane runs take: the conv
/// weight-gradient reduction over lane partials, Linear split by rows, BatchNorm split by
/// channel, and Dropout split by elements (its mask is a hash of each element's index, so any
/// split draws the same one). Uses only Network's public API.
final class LaneConsistencyTests: XCTestCase {
    static let spec = """
        name: lanes
        input: [1, 16, 16]
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 3, padding: 1}
          - BatchNorm2D: {}
          - ReLU
          - Dropout: {p: 0.3}
          - MaxPool2D: {kernel_size: 2}
          - Conv2D: {out_channels: 6, kernel_size: 3}
          - ReLU
          - Linear: {out_features: 32}
          - ReLU
          - Dropout: {p: 0.5}
          - Linear: {out_features: 10}
        """

    static let batch = 12

    struct Outcome {
        var losses: [Double] = []
        var gradients: [[Float]] = []
        var values: [[Float]] = []
        var scores: [Float] = []
    }

    func run(lanes: Int, optimizer: OptimizerSettings) throws -> Outcome {
        let compilation = Compilation.compile(source: SourceFile(path: "lanes.yaml", text: Self.spec))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        let net = Network(graph: graph, trainingBatch: Self.batch, evaluationBatch: Self.batch, optimizer: optimizer,
                          seed: 7, lanes: lanes)
        var generator = SeededGenerator(seed: 11)
        let features = graph.input.elementCount
        let images = (0..<(Self.batch * features)).map { _ in generator.nextFloat(in: -1, 1) }
        let labels = (0..<Self.batch).map { _ in Int32(generator.nextInt(below: 10)) }
        let indices = (0..<Int32(Self.batch)).map { $0 }
        var outcome = Outcome()
        // First step's gradients before any update, then three full steps (one of them on a
        // partial batch), then an evaluation pass.
        outcome.losses.append(net.computeGradients(images: images, labels: labels, indices: indices, count: Self.batch).loss)
        let trainable = graph.slots.filter { $0.role.storage == .parameters }
        outcome.gradients = trainable.map { net.gradient(of: $0) }
        net.update()
        for count in [Self.batch, 5, Self.batch] {
            outcome.losses.append(net.trainStep(images: images, labels: labels, indices: indices, count: count).loss)
        }
        outcome.values = graph.slots.map { net.values(of: $0) }
        _ = net.evaluate(images: images, labels: labels, indices: indices, count: Self.batch)
        let output = try XCTUnwrap(net.lastEvaluationOutput)
        outcome.scores = Array(UnsafeBufferPointer(start: output, count: Self.batch * 10))
        return outcome
    }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String, lanes: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        // Sums in another order: relative 1e-4 of the largest magnitude, at least 1e-6.
        let scale = max(a.map(abs).max() ?? 0, 1e-2)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, scale * 1e-4 + 1e-6, "\(what) at \(lanes) lanes differs from 1 lane by \(worst)",
                                 file: file, line: line)
    }

    func check(_ optimizer: OptimizerSettings) throws {
        let one = try run(lanes: 1, optimizer: optimizer)
        XCTAssertTrue(one.losses.allSatisfy(\.isFinite))
        for lanes in [2, 3] {
            let other = try run(lanes: lanes, optimizer: optimizer)
            for (a, b) in zip(one.losses, other.losses) {
                XCTAssertEqual(a, b, accuracy: abs(a) * 1e-5 + 1e-6, "loss at \(lanes) lanes")
            }
            for (k, (a, b)) in zip(one.gradients, other.gradients).enumerated() {
                assertClose(a, b, "gradient \(k)", lanes: lanes)
            }
            for (k, (a, b)) in zip(one.values, other.values).enumerated() {
                assertClose(a, b, "state_dict entry \(k) after 4 steps", lanes: lanes)
            }
            assertClose(one.scores, other.scores, "evaluation scores", lanes: lanes)
        }
    }

    func testAdamAtOneTwoAndThreeLanes() throws {
        try check(OptimizerSettings(kind: .adam, lr: 1e-3, weightDecay: 1e-4))
    }

    func testSGDMomentumAtOneTwoAndThreeLanes() throws {
        try check(OptimizerSettings(kind: .sgd, lr: 0.05, momentum: 0.9, weightDecay: 1e-3))
    }
}
