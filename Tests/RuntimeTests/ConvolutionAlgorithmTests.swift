import XCTest
@testable import Runtime

/// Convs choose their algorithm at plan time: Winograd for 3×3 stride-1 convs with ≥ 8 channels in
/// and out (forward, input gradient and weight gradient), im2col otherwise.
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

    private func outcome(_ graph: Graph, lanes: Int, winograd: Bool) -> (losses: [Double], gradients: [[Float]], scores: [Float]) {
        func plan(_ mode: PlanMode) -> BufferPlan {
            winograd ? BufferPlan(runtimeFor: graph, mode: mode, batchSize: 5, lanes: lanes)
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

    /// Winograd against im2col through the whole network (partial batch, odd sizes, a stride-2
    /// conv that stays im2col), at 1 and 3 lanes; and byte-identical for a fixed lane count. (Scores
    /// after an Adam step are compared only between identical runs: Adam turns the sign of a
    /// gradient that is zero up to rounding into a full step.)
    func testWinogradNetworkMatchesIm2colNetwork() {
        let graph = NetworkTests.compile([8, 11, 9], Self.kinds)
        for lanes in [1, 3] {
            let w = outcome(graph, lanes: lanes, winograd: true)
            let i = outcome(graph, lanes: lanes, winograd: false)
            for (a, b) in zip(w.losses, i.losses) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
            for (a, b) in zip(w.gradients, i.gradients) { assertClose(a, b, rtol: 2e-3, atol: 2e-5) }
            let again = outcome(graph, lanes: lanes, winograd: true)
            XCTAssertEqual(again.losses, w.losses)
            XCTAssertEqual(again.gradients, w.gradients)
            XCTAssertEqual(again.scores, w.scores)
        }
    }
}
