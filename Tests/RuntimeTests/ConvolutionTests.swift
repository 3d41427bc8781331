import XCTest
@testable import Graph
@testable import Runtime
import Spec

/// conv2dForward / conv2dBackward / im2col / col2im against a direct convolution in Double.
final class ConvolutionTests: XCTestCase {
    struct Case {
        var c: Int, oc: Int, h: Int, w: Int
        var kernel: Pair, stride: Pair, padding: Pair
        var bias: Bool
        var batch: Int

        var geometry: Conv2DGeometry {
            Conv2DGeometry(inChannels: c, outChannels: oc, inHeight: h, inWidth: w,
                           kernel: kernel, stride: stride, padding: padding, bias: bias)
        }
    }

    static let cases: [Case] = [
        Case(c: 1, oc: 2, h: 5, w: 5, kernel: Pair(square: 3), stride: Pair(square: 1), padding: Pair(square: 0), bias: true, batch: 3),
        Case(c: 2, oc: 3, h: 6, w: 6, kernel: Pair(square: 3), stride: Pair(square: 1), padding: Pair(square: 1), bias: false, batch: 3),
        Case(c: 3, oc: 2, h: 7, w: 7, kernel: Pair(square: 3), stride: Pair(square: 2), padding: Pair(square: 1), bias: true, batch: 4),
        Case(c: 2, oc: 4, h: 6, w: 5, kernel: Pair(square: 5), stride: Pair(square: 2), padding: Pair(square: 2), bias: true, batch: 2),
        Case(c: 2, oc: 3, h: 7, w: 6, kernel: Pair(3, 2), stride: Pair(2, 1), padding: Pair(1, 0), bias: true, batch: 3),
        Case(c: 1, oc: 2, h: 5, w: 8, kernel: Pair(1, 4), stride: Pair(1, 3), padding: Pair(0, 2), bias: false, batch: 5),
        Case(c: 3, oc: 1, h: 4, w: 4, kernel: Pair(square: 4), stride: Pair(square: 1), padding: Pair(square: 0), bias: true, batch: 2),
    ]

    // MARK: references

    static func referenceForward(_ x: [Float], _ weight: [Float], _ bias: [Float]?, _ t: Case) -> [Double] {
        let g = t.geometry
        let (oh, ow) = (g.outHeight, g.outWidth)
        var out = [Double](repeating: 0, count: t.oc * t.batch * oh * ow)
        for oc in 0..<t.oc {
            for b in 0..<t.batch {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var total = bias.map { Double($0[oc]) } ?? 0
                        for ic in 0..<t.c {
                            for ky in 0..<t.kernel.h {
                                for kx in 0..<t.kernel.w {
                                    let iy = oy * t.stride.h - t.padding.h + ky
                                    let ix = ox * t.stride.w - t.padding.w + kx
                                    guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                                    let wv = Double(weight[((oc * t.c + ic) * t.kernel.h + ky) * t.kernel.w + kx])
                                    let xv = Double(x[((ic * t.batch + b) * t.h + iy) * t.w + ix])
                                    total += wv * xv
                                }
                            }
                        }
                        out[((oc * t.batch + b) * oh + oy) * ow + ox] = total
                    }
                }
            }
        }
        return out
    }

    /// Gradients of Σ out·dy: (dW, db, dX).
    static func referenceBackward(_ x: [Float], _ weight: [Float], _ dy: [Float], _ t: Case) -> ([Double], [Double], [Double]) {
        let g = t.geometry
        let (oh, ow) = (g.outHeight, g.outWidth)
        var dw = [Double](repeating: 0, count: weight.count)
        var db = [Double](repeating: 0, count: t.oc)
        var dx = [Double](repeating: 0, count: x.count)
        for oc in 0..<t.oc {
            for b in 0..<t.batch {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let d = Double(dy[((oc * t.batch + b) * oh + oy) * ow + ox])
                        db[oc] += d
                        for ic in 0..<t.c {
                            for ky in 0..<t.kernel.h {
                                for kx in 0..<t.kernel.w {
                                    let iy = oy * t.stride.h - t.padding.h + ky
                                    let ix = ox * t.stride.w - t.padding.w + kx
                                    guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                                    let wi = ((oc * t.c + ic) * t.kernel.h + ky) * t.kernel.w + kx
                                    let xi = ((ic * t.batch + b) * t.h + iy) * t.w + ix
                                    dw[wi] += d * Double(x[xi])
                                    dx[xi] += d * Double(weight[wi])
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dw, db, dx)
    }

    // MARK: kernel wrappers

    static func forward(_ x: [Float], _ weight: [Float], _ bias: [Float]?, _ t: Case, chunk: Int) -> [Float] {
        let g = t.geometry
        var out = [Float](repeating: .nan, count: t.oc * t.batch * g.outSpatial)
        var columns = [Float](repeating: .nan, count: g.columnRows * g.outSpatial * chunk)
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    columns.withUnsafeMutableBufferPointer { cp in
                        if let bias {
                            bias.withUnsafeBufferPointer { bp in
                                conv2dForward(input: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                              output: op.baseAddress!, columns: cp.baseAddress!, geometry: g,
                                              batch: t.batch, chunk: chunk)
                            }
                        } else {
                            conv2dForward(input: xp.baseAddress!, weight: wp.baseAddress!, bias: nil,
                                          output: op.baseAddress!, columns: cp.baseAddress!, geometry: g,
                                          batch: t.batch, chunk: chunk)
                        }
                    }
                }
            }
        }
        return out
    }

    static func backward(_ x: [Float], _ weight: [Float], _ dy: [Float], _ t: Case, chunk: Int,
                         wantInput: Bool = true) -> (dw: [Float], db: [Float], dx: [Float]) {
        let g = t.geometry
        var dw = [Float](repeating: .nan, count: weight.count)
        var db = [Float](repeating: .nan, count: t.oc)
        var dx = [Float](repeating: .nan, count: x.count)
        var columns = [Float](repeating: .nan, count: g.columnRows * g.outSpatial * chunk)
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                dy.withUnsafeBufferPointer { dyp in
                    dw.withUnsafeMutableBufferPointer { dwp in
                        db.withUnsafeMutableBufferPointer { dbp in
                            dx.withUnsafeMutableBufferPointer { dxp in
                                columns.withUnsafeMutableBufferPointer { cp in
                                    conv2dBackward(input: xp.baseAddress!, weight: wp.baseAddress!,
                                                   outputGradient: dyp.baseAddress!, weightGradient: dwp.baseAddress!,
                                                   biasGradient: t.bias ? dbp.baseAddress! : nil,
                                                   inputGradient: wantInput ? dxp.baseAddress! : nil,
                                                   columns: cp.baseAddress!, geometry: g, batch: t.batch, chunk: chunk)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dw, db, dx)
    }

    static func data(_ t: Case, seed: UInt64) -> (x: [Float], weight: [Float], bias: [Float]?, dy: [Float]) {
        let g = t.geometry
        let x = randomFloats(t.c * t.batch * t.h * t.w, seed: seed)
        let weight = randomFloats(g.weightCount, seed: seed &+ 1)
        let bias = t.bias ? randomFloats(t.oc, seed: seed &+ 2) : nil
        let dy = randomFloats(t.oc * t.batch * g.outSpatial, seed: seed &+ 3)
        return (x, weight, bias, dy)
    }

    static func chunks(_ t: Case) -> [Int] { [1, 2, t.batch, t.batch + 3] }

    // MARK: tests

    func testGeometryMatchesPyTorchFormula() {
        let g = Conv2DGeometry(inChannels: 1, outChannels: 1, inHeight: 28, inWidth: 27, kernel: Pair(5, 4),
                               stride: Pair(2, 3), padding: Pair(1, 2), bias: true)
        XCTAssertEqual(g.outHeight, (28 + 2 - 5) / 2 + 1)
        XCTAssertEqual(g.outWidth, (27 + 4 - 4) / 3 + 1)
        XCTAssertEqual(g.columnRows, 20)
    }

    func testForwardMatchesDirectConvolution() {
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(100 + n))
            let expected = Self.referenceForward(d.x, d.weight, d.bias, t)
            for chunk in Self.chunks(t) {
                let out = Self.forward(d.x, d.weight, d.bias, t, chunk: chunk)
                assertClose(out, expected, rtol: 1e-5, atol: 1e-5, "case \(n) chunk \(chunk)")
            }
        }
    }

    func testForwardDoesNotDependOnChunk() {
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(200 + n))
            let reference = Self.forward(d.x, d.weight, d.bias, t, chunk: t.batch)
            for chunk in Self.chunks(t) {
                let out = Self.forward(d.x, d.weight, d.bias, t, chunk: chunk)
                assertClose(out, reference, rtol: 1e-5, atol: 1e-6, "case \(n) chunk \(chunk)")
            }
        }
    }

    func testBackwardMatchesReferenceGradients() {
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(300 + n))
            let (dw, db, dx) = Self.referenceBackward(d.x, d.weight, d.dy, t)
            for chunk in Self.chunks(t) {
                let got = Self.backward(d.x, d.weight, d.dy, t, chunk: chunk)
                assertClose(got.dw, dw, rtol: 1e-5, atol: 1e-5, "dW case \(n) chunk \(chunk)")
                if t.bias {
                    assertClose(got.db, db, rtol: 1e-5, atol: 1e-5, "db case \(n) chunk \(chunk)")
                }
                assertClose(got.dx, dx, rtol: 1e-5, atol: 1e-5, "dX case \(n) chunk \(chunk)")
            }
        }
    }

    func testBackwardWithoutInputGradientStillGivesWeightGradient() {
        let t = Self.cases[2]
        let d = Self.data(t, seed: 77)
        let (dw, db, _) = Self.referenceBackward(d.x, d.weight, d.dy, t)
        let got = Self.backward(d.x, d.weight, d.dy, t, chunk: 1, wantInput: false)
        assertClose(got.dw, dw, rtol: 1e-5, atol: 1e-5, "dW")
        assertClose(got.db, db, rtol: 1e-5, atol: 1e-5, "db")
        XCTAssertTrue(got.dx.allSatisfy { $0.isNaN }, "input gradient must be untouched when not asked for")
    }

    /// Overwrites, never accumulates: a second call gives the same gradients.
    func testBackwardOverwritesGradients() {
        let t = Self.cases[1]
        let d = Self.data(t, seed: 88)
        let g = t.geometry
        var dw = [Float](repeating: 1000, count: d.weight.count)
        var dx = [Float](repeating: 1000, count: d.x.count)
        var columns = [Float](repeating: 0, count: g.columnRows * g.outSpatial * 2)
        let (rdw, _, rdx) = Self.referenceBackward(d.x, d.weight, d.dy, t)
        for _ in 0..<2 {
            conv2dBackward(input: d.x, weight: d.weight, outputGradient: d.dy, weightGradient: &dw, biasGradient: nil,
                           inputGradient: &dx, columns: &columns, geometry: g, batch: t.batch, chunk: 2)
            assertClose(dw, rdw, rtol: 1e-5, atol: 1e-5, "dW")
            assertClose(dx, rdx, rtol: 1e-5, atol: 1e-5, "dX")
        }
    }

    /// Central differences of L = Σ conv(x)·R in Double, perturbing one Float at a time.
    func testBackwardMatchesFiniteDifferences() {
        let h: Float = 1e-2
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(400 + n))
            let r = d.dy
            func loss(_ x: [Float], _ w: [Float], _ b: [Float]?) -> Double {
                dot(Self.forward(x, w, b, t, chunk: 2), r)
            }
            let analytic = Self.backward(d.x, d.weight, r, t, chunk: 2)
            func check(_ name: String, _ values: [Float], _ grad: [Float], _ perturbed: ([Float]) -> Double) {
                for i in sampleIndices(values.count, count: 25, seed: UInt64(n * 7 + name.count)) {
                    var plus = values, minus = values
                    plus[i] += h
                    minus[i] -= h
                    let numeric = (perturbed(plus) - perturbed(minus)) / Double(2 * h)
                    XCTAssertTrue(gradientsAgree(analytic: Double(grad[i]), numeric: numeric, rtol: 1e-2, atol: 2e-3),
                                  "case \(n) \(name)[\(i)]: analytic \(grad[i]) numeric \(numeric)")
                }
            }
            check("x", d.x, analytic.dx) { loss($0, d.weight, d.bias) }
            check("weight", d.weight, analytic.dw) { loss(d.x, $0, d.bias) }
            if let bias = d.bias {
                check("bias", bias, analytic.db) { loss(d.x, d.weight, $0) }
            }
        }
    }

    /// <im2col(x), y> = <x, col2im(y)> for every geometry and for a chunk in the middle of the batch.
    func testIm2colAndCol2imAreAdjoint() {
        for (n, t) in Self.cases.enumerated() {
            let g = t.geometry
            let x = randomFloats(t.c * t.batch * t.h * t.w, seed: UInt64(500 + n))
            let first = t.batch > 1 ? 1 : 0
            let count = t.batch - first
            let columnCount = g.columnRows * count * g.outSpatial
            let y = randomFloats(columnCount, seed: UInt64(600 + n))
            var columns = [Float](repeating: .nan, count: columnCount)
            im2col(x, &columns, geometry: g, batch: t.batch, first: first, count: count)
            var back = [Float](repeating: 0, count: x.count)
            col2im(y, &back, geometry: g, batch: t.batch, first: first, count: count)
            let lhs = dot(columns, y)
            let rhs = dot(x, back)
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "case \(n)")
            // col2im only touches the images of its chunk.
            let plane = t.h * t.w
            for c in 0..<t.c {
                for b in 0..<first {
                    for i in 0..<plane {
                        XCTAssertEqual(back[(c * t.batch + b) * plane + i], 0, "case \(n): image \(b) outside the chunk")
                    }
                }
            }
        }
    }

    /// im2col reads zeros in the padding and the right input elements elsewhere.
    func testIm2colLayout() {
        let t = Case(c: 2, oc: 1, h: 3, w: 3, kernel: Pair(square: 3), stride: Pair(square: 1),
                     padding: Pair(square: 1), bias: false, batch: 2)
        let g = t.geometry
        let x = (0..<(t.c * t.batch * 9)).map { Float($0 + 1) }
        let columnCount = t.batch * g.outSpatial
        var columns = [Float](repeating: .nan, count: g.columnRows * columnCount)
        im2col(x, &columns, geometry: g, batch: t.batch, first: 0, count: t.batch)
        for c in 0..<t.c {
            for ky in 0..<3 {
                for kx in 0..<3 {
                    let row = (c * 3 + ky) * 3 + kx
                    for b in 0..<t.batch {
                        for oy in 0..<3 {
                            for ox in 0..<3 {
                                let (iy, ix) = (oy - 1 + ky, ox - 1 + kx)
                                let expected: Float = (0..<3).contains(iy) && (0..<3).contains(ix)
                                    ? x[((c * t.batch + b) * 3 + iy) * 3 + ix] : 0
                                XCTAssertEqual(columns[row * columnCount + (b * 3 + oy) * 3 + ox], expected)
                            }
                        }
                    }
                }
            }
        }
    }
}
