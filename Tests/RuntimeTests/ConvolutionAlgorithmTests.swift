import XCTest
@testable import Runtime
@testable import Graph
import Spec

/// Convs choose their algorithm per pass at plan time (`convolutionAlgorithm`): Winograd for 3×3
/// stride-1 convs with ≥ 8 channels in and out (and for the forward pass of such 5×5 convs), the
/// direct kernels for the other stride-1 convs and passes, im2col for strided ones.
final class ConvolutionAlgorithmTests: XCTestCase {
    /// Conv 8→8 (Winograd), BN, ReLU, conv 8→12 stride 2 (im2col), conv 12→8 pad 0 (Winograd), linear.
    static let kinds: [LayerKind] = [
        .conv2d(Conv2DSpec(outChannels: 8, kernel: Pair(square: 3), padding: Pair(square: 1))),
        .batchNorm2d(BatchNorm2DSpec()),
        .relu,
        .conv2d(Conv2DSpec(outChannels: 12, kernel: Pair(square: 3), stride: Pair(square: 2), padding: Pair(square: 1))),
        .relu,
        .conv2d(Conv2DSpec(outChannels: 8, kernel: Pair(square: 3))),
        .linear(LinearSpec(outFeatures: 10)),
    ]

    /// Conv 1→6 5×5 pad 2 (direct, no dX), ReLU, conv 6→20 3×3 (direct: fewer than 8 channels in),
    /// conv 20→9 stride 2 (im2col), conv 9→17 2×4 pad (1, 2) (direct, both tile widths), linear.
    static let directKinds: [LayerKind] = [
        .conv2d(Conv2DSpec(outChannels: 6, kernel: Pair(square: 5), padding: Pair(square: 2))),
        .relu,
        .conv2d(Conv2DSpec(outChannels: 20, kernel: Pair(square: 3))),
        .conv2d(Conv2DSpec(outChannels: 9, kernel: Pair(square: 3), stride: Pair(square: 2), padding: Pair(square: 1))),
        .conv2d(Conv2DSpec(outChannels: 17, kernel: Pair(2, 4), padding: Pair(1, 2), bias: false)),
        .linear(LinearSpec(outFeatures: 10)),
    ]

    func testPlanRequestsDirectScratchForOtherStrideOneConvs() {
        let graph = NetworkTests.compile([1, 13, 11], Self.directKinds)
        let plan = BufferPlan(runtimeFor: graph, mode: .training, batchSize: 5, lanes: 2)
        for k in [0, 2, 4] {
            if k > 0 { XCTAssertNotNil(plan.steps[k].scratch[.directWeights], "step \(k)") }
            XCTAssertNotNil(plan.steps[k].scratch[.directColumns], "step \(k)")
            XCTAssertNotNil(plan.steps[k].scratch[.directBackwardColumns], "step \(k)")
            XCTAssertNil(plan.steps[k].scratch[.columns], "step \(k)")
            XCTAssertNil(plan.steps[k].scratch[.backwardColumns], "step \(k)")
        }
        XCTAssertNil(plan.steps[0].scratch[.directFlippedWeights], "the first conv computes no dX")
        XCTAssertNil(plan.steps[0].scratch[.directWeights], "the one-channel row kernel reads the weights as they are")
        XCTAssertNotNil(plan.steps[2].scratch[.directFlippedWeights])
        XCTAssertNotNil(plan.steps[3].scratch[.columns], "stride 2 stays im2col")
        XCTAssertNil(plan.steps[3].scratch[.directColumns])
        let evaluation = BufferPlan(runtimeFor: graph, mode: .evaluation, batchSize: 5, lanes: 2)
        XCTAssertNil(evaluation.steps[2].scratch[.directBackwardColumns], "no backward scratch in evaluation")
    }

    /// One input channel: direct up to 16 output channels, im2col above (mnist.yaml's 1→32 first layer).
    func testOneChannelConvsWithManyOutputsStayIm2col() {
        func geometry(_ outChannels: Int) -> Conv2DGeometry {
            Conv2DGeometry(inChannels: 1, outChannels: outChannels, inHeight: 28, inWidth: 28, kernel: Pair(square: 3),
                           stride: Pair(square: 1), padding: Pair(square: 1), bias: true)
        }
        for pass in [Pass.forward, .backward] {
            XCTAssertEqual(convolutionAlgorithm(geometry(16), pass), .direct)
            XCTAssertNil(convolutionAlgorithm(geometry(32), pass))
            XCTAssertEqual(convolutionAlgorithm(Conv2DGeometry(inChannels: 2, outChannels: 32, inHeight: 28, inWidth: 28,
                                                               kernel: Pair(square: 3), stride: Pair(square: 1),
                                                               padding: Pair(square: 1), bias: true), pass), .direct)
        }
    }

    func testPlanRequestsWinogradScratchForEligibleConvsOnly() {
        let graph = NetworkTests.compile([8, 11, 9], Self.kinds)
        let plan = BufferPlan(runtimeFor: graph, mode: .training, batchSize: 5, lanes: 2)
        XCTAssertNotNil(plan.steps[0].scratch[.winogradColumns])
        XCTAssertNil(plan.steps[0].scratch[.columns])
        // The first conv computes no input gradient, so no flipped weights; its weight gradient is
        // Winograd's too, so it has no im2col columns in either pass.
        XCTAssertNil(plan.steps[0].scratch[.winogradFlippedWeights])
        XCTAssertNotNil(plan.steps[0].scratch[.winogradBackwardColumns])
        XCTAssertNil(plan.steps[0].scratch[.backwardColumns])
        XCTAssertNotNil(plan.steps[0].scratch[.weightGradientPartials], "two lanes: partial weight-gradient sums")
        XCTAssertNotNil(plan.steps[3].scratch[.columns])
        XCTAssertNil(plan.steps[3].scratch[.winogradColumns])
        XCTAssertNotNil(plan.steps[5].scratch[.winogradFlippedWeights])
        XCTAssertNotNil(plan.steps[5].scratch[.winogradBackwardColumns])
        // Graph's own answer is im2col everywhere.
        let im2col = BufferPlan(graph: graph, mode: .training, batchSize: 5, lanes: 2)
        XCTAssertTrue(im2col.steps.allSatisfy { $0.scratch[.winogradColumns] == nil })
    }

    /// Conv 1→8 5×5 pad 2 (direct), ReLU, conv 8→12 5×5 pad 1 (Winograd forward, direct backward),
    /// MaxPool, conv 12→9 5×5 pad (4, 2) (the same), linear.
    static let fiveByFiveKinds: [LayerKind] = [
        .conv2d(Conv2DSpec(outChannels: 8, kernel: Pair(square: 5), padding: Pair(square: 2))),
        .relu,
        .conv2d(Conv2DSpec(outChannels: 12, kernel: Pair(square: 5), padding: Pair(square: 1))),
        .maxPool2d(MaxPool2DSpec(kernel: Pair(square: 2))),
        .conv2d(Conv2DSpec(outChannels: 9, kernel: Pair(square: 5), padding: Pair(4, 2), bias: false)),
        .linear(LinearSpec(outFeatures: 10)),
    ]

    /// A 5×5 conv with ≥ 8 channels runs its forward pass by F(2×2, 5×5) and its backward pass by
    /// the direct kernels: the plan holds Winograd's forward scratch and the direct backward scratch.
    func testFiveByFiveConvsMixWinogradForwardAndDirectBackward() {
        let graph = NetworkTests.compile([1, 13, 11], Self.fiveByFiveKinds)
        let plan = BufferPlan(runtimeFor: graph, mode: .training, batchSize: 5, lanes: 2)
        for k in [2, 4] {
            guard case let .conv2d(g) = graph.steps[k].op else { return XCTFail("conv expected") }
            XCTAssertEqual(convolutionAlgorithm(g, .forward), .winograd, "step \(k)")
            XCTAssertEqual(convolutionAlgorithm(g, .backward), .direct, "step \(k)")
            let scratch = plan.steps[k].scratch
            for kind in [ScratchKind.winogradWeights, .winogradColumns, .directBackwardColumns, .directFlippedWeights,
                         .weightGradientPartials] {
                XCTAssertNotNil(scratch[kind], "step \(k) \(kind)")
            }
            for kind in [ScratchKind.directWeights, .directColumns, .winogradBackwardColumns, .winogradFlippedWeights,
                         .columns, .backwardColumns] {
                XCTAssertNil(scratch[kind], "step \(k) \(kind)")
            }
        }
        guard case let .conv2d(first) = graph.steps[0].op else { return XCTFail("conv expected") }
        XCTAssertEqual(convolutionAlgorithm(first, .forward), .direct, "one input channel")
        let evaluation = BufferPlan(runtimeFor: graph, mode: .evaluation, batchSize: 5, lanes: 2)
        XCTAssertNotNil(evaluation.steps[2].scratch[.winogradColumns])
        XCTAssertNil(evaluation.steps[2].scratch[.directBackwardColumns], "no backward scratch in evaluation")
    }

    func testFiveByFiveNetworkMatchesIm2colNetwork() {
        checkAgainstIm2col(NetworkTests.compile([1, 13, 11], Self.fiveByFiveKinds))
    }

    private func outcome(_ graph: Graph, lanes: Int, runtime: Bool) -> (losses: [Double], gradients: [[Float]], scores: [Float]) {
        func plan(_ mode: PlanMode) -> BufferPlan {
            runtime ? BufferPlan(runtimeFor: graph, mode: mode, batchSize: 5, lanes: lanes)
                : BufferPlan(graph: graph, mode: mode, batchSize: 5, lanes: lanes)
        }
        let net = Network(graph: graph, trainingPlan: plan(.training), evaluationPlan: plan(.evaluation),
                          optimizer: OptimizerSettings(kind: .adam, lr: 0.01), seed: 9)
        let d = NetworkTests.data(count: 5, features: graph.input.elementCount, seed: 4)
        var losses = [net.trainStep(images: d.images, labels: d.labels, indices: d.indices, count: 4).loss]
        losses.append(NetworkTests.gradients(net, d, count: 5).loss)
        _ = net.evaluate(images: d.images, labels: d.labels, indices: d.indices, count: 5)
        return (losses, NetworkTests.parameterSlots(graph).map { net.gradient(of: $0) },
                Array(UnsafeBufferPointer(start: net.lastEvaluationOutput!, count: 50)))
    }

    /// The runtime's algorithms against im2col everywhere through the whole network (partial
    /// batch, odd sizes, a stride-2 conv that stays im2col), at 1 and 3 lanes; and byte-identical
    /// for a fixed lane count. (Scores after an Adam step are compared only between identical
    /// runs: Adam turns the sign of a gradient that is zero up to rounding into a full step.)
    func checkAgainstIm2col(_ graph: Graph, file: StaticString = #filePath, line: UInt = #line) {
        for lanes in [1, 3] {
            let w = outcome(graph, lanes: lanes, runtime: true)
            let i = outcome(graph, lanes: lanes, runtime: false)
            for (a, b) in zip(w.losses, i.losses) {
                XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), file: file, line: line)
            }
            for (a, b) in zip(w.gradients, i.gradients) { assertClose(a, b, rtol: 2e-3, atol: 2e-5, file: file, line: line) }
            let again = outcome(graph, lanes: lanes, runtime: true)
            XCTAssertEqual(again.losses, w.losses, file: file, line: line)
            XCTAssertEqual(again.gradients, w.gradients, file: file, line: line)
            XCTAssertEqual(again.scores, w.scores, file: file, line: line)
        }
    }

    func testWinogradNetworkMatchesIm2colNetwork() {
        checkAgainstIm2col(NetworkTests.compile([8, 11, 9], Self.kinds))
    }

    func testDirectNetworkMatchesIm2colNetwork() {
        checkAgainstIm2col(NetworkTests.compile([1, 13, 11], Self.directKinds))
    }

    /// Padding past k − 1 (a 1×1 conv padded by 1) stays im2col: the direct input gradient would
    /// border dY by k − 1 − p < 0 (before this rule such a network corrupted the heap in training).
    func testPaddingPastTheKernelStaysIm2col() {
        let kinds: [LayerKind] = [
            .conv2d(Conv2DSpec(outChannels: 4, kernel: Pair(square: 3), padding: Pair(square: 1))),
            .relu,
            .conv2d(Conv2DSpec(outChannels: 4, kernel: Pair(square: 1), padding: Pair(square: 1))),
            .conv2d(Conv2DSpec(outChannels: 3, kernel: Pair(3, 2), padding: Pair(1, 2))),
            .linear(LinearSpec(outFeatures: 10)),
        ]
        let graph = NetworkTests.compile([1, 9, 8], kinds)
        guard case let .conv2d(padded) = graph.steps[2].op, case let .conv2d(wide) = graph.steps[3].op else {
            return XCTFail("convs expected")
        }
        for pass in [Pass.forward, .backward] {
            XCTAssertNil(convolutionAlgorithm(padded, pass))
            XCTAssertNil(convolutionAlgorithm(wide, pass))
        }
        checkAgainstIm2col(graph)
    }
}
