import XCTest
@testable import Graph
import Spec

/// A float32 tensor of `bytes` bytes alive over `first...last`.
private func tensor(_ id: Int, bytes: Int, _ first: Int, _ last: Int, aliasOf: Int? = nil) -> PlannedTensor {
    precondition(bytes % 4 == 0)
    return PlannedTensor(id: id, name: "t\(id)", role: .activation, elementType: .float32, elementCount: bytes / 4,
                         aliasOf: aliasOf, firstUse: first, lastUse: last, offset: -1)
}

/// Checks what every placement must satisfy: aliases share an offset, offsets are aligned, every
/// tensor lies inside the arena, the arena is as small as the placement allows, and no two
/// tensors that are alive at the same time (and are not aliases of each other) share a byte.
private func checkPlacement(_ tensors: [PlannedTensor], arenaBytes: Int, _ context: String,
                            file: StaticString = #filePath, line: UInt = #line) {
    func root(_ t: PlannedTensor) -> Int { t.aliasOf ?? t.id }
    var end = 0
    for t in tensors {
        XCTAssertLessThanOrEqual(t.firstUse, t.lastUse, "\(context): \(t.name) is never used", file: file, line: line)
        XCTAssertEqual(t.offset % BufferPlan.alignment, 0, "\(context): \(t.name)", file: file, line: line)
        XCTAssertLessThanOrEqual(t.offset + t.bytes, arenaBytes, "\(context): \(t.name)", file: file, line: line)
        end = max(end, t.offset + alignUp(t.bytes))
        if let alias = t.aliasOf {
            XCTAssertEqual(t.offset, tensors[alias].offset, "\(context): alias \(t.name)", file: file, line: line)
            XCTAssertNil(tensors[alias].aliasOf, "\(context): alias of an alias", file: file, line: line)
        }
    }
    XCTAssertEqual(arenaBytes, end, "\(context): arenaBytes is max(offset + size)", file: file, line: line)
    for a in tensors {
        for b in tensors where b.id > a.id && root(a) != root(b) {
            let aliveTogether = a.firstUse <= b.lastUse && b.firstUse <= a.lastUse
            let overlapInMemory = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes
            XCTAssertFalse(aliveTogether && overlapInMemory,
                           "\(context): \(a.name) [\(a.firstUse), \(a.lastUse)] @\(a.offset)+\(a.bytes) overlaps "
                               + "\(b.name) [\(b.firstUse), \(b.lastUse)] @\(b.offset)+\(b.bytes)",
                           file: file, line: line)
        }
    }
}

/// `id name role elements [first, last] @offset (alias)` per tensor.
private func tensorLines(_ plan: BufferPlan) -> [String] {
    plan.tensors.map { t in
        "\(t.id) \(t.name) \(t.role.rawValue) \(t.elementType.rawValue)×\(t.elementCount) [\(t.firstUse), \(t.lastUse)] @\(t.offset)"
            + (t.aliasOf.map { " alias \($0)" } ?? "")
    }
}

/// input [1, 4, 4] → Conv2D 2ch k3 p1 → ReLU → (Flatten) → Linear 10.
private let tinySpec = """
name: tiny
input: [1, 4, 4]
layers:
  - Conv2D: {out_channels: 2, kernel_size: 3, padding: 1}
  - ReLU
  - Linear: {out_features: 10}

"""

final class BufferPlanTests: XCTestCase {
    // MARK: - placeTensors

    func testAlignUp() {
        XCTAssertEqual([0, 1, 63, 64, 65, 128, 129].map(alignUp), [0, 64, 64, 64, 128, 128, 192])
    }

    func testEmpty() {
        let placed = placeTensors([])
        XCTAssertEqual(placed.tensors, [])
        XCTAssertEqual(placed.arenaBytes, 0)
    }

    func testThirdTensorReusesTheFirstsMemory() {
        // t0 256 B [0, 1], t1 256 B [1, 3], t2 192 B [2, 3].
        // Order (largest first, then earliest): t0, t1, t2.
        //   t0: nothing placed                       → 0
        //   t1: overlaps t0 (time 1), no gap         → after t0: 256
        //   t2: overlaps only t1 (t0 died at 1); gap [0, 256) fits 192 → 0
        // arena = max(0 + 256, 256 + 256, 0 + 192) = 512
        let placed = placeTensors([tensor(0, bytes: 256, 0, 1), tensor(1, bytes: 256, 1, 3), tensor(2, bytes: 192, 2, 3)])
        XCTAssertEqual(placed.tensors.map(\.offset), [0, 256, 0])
        XCTAssertEqual(placed.arenaBytes, 512)
        checkPlacement(placed.tensors, arenaBytes: placed.arenaBytes, "reuse")
    }

    func testDisjointLifetimesShareOffsetZero() {
        // No two are alive together: all go to 0; the arena is the largest, 320 B.
        let placed = placeTensors([tensor(0, bytes: 128, 0, 0), tensor(1, bytes: 320, 1, 1), tensor(2, bytes: 64, 2, 2)])
        XCTAssertEqual(placed.tensors.map(\.offset), [0, 0, 0])
        XCTAssertEqual(placed.arenaBytes, 320)
    }

    func testLargestFirst() {
        // All alive together, given smallest first. Order: t2 (256), t1 (128), t0 (64).
        //   t2 → 0;  t1 → 256;  t0 → 256 + 128 = 384;  arena 448
        let placed = placeTensors([tensor(0, bytes: 64, 0, 1), tensor(1, bytes: 128, 0, 1), tensor(2, bytes: 256, 0, 1)])
        XCTAssertEqual(placed.tensors.map(\.offset), [384, 256, 0])
        XCTAssertEqual(placed.arenaBytes, 448)
    }

    func testTiesGoByFirstUseThenId() {
        // Equal sizes: earlier first use first, then lower id. Order: t2 (first 0), t0 (first 1, id 0), t1 (first 1, id 1).
        //   t2 → 0;  t0 → 64;  t1 → 128
        let placed = placeTensors([tensor(0, bytes: 64, 1, 2), tensor(1, bytes: 64, 1, 2), tensor(2, bytes: 64, 0, 2)])
        XCTAssertEqual(placed.tensors.map(\.offset), [64, 128, 0])
        XCTAssertEqual(placed.arenaBytes, 192)
    }

    func testBestFitPicksTheSmallestGapThatFits() {
        //   f1 192 B [0, 2]   m1 128 B [0, 9]   f2 128 B [1, 2]   m2 128 B [2, 9]   x 128 B [5, 5]
        // Order: f1 (192), then the 128s by first use: m1, f2, m2, x.
        //   f1 → 0
        //   m1: live f1 [0, 192)                              → 192
        //   f2: live f1 [0, 192), m1 [192, 320)               → 320
        //   m2: live f1, m1, f2 → [0, 448) taken              → 448
        //   x at time 5: live m1 [192, 320), m2 [448, 576); the fillers are dead.
        //      gaps: [0, 192) (192 B) and [320, 448) (128 B) → best fit is the exact 128 B gap: 320
        //      (first fit would have taken 0).
        // arena = 448 + 128 = 576
        let placed = placeTensors([
            tensor(0, bytes: 192, 0, 2), tensor(1, bytes: 128, 0, 9), tensor(2, bytes: 128, 1, 2),
            tensor(3, bytes: 128, 2, 9), tensor(4, bytes: 128, 5, 5),
        ])
        XCTAssertEqual(placed.tensors.map(\.offset), [0, 192, 320, 448, 320])
        XCTAssertEqual(placed.arenaBytes, 576)
        checkPlacement(placed.tensors, arenaBytes: placed.arenaBytes, "best fit")
    }

    func testNoFittingGapGoesAfterTheHighestLiveBlock() {
        //   a 256 B [0, 3] → 0;  b 128 B [0, 0] → 256;  c 192 B [1, 3]: live a [0, 256) only (b died);
        //   the space above a is free → 256. d 128 B [0, 3]: live a, b, c → [0, 448) → 448.
        // Order: a (256), c (192), b (128, first 0, id 1), d (128, first 0, id 3):
        //   a → 0;  c: live a → 256;  b: live a → 256 (c is not alive at 0);  d: live a, c, b → 448
        let placed = placeTensors([tensor(0, bytes: 256, 0, 3), tensor(1, bytes: 128, 0, 0),
                                   tensor(2, bytes: 192, 1, 3), tensor(3, bytes: 128, 0, 3)])
        XCTAssertEqual(placed.tensors.map(\.offset), [0, 256, 256, 448])
        XCTAssertEqual(placed.arenaBytes, 576)
        checkPlacement(placed.tensors, arenaBytes: placed.arenaBytes, "after highest")
    }

    func testAliasesShareMemoryAndLifetime() {
        // t1 aliases t0: one block of max(256, 320) = 320 B alive over [0, 1] ∪ [1, 3] = [0, 3].
        // t2 (256 B, [2, 2]) is alive with the block (through t1), so it cannot use offset 0.
        // Order: block 0 (320), t2 (256): block → 0, t2 → 320; arena 576.
        let placed = placeTensors([tensor(0, bytes: 256, 0, 1), tensor(1, bytes: 320, 1, 3, aliasOf: 0),
                                   tensor(2, bytes: 256, 2, 2)])
        XCTAssertEqual(placed.tensors.map(\.offset), [0, 0, 320])
        XCTAssertEqual(placed.arenaBytes, 576)
        checkPlacement(placed.tensors, arenaBytes: placed.arenaBytes, "aliases")
    }

    func testSixtyFourByteAlignment() {
        // 4 B, 68 B and 100 B round up to 64, 128 and 128 B.
        // Order: t1 (128, id 1), t2 (128, id 2), t0 (64): t1 → 0, t2 → 128, t0 → 256; arena 320.
        let placed = placeTensors([tensor(0, bytes: 4, 0, 1), tensor(1, bytes: 68, 0, 1), tensor(2, bytes: 100, 0, 1)])
        XCTAssertEqual(placed.tensors.map(\.offset), [256, 0, 128])
        XCTAssertEqual(placed.arenaBytes, 320)
        checkPlacement(placed.tensors, arenaBytes: placed.arenaBytes, "alignment")
    }

    // MARK: - A tiny graph by hand

    func testTinyGraphTrainingPlan() throws {
        let graph = try compiledGraph(tinySpec)
        // Steps: 0 Conv2D 1×4×4→2×4×4, 1 ReLU, 2 Flatten →32, 3 Linear 32→10; n = 4.
        // Schedule positions: forward k at k, loss at 4, backward k at 2·4 − k.
        let plan = BufferPlan(graph: graph, mode: .training, batchSize: 2)
        XCTAssertEqual(plan.schedule, ["forward 0 Conv2D", "forward 1 ReLU", "forward 2 Flatten", "forward 3 Linear", "loss",
                                       "backward 3 Linear", "backward 2 Flatten", "backward 1 ReLU", "backward 0 Conv2D"])
        // Elements at batch 2: input 2·16 = 32; conv/ReLU/flatten outputs 2·32 = 64; logits 2·10 = 20;
        // im2col columns (1·3·3 rows)·(4·4 outputs)·2 images = 288.
        // Lifetimes:
        //   input: read by conv forward (0) and conv backward (8, weight gradient)          [0, 8]
        //   labels: written at 0, read by the loss (4)                                      [0, 4]
        //   0.output: conv writes (0), ReLU reads (1); 1.output aliases it in place         [0, 1]
        //   1.output: ReLU writes (1), flatten reads (2), ReLU backward reads it (7)       [1, 7]
        //   2.output: flatten (2), Linear forward (3) and backward (5)                      [2, 5]
        //   3.output: Linear (3), loss (4)                                                  [3, 4]
        //   3.output.grad: loss writes (4), Linear backward reads (5)                       [4, 5]
        //   2.output.grad: Linear backward writes (5), flatten backward reads (6)           [5, 6]
        //   1.output.grad: flatten backward (6), ReLU backward (7)                          [6, 7]
        //   0.output.grad: ReLU backward writes in place over 1.output.grad (7), conv reads (8)
        //   The conv's input gradient is not computed: nothing before it has parameters.
        //
        // Blocks (aligned bytes, lifetime): columns 1152 [0,0]; columns.backward 1152 [8,8];
        //   0.output+1.output 256 [0,7]; 2.output 256 [2,5]; 2.output.grad 256 [5,6];
        //   1.output.grad+0.output.grad 256 [6,8]; input 128 [0,8]; 3.output 128 [3,4] (80 B);
        //   3.output.grad 128 [4,5]; labels 64 [0,4] (8 B).
        // Placement, largest first (ties: earlier first use):
        //   columns            → 0      (nothing placed)
        //   columns.backward   → 0      (columns is dead at 8)
        //   0.output           → 1152   (live: columns [0,1152))
        //   2.output           → 0      (live: 0.output @1152; gap [0,1152) fits)
        //   2.output.grad      → 256    (live: 2.output [0,256), 0.output [1152,1408); gap 896 at 256)
        //   1.output.grad      → 1408   (live: columns.backward [0,1152), 2.output.grad, 0.output [1152,1408))
        //   input              → 1664   (alive throughout: above 1.output.grad [1408,1664))
        //   3.output           → 1408   (live: 2.output, 0.output, input; gaps 896 @256 and 256 @1408 → 256 @1408)
        //   3.output.grad      → 1536   (gaps 640 @512 and 128 @1536 → 1536)
        //   labels             → 1792   (live at 0..4 fill [0, 1792) without a hole)
        // arena = 1792 + 64 = 1856
        XCTAssertEqual(tensorLines(plan), [
            "0 input input float32×32 [0, 8] @1664",
            "1 labels labels int32×2 [0, 4] @1792",
            "2 0.output activation float32×64 [0, 1] @1152",
            "3 0.columns workspace float32×288 [0, 0] @0",
            "4 0.columns.backward workspace float32×288 [8, 8] @0",
            "5 1.output activation float32×64 [1, 7] @1152 alias 2",
            "6 2.output activation float32×64 [2, 5] @0",
            "7 3.output activation float32×20 [3, 4] @1408",
            "8 3.output.grad gradient float32×20 [4, 5] @1536",
            "9 2.output.grad gradient float32×64 [5, 6] @256",
            "10 1.output.grad gradient float32×64 [6, 7] @1408",
            "11 0.output.grad gradient float32×64 [7, 8] @1408 alias 10",
        ])
        XCTAssertEqual(plan.arenaBytes, 1856)
        // Naive: 128 + 64 + 256 + 1152 + 1152 + 256 + 256 + 128 + 128 + 256 + 256 + 256 = 4288
        XCTAssertEqual(plan.naiveBytes, 4288)
        XCTAssertEqual(plan.input, 0)
        XCTAssertEqual(plan.labels, 1)
        XCTAssertEqual(plan.loss, LossBuffers(logits: 7, labels: 1, logitsGradient: 8))
        XCTAssertEqual(plan.steps, [
            StepBuffers(input: 0, output: 2, inputGradient: nil, outputGradient: 11, saved: [:],
                        scratch: [.columns: 3, .backwardColumns: 4]),
            StepBuffers(input: 2, output: 5, inputGradient: 11, outputGradient: 10, saved: [:]),
            StepBuffers(input: 5, output: 6, inputGradient: 10, outputGradient: 9, saved: [:]),
            StepBuffers(input: 6, output: 7, inputGradient: 9, outputGradient: 8, saved: [:]),
        ])
        checkPlacement(plan.tensors, arenaBytes: plan.arenaBytes, "tiny training")
    }

    func testTinyGraphEvaluationPlan() throws {
        let graph = try compiledGraph(tinySpec)
        let plan = BufferPlan(graph: graph, mode: .evaluation, batchSize: 2)
        // Forward only; labels are read after the last step (3) for accuracy.
        // Blocks: columns 1152 [0,0]; 0.output+1.output 256 [0,2]; 2.output 256 [2,3]; input 128 [0,0];
        //   3.output 128 [3,3]; labels 64 [0,3].
        //   columns → 0;  0.output → 1152;  2.output → 0 (gap [0,1152) while 0.output is live);
        //   input → 1408 (above columns and 0.output);  3.output → 256 (above 2.output);
        //   labels → 1536 (alive throughout: above input)
        // arena = 1600; naive = 128 + 64 + 256 + 1152 + 256 + 256 + 128 = 2240
        XCTAssertEqual(plan.schedule, ["forward 0 Conv2D", "forward 1 ReLU", "forward 2 Flatten", "forward 3 Linear"])
        XCTAssertEqual(tensorLines(plan), [
            "0 input input float32×32 [0, 0] @1408",
            "1 labels labels int32×2 [0, 3] @1536",
            "2 0.output activation float32×64 [0, 1] @1152",
            "3 0.columns workspace float32×288 [0, 0] @0",
            "4 1.output activation float32×64 [1, 2] @1152 alias 2",
            "5 2.output activation float32×64 [2, 3] @0",
            "6 3.output activation float32×20 [3, 3] @256",
        ])
        XCTAssertEqual(plan.arenaBytes, 1600)
        XCTAssertEqual(plan.naiveBytes, 2240)
        XCTAssertNil(plan.loss)
        XCTAssertTrue(plan.steps.allSatisfy { !$0.runsBackward && $0.inputGradient == nil && $0.scratch[.backwardColumns] == nil })
        checkPlacement(plan.tensors, arenaBytes: plan.arenaBytes, "tiny evaluation")
    }

    // MARK: - Invariants over the examples

    func testExamplePlansNeverOverlapLiveTensors() throws {
        for name in exampleNames {
            let graph = try exampleGraph(name)
            for mode in [PlanMode.training, .evaluation] {
                for batch in [1, 7, 32] {
                    let plan = BufferPlan(graph: graph, mode: mode, batchSize: batch)
                    let context = "\(name) \(mode) batch \(batch)"
                    XCTAssertEqual(plan.tensors.map(\.id), Array(plan.tensors.indices), context)
                    checkPlacement(plan.tensors, arenaBytes: plan.arenaBytes, context)
                    XCTAssertGreaterThanOrEqual(plan.naiveBytes, plan.arenaBytes, context)
                    XCTAssertEqual(plan.naiveBytes, plan.tensors.reduce(0) { $0 + alignUp($1.bytes) }, context)
                    XCTAssertEqual(plan.tensor(plan.input).elementCount, batch * 28 * 28, context)
                    XCTAssertEqual(plan.tensor(plan.labels).elementCount, batch, context)
                    XCTAssertEqual(plan.tensor(plan.labels).elementType, .int32, context)
                    XCTAssertEqual(plan.steps.count, graph.steps.count, context)
                    for (k, buffers) in plan.steps.enumerated() {
                        XCTAssertEqual(plan.tensor(buffers.output).elementCount, batch * graph.steps[k].output.elementCount,
                                       "\(context) step \(k)")
                        XCTAssertEqual(buffers.input, k == 0 ? plan.input : plan.steps[k - 1].output, "\(context) step \(k)")
                    }
                }
            }
        }
    }

    func testEvaluationPlansHaveNoGradientsOrSavedTensors() throws {
        for name in exampleNames {
            let plan = BufferPlan(graph: try exampleGraph(name), mode: .evaluation, batchSize: 32)
            XCTAssertEqual(plan.tensors.filter { $0.role == .gradient || $0.role == .saved }.map(\.name), [], name)
            XCTAssertNil(plan.loss, name)
            XCTAssertFalse(plan.schedule.contains { $0.hasPrefix("backward") || $0 == "loss" }, name)
            XCTAssertTrue(plan.steps.allSatisfy { $0.saved.isEmpty && $0.outputGradient == nil && $0.scratch[.backwardColumns] == nil }, name)
        }
    }

    func testSavedTensorsInTrainingOnly() throws {
        let graph = try exampleGraph("mnist")
        let training = BufferPlan(graph: graph, mode: .training, batchSize: 7)
        // BatchNorm2D steps 1, 4, 8, 11: per-channel mean and invstd (not per example).
        for (k, channels) in [(1, 32), (4, 32), (8, 64), (11, 64)] {
            let saved = training.steps[k].saved
            XCTAssertEqual(Set(saved.keys), [.batchMean, .batchInvStd], "step \(k)")
            XCTAssertEqual(saved[.batchMean].map { training.tensor($0).elementCount }, channels)
            XCTAssertEqual(saved[.batchInvStd].map { training.tensor($0).name }, "\(k).invstd")
        }
        // MaxPool2D steps 6 (→32×14×14) and 13 (→64×7×7): Int32 indices per output element.
        let indices6 = try XCTUnwrap(training.steps[6].saved[.poolIndices])
        XCTAssertEqual(training.tensor(indices6).elementCount, 7 * 32 * 14 * 14)
        XCTAssertEqual(training.tensor(indices6).elementType, .int32)
        XCTAssertEqual(training.tensor(indices6).name, "6.indices")
        XCTAssertEqual(training.steps[13].saved[.poolIndices].map { training.tensor($0).elementCount }, 7 * 64 * 7 * 7)
        // Dropout step 17: a Float mask per element.
        let mask = try XCTUnwrap(training.steps[17].saved[.dropoutMask])
        XCTAssertEqual(training.tensor(mask).elementCount, 7 * 128)
        XCTAssertEqual(training.tensor(mask).elementType, .float32)
        XCTAssertEqual(training.tensor(mask).name, "17.mask")
        let savedSteps = training.steps.indices.filter { !training.steps[$0].saved.isEmpty }
        XCTAssertEqual(savedSteps, [1, 4, 6, 8, 11, 13, 17])

        let evaluation = BufferPlan(graph: graph, mode: .evaluation, batchSize: 7)
        XCTAssertTrue(evaluation.steps.allSatisfy { $0.saved.isEmpty })
    }

    func testInPlaceForwardInTraining() throws {
        let graph = try exampleGraph("mnist")
        let plan = BufferPlan(graph: graph, mode: .training, batchSize: 4)
        func alias(_ k: Int) -> Int? { plan.tensor(plan.steps[k].output).aliasOf }
        // ReLU after BatchNorm2D writes over the batch norm's output (batch norm's backward reads
        // its input, not its output).
        for k in [2, 5, 9, 12] {
            XCTAssertEqual(alias(k), plan.steps[k - 1].output, "ReLU \(k)")
            XCTAssertEqual(plan.tensor(plan.steps[k].output).offset, plan.tensor(plan.steps[k - 1].output).offset)
        }
        // Batch norm does not run in place in training; ReLU 16 after Linear 15 does.
        XCTAssertNil(alias(1))
        XCTAssertEqual(alias(16), plan.steps[15].output)
        // Dropout 17 follows ReLU 16, whose backward reads its output: it needs its own buffer.
        XCTAssertNil(alias(17))

        let evaluation = BufferPlan(graph: graph, mode: .evaluation, batchSize: 4)
        func evalAlias(_ k: Int) -> Int? { evaluation.tensor(evaluation.steps[k].output).aliasOf }
        // In evaluation batch norm, ReLU and Dropout all run in place: the chains share a root.
        XCTAssertEqual(evalAlias(1), evaluation.steps[0].output)
        XCTAssertEqual(evalAlias(2), evaluation.steps[0].output)
        XCTAssertEqual(evalAlias(17), evaluation.steps[15].output)
        XCTAssertNil(evalAlias(3))
    }

    func testReLUAfterReLUIsNotInPlaceInTraining() throws {
        let graph = try compiledGraph("""
        name: t
        input: [1, 4, 4]
        layers:
          - Conv2D: {out_channels: 2, kernel_size: 3}
          - ReLU
          - ReLU
          - Linear: {out_features: 10}

        """)
        let training = BufferPlan(graph: graph, mode: .training, batchSize: 3)
        // The first ReLU's backward reads its output, so the second must not overwrite it.
        XCTAssertEqual(training.tensor(training.steps[1].output).aliasOf, training.steps[0].output)
        XCTAssertNil(training.tensor(training.steps[2].output).aliasOf)
        // Backward: ReLU gradients run in place over the incoming gradient.
        let g2 = try XCTUnwrap(training.steps[2].inputGradient)
        let g1 = try XCTUnwrap(training.steps[1].inputGradient)
        XCTAssertEqual(training.tensor(g2).aliasOf, training.steps[2].outputGradient)
        XCTAssertEqual(training.tensor(g1).aliasOf, training.steps[2].outputGradient)
        checkPlacement(training.tensors, arenaBytes: training.arenaBytes, "relu relu")

        let evaluation = BufferPlan(graph: graph, mode: .evaluation, batchSize: 3)
        XCTAssertEqual(evaluation.tensor(evaluation.steps[2].output).aliasOf, evaluation.steps[0].output)
    }

    func testFusedSoftmaxLoss() throws {
        let graph = try exampleGraph("lenet")
        let plan = BufferPlan(graph: graph, mode: .training, batchSize: 5)
        let last = graph.steps.count - 1   // 13 Softmax
        let loss = try XCTUnwrap(plan.loss)
        // The loss reads the Softmax's input (Linear 12's output) and writes its gradient directly.
        XCTAssertEqual(loss.logits, plan.steps[last].input)
        XCTAssertEqual(loss.logits, plan.steps[last - 1].output)
        XCTAssertEqual(plan.tensor(loss.logitsGradient).name, "12.output.grad")
        XCTAssertEqual(plan.tensor(loss.logitsGradient).elementCount, 5 * 10)
        XCTAssertEqual(plan.steps[last - 1].outputGradient, loss.logitsGradient)
        // The Softmax itself runs no backward pass.
        XCTAssertFalse(plan.steps[last].runsBackward)
        XCTAssertNil(plan.steps[last].inputGradient)
        XCTAssertEqual(plan.schedule[graph.steps.count], "loss")
        XCTAssertEqual(plan.schedule.count, 2 * graph.steps.count + 1)
        checkPlacement(plan.tensors, arenaBytes: plan.arenaBytes, "lenet")
    }

    func testUnfusedLossReadsTheLastOutput() throws {
        let graph = try exampleGraph("mnist")
        let plan = BufferPlan(graph: graph, mode: .training, batchSize: 5)
        let loss = try XCTUnwrap(plan.loss)
        XCTAssertEqual(loss.logits, plan.steps[18].output)
        XCTAssertEqual(loss.labels, plan.labels)
        XCTAssertEqual(plan.tensor(loss.logitsGradient).name, "18.output.grad")
        XCTAssertEqual(plan.steps[18].outputGradient, loss.logitsGradient)
    }

    func testStepsBeforeTheFirstParameterizedStepRunNoBackward() throws {
        let graph = try compiledGraph("""
        name: t
        input: [1, 8, 8]
        layers:
          - MaxPool2D: {kernel_size: 2}
          - Dropout
          - ReLU
          - Conv2D: {out_channels: 2, kernel_size: 3}
          - ReLU
          - Linear: {out_features: 10}

        """)
        let plan = BufferPlan(graph: graph, mode: .training, batchSize: 2)
        XCTAssertEqual(plan.steps.map(\.runsBackward), [false, false, false, true, true, true, true])
        // The first parameterized step computes no input gradient, nor does anything before it.
        XCTAssertEqual(plan.steps.map { $0.inputGradient != nil }, [false, false, false, false, true, true, true])
        // The conv's backward columns exist; its input (ReLU 2's output) lives until its backward.
        XCTAssertNotNil(plan.steps[3].scratch[.backwardColumns])
        let convInput = plan.tensor(plan.steps[3].input)
        XCTAssertEqual(convInput.lastUse, 2 * graph.steps.count - 3)
        // The pool still writes its indices and the dropout its mask in training, though nobody reads them later.
        let indices = try XCTUnwrap(plan.steps[0].saved[.poolIndices])
        XCTAssertEqual([plan.tensor(indices).firstUse, plan.tensor(indices).lastUse], [0, 0])
        XCTAssertNotNil(plan.steps[1].saved[.dropoutMask])
        checkPlacement(plan.tensors, arenaBytes: plan.arenaBytes, "no backward")
    }

    func testFirstStepComputesNoInputGradient() throws {
        for name in exampleNames {
            let plan = BufferPlan(graph: try exampleGraph(name), mode: .training, batchSize: 3)
            XCTAssertNil(plan.steps[0].inputGradient, name)
            XCTAssertTrue(plan.steps[0].runsBackward, name)
            XCTAssertEqual(plan.tensors.filter { $0.name == "-1.output.grad" }, [], name)
        }
    }

    func testColumnChunksRespectTheBudget() throws {
        let graph = try exampleGraph("mnist")
        // Conv 3 (32→32 k3 at 28×28): 288 rows · 784 outputs · 4 B = 903,168 B per image;
        // 2 MiB / 903,168 = 2 images per chunk.
        let plan = BufferPlan(graph: graph, mode: .training, batchSize: 32)
        guard case let .conv2d(conv3) = graph.steps[3].op, case let .conv2d(conv0) = graph.steps[0].op else {
            return XCTFail("steps 0 and 3 are convolutions")
        }
        XCTAssertEqual(conv3.imagesPerChunk(batchSize: 32, lanes: 1), 2)
        XCTAssertEqual(plan.steps[3].scratch[.columns].map { plan.tensor($0).elementCount }, 288 * 784 * 2)
        XCTAssertNil(plan.steps[3].scratch[.weightGradientPartials])
        // With two lanes each lane gets its own region, and work item 1 its own weight-gradient sums.
        let twoLanes = BufferPlan(graph: graph, mode: .training, batchSize: 32, lanes: 2)
        XCTAssertEqual(conv3.columnsPerLane(batchSize: 32, lanes: 2), 288 * 784 * 2)
        XCTAssertEqual(twoLanes.steps[3].scratch[.columns].map { twoLanes.tensor($0).elementCount }, 288 * 784 * 2 * 2)
        XCTAssertEqual(twoLanes.steps[3].scratch[.weightGradientPartials].map { twoLanes.tensor($0).elementCount },
                       32 * 288)
        // Conv 0 (9 rows · 784 · 4 B = 28,224 B) fits the whole batch.
        XCTAssertEqual(conv0.imagesPerChunk(batchSize: 32, lanes: 1), 32)
        XCTAssertEqual(conv3.imagesPerChunk(batchSize: 1, lanes: 1), 1)
        XCTAssertEqual(plan.steps[6].scratch, [:])
    }
}
