import XCTest
@testable import Graph
import Spec

/// The facts `check`'s table adds: receptive fields (worked out by hand), settings, and the
/// non-trainable count.
final class StepFactsTests: XCTestCase {
    func testReceptiveFieldsOfLeNet() throws {
        let graph = try exampleGraph("lenet")
        // conv k5: 5; pool k2 s2: 5 + 1·1 = 6, jump 2; conv k5: 6 + 4·2 = 14; pool k2 s2: 14 + 1·2 = 16, jump 4.
        let fields = graph.receptiveFields
        XCTAssertEqual(fields.count, graph.steps.count)
        XCTAssertEqual(Array(fields.prefix(6)), [Pair(square: 5), Pair(square: 5), Pair(square: 6),
                                                 Pair(square: 14), Pair(square: 14), Pair(square: 16)])
        XCTAssertTrue(fields.dropFirst(6).allSatisfy { $0 == nil }, "flat steps have no receptive field: \(fields)")
    }

    func testReceptiveFieldsWithPairsAndStrides() throws {
        let graph = try compiledGraph("""
            layers:
              - Conv2D: {out_channels: 2, kernel_size: [3, 5], stride: 2, padding: [1, 2]}
              - MaxPool2D: {kernel_size: 3, stride: 2, padding: 1}
              - Conv2D: {out_channels: 2, kernel_size: 3}
              - Linear: {out_features: 10}
            """)
        // [3, 5] s2: 3×5, jump 2; pool k3 s2: 3 + 2·2 = 7, 5 + 2·2 = 9, jump 4; conv k3: 7 + 2·4 = 15, 9 + 8 = 17.
        XCTAssertEqual(Array(graph.receptiveFields.prefix(3)), [Pair(3, 5), Pair(7, 9), Pair(15, 17)])
    }

    func testSettingsTextAndNonTrainableCount() throws {
        let graph = try exampleGraph("strided")
        XCTAssertEqual(graph.steps[0].op.settingsText, "k3 s1 p1")
        XCTAssertEqual(graph.steps[3].op.settingsText, "k4 s2 p1")
        XCTAssertEqual(graph.steps[5].op.settingsText, "k3×5 s2 p1×2 no bias")
        XCTAssertEqual(graph.steps[8].op.settingsText, "k3 s2 p1")
        XCTAssertEqual(graph.steps[9].op.settingsText, "p 0.1")
        XCTAssertEqual(graph.steps[2].op.settingsText, "")
        // Two BatchNorm2D layers over 16 and 32 channels: a running mean and variance each.
        XCTAssertEqual(graph.nonTrainableCount, 2 * (16 + 32))
    }
}
