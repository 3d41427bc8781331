import Foundation
import Graph
import Runtime
import Spec
import XCTest

/// cnnc against numbers PyTorch produced (an independent oracle, not a re-typing of the same
/// formulas): `scripts/make-fixtures` wrote one safetensors file per layer kind and one for a
/// small mixed network (see that script for what each holds). For each, the network is compiled
/// from the spec stored in the file, given PyTorch's initial state_dict, and must reproduce:
///
/// - the evaluation-mode output and the training-mode mean loss: within 1e-5 relative (+1e-6);
/// - every parameter gradient: within 1e-4 of the tensor's largest magnitude (+1e-6) — float32
///   sums in another order. Input gradients are checked through the gradient of the parameters in
///   front of the layer (each fixture puts a 1×1 conv before a parameter-free layer);
/// - the batch-norm running statistics and counters after the training step: 1e-5 relative;
/// - every state_dict entry after one Adam step and after one SGD step with momentum, both with
///   weight decay: within 1e-5 of the tensor's largest magnitude (+1e-6), and for Adam another
///   1e-3·lr. Adam's first step moves a weight by lr·g/(|g| + eps) with g = gradient + decay·weight;
///   where decay·weight all but cancels the gradient (maxpool2d's `3.weight[82]`: 0.0016626 −
///   0.0016622), float32 rounding of that difference moves the step by up to a few 1e-4·lr.
final class PyTorchFixtureTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    struct Fixture {
        var name: String
        var tensors: [String: SafetensorsTensor]
        var metadata: [String: String]

        func floats(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
            let tensor = try XCTUnwrap(tensors[key], "\(name): no tensor '\(key)'", file: file, line: line)
            switch tensor.payload {
            case let .float32(values): return values
            case let .int64(values): return values.map(Float.init)
            }
        }

        func number(_ key: String) throws -> Double {
            try XCTUnwrap(metadata[key].flatMap(Double.init), "\(name): no metadata '\(key)'")
        }
    }

    func load(_ name: String) throws -> Fixture {
        let (tensors, metadata) = try readSafetensors(path: "\(Self.directory)/\(name).safetensors")
        return Fixture(name: name, tensors: Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) }),
                       metadata: Dictionary(metadata, uniquingKeysWith: { a, _ in a }))
    }

    func assertClose(_ actual: [Float], _ expected: [Float], relative: Float, absolute: Float = 0, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        let scale = expected.map(abs).max() ?? 0
        let tolerance = relative * scale + 1e-6 + absolute
        let worst = zip(actual, expected).enumerated().max { abs($0.1.0 - $0.1.1) < abs($1.1.0 - $1.1.1) }
        if let (i, (a, e)) = worst, abs(a - e) > tolerance {
            XCTFail("\(what): element \(i) is \(a), PyTorch has \(e) (tolerance \(tolerance))", file: file, line: line)
        }
    }

    /// A network for the fixture's spec holding PyTorch's initial state.
    func network(_ fixture: Fixture, optimizer: OptimizerSettings) throws -> (Network, Graph) {
        let text = try XCTUnwrap(fixture.metadata["spec"])
        let compilation = Compilation.compile(source: SourceFile(path: "\(fixture.name).yaml", text: text))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        let batch = try XCTUnwrap(fixture.tensors["labels"]).shape[0]
        let net = Network(graph: graph, trainingBatch: batch, evaluationBatch: batch, optimizer: optimizer, seed: 1)
        XCTAssertEqual(Set(graph.slots.map(\.name)), Set(fixture.tensors.keys.filter { $0.hasPrefix("init/") }.map { String($0.dropFirst(5)) }),
                       "\(fixture.name): state_dict names")
        for slot in graph.slots {
            net.setValues(try fixture.floats("init/" + slot.name), of: slot)
        }
        return (net, graph)
    }

    func check(_ name: String) throws {
        let fixture = try load(name)
        let input = try fixture.floats("input")
        let labels = try fixture.floats("labels").map { Int32($0) }
        let batch = labels.count
        let indices = (0..<Int32(batch)).map { $0 }
        let adam = OptimizerSettings(kind: .adam, lr: try fixture.number("adam_lr"),
                                     weightDecay: try fixture.number("adam_weight_decay"))
        let sgd = OptimizerSettings(kind: .sgd, lr: try fixture.number("sgd_lr"), momentum: try fixture.number("sgd_momentum"),
                                    weightDecay: try fixture.number("sgd_weight_decay"))
        for (optimizer, prefix) in [(adam, "adam/"), (sgd, "sgd/")] {
            let (net, graph) = try network(fixture, optimizer: optimizer)
            _ = net.evaluate(images: input, labels: labels, indices: indices, count: batch)
            let output = Array(UnsafeBufferPointer(start: try XCTUnwrap(net.lastEvaluationOutput), count: batch * Graph.classCount))
            assertClose(output, try fixture.floats("eval_output"), relative: 1e-5, "\(name): eval output")

            let loss = net.computeGradients(images: input, labels: labels, indices: indices, count: batch).loss / Double(batch)
            let expectedLoss = Double(try fixture.floats("loss")[0])
            XCTAssertEqual(loss, expectedLoss, accuracy: abs(expectedLoss) * 1e-5 + 1e-6, "\(name): loss")
            for slot in graph.slots where slot.role.storage == .parameters {
                assertClose(net.gradient(of: slot), try fixture.floats("grad/" + slot.name), relative: 1e-4,
                            "\(name): gradient of \(slot.name)")
            }
            net.update()
            for slot in graph.slots {
                let adamRounding = optimizer.kind == .adam ? Float(1e-3 * optimizer.lr) : 0
                assertClose(net.values(of: slot), try fixture.floats(prefix + slot.name), relative: 1e-5, absolute: adamRounding,
                            "\(name): \(slot.name) after one \(optimizer.kind.rawValue) step")
            }
        }
    }

    func testLinear() throws { try check("linear") }
    func testLinearWithoutBiasAndHiddenReLU() throws { try check("linear-nobias") }
    func testConv2D() throws { try check("conv2d") }
    func testConv2DStridedRectangularWithoutBias() throws { try check("conv2d-strided") }
    func testMaxPool2D() throws { try check("maxpool2d") }
    func testMaxPool2DPaddedOverlapping() throws { try check("maxpool2d-padded") }
    func testBatchNorm2D() throws { try check("batchnorm2d") }
    func testReLU() throws { try check("relu") }
    func testSoftmaxWithNLL() throws { try check("softmax") }
    func testMixedNetwork() throws { try check("mixed") }
}
