import XCTest
@testable import Graph
import Spec

/// `weight [4, 3, 5, 5]`-style rendering of an op's state_dict entries, in order.
private func slots(_ op: Op) -> [String] {
    op.slotShapes.map { "\($0.role.rawValue) \($0.shape)" }
}

private func saved(_ op: Op, _ output: FeatureShape) -> [String] {
    op.saved(output: output).map { "\($0.kind.rawValue) \($0.count) \($0.perExample ? "perExample" : "perBatch")" }
}

final class OpsTests: XCTestCase {
    // Conv 3→4, 5×5 over 3×10×12, stride 1, no padding: output 4×6×8.
    let convGeometry = Conv2DGeometry(inChannels: 3, outChannels: 4, inHeight: 10, inWidth: 12, kernel: Pair(square: 5),
                                      stride: Pair(square: 1), padding: Pair(square: 0), bias: true)
    // Non-square kernel 2×3.
    let rectConvGeometry = Conv2DGeometry(inChannels: 2, outChannels: 5, inHeight: 6, inWidth: 7, kernel: Pair(2, 3),
                                          stride: Pair(1, 2), padding: Pair(0, 1), bias: false)
    let bnGeometry = BatchNormGeometry(channels: 6, spatial: 49, eps: 1e-5, momentum: 0.1)
    let poolGeometry = Pool2DGeometry(channels: 6, inHeight: 14, inWidth: 14, kernel: Pair(square: 2),
                                      stride: Pair(square: 2), padding: Pair(square: 0))

    var allOps: [Op] {
        [.conv2d(convGeometry), .maxPool2d(poolGeometry), .batchNorm2d(bnGeometry), .dropout(p: 0.5), .relu, .softmax,
         .flatten(FlattenGeometry(channels: 6, spatial: 49)), .linear(LinearGeometry(inFeatures: 294, outFeatures: 10, bias: true))]
    }

    func testKindNames() {
        XCTAssertEqual(allOps.map(\.kindName),
                       ["Conv2D", "MaxPool2D", "BatchNorm2D", "Dropout", "ReLU", "Softmax", "Flatten", "Linear"])
    }

    func testConvSlotsInPyTorchOrder() {
        // weight [OC, IC, KH, KW], then bias [OC]
        XCTAssertEqual(slots(.conv2d(convGeometry)), ["weight [4, 3, 5, 5]", "bias [4]"])
        // KH = 2, KW = 3 (not swapped); bias: false omits the bias
        XCTAssertEqual(slots(.conv2d(rectConvGeometry)), ["weight [5, 2, 2, 3]"])
    }

    func testLinearSlots() {
        // weight [out, in], then bias [out]
        XCTAssertEqual(slots(.linear(LinearGeometry(inFeatures: 400, outFeatures: 120, bias: true))),
                       ["weight [120, 400]", "bias [120]"])
        XCTAssertEqual(slots(.linear(LinearGeometry(inFeatures: 400, outFeatures: 120, bias: false))),
                       ["weight [120, 400]"])
    }

    func testBatchNormSlots() {
        XCTAssertEqual(slots(.batchNorm2d(bnGeometry)),
                       ["weight [6]", "bias [6]", "running_mean [6]", "running_var [6]", "num_batches_tracked []"])
        XCTAssertEqual(Op.batchNorm2d(bnGeometry).slotShapes.map { $0.role.storage },
                       [.parameters, .parameters, .statistics, .statistics, .counters])
    }

    func testParameterFreeOpsHaveNoSlots() {
        for op in [Op.maxPool2d(poolGeometry), .dropout(p: 0.3), .relu, .softmax, .flatten(FlattenGeometry(channels: 1, spatial: 4))] {
            XCTAssertEqual(slots(op), [], op.kindName)
            XCTAssertEqual(op.parameterCount, 0, op.kindName)
            XCTAssertFalse(op.hasParameters, op.kindName)
        }
    }

    func testParameterCounts() {
        // conv: 4·3·5·5 + 4 = 300 + 4 = 304
        XCTAssertEqual(Op.conv2d(convGeometry).parameterCount, 304)
        // conv without bias: 5·2·2·3 = 60
        XCTAssertEqual(Op.conv2d(rectConvGeometry).parameterCount, 60)
        // batch norm: weight 6 + bias 6 = 12; running stats and the counter are not parameters
        XCTAssertEqual(Op.batchNorm2d(bnGeometry).parameterCount, 12)
        XCTAssertTrue(Op.batchNorm2d(bnGeometry).hasParameters)
        // linear: 400·120 + 120 = 48,120; without bias 48,000
        XCTAssertEqual(Op.linear(LinearGeometry(inFeatures: 400, outFeatures: 120, bias: true)).parameterCount, 48_120)
        XCTAssertEqual(Op.linear(LinearGeometry(inFeatures: 400, outFeatures: 120, bias: false)).parameterCount, 48_000)
    }

    func testMACs() {
        // conv OC·OH·OW·IC·KH·KW: output 4×6×8 → 4·(6·8)·(3·5·5) = 4·48·75 = 14,400
        XCTAssertEqual(Op.conv2d(convGeometry).macs, 14_400)
        // rect conv: OH (6 − 2)/1 + 1 = 5, OW (7 + 2 − 3)/2 + 1 = 4 → 5·(5·4)·(2·2·3) = 5·20·12 = 1,200
        XCTAssertEqual(Op.conv2d(rectConvGeometry).macs, 1_200)
        // linear in·out (the bias add is not a MAC): 400·120 = 48,000
        XCTAssertEqual(Op.linear(LinearGeometry(inFeatures: 400, outFeatures: 120, bias: true)).macs, 48_000)
        for op in [Op.maxPool2d(poolGeometry), .batchNorm2d(bnGeometry), .dropout(p: 0.5), .relu, .softmax,
                   .flatten(FlattenGeometry(channels: 6, spatial: 49))] {
            XCTAssertEqual(op.macs, 0, op.kindName)
        }
    }

    func testSavedTensors() {
        let pooled = FeatureShape.image(channels: 6, height: 7, width: 7)
        // Pool indices: one per output element, per example (6·7·7 = 294).
        XCTAssertEqual(saved(.maxPool2d(poolGeometry), pooled), ["indices 294 perExample"])
        // Dropout mask: one per output element, per example.
        XCTAssertEqual(saved(.dropout(p: 0.5), .flat(128)), ["mask 128 perExample"])
        // Batch norm: per-channel mean and invstd for the whole batch.
        XCTAssertEqual(saved(.batchNorm2d(bnGeometry), pooled), ["mean 6 perBatch", "invstd 6 perBatch"])
        for op in [Op.conv2d(convGeometry), .relu, .softmax, .flatten(FlattenGeometry(channels: 6, spatial: 49)),
                   .linear(LinearGeometry(inFeatures: 294, outFeatures: 10, bias: true))] {
            XCTAssertEqual(saved(op, pooled), [], op.kindName)
        }
    }

    func testBackwardReads() {
        let readsInput = allOps.filter(\.backwardReadsInput).map(\.kindName)
        XCTAssertEqual(readsInput, ["Conv2D", "BatchNorm2D", "Linear"])
        let readsOutput = allOps.filter(\.backwardReadsOutput).map(\.kindName)
        XCTAssertEqual(readsOutput, ["ReLU", "Softmax"])
    }

    func testInPlaceRules() {
        // Training: only the elementwise ReLU and Dropout overwrite their input (batch norm's
        // backward needs its input).
        XCTAssertEqual(allOps.filter { $0.forwardCanRunInPlace(training: true) }.map(\.kindName), ["Dropout", "ReLU"])
        // Evaluation: batch norm is an affine map with running statistics and may run in place too.
        XCTAssertEqual(allOps.filter { $0.forwardCanRunInPlace(training: false) }.map(\.kindName),
                       ["BatchNorm2D", "Dropout", "ReLU"])
        XCTAssertEqual(allOps.filter(\.backwardCanRunInPlace).map(\.kindName), ["Dropout", "ReLU"])
        let context = ScratchContext(batchSize: 2, lanes: 1, runsBackward: true, computesInputGradient: true)
        XCTAssertEqual(allOps.filter { !$0.scratch(context).isEmpty }.map(\.kindName),
                       ["Conv2D"])
    }
}
