import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

final class IDXTests: XCTestCase {
    private func imagesFile(count: UInt32, rows: UInt32, cols: UInt32, payload: Int) -> [UInt8] {
        var b: [UInt8] = [0, 0, 8, 3]
        for v in [count, rows, cols] { b += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        return b + (0..<payload).map { UInt8(truncatingIfNeeded: $0) }
    }

    private func labelsFile(_ labels: [UInt8], declared: UInt32? = nil) -> [UInt8] {
        let n = declared ?? UInt32(labels.count)
        return [0, 0, 8, 1, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + labels
    }

    func testGoodTinyImages() throws {
        let img = try IDXImages.parse(imagesFile(count: 3, rows: 2, cols: 4, payload: 24), name: "tiny")
        XCTAssertEqual(img.count, 3)
        XCTAssertEqual(img.rows, 2)
        XCTAssertEqual(img.cols, 4)
        XCTAssertEqual(img.pixels, (0..<24).map { UInt8($0) })
        // Round trip through the encoder.
        XCTAssertEqual(img.encoded(), imagesFile(count: 3, rows: 2, cols: 4, payload: 24))
        // Zero images is a valid (empty) file.
        XCTAssertEqual(try IDXImages.parse(imagesFile(count: 0, rows: 28, cols: 28, payload: 0), name: "e").count, 0)
    }

    func testGoodTinyLabelsFromGzipFile() throws {
        let dir = try makeTempDirectory("cnnc-idx")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let labels: [UInt8] = [0, 1, 2, 9, 5]
        try writeBytes(gzipCompress(labelsFile(labels)), to: dir + "/l.gz")
        let parsed = try IDXLabels.read(path: dir + "/l.gz")
        XCTAssertEqual(parsed.count, 5)
        XCTAssertEqual(parsed.labels, labels)
        XCTAssertEqual(parsed.encoded(), labelsFile(labels))
        try writeBytes(imagesFile(count: 1, rows: 1, cols: 2, payload: 2), to: dir + "/i")
        XCTAssertEqual(try IDXImages.read(path: dir + "/i").pixels, [0, 1])
    }

    func testTruncated() {
        assertThrows(try IDXImages.parse(imagesFile(count: 3, rows: 2, cols: 4, payload: 23), name: "short-images"),
                     contains: ["short-images", "truncated", "40", "39"])
        assertThrows(try IDXLabels.parse(labelsFile([1, 2], declared: 3), name: "short-labels"),
                     contains: ["short-labels", "truncated"])
        // Truncated inside the header.
        assertThrows(try IDXImages.parse([0, 0, 8, 3, 0, 0], name: "hdr"), contains: ["hdr", "truncated"])
        assertThrows(try IDXLabels.parse([0, 0], name: "tiny"), contains: ["tiny", "truncated"])
    }

    func testTrailingBytes() {
        assertThrows(try IDXImages.parse(imagesFile(count: 3, rows: 2, cols: 4, payload: 27), name: "long-images"),
                     contains: ["long-images", "has 3 trailing bytes"])
        assertThrows(try IDXLabels.parse(labelsFile([1, 2, 3], declared: 2), name: "long-labels"),
                     contains: ["long-labels", "has 1 trailing bytes"])
    }

    func testWrongMagic() {
        // A label file given to the image reader and vice versa.
        assertThrows(try IDXImages.parse(labelsFile([1]), name: "labels-as-images"),
                     contains: ["labels-as-images", "0x00000801", "0x00000803"])
        assertThrows(try IDXLabels.parse(imagesFile(count: 1, rows: 1, cols: 1, payload: 1), name: "images-as-labels"),
                     contains: ["images-as-labels", "magic"])
        var wrongType = labelsFile([1])
        wrongType[2] = 0x0d  // float data
        assertThrows(try IDXLabels.parse(wrongType, name: "floats"), contains: ["floats", "magic"])
    }

    func testLabelAboveNine() {
        assertThrows(try IDXLabels.parse(labelsFile([3, 9, 10, 4]), name: "bad-labels"),
                     contains: ["bad-labels", "label 2 is 10"])
    }

    func testZeroSizedImagesAndOverflow() {
        assertThrows(try IDXImages.parse(imagesFile(count: 1, rows: 0, cols: 4, payload: 0), name: "flat"),
                     contains: ["flat", "invalid dimensions"])
        assertThrows(try IDXImages.parse(imagesFile(count: 0xffff_ffff, rows: 0xffff_ffff, cols: 0xffff_ffff, payload: 0),
                                         name: "huge"),
                     contains: ["huge", "too large"])
    }
}
