import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

final class HandinUnitTests: XCTestCase {
    /// The protocol-buffers documentation's worked examples: field 1 = 150 is 08 96 01, field 2 =
    /// "testing" is 12 07 74 65 73 74 69 6e 67; a negative int64 takes ten bytes; a packed repeated
    /// field is one length-delimited record.
    func testProtobufWireFormatMatchesTheDocumentedExamples() {
        var message = ProtobufMessage()
        message.int(1, 150)
        XCTAssertEqual(message.bytes, [0x08, 0x96, 0x01])
        message = ProtobufMessage()
        message.string(2, "testing")
        XCTAssertEqual(message.bytes, [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67])
        message = ProtobufMessage()
        message.int(1, -1)
        XCTAssertEqual(message.bytes, [0x08] + [UInt8](repeating: 0xff, count: 9) + [0x01])
        message = ProtobufMessage()
        message.packedInts(4, [3, 270, 86942])
        XCTAssertEqual(message.bytes, [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05])
        message = ProtobufMessage()
        message.float(2, 1)
        XCTAssertEqual(message.bytes, [0x15, 0x00, 0x00, 0x80, 0x3f])
    }

    /// Three classes' worth of hand-counted predictions (logits, so the model has no Softmax).
    func testMetricsFromAHandCountedConfusionMatrix() {
        // labels:     0 0 0 1 1 2
        // predicted:  0 0 1 1 1 0
        let predicted = [0, 0, 1, 1, 1, 0]
        var outputs = [Float](repeating: 0, count: 6 * 10)
        for (i, p) in predicted.enumerated() { outputs[i * 10 + p] = 5 }
        let evaluation = Evaluation(indices: [0, 1, 2, 3, 4, 5], labels: [0, 0, 0, 1, 1, 2], outputs: outputs, correct: 4,
                                    outputsProbabilities: false)
        XCTAssertEqual(evaluation.confusion[0][0], 2)
        XCTAssertEqual(evaluation.confusion[0][1], 1)
        XCTAssertEqual(evaluation.confusion[1][1], 2)
        XCTAssertEqual(evaluation.confusion[2][0], 1)
        let m = evaluation.perClass
        XCTAssertEqual(m[0].precision, 2.0 / 3, accuracy: 1e-12)  // 2 of 3 predicted zeros are zeros
        XCTAssertEqual(m[0].recall, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m[1].precision, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m[1].recall, 1, accuracy: 1e-12)
        XCTAssertEqual(m[1].f1, 0.8, accuracy: 1e-12)            // 2·(2/3)·1 / (5/3)
        XCTAssertEqual(m[2].support, 1)
        XCTAssertEqual(m[2].recall, 0)
        XCTAssertEqual(m[2].f1, 0)
        XCTAssertEqual(m[3].support, 0)
        // Cross-entropy of a row with one logit 5 and nine 0: log(e^5 + 9) − 5 when right, log(e^5 + 9) when wrong.
        let right = log(exp(5.0) + 9) - 5, wrong = log(exp(5.0) + 9)
        XCTAssertEqual(evaluation.meanCrossEntropy, (4 * right + 2 * wrong) / 6, accuracy: 1e-9)
        // Both mistakes have the same confidence e^5 / (e^5 + 9); ties go to the lower index.
        let mistakes = evaluation.mistakes(limit: 25)
        XCTAssertEqual(mistakes.map(\.index), [2, 5])
        XCTAssertEqual(mistakes[0].confidence, exp(5.0) / (exp(5.0) + 9), accuracy: 1e-6)
    }

    func testRunConditionsNoteSaysWhatWasCut() {
        let settings = TrainingSettings(epochs: 1, batchSize: 32, optimizer: OptimizerSettings(kind: .adam, lr: 0.001), seed: 0,
                                        threads: 1, validation: 5000, limit: 2000)
        XCTAssertEqual(runConditionsNote(settings, specEpochs: 10),
                       "1 of 10 epochs · first 2,000 training images (--limit) · 5,000 held out for validation (--val)")
        var full = settings
        full.epochs = 10
        full.validation = 0
        full.limit = nil
        XCTAssertNil(runConditionsNote(full, specEpochs: 10))
    }

    func testRelativePaths() {
        XCTAssertEqual(relativePath("/a/b/c.pdf", from: "/a/d"), "../b/c.pdf")
        XCTAssertEqual(relativePath("/a/b/c.pdf", from: "/a/b"), "c.pdf")
        XCTAssertEqual(relativePath("/a/b/c.pdf", from: "/"), "a/b/c.pdf")
    }

    func testStateDictMismatchesNameFileAndTensor() throws {
        let compilation = Compilation.compile(source: SourceFile(path: "t.yaml", text: """
            layers:
              - Conv2D: {out_channels: 2, kernel_size: 3}
              - BatchNorm2D
              - Linear: {out_features: 10}
            """))
        let graph = try XCTUnwrap(compilation.graph)
        let good = graph.slots.map { slot in
            SafetensorsTensor(name: slot.name, shape: slot.shape,
                              payload: slot.role.storage == .counters ? .int64([0]) : .float32([Float](repeating: 0, count: slot.count)))
        }
        XCTAssertEqual(try matchStateDict(good.reversed(), graph: graph, file: "w.safetensors").map(\.name), graph.slots.map(\.name))
        func message(_ tensors: [SafetensorsTensor]) -> String {
            do {
                _ = try matchStateDict(tensors, graph: graph, file: "w.safetensors")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(message(good.filter { $0.name != "3.weight" }),
                       "w.safetensors: tensor '3.weight' is missing (Linear at spec line 4 expects shape [10, 1352])")
        var wrongDtype = good
        wrongDtype[6] = SafetensorsTensor(name: "1.num_batches_tracked", shape: [], payload: .float32([0]))
        XCTAssertEqual(message(wrongDtype), "w.safetensors: tensor '1.num_batches_tracked' has dtype F32, expected I64 (BatchNorm2D at spec line 3)")
    }
}
