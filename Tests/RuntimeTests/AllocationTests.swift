import MallocCounter
import XCTest
@testable import Runtime
import Graph
import Spec

/// The runtime's promise: all memory is allocated when a Network is built; a training step and an
/// evaluation batch allocate nothing.
final class AllocationTests: XCTestCase {
    private func network(_ yaml: String, batch: Int) throws -> Network {
        let compilation = Compilation.compile(source: SourceFile(path: "alloc.yaml", text: yaml))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        return Network(graph: graph, trainingBatch: batch, evaluationBatch: batch,
                       optimizer: OptimizerSettings(kind: .adam, lr: 0.001), seed: 1, lanes: 2)
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

    override func setUpWithError() throws {
        try XCTSkipUnless(malloc_counter_available() == 1,
                          "sanitizer build: the sanitizer owns malloc, so allocations are not counted here")
    }

    func testCounterSeesAllocations() {
        malloc_counter_start()
        let array = [Int](repeating: 1, count: Int.random(in: 100...200))
        let count = malloc_counter_stop()
        XCTAssertGreaterThan(array.count, 0)
        XCTAssertGreaterThanOrEqual(count, 1, "the counting malloc is not interposed")
    }

    /// Every example at batch 32 (and a partial batch of 29), on two lanes: cnnc's own code and
    /// the GEMMs it issues (column-major, which takes OpenBLAS's packed path) allocate nothing.
    func testExampleModelStepsAllocateNothing() throws {
        setBLASThreads(1)
        for name in ["mnist", "strided", "lenet", "lenet-wide"] {
            let text = try String(contentsOfFile: packageRoot() + "/examples/\(name).yaml", encoding: .utf8)
            let counts = countAllocations(of: try network(text, batch: 32), batch: 32, steps: 4)
            XCTAssertEqual(counts.training, 0, "\(name): heap allocations during 4 training steps")
            XCTAssertEqual(counts.evaluation, 0, "\(name): heap allocations during 4 evaluation batches")
        }
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
