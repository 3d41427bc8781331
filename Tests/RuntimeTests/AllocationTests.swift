import MallocCounter
import XCTest
@testable import Runtime

/// The runtime's promise: all memory is allocated when a Network is built; a training step and an
/// evaluation batch allocate nothing.
final class AllocationTests: XCTestCase {
    private func network(_ yaml: String, batch: Int) throws -> Network {
        let compilation = Compilation.compile(source: SourceFile(path: "alloc.yaml", text: yaml))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        return Network(graph: graph, trainingBatch: batch, evaluationBatch: batch,
                       optimizer: OptimizerSettings(kind: .adam, lr: 0.001), seed: 1)
    }

    private func countAllocations(of network: Network, batch: Int, steps: Int) -> (training: Int, evaluation: Int) {
        let features = network.graph.input.elementCount
        let images = randomFloats(batch * features, seed: 3)
        let labels = (0..<batch).map { Int32($0 % 10) }
        let indices = (0..<Int32(batch)).map { $0 }
        return images.withUnsafeBufferPointer { imageBuffer in
            labels.withUnsafeBufferPointer { labelBuffer in
                indices.withUnsafeBufferPointer { indexBuffer in
                    let (x, y, i) = (imageBuffer.baseAddress!, labelBuffer.baseAddress!, indexBuffer.baseAddress!)
                    // Warm up: lazy initializations inside OpenBLAS and the runtime happen here.
                    for _ in 0..<3 {
                        _ = network.trainStep(images: x, labels: y, indices: i, count: batch)
                        _ = network.evaluate(images: x, labels: y, indices: i, count: batch)
                    }
                    malloc_counter_start()
                    for step in 0..<steps {
                        _ = network.trainStep(images: x, labels: y, indices: i, count: step % 2 == 0 ? batch : batch - 3)
                    }
                    let training = malloc_counter_stop()
                    malloc_counter_start()
                    for _ in 0..<steps {
                        _ = network.evaluate(images: x, labels: y, indices: i, count: batch)
                    }
                    let evaluation = malloc_counter_stop()
                    return (training, evaluation)
                }
            }
        }
    }

    func testCounterSeesAllocations() {
        malloc_counter_start()
        let array = [Int](repeating: 1, count: Int.random(in: 100...200))
        let count = malloc_counter_stop()
        XCTAssertGreaterThan(array.count, 0)
        XCTAssertGreaterThanOrEqual(count, 1, "the counting malloc is not interposed")
    }

    func testTrainingStepsAllocateNothing() throws {
        setBLASThreads(2)
        let yaml = """
            input: [1, 28, 28]
            layers:
              - Conv2D: {out_channels: 8, kernel_size: 3, padding: 1}
              - BatchNorm2D
              - ReLU
              - MaxPool2D: {kernel_size: 2}
              - Conv2D: {out_channels: 8, kernel_size: 3, stride: 2}
              - ReLU
              - Dropout: {p: 0.3}
              - Linear: {out_features: 32}
              - ReLU
              - Linear: {out_features: 10}
              - Softmax
            """
        let counts = countAllocations(of: try network(yaml, batch: 16), batch: 16, steps: 20)
        XCTAssertEqual(counts.training, 0, "heap allocations during 20 training steps")
        XCTAssertEqual(counts.evaluation, 0, "heap allocations during 20 evaluation batches")
    }

    func testExampleModelStepAllocatesNothing() throws {
        setBLASThreads(2)
        let text = try String(contentsOfFile: packageRoot() + "/examples/mnist.yaml", encoding: .utf8)
        let counts = countAllocations(of: try network(text, batch: 32), batch: 32, steps: 4)
        XCTAssertEqual(counts.training, 0)
        XCTAssertEqual(counts.evaluation, 0)
    }

    private func packageRoot() -> String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
        }
        return "."
    }
}
