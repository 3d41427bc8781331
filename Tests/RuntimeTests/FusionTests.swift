import XCTest
@testable import Runtime
import Graph
import Spec

/// The compiler fuses BatchNorm2D → ReLU (→ MaxPool2D), ReLU → MaxPool2D and, in training,
/// Conv2D → ReLU → MaxPool2D; the first two must give the unfused steps' results to the bit, the
/// third (which sums the conv's gradients in another order) within float tolerance; all at any
/// lane count, byte-identical for a fixed one, and lane counts must agree.
final class FusionTests: XCTestCase {
    /// Conv → BN → ReLU → pool (fused with the pool), conv → BN → ReLU (fused without), dropout,
    /// linear: odd sizes (9×9 input, 7 images in a plan of 8).
    static let kinds: [LayerKind] = [
        .conv2d(Conv2DSpec(outChannels: 3, kernel: Pair(square: 3), padding: Pair(square: 1))),
        .batchNorm2d(BatchNorm2DSpec()),
        .relu,
        .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
        .conv2d(Conv2DSpec(outChannels: 5, kernel: Pair(square: 3), padding: Pair(square: 1))),
        .batchNorm2d(BatchNorm2DSpec()),
        .relu,
        .dropout(DropoutSpec(p: 0.3)),
        .linear(LinearSpec(outFeatures: 10)),
    ]

    /// Conv → ReLU → pool twice (fused as ReLU+MaxPool2D; 2×2 pools over rows of 9 and 4 windows,
    /// and 3×3/2 over 9×9 for the general loop), ReLU → linear (not fused).
    static let reluPoolKinds: [LayerKind] = [
        .conv2d(Conv2DSpec(outChannels: 3, kernel: Pair(square: 3), padding: Pair(square: 1))),
        .relu,
        .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
        .conv2d(Conv2DSpec(outChannels: 4, kernel: Pair(square: 3), padding: Pair(square: 1))),
        .relu,
        .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
        .conv2d(Conv2DSpec(outChannels: 2, kernel: Pair(square: 1))),
        .relu,
        .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 3), stride: Pair(square: 2))),
        .relu,
        .linear(LinearSpec(outFeatures: 10)),
    ]

    /// Each conv fuses with its ReLU and pool in training; in evaluation the ReLU fuses into the pool.
    func testPlanFusesReLUAndPool() {
        let graph = NetworkTests.compile([2, 18, 19], Self.reluPoolKinds)
        let training = BufferPlan(graph: graph, mode: .training, batchSize: 8, lanes: 2)
        XCTAssertEqual(training.fusions, [FusedSteps(first: 0, pattern: .convReLUMaxPool),
                                          FusedSteps(first: 3, pattern: .convReLUMaxPool),
                                          FusedSteps(first: 6, pattern: .convReLUMaxPool)])
        let evaluation = BufferPlan(graph: graph, mode: .evaluation, batchSize: 8, lanes: 2)
        XCTAssertEqual(evaluation.fusions, [FusedSteps(first: 1, pattern: .reluMaxPool),
                                            FusedSteps(first: 4, pattern: .reluMaxPool),
                                            FusedSteps(first: 7, pattern: .reluMaxPool)])
        // The workspace of the fused gradients is planned for those convs, in training plans that
        // fuse, instead of the conv's own backward scratch (im2col's here, the direct kernels' in
        // the runtime's plan).
        let unfused = BufferPlan(graph: graph, mode: .training, batchSize: 8, lanes: 2, fuse: false)
        let runtime = BufferPlan(runtimeFor: graph, mode: .training, batchSize: 8, lanes: 2)
        let runtimeUnfused = BufferPlan(runtimeFor: graph, mode: .training, batchSize: 8, lanes: 2, fuse: false)
        XCTAssertEqual(runtime.fusions, training.fusions)
        for k in [0, 3, 6] {
            XCTAssertNotNil(training.steps[k].scratch[.pooledWeightGradient], "step \(k)")
            XCTAssertNil(training.steps[k].scratch[.backwardColumns], "step \(k)")
            XCTAssertNotNil(training.steps[k].scratch[.weightGradientPartials], "step \(k)")
            XCTAssertNil(evaluation.steps[k].scratch[.pooledWeightGradient], "step \(k)")
            XCTAssertNil(unfused.steps[k].scratch[.pooledWeightGradient], "step \(k)")
            XCTAssertNotNil(unfused.steps[k].scratch[.backwardColumns], "step \(k)")
            XCTAssertNotNil(runtime.steps[k].scratch[.pooledWeightGradient], "step \(k)")
            XCTAssertNil(runtime.steps[k].scratch[.directBackwardColumns], "step \(k)")
            XCTAssertNil(runtime.steps[k].scratch[.directFlippedWeights], "step \(k)")
            XCTAssertNotNil(runtimeUnfused.steps[k].scratch[.directBackwardColumns], "step \(k)")
        }
        XCTAssertLessThan(runtime.arenaBytes, runtimeUnfused.arenaBytes)
        let beforeNorm = NetworkTests.compile([2, 9, 9], Self.kinds)
        XCTAssertNil(BufferPlan(graph: beforeNorm, mode: .training, batchSize: 8, lanes: 2).steps[0].scratch[.pooledWeightGradient],
                     "a first conv before batch norm")
        // The pool's output (the ReLU's mask) stays alive until the fused backward.
        let poolOutput = training.tensor(training.steps[2].output)
        XCTAssertGreaterThanOrEqual(poolOutput.lastUse, 2 * graph.steps.count)
    }

    /// (A dropout after each conv, so that every ReLU → pool is the two-step fusion, which is exact.)
    func testReLUPoolFusionMatchesUnfusedStepsToTheBit() {
        let kinds = Self.reluPoolKinds.flatMap { kind -> [LayerKind] in
            if case .conv2d = kind { return [kind, .dropout(DropoutSpec(p: 0.2))] }
            return [kind]
        }
        let graph = NetworkTests.compile([2, 18, 19], kinds)
        XCTAssertEqual(BufferPlan(graph: graph, mode: .training, batchSize: 8, lanes: 2).fusions.map(\.pattern),
                       [.reluMaxPool, .reluMaxPool, .reluMaxPool])
        for lanes in 1...3 {
            XCTAssertEqual(run(graph, lanes: lanes, fuse: true), run(graph, lanes: lanes, fuse: false), "\(lanes) lanes")
        }
    }

    func testPlanFusesBatchNormReLUAndPool() {
        let graph = NetworkTests.compile([2, 9, 9], Self.kinds)
        for mode in [PlanMode.training, .evaluation] {
            let plan = BufferPlan(graph: graph, mode: mode, batchSize: 8, lanes: 2)
            XCTAssertEqual(plan.fusions, [FusedSteps(first: 1, pattern: .batchNormReLUMaxPool),
                                          FusedSteps(first: 5, pattern: .batchNormReLU)], "\(mode)")
            XCTAssertEqual(BufferPlan(graph: graph, mode: mode, batchSize: 8, lanes: 2, fuse: false).fusions, [])
        }
    }

    private struct Outcome: Equatable {
        var losses: [Double]
        var gradients: [[Float]]
        var values: [[Float]]
        var scores: [Float]
    }

    /// Two training steps (7 images, then 8), the gradients of a third, and evaluation scores.
    /// `runtime`: the plans with the runtime's kernel choices (`BufferPlan(runtimeFor:)`), else
    /// Graph's own (im2col convs).
    private func run(_ graph: Graph, lanes: Int, fuse: Bool, runtime: Bool = false) -> Outcome {
        func plan(_ mode: PlanMode) -> BufferPlan {
            runtime ? BufferPlan(runtimeFor: graph, mode: mode, batchSize: 8, lanes: lanes, fuse: fuse)
                : BufferPlan(graph: graph, mode: mode, batchSize: 8, lanes: lanes, fuse: fuse)
        }
        let net = Network(graph: graph, trainingPlan: plan(.training), evaluationPlan: plan(.evaluation),
                          optimizer: OptimizerSettings(kind: .adam, lr: 0.01), seed: 5)
        let d = NetworkTests.data(count: 8, features: graph.input.elementCount, seed: 11)
        var losses: [Double] = []
        losses.append(net.trainStep(images: d.images, labels: d.labels, indices: d.indices, count: 7).loss)
        losses.append(net.trainStep(images: d.images, labels: d.labels, indices: d.indices, count: 8).loss)
        losses.append(NetworkTests.gradients(net, d, count: 8).loss)
        _ = net.evaluate(images: d.images, labels: d.labels, indices: d.indices, count: 8)
        let scores = Array(UnsafeBufferPointer(start: net.lastEvaluationOutput!, count: 8 * 10))
        return Outcome(losses: losses,
                       gradients: NetworkTests.parameterSlots(graph).map { net.gradient(of: $0) },
                       values: graph.slots.map { net.values(of: $0) }, scores: scores)
    }

    /// Convs before ReLU → pool: `reluPoolKinds` (3×3 and 1×1 convs with input gradients, before
    /// 2×2 and overlapping 3×3/2 windows); LeNet-like 5×5 convs of 1→6, 6→10 (input gradient of
    /// one channel block) and a 3×3 10→9 (two blocks, the second partial); a first conv of 5
    /// channels (channel vectors without an input gradient); a first 5×5 stride-2 conv
    /// (im2col) before overlapping 3×3/2 windows (two windows may share an argmax); a 7×9 kernel
    /// (more rows and columns than one register sweep holds) before 2×2 windows over an odd width,
    /// without bias.
    static let convPoolGraphs: [Graph] = [
        NetworkTests.compile([2, 18, 19], reluPoolKinds),
        NetworkTests.compile([1, 16, 14], [
            .conv2d(Conv2DSpec(outChannels: 6, kernel: Pair(square: 5), padding: Pair(square: 2))),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
            .conv2d(Conv2DSpec(outChannels: 10, kernel: Pair(square: 5), padding: Pair(square: 2))),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
            .conv2d(Conv2DSpec(outChannels: 9, kernel: Pair(square: 3), padding: Pair(square: 1))),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
            .linear(LinearSpec(outFeatures: 10)),
        ]),
        NetworkTests.compile([3, 15, 13], [
            .conv2d(Conv2DSpec(outChannels: 4, kernel: Pair(square: 5), stride: Pair(square: 2), padding: Pair(square: 2))),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 3), stride: Pair(square: 2))),
            .linear(LinearSpec(outFeatures: 10)),
        ]),
        NetworkTests.compile([5, 9, 9], [
            .conv2d(Conv2DSpec(outChannels: 7, kernel: Pair(square: 3), padding: Pair(square: 1))),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
            .linear(LinearSpec(outFeatures: 10)),
        ]),
        NetworkTests.compile([1, 12, 11], [
            .conv2d(Conv2DSpec(outChannels: 9, kernel: Pair(7, 9), padding: Pair(3, 4), bias: false)),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
            .linear(LinearSpec(outFeatures: 10)),
        ]),
    ]

    /// Conv2D+ReLU+MaxPool2D against the unfused steps (the conv's weight gradient from its dense
    /// output gradient) within float tolerance at 1–3 lanes; byte-identical run to run.
    func testConvReLUPoolFusionMatchesUnfusedSteps() {
        for (n, graph) in Self.convPoolGraphs.enumerated() {
            XCTAssertEqual(BufferPlan(graph: graph, mode: .training, batchSize: 8, lanes: 2).fusions.first,
                           FusedSteps(first: 0, pattern: .convReLUMaxPool), "graph \(n)")
            for lanes in 1...3 {
                let unfused = run(graph, lanes: lanes, fuse: false)
                // Fused with Graph's plan (im2col forward) and with the runtime's (direct, Winograd).
                for runtime in [false, true] {
                    let fused = run(graph, lanes: lanes, fuse: true, runtime: runtime)
                    let label = "graph \(n), \(lanes) lanes, runtime plan \(runtime)"
                    for (x, y) in zip(fused.losses, unfused.losses) {
                        XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(y)), label)
                    }
                    for (x, y) in zip(fused.gradients, unfused.gradients) {
                        assertClose(x, y, rtol: 1e-3, atol: 1e-5, label)
                    }
                    XCTAssertEqual(fused, run(graph, lanes: lanes, fuse: true, runtime: runtime), label + " twice")
                }
            }
        }
    }

    func testFusedKernelsMatchUnfusedStepsToTheBit() {
        let graph = NetworkTests.compile([2, 9, 9], Self.kinds)
        for lanes in 1...3 {
            XCTAssertEqual(run(graph, lanes: lanes, fuse: true), run(graph, lanes: lanes, fuse: false), "\(lanes) lanes")
        }
    }

    /// (Updated weights, and the scores computed with them, are compared only at a fixed lane
    /// count: Adam turns the sign of a gradient that is zero up to rounding, such as a conv bias
    /// before batch norm, into a full step.)
    func testFixedLaneCountIsByteIdenticalAndLaneCountsAgree() {
        let graph = NetworkTests.compile([2, 9, 9], Self.kinds)
        let one = run(graph, lanes: 1, fuse: true)
        for lanes in 2...3 {
            let a = run(graph, lanes: lanes, fuse: true)
            XCTAssertEqual(a, run(graph, lanes: lanes, fuse: true), "\(lanes) lanes twice")
            for (x, y) in zip(a.losses, one.losses) { XCTAssertEqual(x, y, accuracy: 1e-4 * max(1, abs(y))) }
            for (x, y) in zip(a.gradients, one.gradients) { assertClose(x, y, rtol: 1e-3, atol: 1e-5) }
        }
    }
}
