import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

final class MNISTTests: XCTestCase {
    /// Writes a small synthetic (28x28) MNIST-shaped data set; `gzip` chooses `STEM.gz` or `STEM`.
    private func writeSynthetic(to dir: String, train: Int = 5, test: Int = 3, gzip: Bool) throws {
        func images(_ n: Int) -> [UInt8] {
            IDXImages(count: n, rows: 28, cols: 28, pixels: (0..<(n * 784)).map { UInt8(truncatingIfNeeded: $0) }).encoded()
        }
        func labels(_ n: Int) -> [UInt8] { IDXLabels(labels: (0..<n).map { UInt8($0 % 10) }).encoded() }
        let contents = [images(train), labels(train), images(test), labels(test)]
        for (file, bytes) in zip(MNISTFile.all, contents) {
            if gzip {
                try writeBytes(gzipCompress(bytes), to: dir + "/" + file.gzipName)
            } else {
                try writeBytes(bytes, to: dir + "/" + file.stem)
            }
        }
    }

    func testLoadRealMNIST() throws {
        let dir = try realMNISTDirectory()
        let mnist = try MNIST.load(directory: dir)
        XCTAssertEqual(mnist.trainCount, 60000)
        XCTAssertEqual(mnist.testCount, 10000)
        XCTAssertEqual(mnist.train.pixels.count, 60000 * 784)
        XCTAssertEqual(mnist.test.pixels.count, 10000 * 784)
        XCTAssertEqual(Array(mnist.train.labels.prefix(10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
        XCTAssertEqual(Array(mnist.test.labels.prefix(10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
        XCTAssertTrue(mnist.train.labels.allSatisfy { (0...9).contains($0) })
        // Background pixels map to -mean/std; the training mean of the normalised images is ~0.
        let table = mnist.train.normalization
        XCTAssertEqual(table[Int(mnist.train.pixels[0])], -0.1307 / 0.3081, accuracy: 1e-5)
        let mean = mnist.train.pixels.reduce(0.0) { $0 + Double(table[Int($1)]) } / Double(mnist.train.pixels.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(table[Int(mnist.train.pixels.max() ?? 0)], (1 - 0.1307) / 0.3081, accuracy: 1e-5)
    }

    func testNormalize() {
        let out = MNIST.normalize([0, 255, 51])
        XCTAssertEqual(out[0], -0.1307 / 0.3081, accuracy: 1e-6)
        XCTAssertEqual(out[1], (1 - 0.1307) / 0.3081, accuracy: 1e-6)
        XCTAssertEqual(out[2], (0.2 - 0.1307) / 0.3081, accuracy: 1e-6)
    }

    func testSyntheticLoadWithoutVerificationPrefersGzipThenPlain() throws {
        let dir = try makeTempDirectory("cnnc-mnist")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSynthetic(to: dir, gzip: false)
        var m = try MNIST.load(directory: dir, verify: false)
        XCTAssertEqual(m.trainCount, 5)
        XCTAssertEqual(m.testCount, 3)
        XCTAssertEqual(m.test.labels, [0, 1, 2])
        XCTAssertEqual(m.train.pixels.count, 5 * 784)
        // A .gz next to the plain file wins.
        try writeSynthetic(to: dir, train: 7, test: 2, gzip: true)
        m = try MNIST.load(directory: dir, verify: false)
        XCTAssertEqual(m.trainCount, 7)
        XCTAssertEqual(MNISTFile.trainImages.locate(in: dir), dir + "/train-images-idx3-ubyte.gz")
    }

    func testChecksumMismatchNamesFileAndHashes() throws {
        let dir = try makeTempDirectory("cnnc-mnist")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSynthetic(to: dir, gzip: true)
        let path = dir + "/train-images-idx3-ubyte.gz"
        let actual = sha256Hex(try readMaybeGzip(path: path))
        assertThrows(try MNIST.load(directory: dir),
                     contains: ["checksum mismatch", path, MNISTFile.trainImages.sha256, actual])
    }

    func testMismatchedCountsRejected() throws {
        let dir = try makeTempDirectory("cnnc-mnist")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSynthetic(to: dir, gzip: false)
        try writeBytes(IDXLabels(labels: [1, 2]).encoded(), to: dir + "/t10k-labels-idx1-ubyte")
        assertThrows(try MNIST.load(directory: dir, verify: false), contains: ["t10k-labels-idx1-ubyte", "2 labels", "3 images"])
    }

    func testMissingFileError() throws {
        let dir = try makeTempDirectory("cnnc-mnist")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        assertThrows(try MNIST.load(directory: dir), contains: ["train-images-idx3-ubyte", dir, "not found"])
    }

    func testResolveDirectory() {
        let env = ["HOME": "/home/u", "CNNC_DATA": "/data/env"]
        XCTAssertEqual(MNIST.resolveDirectory(flag: "/data/flag", environment: env), "/data/flag")
        XCTAssertEqual(MNIST.resolveDirectory(flag: nil, environment: env), "/data/env")
        XCTAssertEqual(MNIST.resolveDirectory(flag: nil, environment: ["HOME": "/home/u"]), "/home/u/.cache/cnnc/mnist")
        XCTAssertEqual(MNIST.resolveDirectory(flag: "", environment: ["HOME": "/home/u", "CNNC_DATA": ""]),
                       "/home/u/.cache/cnnc/mnist")
        XCTAssertEqual(MNIST.resolveDirectory(flag: "~/m", environment: ["HOME": "/home/u"]), "/home/u/m")
    }
}
