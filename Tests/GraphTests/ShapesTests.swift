import XCTest
@testable import Graph
import Spec

final class ShapesTests: XCTestCase {
    func testImageShape() {
        let shape = FeatureShape.image(channels: 32, height: 28, width: 14)
        XCTAssertEqual(shape.dims, [32, 28, 14])
        XCTAssertEqual(shape.elementCount, 32 * 28 * 14)
        XCTAssertEqual(shape.description, "32×28×14")
        XCTAssertEqual("\(shape)", "32×28×14")
    }

    func testFlatShape() {
        let shape = FeatureShape.flat(10)
        XCTAssertEqual(shape.dims, [10])
        XCTAssertEqual(shape.elementCount, 10)
        XCTAssertEqual(shape.description, "10")
    }

    func testImageAndFlatWithSameCountDiffer() {
        XCTAssertNotEqual(FeatureShape.image(channels: 10, height: 1, width: 1), FeatureShape.flat(10))
        XCTAssertEqual(FeatureShape.image(channels: 10, height: 1, width: 1).elementCount, FeatureShape.flat(10).elementCount)
    }

    private func conv(in c: Int = 1, out: Int = 1, _ h: Int, _ w: Int, kernel: Pair, stride: Pair = Pair(square: 1),
                      padding: Pair = Pair(square: 0), bias: Bool = true) -> Conv2DGeometry {
        Conv2DGeometry(inChannels: c, outChannels: out, inHeight: h, inWidth: w, kernel: kernel, stride: stride,
                       padding: padding, bias: bias)
    }

    private func pool(_ h: Int, _ w: Int, kernel: Pair, stride: Pair? = nil, padding: Pair = Pair(square: 0)) -> Pool2DGeometry {
        Pool2DGeometry(channels: 3, inHeight: h, inWidth: w, kernel: kernel, stride: stride ?? kernel, padding: padding)
    }

    func testConvOutputSize() {
        // out = floor((in + 2p − k) / s) + 1
        // (28 + 0 − 3)/1 + 1 = 26
        XCTAssertEqual(conv(28, 28, kernel: Pair(square: 3)).outHeight, 26)
        // (28 + 2 − 3)/1 + 1 = 28 ("same" padding)
        let same = conv(28, 28, kernel: Pair(square: 3), padding: Pair(square: 1))
        XCTAssertEqual([same.outHeight, same.outWidth], [28, 28])
        // (28 + 2 − 4)/2 + 1 = 14
        let down = conv(28, 28, kernel: Pair(square: 4), stride: Pair(square: 2), padding: Pair(square: 1))
        XCTAssertEqual([down.outHeight, down.outWidth], [14, 14])
        // Floor: (14 + 2 − 3)/2 + 1 = floor(6.5) + 1 = 7
        XCTAssertEqual(conv(14, 14, kernel: Pair(square: 3), stride: Pair(square: 2), padding: Pair(square: 1)).outHeight, 7)
        // Kernel equal to input: (5 − 5)/1 + 1 = 1
        XCTAssertEqual(conv(5, 5, kernel: Pair(square: 5)).outHeight, 1)
    }

    func testConvOutputSizeNonSquare() {
        // H: (14 + 2·1 − 3)/2 + 1 = 6 + 1 = 7;  W: (14 + 2·2 − 5)/2 + 1 = 6 + 1 = 7
        let g = conv(in: 32, out: 32, 14, 14, kernel: Pair(3, 5), stride: Pair(2, 2), padding: Pair(1, 2), bias: false)
        XCTAssertEqual([g.outHeight, g.outWidth], [7, 7])
        // H: (10 + 0 − 3)/1 + 1 = 8;  W: (20 + 2·1 − 5)/3 + 1 = floor(17/3) + 1 = 6
        let h = conv(in: 2, out: 4, 10, 20, kernel: Pair(3, 5), stride: Pair(1, 3), padding: Pair(0, 1))
        XCTAssertEqual([h.outHeight, h.outWidth], [8, 6])
        XCTAssertEqual(h.outSpatial, 48)
        // im2col rows: IC·KH·KW = 2·3·5 = 30; weights OC·rows = 4·30 = 120
        XCTAssertEqual(h.columnRows, 30)
        XCTAssertEqual(h.weightCount, 120)
        // A 1×7 input with a 1×3 kernel: H (1 − 1)/1 + 1 = 1, W (7 − 3)/1 + 1 = 5
        let row = conv(1, 7, kernel: Pair(1, 3))
        XCTAssertEqual([row.outHeight, row.outWidth], [1, 5])
    }

    func testPoolOutputSize() {
        // (28 − 2)/2 + 1 = 14
        let p = pool(28, 28, kernel: Pair(square: 2))
        XCTAssertEqual([p.outHeight, p.outWidth], [14, 14])
        // Odd input floors: (7 − 2)/2 + 1 = 2 + 1 = 3
        XCTAssertEqual(pool(7, 7, kernel: Pair(square: 2)).outHeight, 3)
        // (7 + 2 − 3)/2 + 1 = 4
        XCTAssertEqual(pool(7, 7, kernel: Pair(square: 3), stride: Pair(square: 2), padding: Pair(square: 1)).outHeight, 4)
        // Non-square: H (9 − 3)/3 + 1 = 3; W (10 + 2 − 2)/1 + 1 = 11
        let q = pool(9, 10, kernel: Pair(3, 2), stride: Pair(3, 1), padding: Pair(0, 1))
        XCTAssertEqual([q.outHeight, q.outWidth], [3, 11])
        // Window equal to input: 1×1
        let whole = pool(4, 6, kernel: Pair(4, 6))
        XCTAssertEqual([whole.outHeight, whole.outWidth], [1, 1])
    }
}
