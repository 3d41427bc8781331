import Foundation
import XCTest

/// End-to-end tests of `cnnc bench` (synthetic data; no MNIST needed).
final class BenchTests: XCTestCase {
    func testTablePrintsPerLayerTimesAndThroughput() throws {
        let result = try CLI.run(["bench", CLI.example("lenet.yaml"), "--steps", "3", "--threads", "1"])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stdout.hasPrefix("lenet: 3 training steps at batch 32"), result.stdout)
        let rows = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertTrue(rows.contains { $0.starts(with: ["#", "layer", "output", "fwd", "ms", "bwd", "ms"]) },
                      "missing the table header\n\(result.stdout)")
        // One row per step (implicit Flatten included), then the total.
        let kinds = ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D", "Flatten", "Linear", "ReLU",
                     "Dropout", "Linear", "ReLU", "Linear", "Softmax"]
        for (index, kind) in kinds.enumerated() {
            XCTAssertTrue(rows.contains { $0.count >= 5 && $0[0] == String(index) && $0[1] == kind },
                          "missing row \(index) \(kind)\n\(result.stdout)")
        }
        XCTAssertTrue(rows.contains { $0.first == "total" }, result.stdout)
        let throughput = try XCTUnwrap(rows.first { $0.first == "throughput" }, result.stdout)
        XCTAssertEqual(throughput.last, "images/s")
        XCTAssertGreaterThan(Double(throughput[1]) ?? 0, 0, result.stdout)
    }

    func testJSON() throws {
        let result = try CLI.run(["bench", CLI.example("lenet.yaml"), "--steps", "3", "--threads", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let json = try CLI.jsonObject(result.stdout)
        XCTAssertEqual(json["name"] as? String, "lenet")
        XCTAssertEqual(json["steps"] as? Int, 3)
        XCTAssertEqual(json["threads"] as? Int, 1)
        XCTAssertEqual(json["batch_size"] as? Int, 32)
        let imagesPerSecond = try XCTUnwrap((json["images_per_second"] as? NSNumber)?.doubleValue)
        XCTAssertGreaterThan(imagesPerSecond, 0)
        XCTAssertTrue(imagesPerSecond.isFinite)
        XCTAssertGreaterThan((json["step_ms"] as? NSNumber)?.doubleValue ?? 0, 0)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 14)
        XCTAssertEqual(layers[6]["kind"] as? String, "Flatten")
        for layer in layers {
            XCTAssertGreaterThanOrEqual((layer["forward_ms"] as? NSNumber)?.doubleValue ?? -1, 0, "\(layer)")
            XCTAssertGreaterThanOrEqual((layer["backward_ms"] as? NSNumber)?.doubleValue ?? -1, 0, "\(layer)")
        }
    }

    func testBatchSizeFlag() throws {
        let result = try CLI.run(["bench", CLI.example("strided.yaml"), "--steps", "1", "--threads", "1",
                                  "--batch-size", "4", "--json"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let json = try CLI.jsonObject(result.stdout)
        XCTAssertEqual(json["batch_size"] as? Int, 4)
        XCTAssertEqual(json["name"] as? String, "strided")
    }

    func testInvalidSpecExitsOne() throws {
        let scratch = try CLI.temporaryDirectory(prefix: "cnnc-bench")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let path = try CLI.write("name: x\nlayers:\n  - Conv3D: {out_channels: 8}\n", named: "bad.yaml", in: scratch)
        let result = try CLI.run(["bench", path, "--steps", "1"])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("\(path):3:"), result.transcript)
    }

    func testUsageErrorsExitTwo() throws {
        let lenet = CLI.example("lenet.yaml")
        for arguments in [["bench"], ["bench", lenet, "--steps", "0"], ["bench", lenet, "--threads", "0"],
                          ["bench", lenet, "--optimizer", "rmsprop"], ["bench", lenet, "--lr", "-1"]] {
            let result = try CLI.run(arguments)
            XCTAssertEqual(result.status, 2, "cnnc \(arguments.joined(separator: " "))\n\(result.transcript)")
        }
    }
}
