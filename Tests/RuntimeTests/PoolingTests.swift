import XCTest
@testable import Graph
@testable import Runtime
import Spec

final class PoolingTests: XCTestCase {
    struct Case {
        var c: Int, h: Int, w: Int, batch: Int
        var kernel: Pair, stride: Pair, padding: Pair
        var geometry: Pool2DGeometry {
            Pool2DGeometry(channels: c, inHeight: h, inWidth: w, kernel: kernel, stride: stride, padding: padding)
        }
    }

    static let cases: [Case] = [
        Case(c: 2, h: 4, w: 4, batch: 3, kernel: Pair(square: 2), stride: Pair(square: 2), padding: Pair(square: 0)),
        Case(c: 1, h: 7, w: 7, batch: 2, kernel: Pair(square: 3), stride: Pair(square: 2), padding: Pair(square: 1)),
        Case(c: 3, h: 5, w: 6, batch: 2, kernel: Pair(square: 3), stride: Pair(square: 1), padding: Pair(square: 0)),
        Case(c: 2, h: 6, w: 5, batch: 2, kernel: Pair(3, 2), stride: Pair(2, 1), padding: Pair(1, 1)),
        Case(c: 1, h: 9, w: 9, batch: 1, kernel: Pair(square: 2), stride: Pair(square: 3), padding: Pair(square: 0)),
        Case(c: 2, h: 5, w: 5, batch: 2, kernel: Pair(square: 4), stride: Pair(square: 2), padding: Pair(square: 2)),
    ]

    /// Distinct values (a shuffled ramp scaled by 0.1), so there are no ties and a ±1e-2 nudge keeps every argmax.
    static func distinctInput(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        var order = (0..<Int32(count)).map { $0 }
        order.withUnsafeMutableBufferPointer { generator.shuffle($0) }
        return order.map { Float($0) * 0.1 - Float(count) * 0.05 }
    }

    /// Max over the window clipped to the input (−∞ padding), with the flat in-plane argmax.
    static func reference(_ x: [Float], _ t: Case) -> (values: [Float], indices: [Int32]) {
        let g = t.geometry
        var values: [Float] = []
        var indices: [Int32] = []
        for plane in 0..<(t.c * t.batch) {
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    var best = -Float.infinity
                    var bestIndex = -1
                    for ky in 0..<t.kernel.h {
                        for kx in 0..<t.kernel.w {
                            let iy = oy * t.stride.h - t.padding.h + ky
                            let ix = ox * t.stride.w - t.padding.w + kx
                            guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                            let v = x[plane * t.h * t.w + iy * t.w + ix]
                            if v > best {
                                best = v
                                bestIndex = iy * t.w + ix
                            }
                        }
                    }
                    values.append(best)
                    indices.append(Int32(bestIndex))
                }
            }
        }
        return (values, indices)
    }

    static func forward(_ x: [Float], _ t: Case) -> (values: [Float], indices: [Int32]) {
        let g = t.geometry
        let n = t.c * t.batch * g.outHeight * g.outWidth
        var out = [Float](repeating: .nan, count: n)
        var indices = [Int32](repeating: -1, count: n)
        maxPool2dForward(input: x, output: &out, indices: &indices, geometry: g, batch: t.batch)
        return (out, indices)
    }

    func testOutputShapeMatchesPyTorch() {
        XCTAssertEqual(Self.cases[1].geometry.outHeight, 4) // (7 + 2 − 3) / 2 + 1
        XCTAssertEqual(Self.cases[4].geometry.outHeight, 3) // (9 − 2) / 3 + 1
        XCTAssertEqual(Self.cases[5].geometry.outHeight, 3) // (5 + 4 − 4) / 2 + 1
        XCTAssertEqual(Self.cases[3].geometry.outWidth, 6)  // (5 + 2 − 2) / 1 + 1
    }

    func testForwardMatchesReferenceAndIndicesPointAtMax() {
        for (n, t) in Self.cases.enumerated() {
            let x = randomFloats(t.c * t.batch * t.h * t.w, seed: UInt64(n + 1), -3, 3)
            let expected = Self.reference(x, t)
            let got = Self.forward(x, t)
            XCTAssertEqual(got.values, expected.values, "case \(n)")
            XCTAssertEqual(got.indices, expected.indices, "case \(n)")
            let plane = t.h * t.w
            let outPlane = t.geometry.outHeight * t.geometry.outWidth
            for i in got.indices.indices {
                let p = i / outPlane
                XCTAssertEqual(x[p * plane + Int(got.indices[i])], got.values[i], "case \(n) output \(i)")
            }
            // Evaluation (no indices) gives the same values.
            var values = [Float](repeating: .nan, count: got.values.count)
            maxPool2dForward(input: x, output: &values, indices: nil, geometry: t.geometry, batch: t.batch)
            XCTAssertEqual(values, got.values, "case \(n) without indices")
        }
    }

    func testNegativeInputsIgnorePadding() {
        // Padding is −∞, not 0: an all-negative input never pools to 0.
        let t = Case(c: 1, h: 3, w: 3, batch: 1, kernel: Pair(square: 2), stride: Pair(square: 1), padding: Pair(square: 1))
        let x: [Float] = (1...9).map { -Float($0) }
        let got = Self.forward(x, t)
        XCTAssertTrue(got.values.allSatisfy { $0 < 0 })
        XCTAssertEqual(got.values[0], -1)
        XCTAssertEqual(got.values.last, -9)
    }

    func testTiesGoToTheFirstElementInTheWindow() {
        let t = Case(c: 1, h: 2, w: 2, batch: 1, kernel: Pair(square: 2), stride: Pair(square: 2), padding: Pair(square: 0))
        let got = Self.forward([5, 5, 5, 5], t)
        XCTAssertEqual(got.indices, [0])
    }

    /// The 2×2 stride-2 fast path against the reference on odd sizes (a cropped last row and
    /// column; 18 windows a row: two 8-wide vector blocks and a scalar tail) with many ties: the
    /// first maximum in scan order wins, as in PyTorch. In training and evaluation (no indices).
    func testTwoByTwoFastPathMatchesTheReferenceWithTies() {
        let t = Case(c: 3, h: 7, w: 37, batch: 2, kernel: Pair(square: 2), stride: Pair(square: 2), padding: Pair(square: 0))
        var x = randomFloats(t.c * t.batch * t.h * t.w, seed: 77, 0, 3).map { $0.rounded(.down) }
        let got = Self.forward(x, t)
        let want = Self.reference(x, t)
        XCTAssertEqual(got.indices, want.indices)
        XCTAssertEqual(got.values.map(\.bitPattern), want.values.map(\.bitPattern))
        var values = [Float](repeating: 0, count: got.values.count)
        maxPool2dForward(input: x, output: &values, indices: nil, geometry: t.geometry, batch: t.batch)
        XCTAssertEqual(values.map(\.bitPattern), want.values.map(\.bitPattern))
    }

    func testBackwardRoutesGradientToArgmax() {
        for (n, t) in Self.cases.enumerated() {
            let x = randomFloats(t.c * t.batch * t.h * t.w, seed: UInt64(n + 20), -3, 3)
            let (_, indices) = Self.forward(x, t)
            let dy = randomFloats(indices.count, seed: UInt64(n + 40))
            var dx = [Float](repeating: .nan, count: x.count)
            maxPool2dBackward(outputGradient: dy, indices: indices, inputGradient: &dx, geometry: t.geometry, batch: t.batch)
            var expected = [Double](repeating: 0, count: x.count)
            let plane = t.h * t.w
            let outPlane = t.geometry.outHeight * t.geometry.outWidth
            for i in indices.indices {
                expected[(i / outPlane) * plane + Int(indices[i])] += Double(dy[i])
            }
            assertClose(dx, expected, rtol: 1e-6, atol: 1e-6, "case \(n)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        let h: Float = 1e-2
        for (n, t) in Self.cases.enumerated() {
            let x = Self.distinctInput(t.c * t.batch * t.h * t.w, seed: UInt64(n + 60))
            let (_, indices) = Self.forward(x, t)
            let r = randomFloats(indices.count, seed: UInt64(n + 80))
            var dx = [Float](repeating: .nan, count: x.count)
            maxPool2dBackward(outputGradient: r, indices: indices, inputGradient: &dx, geometry: t.geometry, batch: t.batch)
            for i in x.indices {
                var plus = x, minus = x
                plus[i] += h
                minus[i] -= h
                let numeric = (dot(Self.forward(plus, t).values, r) - dot(Self.forward(minus, t).values, r)) / Double(2 * h)
                XCTAssertTrue(gradientsAgree(analytic: Double(dx[i]), numeric: numeric, rtol: 1e-2, atol: 1e-3),
                              "case \(n) x[\(i)]: analytic \(dx[i]) numeric \(numeric)")
            }
        }
    }
}
