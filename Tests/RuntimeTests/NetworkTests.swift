import XCTest
@testable import Runtime
import Graph
import Spec

final class NetworkTests: XCTestCase {
    static let here = SourceLocation(line: 1, column: 1)

    static func layer(_ kind: LayerKind) -> LayerSpec { LayerSpec(kind: kind, location: here) }

    static func compile(_ input: [Int], _ kinds: [LayerKind], file: StaticString = #filePath, line: UInt = #line) -> Graph {
        let spec = ModelSpec(name: "t", input: input, layers: kinds.map(layer), layersLocation: here)
        let (graph, diagnostics) = Graph.compile(spec)
        XCTAssertNotNil(graph, "\(diagnostics)", file: file, line: line)
        return graph!
    }

    /// Conv2D + BatchNorm2D + ReLU + MaxPool2D + Dropout(0) + Linear (+ Softmax).
    static func mixedKinds(softmax: Bool) -> [LayerKind] {
        var kinds: [LayerKind] = [
            .conv2d(Conv2DSpec(outChannels: 3, kernel: Pair(square: 3), padding: Pair(square: 1))),
            .batchNorm2d(BatchNorm2DSpec()),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
            .dropout(DropoutSpec(p: 0)),
            .linear(LinearSpec(outFeatures: 10)),
        ]
        if softmax { kinds.append(.softmax) }
        return kinds
    }

    /// Stride-2 conv without bias, a flat hidden layer with ReLU, and a conv with a non-square kernel.
    static let flatKinds: [LayerKind] = [
        .conv2d(Conv2DSpec(outChannels: 2, kernel: Pair(3, 2), stride: Pair(square: 2), padding: Pair(1, 0), bias: false)),
        .relu,
        .conv2d(Conv2DSpec(outChannels: 3, kernel: Pair(square: 2))),
        .linear(LinearSpec(outFeatures: 12)),
        .relu,
        .linear(LinearSpec(outFeatures: 10, bias: false)),
    ]

    struct Data {
        var images: [Float]
        var labels: [Int32]
        var indices: [Int32]
    }

    static func data(count: Int, features: Int, seed: UInt64) -> Data {
        var g = SeededGenerator(seed: seed)
        let images = (0..<(count * features)).map { _ in g.nextFloat(in: -1, 1) }
        let labels = (0..<count).map { _ in Int32(g.nextInt(below: 10)) }
        return Data(images: images, labels: labels, indices: (0..<Int32(count)).map { $0 })
    }

    static func gradients(_ net: Network, _ d: Data, count: Int, indices: [Int32]? = nil) -> (loss: Double, correct: Int) {
        net.computeGradients(images: d.images, labels: d.labels, indices: indices ?? d.indices, count: count)
    }

    static func parameterSlots(_ graph: Graph) -> [ParameterSlot] {
        graph.slots.filter { $0.role.storage == .parameters }
    }

    /// Central differences of the mean loss over every parameter. The whole network is far more
    /// curved (batch norm, softmax) and kinked (ReLU, max pooling) than one kernel: with h = 1e-2
    /// a few percent of the parameters disagree by a few percent, and the disagreement shrinks
    /// as h does (h = 3e-3: ~1%, h = 1e-3: none), as truncation error should; so h = 1e-3 here.
    func checkFiniteDifferences(_ graph: Graph, batch: Int, seed: UInt64, h: Float = 1e-3, lanes: Int = 1,
                                file: StaticString = #filePath, line: UInt = #line) {
        let net = Network(graph: graph, trainingBatch: batch, evaluationBatch: batch,
                          optimizer: OptimizerSettings(kind: .sgd, lr: 0.1), seed: seed, lanes: lanes)
        let d = Self.data(count: batch, features: graph.input.elementCount, seed: seed &+ 100)
        let meanLoss = { Self.gradients(net, d, count: batch).loss / Double(batch) }
        _ = meanLoss()
        let slots = Self.parameterSlots(graph)
        let analytic = slots.map { net.gradient(of: $0) }
        var checked = 0, failures: [String] = []
        for (s, slot) in slots.enumerated() {
            let original = net.values(of: slot)
            for i in 0..<slot.count {
                var values = original
                values[i] = original[i] + h
                net.setValues(values, of: slot)
                let plus = meanLoss()
                values[i] = original[i] - h
                net.setValues(values, of: slot)
                let minus = meanLoss()
                net.setValues(original, of: slot)
                let numeric = (plus - minus) / Double(2 * h)
                checked += 1
                if !gradientsAgree(analytic: Double(analytic[s][i]), numeric: numeric, rtol: 2e-2, atol: 2e-4) {
                    failures.append("\(slot.name)[\(i)]: analytic \(analytic[s][i]) numeric \(numeric)")
                }
            }
        }
        // ReLU and max pooling have kinks: a ±h nudge can cross one, so allow a handful of outliers.
        XCTAssertLessThanOrEqual(failures.count, max(1, checked / 100),
                                 "\(failures.count)/\(checked) gradient mismatches:\n" + failures.prefix(10).joined(separator: "\n"),
                                 file: file, line: line)
        // The gradient is not trivially zero.
        XCTAssertGreaterThan(analytic.flatMap { $0 }.map { abs($0) }.max() ?? 0, 1e-3, file: file, line: line)
    }

    func testMixedNetworkGradientsMatchFiniteDifferences() {
        checkFiniteDifferences(Self.compile([1, 8, 8], Self.mixedKinds(softmax: false)), batch: 4, seed: 1)
    }

    /// The production dispatch at three lanes: split work items, weight-gradient partial sums,
    /// fused batch norm kernels.
    func testMixedNetworkGradientsMatchFiniteDifferencesOnThreeLanes() {
        checkFiniteDifferences(Self.compile([1, 6, 6], Self.mixedKinds(softmax: false)), batch: 5, seed: 3, lanes: 3)
    }

    /// Finite differences through the production dispatch with Winograd convs (3×3, stride 1,
    /// 8 channels), at 1 and 2 lanes.
    func testWinogradNetworkGradientsMatchFiniteDifferences() {
        let graph = Self.compile([8, 7, 6], [
            .conv2d(Conv2DSpec(outChannels: 8, kernel: Pair(square: 3), padding: Pair(square: 1))),
            .relu,
            .conv2d(Conv2DSpec(outChannels: 8, kernel: Pair(square: 3), padding: Pair(square: 1))),
            .linear(LinearSpec(outFeatures: 10)),
        ])
        for lanes in [1, 2] {
            checkFiniteDifferences(graph, batch: 3, seed: 2, lanes: lanes)
        }
    }

    func testSoftmaxNetworkGradientsMatchFiniteDifferences() {
        checkFiniteDifferences(Self.compile([2, 6, 6], Self.mixedKinds(softmax: true)), batch: 3, seed: 2)
    }

    func testFlatNetworkGradientsMatchFiniteDifferences() {
        checkFiniteDifferences(Self.compile([1, 9, 8], Self.flatKinds), batch: 5, seed: 3)
    }

    func testFinalSoftmaxGivesSameLossAndGradientsAsLogits() {
        let withSoftmax = Self.compile([1, 8, 8], Self.mixedKinds(softmax: true))
        let without = Self.compile([1, 8, 8], Self.mixedKinds(softmax: false))
        XCTAssertTrue(withSoftmax.outputsProbabilities)
        XCTAssertFalse(without.outputsProbabilities)
        let settings = OptimizerSettings(kind: .adam, lr: 1e-3)
        let a = Network(graph: withSoftmax, trainingBatch: 6, evaluationBatch: 6, optimizer: settings, seed: 9)
        let b = Network(graph: without, trainingBatch: 6, evaluationBatch: 6, optimizer: settings, seed: 9)
        let d = Self.data(count: 6, features: 64, seed: 10)
        let ra = Self.gradients(a, d, count: 6)
        let rb = Self.gradients(b, d, count: 6)
        XCTAssertEqual(ra.loss, rb.loss, accuracy: 1e-9 * max(1, abs(rb.loss)))
        XCTAssertEqual(ra.correct, rb.correct)
        for (sa, sb) in zip(Self.parameterSlots(withSoftmax), Self.parameterSlots(without)) {
            XCTAssertEqual(sa.name, sb.name)
            XCTAssertEqual(a.values(of: sa), b.values(of: sb), sa.name)
            assertClose(a.gradient(of: sa), b.gradient(of: sb), rtol: 1e-6, atol: 1e-9, sa.name)
        }
        // Evaluation: softmax outputs are the probabilities of the logits, and predictions agree.
        let ca = a.evaluate(images: d.images, labels: d.labels, indices: d.indices, count: 6)
        let cb = b.evaluate(images: d.images, labels: d.labels, indices: d.indices, count: 6)
        XCTAssertEqual(ca, cb)
        let probabilities = Array(UnsafeBufferPointer(start: a.lastEvaluationOutput!, count: 60))
        let logits = Array(UnsafeBufferPointer(start: b.lastEvaluationOutput!, count: 60))
        for row in 0..<6 {
            let p = LossTests.referenceSoftmax(logits[(row * 10)..<((row + 1) * 10)])
            assertClose(Array(probabilities[(row * 10)..<((row + 1) * 10)]), p, rtol: 1e-5, atol: 1e-7, "row \(row)")
        }
    }

    func testInitializationIsDeterministicPerSeed() {
        let graph = Self.compile([1, 8, 8], Self.mixedKinds(softmax: false))
        let settings = OptimizerSettings(kind: .adam, lr: 1e-3)
        let a = Network(graph: graph, trainingBatch: 4, evaluationBatch: 4, optimizer: settings, seed: 123)
        let b = Network(graph: graph, trainingBatch: 4, evaluationBatch: 4, optimizer: settings, seed: 123)
        let c = Network(graph: graph, trainingBatch: 4, evaluationBatch: 4, optimizer: settings, seed: 124)
        for slot in graph.slots {
            XCTAssertEqual(a.values(of: slot), b.values(of: slot), slot.name)
        }
        let randomSlots = graph.slots.filter { slot in
            if case .conv2d = graph.steps[slot.stepIndex].op { return true }
            if case .linear = graph.steps[slot.stepIndex].op { return true }
            return false
        }
        XCTAssertFalse(randomSlots.isEmpty)
        for slot in randomSlots {
            XCTAssertNotEqual(a.values(of: slot), c.values(of: slot), slot.name)
        }
        // Same seed, same data → same training trajectory.
        let d = Self.data(count: 4, features: 64, seed: 5)
        for _ in 0..<3 {
            let ra = a.trainStep(images: d.images, labels: d.labels, indices: d.indices, count: 4)
            let rb = b.trainStep(images: d.images, labels: d.labels, indices: d.indices, count: 4)
            XCTAssertEqual(ra.loss, rb.loss)
        }
        for slot in graph.slots {
            XCTAssertEqual(a.values(of: slot), b.values(of: slot), slot.name)
        }
    }

    func testPyTorchDefaultInitialization() {
        let graph = Self.compile([3, 8, 8], [
            .conv2d(Conv2DSpec(outChannels: 16, kernel: Pair(3, 5), padding: Pair(1, 2))),
            .batchNorm2d(BatchNorm2DSpec()),
            .relu,
            .linear(LinearSpec(outFeatures: 40)),
            .linear(LinearSpec(outFeatures: 10)),
        ])
        let net = Network(graph: graph, trainingBatch: 2, evaluationBatch: 2,
                          optimizer: OptimizerSettings(kind: .sgd, lr: 0.1), seed: 0)
        for slot in graph.slots {
            let values = net.values(of: slot)
            switch (graph.steps[slot.stepIndex].op, slot.role) {
            case let (.conv2d(g), .weight), let (.conv2d(g), .bias):
                let bound = 1 / Float(g.inChannels * g.kernel.h * g.kernel.w).squareRoot()
                XCTAssertTrue(values.allSatisfy { abs($0) <= bound }, slot.name)
                if slot.role == .weight {
                    XCTAssertGreaterThan(values.map(abs).max()!, 0.9 * bound, "\(slot.name) fills the range")
                    XCTAssertEqual(Double(values.reduce(0, +)) / Double(values.count), 0, accuracy: 0.2 * Double(bound))
                }
            case let (.linear(g), .weight), let (.linear(g), .bias):
                let bound = 1 / Float(g.inFeatures).squareRoot()
                XCTAssertTrue(values.allSatisfy { abs($0) <= bound }, slot.name)
                if slot.role == .weight {
                    XCTAssertGreaterThan(values.map(abs).max()!, 0.9 * bound, "\(slot.name) fills the range")
                }
            case (.batchNorm2d, .weight):
                XCTAssertEqual(values, [Float](repeating: 1, count: 16))
            case (.batchNorm2d, .bias), (.batchNorm2d, .runningMean):
                XCTAssertEqual(values, [Float](repeating: 0, count: 16), slot.name)
            case (.batchNorm2d, .runningVar):
                XCTAssertEqual(values, [Float](repeating: 1, count: 16))
            case (.batchNorm2d, .numBatchesTracked):
                XCTAssertEqual(net.counter(of: slot), 0)
            default:
                XCTFail("unexpected slot \(slot.name)")
            }
        }
        XCTAssertEqual(graph.slots.map(\.name), ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                                 "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias",
                                                 "5.weight", "5.bias"])
    }

    func testBatchNormRunningStatisticsAndCounterInNetwork() {
        let graph = Self.compile([1, 8, 8], Self.mixedKinds(softmax: false))
        let net = Network(graph: graph, trainingBatch: 4, evaluationBatch: 4,
                          optimizer: OptimizerSettings(kind: .sgd, lr: 0), seed: 4)
        let d = Self.data(count: 4, features: 64, seed: 6)
        _ = Self.gradients(net, d, count: 4)
        _ = Self.gradients(net, d, count: 4)
        let counter = graph.slot(step: 1, .numBatchesTracked)!
        XCTAssertEqual(net.counter(of: counter), 2)
        // Evaluation does not touch the statistics.
        let before = net.values(of: graph.slot(step: 1, .runningVar)!)
        _ = net.evaluate(images: d.images, labels: d.labels, indices: d.indices, count: 4)
        XCTAssertEqual(net.values(of: graph.slot(step: 1, .runningVar)!), before)
        XCTAssertEqual(net.counter(of: counter), 2)
        XCTAssertNotEqual(before, [1, 1, 1])
    }

    func testOverfitsSmallRandomDataset() {
        let graph = Self.compile([1, 8, 8], [
            .conv2d(Conv2DSpec(outChannels: 8, kernel: Pair(square: 3), padding: Pair(square: 1))),
            .batchNorm2d(BatchNorm2DSpec()),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
            .linear(LinearSpec(outFeatures: 10)),
        ])
        let n = 64
        let net = Network(graph: graph, trainingBatch: n, evaluationBatch: n,
                          optimizer: OptimizerSettings(kind: .adam, lr: 1e-2), seed: 7)
        let d = Self.data(count: n, features: 64, seed: 8)
        var first = 0.0, last = 0.0
        for step in 0..<300 {
            let r = net.trainStep(images: d.images, labels: d.labels, indices: d.indices, count: n)
            if step == 0 { first = r.loss / Double(n) }
            last = r.loss / Double(n)
        }
        XCTAssertEqual(net.stepCount, 300)
        XCTAssertGreaterThan(first, 1.5)
        let final = Self.gradients(net, d, count: n)
        XCTAssertLessThan(final.loss / Double(n), 0.05, "first \(first) last \(last)")
        XCTAssertEqual(final.correct, n)
        // With the whole dataset as the batch the running statistics match the batch statistics,
        // so evaluation mode classifies the training set as well.
        let correct = net.evaluate(images: d.images, labels: d.labels, indices: d.indices, count: n)
        XCTAssertGreaterThanOrEqual(correct, n - 2)
    }

    /// Evaluation is per example: any batch size up to the plan's gives the same scores.
    func testEvaluateOnSmallerBatchThanPlan() {
        let graph = Self.compile([1, 8, 8], Self.mixedKinds(softmax: false))
        let net = Network(graph: graph, trainingBatch: 8, evaluationBatch: 8,
                          optimizer: OptimizerSettings(kind: .adam, lr: 1e-2), seed: 11)
        let d = Self.data(count: 8, features: 64, seed: 12)
        // Give batch norm non-trivial running statistics first.
        for _ in 0..<3 { _ = net.trainStep(images: d.images, labels: d.labels, indices: d.indices, count: 8) }
        let indices: [Int32] = [5, 2, 7]
        let correct = net.evaluate(images: d.images, labels: d.labels, indices: indices, count: 3)
        let small = Array(UnsafeBufferPointer(start: net.lastEvaluationOutput!, count: 30))
        XCTAssertTrue(small.allSatisfy { $0.isFinite })
        var expectedCorrect = 0
        for (row, index) in indices.enumerated() {
            let one = net.evaluate(images: d.images, labels: d.labels, indices: [index], count: 1)
            expectedCorrect += one
            let single = Array(UnsafeBufferPointer(start: net.lastEvaluationOutput!, count: 10))
            assertClose(Array(small[(row * 10)..<((row + 1) * 10)]), single, rtol: 1e-5, atol: 1e-6, "example \(index)")
        }
        XCTAssertEqual(correct, expectedCorrect)
        _ = net.evaluate(images: d.images, labels: d.labels, indices: d.indices, count: 8)
        let full = Array(UnsafeBufferPointer(start: net.lastEvaluationOutput!, count: 80))
        for (row, index) in indices.enumerated() {
            assertClose(Array(small[(row * 10)..<((row + 1) * 10)]),
                        Array(full[(Int(index) * 10)..<((Int(index) + 1) * 10)]), rtol: 1e-5, atol: 1e-6, "example \(index) in full batch")
        }
    }

    /// A partial last batch gives the loss and gradients of a network planned for exactly that batch.
    func testPartialBatchInTraining() {
        let graph = Self.compile([1, 8, 8], Self.mixedKinds(softmax: false))
        let settings = OptimizerSettings(kind: .adam, lr: 1e-2)
        let big = Network(graph: graph, trainingBatch: 8, evaluationBatch: 8, optimizer: settings, seed: 13)
        let exact = Network(graph: graph, trainingBatch: 5, evaluationBatch: 5, optimizer: settings, seed: 13)
        let d = Self.data(count: 8, features: 64, seed: 14)
        let indices: [Int32] = [7, 0, 3, 6, 1]
        // A full batch first, so the arena holds stale data beyond the partial batch.
        _ = Self.gradients(big, d, count: 8)
        let rb = Self.gradients(big, d, count: 5, indices: indices)
        let re = Self.gradients(exact, d, count: 5, indices: indices)
        XCTAssertEqual(rb.loss, re.loss, accuracy: 1e-5 * abs(re.loss))
        XCTAssertEqual(rb.correct, re.correct)
        for slot in Self.parameterSlots(graph) {
            assertClose(big.gradient(of: slot), exact.gradient(of: slot), rtol: 1e-4, atol: 1e-7, slot.name)
        }
        // And a trainStep on the partial batch updates parameters the same way.
        let sb = big.trainStep(images: d.images, labels: d.labels, indices: indices, count: 5)
        let se = exact.trainStep(images: d.images, labels: d.labels, indices: indices, count: 5)
        XCTAssertEqual(sb.loss, se.loss, accuracy: 1e-5 * abs(se.loss))
        XCTAssertTrue(sb.loss.isFinite)
        for slot in Self.parameterSlots(graph) {
            assertClose(big.values(of: slot), exact.values(of: slot), rtol: 1e-4, atol: 1e-6, slot.name)
        }
    }
}
