import XCTest
@testable import Graph
import Spec

/// `index name kind input→output` for each step.
private func stepLines(_ graph: Graph) -> [String] {
    graph.steps.map { "\($0.index) \($0.name) \($0.op.kindName) \($0.input)→\($0.output)" }
}

private func slotLines(_ graph: Graph) -> [String] {
    graph.slots.map { "\($0.name) \($0.shape)" }
}

final class GraphTests: XCTestCase {
    // MARK: - Examples: parameter counts, shapes, slots

    func testMNISTExample() throws {
        let graph = try exampleGraph("mnist")
        // 0 Conv2D 1→32 k3 p1:   32·1·3·3 + 32   =     320   (28×28 kept by padding 1)
        // 1 BatchNorm2D(32):     32 + 32          =      64
        // 3 Conv2D 32→32 k3 p1:  32·32·3·3 + 32  =   9,248
        // 4 BatchNorm2D(32):                      =      64
        // 6 MaxPool2D 2:         28×28 → 14×14
        // 7 Conv2D 32→64 k3 p1:  64·32·3·3 + 64  =  18,496
        // 8 BatchNorm2D(64):     64 + 64          =     128
        // 10 Conv2D 64→64 k3 p1: 64·64·3·3 + 64  =  36,928
        // 11 BatchNorm2D(64):                     =     128
        // 13 MaxPool2D 2:        14×14 → 7×7; 14 Flatten: 64·7·7 = 3,136
        // 15 Linear 3136→128:    3136·128 + 128   = 401,536
        // 18 Linear 128→10:      128·10 + 10      =   1,290
        let expected = 320 + 64 + 9_248 + 64 + 18_496 + 128 + 36_928 + 128 + 401_536 + 1_290
        XCTAssertEqual(expected, 468_202)
        XCTAssertEqual(graph.parameterCount, expected)
        // Running mean + var of each BatchNorm: 2·(32 + 32 + 64 + 64) = 384; one counter each.
        XCTAssertEqual(graph.statisticCount, 384)
        XCTAssertEqual(graph.counterCount, 4)
        XCTAssertEqual(graph.name, "mnist-cnn")
        XCTAssertEqual(graph.input, .image(channels: 1, height: 28, width: 28))
        XCTAssertEqual(stepLines(graph), [
            "0 conv2d_0 Conv2D 1×28×28→32×28×28",
            "1 batchnorm2d_1 BatchNorm2D 32×28×28→32×28×28",
            "2 relu_2 ReLU 32×28×28→32×28×28",
            "3 conv2d_3 Conv2D 32×28×28→32×28×28",
            "4 batchnorm2d_4 BatchNorm2D 32×28×28→32×28×28",
            "5 relu_5 ReLU 32×28×28→32×28×28",
            "6 maxpool2d_6 MaxPool2D 32×28×28→32×14×14",
            "7 conv2d_7 Conv2D 32×14×14→64×14×14",
            "8 batchnorm2d_8 BatchNorm2D 64×14×14→64×14×14",
            "9 relu_9 ReLU 64×14×14→64×14×14",
            "10 conv2d_10 Conv2D 64×14×14→64×14×14",
            "11 batchnorm2d_11 BatchNorm2D 64×14×14→64×14×14",
            "12 relu_12 ReLU 64×14×14→64×14×14",
            "13 maxpool2d_13 MaxPool2D 64×14×14→64×7×7",
            "14 flatten_14 Flatten 64×7×7→3136",
            "15 linear_15 Linear 3136→128",
            "16 relu_16 ReLU 128→128",
            "17 dropout_17 Dropout 128→128",
            "18 linear_18 Linear 128→10",
        ])
        XCTAssertEqual(graph.steps.filter(\.isImplicit).map(\.index), [14])
        XCTAssertFalse(graph.outputsProbabilities)
        // MACs: 32·784·9 + 32·784·288 + 64·196·288 + 64·196·576 + 3136·128 + 128·10
        //     = 225,792 + 7,225,344 + 3,612,672 + 7,225,344 + 401,408 + 1,280 = 18,691,840
        XCTAssertEqual(graph.macsPerExample, 18_691_840)
    }

    func testMNISTStateDictNamesInPyTorchOrder() throws {
        let graph = try exampleGraph("mnist")
        XCTAssertEqual(slotLines(graph), [
            "0.weight [32, 1, 3, 3]", "0.bias [32]",
            "1.weight [32]", "1.bias [32]", "1.running_mean [32]", "1.running_var [32]", "1.num_batches_tracked []",
            "3.weight [32, 32, 3, 3]", "3.bias [32]",
            "4.weight [32]", "4.bias [32]", "4.running_mean [32]", "4.running_var [32]", "4.num_batches_tracked []",
            "7.weight [64, 32, 3, 3]", "7.bias [64]",
            "8.weight [64]", "8.bias [64]", "8.running_mean [64]", "8.running_var [64]", "8.num_batches_tracked []",
            "10.weight [64, 64, 3, 3]", "10.bias [64]",
            "11.weight [64]", "11.bias [64]", "11.running_mean [64]", "11.running_var [64]", "11.num_batches_tracked []",
            // The implicit Flatten is module 14 of the Sequential, so the Linears are 15 and 18.
            "15.weight [128, 3136]", "15.bias [128]",
            "18.weight [10, 128]", "18.bias [10]",
        ])
        XCTAssertEqual(graph.slot(step: 1, .numBatchesTracked)?.count, 1)
        XCTAssertEqual(graph.slots(ofStep: 15).map(\.name), ["15.weight", "15.bias"])
        XCTAssertEqual(graph.slots(ofStep: 14).map(\.name), [])
        XCTAssertNil(graph.slot(step: 2, .weight))
    }

    func testLeNetExample() throws {
        let graph = try exampleGraph("lenet")
        // 0 Conv2D 1→6 k5 p2:  6·1·5·5 + 6     =    156  (28 + 4 − 5 + 1 = 28)
        // 2 MaxPool2D 2:       28 → 14
        // 3 Conv2D 6→16 k5:    16·6·5·5 + 16   =  2,416  (14 − 5 + 1 = 10)
        // 5 MaxPool2D 2:       10 → 5; 6 Flatten: 16·5·5 = 400
        // 7 Linear 400→120:    400·120 + 120   = 48,120
        // 10 Linear 120→84:    120·84 + 84     = 10,164
        // 12 Linear 84→10:     84·10 + 10      =    850
        let expected = 156 + 2_416 + 48_120 + 10_164 + 850
        XCTAssertEqual(expected, 61_706)
        XCTAssertEqual(graph.parameterCount, expected)
        XCTAssertEqual(graph.statisticCount, 0)
        XCTAssertEqual(graph.counterCount, 0)
        XCTAssertEqual(stepLines(graph), [
            "0 conv2d_0 Conv2D 1×28×28→6×28×28",
            "1 relu_1 ReLU 6×28×28→6×28×28",
            "2 maxpool2d_2 MaxPool2D 6×28×28→6×14×14",
            "3 conv2d_3 Conv2D 6×14×14→16×10×10",
            "4 relu_4 ReLU 16×10×10→16×10×10",
            "5 maxpool2d_5 MaxPool2D 16×10×10→16×5×5",
            "6 flatten_6 Flatten 16×5×5→400",
            "7 linear_7 Linear 400→120",
            "8 relu_8 ReLU 120→120",
            "9 dropout_9 Dropout 120→120",
            "10 linear_10 Linear 120→84",
            "11 relu_11 ReLU 84→84",
            "12 linear_12 Linear 84→10",
            "13 softmax_13 Softmax 10→10",
        ])
        XCTAssertEqual(slotLines(graph), [
            "0.weight [6, 1, 5, 5]", "0.bias [6]", "3.weight [16, 6, 5, 5]", "3.bias [16]",
            "7.weight [120, 400]", "7.bias [120]", "10.weight [84, 120]", "10.bias [84]",
            "12.weight [10, 84]", "12.bias [10]",
        ])
        XCTAssertTrue(graph.outputsProbabilities)
        XCTAssertEqual(graph.steps[9].op, .dropout(p: 0.2))
        // 6·784·25 + 16·100·150 + 400·120 + 120·84 + 84·10 = 117,600 + 240,000 + 48,000 + 10,080 + 840
        XCTAssertEqual(graph.macsPerExample, 416_520)
    }

    func testStridedExample() throws {
        let graph = try exampleGraph("strided")
        // 0 stem Conv2D 1→16 k3 s1 p1:           16·1·3·3 + 16  =    160  (28 + 2 − 3)/1 + 1 = 28
        // 1 stem_bn BatchNorm2D(16):             16 + 16        =     32
        // 3 down1 Conv2D 16→32 k4 s2 p1:         32·16·4·4 + 32 =  8,224  (28 + 2 − 4)/2 + 1 = 14
        // 5 down2 Conv2D 32→32 k[3,5] s2 p[1,2], no bias: 32·32·3·5 = 15,360
        //                                        H (14 + 2 − 3)/2 + 1 = 7, W (14 + 4 − 5)/2 + 1 = 7
        // 6 BatchNorm2D(32):                     32 + 32        =     64
        // 8 MaxPool2D k3 s2 p1:                  (7 + 2 − 3)/2 + 1 = 4;  10 Flatten: 32·4·4 = 512
        // 11 head Linear 512→10:                 512·10 + 10    =  5,130
        let expected = 160 + 32 + 8_224 + 15_360 + 64 + 5_130
        XCTAssertEqual(expected, 28_970)
        XCTAssertEqual(graph.parameterCount, expected)
        XCTAssertEqual(graph.statisticCount, 2 * (16 + 32))
        XCTAssertEqual(graph.counterCount, 2)
        XCTAssertEqual(stepLines(graph), [
            "0 stem Conv2D 1×28×28→16×28×28",
            "1 stem_bn BatchNorm2D 16×28×28→16×28×28",
            "2 relu_2 ReLU 16×28×28→16×28×28",
            "3 down1 Conv2D 16×28×28→32×14×14",
            "4 relu_4 ReLU 32×14×14→32×14×14",
            "5 down2 Conv2D 32×14×14→32×7×7",
            "6 batchnorm2d_6 BatchNorm2D 32×7×7→32×7×7",
            "7 relu_7 ReLU 32×7×7→32×7×7",
            "8 maxpool2d_8 MaxPool2D 32×7×7→32×4×4",
            "9 dropout_9 Dropout 32×4×4→32×4×4",
            "10 flatten_10 Flatten 32×4×4→512",
            "11 head Linear 512→10",
        ])
        XCTAssertEqual(slotLines(graph), [
            "0.weight [16, 1, 3, 3]", "0.bias [16]",
            "1.weight [16]", "1.bias [16]", "1.running_mean [16]", "1.running_var [16]", "1.num_batches_tracked []",
            "3.weight [32, 16, 4, 4]", "3.bias [32]",
            "5.weight [32, 32, 3, 5]",
            "6.weight [32]", "6.bias [32]", "6.running_mean [32]", "6.running_var [32]", "6.num_batches_tracked []",
            "11.weight [10, 512]", "11.bias [10]",
        ])
        XCTAssertEqual(graph.steps.map(\.weightDecay), [nil, nil, nil, 0.0005, nil, nil, nil, nil, nil, nil, nil, 0.001])
        guard case let .batchNorm2d(stemBN) = graph.steps[1].op else { return XCTFail("step 1 is not batch norm") }
        XCTAssertEqual(stemBN.eps, 0.001)
        XCTAssertEqual(stemBN.momentum, 0.05)
        XCTAssertEqual(stemBN.spatial, 28 * 28)
        guard case let .batchNorm2d(bn) = graph.steps[6].op else { return XCTFail("step 6 is not batch norm") }
        XCTAssertEqual(bn.eps, 1e-5)
        XCTAssertEqual(bn.momentum, 0.1)
        // The implicit flatten points at the Linear that needs it (line 17 of the file).
        XCTAssertTrue(graph.steps[10].isImplicit)
        XCTAssertEqual(graph.steps[10].location, graph.steps[11].location)
        XCTAssertEqual(graph.steps[11].location.line, 17)
        // 16·784·9 + 32·196·256 + 32·49·(32·3·5) + 512·10 = 112,896 + 1,605,632 + 752,640 + 5,120
        XCTAssertEqual(graph.macsPerExample, 2_476_288)
    }

    func testSlotOffsetsAreContiguousPerStorage() throws {
        for name in exampleNames {
            let graph = try exampleGraph(name)
            var next: [SlotStorage: Int] = [.parameters: 0, .statistics: 0, .counters: 0]
            for slot in graph.slots {
                XCTAssertEqual(slot.offset, next[slot.role.storage], "\(name) \(slot.name)")
                next[slot.role.storage, default: 0] += slot.count
            }
            XCTAssertEqual(next[.parameters], graph.parameterCount, name)
            XCTAssertEqual(next[.statistics], graph.statisticCount, name)
            XCTAssertEqual(next[.counters], graph.counterCount, name)
            XCTAssertEqual(graph.steps.reduce(0) { $0 + $1.op.parameterCount }, graph.parameterCount, name)
            XCTAssertEqual(graph.steps.map(\.index), Array(graph.steps.indices), name)
        }
    }

    func testExplicitOffsetsOfMNISTBatchNorm() throws {
        let graph = try exampleGraph("mnist")
        // Parameters: 0.weight 0..<288, 0.bias 288..<320, 1.weight 320..<352, 1.bias 352..<384, 3.weight 384…
        XCTAssertEqual(graph.slot(step: 1, .weight)?.offset, 320)
        XCTAssertEqual(graph.slot(step: 1, .bias)?.offset, 352)
        XCTAssertEqual(graph.slot(step: 3, .weight)?.offset, 384)
        // Statistics: 1.running_mean 0, 1.running_var 32, 4.running_mean 64, …
        XCTAssertEqual(graph.slot(step: 1, .runningMean)?.offset, 0)
        XCTAssertEqual(graph.slot(step: 1, .runningVar)?.offset, 32)
        XCTAssertEqual(graph.slot(step: 4, .runningMean)?.offset, 64)
        XCTAssertEqual(graph.slot(step: 11, .runningVar)?.offset, 384 - 64)
        // Counters: one per batch norm.
        XCTAssertEqual([1, 4, 8, 11].map { graph.slot(step: $0, .numBatchesTracked)?.offset }, [0, 1, 2, 3])
    }

    // MARK: - The parameter limit

    func testJustUnderTheLimitIsAccepted() throws {
        // Total for input [1, 1, N], Linear k, Linear 10:  (N·k + k) + (10·k + 10) = k·(N + 11) + 10.
        // 999,999 − 10 = 999,989 = 19 · 52,631, so k = 52,631 and N + 11 = 19 → N = 8:
        //   Linear 8→52631:  8·52,631 + 52,631 = 473,679
        //   Linear 52631→10: 52,631·10 + 10    = 526,320
        //   total                                = 999,999
        let graph = try compiledGraph("""
        name: t
        input: [1, 1, 8]
        layers:
          - Linear: {out_features: 52631}
          - Linear: {out_features: 10}

        """)
        XCTAssertEqual(graph.steps.map(\.op.parameterCount), [0, 473_679, 526_320])
        XCTAssertEqual(graph.parameterCount, 999_999)
        XCTAssertEqual(graph.parameterCount, Graph.parameterLimit - 1)
    }

    func testAtTheLimitIsRejected() {
        // k·(N + 11) + 10 = 1,000,000 → k·(N + 11) = 999,990 = 15 · 66,666, so k = 66,666, N = 4:
        //   Linear 4→66666:  4·66,666 + 66,666 = 333,330 (33.3 %)
        //   Linear 66666→10: 66,666·10 + 10    = 666,670 (66.7 %)
        //   total                                = 1,000,000, one more than allowed
        let compilation = compile("""
        name: t
        input: [1, 1, 4]
        layers:
          - Linear: {out_features: 66666}
          - Linear: {out_features: 10}

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertTrue(compilation.hasErrors)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:3:1: error: the model has 1,000,000 parameters; the limit is fewer than 1,000,000 (over by 1)
        layers:
        ^
          parameters by layer:
            1 Linear (line 4): 333,330 (33.3%)
            2 Linear (line 5): 666,670 (66.7%)
        hint: most parameters are in 2 Linear at line 5 and 1 Linear at line 4; shrink those layers or pool before the first Linear

        """)
    }

    func testOverTheLimitListsEveryLayerAndNamesTheTwoLargest() {
        // 0 Conv2D 1→4 k3 p1:  4·9 + 4            =       40 (0.004 % → 0.0)
        // 2 Linear 3136→300:   4·28·28·300 + 300  =  941,100 (93.795 % → 93.8)
        // 3 Linear 300→200:    300·200 + 200      =   60,200 (5.9999 % → 6.0)
        // 4 Linear 200→10:     200·10 + 10        =    2,010 (0.2003 % → 0.2)
        // total 1,003,350; over by 1,003,350 − 1,000,000 + 1 = 3,351
        let compilation = compile("""
        name: t
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 3, padding: 1}
          - Linear: {out_features: 300}
          - Linear: {out_features: 200}
          - Linear: {out_features: 10}

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:3:1: error: the model has 1,003,350 parameters; the limit is fewer than 1,000,000 (over by 3,351)
        layers:
        ^
          parameters by layer:
            0 Conv2D (line 4): 40 (0.0%)
            2 Linear (line 5): 941,100 (93.8%)
            3 Linear (line 6): 60,200 (6.0%)
            4 Linear (line 7): 2,010 (0.2%)
        hint: most parameters are in 2 Linear at line 5 and 3 Linear at line 6; shrink those layers or pool before the first Linear

        """)
    }

    func testGraphCompileReportsLimitAndWidthTogether() throws {
        // Linear 4→66666 (333,330) + Linear 66666→11 (733,337) = 1,066,667 and the wrong width.
        let parsed = parseSpec(SourceFile(path: "t.yaml", text: """
        name: t
        input: [1, 1, 4]
        layers:
          - Linear: {out_features: 66666}
          - Linear: {out_features: 11}

        """))
        let spec = try XCTUnwrap(parsed.spec)
        let (graph, diagnostics) = Graph.compile(spec)
        XCTAssertNil(graph)
        XCTAssertEqual(diagnostics.map(\.message), [
            "the model outputs 11 features per image; an MNIST classifier needs 10",
            "the model has 1,066,667 parameters; the limit is fewer than 1,000,000 (over by 66,668)",
        ])
    }

    // MARK: - Shape errors

    func testKernelLargerThanInput() {
        // 8×8 → Conv k5 → 8×4×4; a second 5×5 kernel does not fit.
        let compilation = compile("""
        name: t
        input: [1, 8, 8]
        layers:
          - Conv2D: {out_channels: 8, kernel_size: 5}
          - Conv2D: {out_channels: 16, kernel_size: 5}
          - Linear: {out_features: 10}

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:5:32: error: kernel 5×5 does not fit input 8×4×4
          - Conv2D: {out_channels: 16, kernel_size: 5}
                                       ^
        hint: the input shrank too much before this layer; use a smaller kernel, add padding, or pool less

        """)
    }

    func testKernelLargerThanPaddedInput() {
        // 2×3 input padded by 1 is 4×5; a 5×5 kernel is too tall. (A 4×5 kernel would fit.)
        let compilation = compile("""
        name: t
        input: [3, 2, 3]
        layers:
          - Conv2D: {kernel_size: 5, padding: 1, out_channels: 2}
          - Linear: {out_features: 10}

        """)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:4:14: error: kernel 5×5 does not fit input 3×2×3 (padded to 4×5)
          - Conv2D: {kernel_size: 5, padding: 1, out_channels: 2}
                     ^
        hint: the input shrank too much before this layer; use a smaller kernel, add padding, or pool less

        """)
        let fits = compile("""
        name: t
        input: [3, 2, 3]
        layers:
          - Conv2D: {kernel_size: [4, 5], padding: 1, out_channels: 2}
          - Linear: {out_features: 10}

        """)
        XCTAssertEqual(fits.diagnostics, [], fits.renderedDiagnostics)
        XCTAssertEqual(fits.graph?.steps[0].output, .image(channels: 2, height: 1, width: 1))
    }

    func testPoolingShrinksBelowOne() {
        // 4×4 → 2×2 → 1×1 → a 2×2 window no longer fits.
        let compilation = compile("""
        name: t
        input: [1, 4, 4]
        layers:
          - MaxPool2D: {kernel_size: 2}
          - MaxPool2D: {kernel_size: 2}
          - MaxPool2D: {kernel_size: 2}
          - Linear: {out_features: 10}

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:6:17: error: pooling window 2×2 does not fit input 1×1×1
          - MaxPool2D: {kernel_size: 2}
                        ^
        hint: the input shrank too much before this layer; use a smaller pooling window, add padding, or pool less

        """)
    }

    func testStrideShrinksBelowOne() {
        // (7 − 3)/2 + 1 = 3, (3 − 3)/2 + 1 = 1, then a 3×3 kernel does not fit 1×1.
        let compilation = compile("""
        name: t
        input: [1, 7, 7]
        layers:
          - Conv2D: {out_channels: 2, kernel_size: 3, stride: 2}
          - Conv2D: {out_channels: 2, kernel_size: 3, stride: 2}
          - Conv2D: {out_channels: 2, kernel_size: 3, stride: 2}
          - Linear: {out_features: 10}

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:6:31: error: kernel 3×3 does not fit input 2×1×1
          - Conv2D: {out_channels: 2, kernel_size: 3, stride: 2}
                                      ^
        hint: the input shrank too much before this layer; use a smaller kernel, add padding, or pool less

        """)
    }

    func testImageLayersAfterLinearNeedAnImage() {
        let cases: [(layer: String, name: String)] = [
            ("Conv2D: {out_channels: 4, kernel_size: 1}", "Conv2D"),
            ("MaxPool2D: {kernel_size: 2}", "MaxPool2D"),
            ("BatchNorm2D", "BatchNorm2D"),
        ]
        for (layer, name) in cases {
            let compilation = compile("""
            name: t
            input: [1, 28, 28]
            layers:
              - Linear: {out_features: 32}
              - ReLU
              - \(layer)
              - Linear: {out_features: 10}

            """)
            XCTAssertNil(compilation.graph, name)
            XCTAssertEqual(compilation.renderedDiagnostics, """
            t.yaml:6:5: error: \(name) needs a C×H×W input, but its input is 32 flat features
              - \(layer)
                ^
            hint: \(name) must come before the first Linear

            """)
        }
    }

    func testWrongOutputWidth() {
        // LeNet without its last Linear: the model ends at 84 features.
        let compilation = compile("""
        name: t
        layers:
          - Conv2D: {out_channels: 6, kernel_size: 5}
          - MaxPool2D: {kernel_size: 2}
          - Linear: {out_features: 120}
          - ReLU
          - Linear: {out_features: 84}
          - ReLU

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:7:5: error: the model outputs 84 features per image; an MNIST classifier needs 10
          - Linear: {out_features: 84}
            ^
        hint: end with `Linear: {out_features: 10}` (optionally followed by Softmax)

        """)
    }

    func testWrongOutputWidthBeforeSoftmaxPointsAtTheLinear() {
        let compilation = compile("""
        name: t
        layers:
          - Linear: {out_features: 84}
          - Softmax

        """)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:3:5: error: the model outputs 84 features per image; an MNIST classifier needs 10
          - Linear: {out_features: 84}
            ^
        hint: end with `Linear: {out_features: 10}` (optionally followed by Softmax)

        """)
    }

    func testOutputStillAnImage() {
        // 28 − 5 + 1 = 24; no Linear, so the error points at the last layer.
        let compilation = compile("""
        name: t
        layers:
          - Conv2D: {out_channels: 6, kernel_size: 5}
          - ReLU

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:4:5: error: the model outputs 6×24×24 features per image; an MNIST classifier needs 10
          - ReLU
            ^
        hint: end with `Linear: {out_features: 10}` (optionally followed by Softmax)

        """)
    }

    func testTenChannelOneByOneImageIsNotTenFeatures() {
        // 10×1×1 has ten elements but is still an image: PyTorch would need a Flatten.
        let compilation = compile("""
        name: t
        input: [1, 3, 3]
        layers:
          - Conv2D: {out_channels: 10, kernel_size: 3}

        """)
        XCTAssertEqual(compilation.diagnostics.map(\.message),
                       ["the model outputs 10×1×1 features per image; an MNIST classifier needs 10"])
    }

    func testSoftmaxOnAnImage() {
        let compilation = compile("""
        name: t
        layers:
          - Conv2D: {out_channels: 6, kernel_size: 5}
          - Softmax

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.renderedDiagnostics, """
        t.yaml:4:5: error: Softmax needs a flat input, got 6×24×24
          - Softmax
            ^
        hint: put a Linear before it

        """)
    }

    func testShapeInferenceStopsAtTheFirstError() {
        // The second Conv2D fails; the later MaxPool2D on a flat input is not reported.
        let compilation = compile("""
        name: t
        input: [1, 4, 4]
        layers:
          - Conv2D: {out_channels: 2, kernel_size: 5}
          - Linear: {out_features: 10}
          - MaxPool2D: {kernel_size: 2}

        """)
        XCTAssertEqual(compilation.diagnostics.map(\.message), ["kernel 5×5 does not fit input 1×4×4"])
    }

    // MARK: - Small pieces

    func testDefaultNamesAndUserNames() throws {
        let graph = try compiledGraph("""
        name: t
        input: [1, 4, 4]
        layers:
          - Conv2D: {out_channels: 2, kernel_size: 3, name: first}
          - BatchNorm2D
          - Dropout
          - Linear: {out_features: 10}
          - Softmax: {name: probs}

        """)
        XCTAssertEqual(graph.steps.map(\.name), ["first", "batchnorm2d_1", "dropout_2", "flatten_3", "linear_4", "probs"])
        XCTAssertEqual(graph.steps[2].op, .dropout(p: 0.5))
    }

    func testFlatInputToLinearNeedsNoFlatten() throws {
        let graph = try compiledGraph("""
        name: t
        input: [2, 3, 4]
        layers:
          - Linear: {out_features: 16, bias: false}
          - Linear: {out_features: 10}

        """)
        // One flatten only, before the first Linear: 2·3·4 = 24 features.
        XCTAssertEqual(stepLines(graph), ["0 flatten_0 Flatten 2×3×4→24", "1 linear_1 Linear 24→16", "2 linear_2 Linear 16→10"])
        // 24·16 (no bias) + 16·10 + 10 = 384 + 170 = 554
        XCTAssertEqual(graph.parameterCount, 554)
        XCTAssertEqual(slotLines(graph), ["1.weight [16, 24]", "2.weight [10, 16]", "2.bias [10]"])
        XCTAssertEqual(graph.steps[0].op, .flatten(FlattenGeometry(channels: 2, spatial: 12)))
    }

    func testGroupedThousandsAndFormatFixed() {
        XCTAssertEqual(groupedThousands(0), "0")
        XCTAssertEqual(groupedThousands(999), "999")
        XCTAssertEqual(groupedThousands(1_000), "1,000")
        XCTAssertEqual(groupedThousands(468_202), "468,202")
        XCTAssertEqual(groupedThousands(1_000_000), "1,000,000")
        XCTAssertEqual(groupedThousands(-12_345), "-12,345")
        XCTAssertEqual(formatFixed(3.14159, digits: 2), "3.14")
        XCTAssertEqual(formatFixed(99.96, digits: 1), "100.0")
        XCTAssertEqual(formatFixed(0.04, digits: 1), "0.0")
        XCTAssertEqual(formatFixed(-0.04, digits: 1), "0.0")
        XCTAssertEqual(formatFixed(-2.5, digits: 1), "-2.5")
        XCTAssertEqual(formatFixed(6.05, digits: 0), "6")
        XCTAssertEqual(formatFixed(1.005, digits: 3), "1.005")
    }

    func testSettingDropout() throws {
        let spec = try XCTUnwrap(loadSpec(path: examplePath("lenet")).spec)
        XCTAssertTrue(spec.hasDropout)
        let changed = spec.settingDropout(0.6)
        XCTAssertEqual(changed.layers.compactMap { layer -> Double? in
            if case let .dropout(d) = layer.kind { return d.p }
            return nil
        }, [0.6])
        XCTAssertEqual(changed.layers.count, spec.layers.count)
        let noDropout = try XCTUnwrap(parseSpec(SourceFile(path: "t.yaml", text: "layers:\n  - Linear: {out_features: 10}\n")).spec)
        XCTAssertFalse(noDropout.hasDropout)
        XCTAssertEqual(noDropout.settingDropout(0.3), noDropout)
    }
}

/// The decoder accepts any integer that fits in Int; Graph.compile bounds every size at
/// `Graph.sizeLimit` with checked arithmetic, so absurd specs get a diagnostic, never a trap.
final class GraphOverflowTests: XCTestCase {
    private func assertRejected(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) {
        let compilation = compile(yaml)
        XCTAssertNil(compilation.graph, file: file, line: line)
        XCTAssertTrue(compilation.hasErrors, file: file, line: line)
    }

    func testHugeInputBeforeLinear() {
        // The implicit Flatten computes C·H·W = 2^32 · 2^32 · 1 (Graph.swift:77).
        assertRejected("""
        name: t
        input: [4294967296, 4294967296, 1]
        layers:
          - Linear: {out_features: 10}

        """)
    }

    func testHugePadding() {
        // in + 2·padding with padding = 2^62 (windowProblem, Conv2DGeometry.outHeight).
        assertRejected("""
        name: t
        layers:
          - Conv2D: {out_channels: 1, kernel_size: 3, padding: 4611686018427387904}
          - Linear: {out_features: 10}

        """)
    }

    func testHugeLinearWeight() {
        // Weight count 4 · 2^62 (ParameterSlot.count in Graph.init).
        assertRejected("""
        name: t
        input: [1, 1, 4]
        layers:
          - Linear: {out_features: 4611686018427387904}
          - Linear: {out_features: 10}

        """)
    }
}
