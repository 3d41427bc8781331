import Foundation
import MallocCounter
import XCTest
@testable import Graph
@testable import Runtime
import Spec

/// Winograd forward and input gradient against the direct convolution in Double
/// (`ConvolutionTests.referenceForward` / `referenceBackward`), for every tile of the case's kernel
/// side (F(2×2, 3×3) and F(4×4, 3×3) for 3×3 kernels, F(2×2, 5×5) for 5×5 ones).
///
/// Tolerance: Winograd's rounding error grows with the magnitudes it sums, not with the result
/// (which may cancel to near zero), so each element is checked as
///     |got − exact| ≤ tolerance(tile) · Σ |w|·|x|
/// where the sum runs over the r×r×IC window of that output (computed in Double alongside).
final class WinogradTests: XCTestCase {
    typealias Case = ConvolutionTests.Case

    static func conv(c: Int, oc: Int, h: Int, w: Int, pad: Pair, batch: Int, bias: Bool = true, kernel: Int = 3) -> Case {
        Case(c: c, oc: oc, h: h, w: w, kernel: Pair(square: kernel), stride: Pair(square: 1), padding: pad,
             bias: bias, batch: batch)
    }

    /// The tiles for a case's kernel side.
    static func tiles(_ t: Case) -> [WinogradTile] { WinogradTile.tiles(kernelSide: t.kernel.h) }

    /// Random shapes: padding 0/1/2 (also unequal), tiny and odd images, channel counts off 8, batch 1.
    static let cases: [Case] = [
        conv(c: 1, oc: 1, h: 1, w: 1, pad: Pair(square: 1), batch: 1),
        conv(c: 2, oc: 3, h: 1, w: 1, pad: Pair(square: 2), batch: 2),
        conv(c: 3, oc: 5, h: 3, w: 5, pad: Pair(square: 0), batch: 3),
        conv(c: 9, oc: 7, h: 3, w: 5, pad: Pair(square: 1), batch: 2, bias: false),
        conv(c: 5, oc: 10, h: 7, w: 7, pad: Pair(square: 1), batch: 4),
        conv(c: 17, oc: 9, h: 7, w: 7, pad: Pair(square: 2), batch: 1),
        conv(c: 8, oc: 16, h: 9, w: 6, pad: Pair(0, 2), batch: 3),
        conv(c: 12, oc: 8, h: 11, w: 13, pad: Pair(2, 1), batch: 2, bias: false),
        conv(c: 16, oc: 24, h: 14, w: 14, pad: Pair(square: 1), batch: 3),
        conv(c: 4, oc: 6, h: 28, w: 28, pad: Pair(square: 1), batch: 2),
        // 5×5: padding 0…4 (also unequal), outputs of odd and even sides, one pixel, lenet-wide's conv.
        conv(c: 1, oc: 2, h: 1, w: 1, pad: Pair(square: 4), batch: 2, kernel: 5),
        conv(c: 3, oc: 5, h: 5, w: 5, pad: Pair(square: 2), batch: 3, kernel: 5),
        conv(c: 9, oc: 8, h: 9, w: 7, pad: Pair(0, 3), batch: 2, bias: false, kernel: 5),
        conv(c: 16, oc: 32, h: 14, w: 14, pad: Pair(square: 0), batch: 2, kernel: 5),
        conv(c: 6, oc: 11, h: 8, w: 12, pad: Pair(1, 4), batch: 1, kernel: 5),
    ]

    /// Bound on |error| / Σ|w||x| (forward, input gradient), measured over these cases with margin
    /// (see testReportErrors).
    static func tolerance(_ tile: WinogradTile) -> Double {
        switch tile {
        case .f2x2: return 2e-6
        case .f4x4, .f2x2k5: return 2e-5
        }
    }

    /// The same bound for the weight gradient, |error| / Σ|dy||x|: its transformed terms cancel
    /// more (one product per weight and tile spread over α² products), so the bound is looser.
    static func weightGradientTolerance(_ tile: WinogradTile) -> Double {
        switch tile {
        case .f2x2: return 2e-5
        case .f4x4, .f2x2k5: return 2e-4
        }
    }

    // MARK: references in Double

    /// Σ |w|·|x| over each output's window: the scale of the rounding error.
    static func magnitudes(_ x: [Float], _ weight: [Float], _ t: Case) -> [Double] {
        ConvolutionTests.referenceForward(x.map { abs($0) }, weight.map { abs($0) }, nil, t)
    }

    /// Σ |w|·|dy| over each input position's window of the input-gradient convolution.
    static func gradientMagnitudes(_ weight: [Float], _ dy: [Float], _ t: Case) -> [Double] {
        let x = [Float](repeating: 0, count: t.c * t.batch * t.h * t.w)
        return ConvolutionTests.referenceBackward(x, weight.map { abs($0) }, dy.map { abs($0) }, t).2
    }

    /// Checks the elements of the images in `images` against `exact` within `tolerance`·`scale`,
    /// and that every element of the other images is still NaN (never written).
    /// - got, exact, scale: [C, batch, spatial]
    static func assertWithin(_ got: [Float], _ exact: [Double], _ scale: [Double], _ tolerance: Double,
                             images: Range<Int>, batch: Int, spatial: Int, _ message: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, exact.count, message, file: file, line: line)
        var failures = 0
        func fail(_ text: String) {
            failures += 1
            if failures <= 5 { XCTFail("\(message) \(text)", file: file, line: line) }
        }
        for i in got.indices {
            if images.contains((i / spatial) % batch) {
                let error = abs(Double(got[i]) - exact[i])
                if !(error <= tolerance * scale[i]) {
                    fail("[\(i)]: got \(got[i]), expected \(exact[i]) (error \(error), scale \(scale[i]))")
                }
            } else if !got[i].isNaN {
                fail("[\(i)]: written outside images \(images)")
            }
        }
        if failures > 5 { XCTFail("\(message): \(failures) failures in all", file: file, line: line) }
    }

    // MARK: kernel wrappers

    /// Output filled with NaN, then the Winograd forward over `images`; the scratch gets NaN and a
    /// guard tail that must stay untouched.
    static func forward(_ x: [Float], _ weight: [Float], _ bias: [Float]?, _ t: Case, tile: WinogradTile,
                        images: Range<Int>, chunkBudget: Int = WinogradLayout.chunkBudget) -> [Float] {
        let g = t.geometry
        var transformed = [Float](repeating: .nan,
                                  count: winogradTransformedWeightCount(geometry: g, flipped: false, tile: tile))
        winogradTransformWeights(weight: weight, transformed: &transformed, geometry: g, flipped: false, tile: tile)
        let count = WinogradLayout(g, tile: tile, images: images.count, chunkBudget: chunkBudget).scratchCount
        var scratch = [Float](repeating: .nan, count: count + 64)
        for i in count..<(count + 64) { scratch[i] = 12345 }
        var out = [Float](repeating: .nan, count: t.oc * t.batch * g.outSpatial)
        scratch.withUnsafeMutableBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                conv2dWinogradForward(input: x, transformedWeight: transformed, bias: bias, output: o.baseAddress!,
                                      scratch: s.baseAddress!, geometry: g, batch: t.batch, images: images,
                                      tile: tile, chunkBudget: chunkBudget)
            }
        }
        XCTAssertTrue(scratch[count...].allSatisfy { $0 == 12345 }, "scratch overrun")
        return out
    }

    /// The input gradient by Winograd over `images` (input gradient filled with NaN first).
    static func inputGradient(_ weight: [Float], _ dy: [Float], _ t: Case, tile: WinogradTile,
                              images: Range<Int>) -> [Float] {
        let g = t.geometry
        let gradient = winogradInputGradientGeometry(g)
        var transformed = [Float](repeating: .nan,
                                  count: winogradTransformedWeightCount(geometry: g, flipped: true, tile: tile))
        winogradTransformWeights(weight: weight, transformed: &transformed, geometry: g, flipped: true, tile: tile)
        let count = WinogradLayout(gradient, tile: tile, images: images.count).scratchCount
        var scratch = [Float](repeating: .nan, count: count + 64)
        for i in count..<(count + 64) { scratch[i] = 12345 }
        var dx = [Float](repeating: .nan, count: t.c * t.batch * t.h * t.w)
        scratch.withUnsafeMutableBufferPointer { s in
            dx.withUnsafeMutableBufferPointer { o in
                conv2dWinogradForward(input: dy, transformedWeight: transformed, bias: nil, output: o.baseAddress!,
                                      scratch: s.baseAddress!, geometry: gradient, batch: t.batch, images: images,
                                      tile: tile)
            }
        }
        XCTAssertTrue(scratch[count...].allSatisfy { $0 == 12345 }, "scratch overrun")
        return dx
    }

    /// The weight gradient by Winograd over `images` (filled with NaN first).
    static func weightGradient(_ x: [Float], _ dy: [Float], _ t: Case, tile: WinogradTile, images: Range<Int>,
                               chunkBudget: Int = WinogradLayout.chunkBudget) -> [Float] {
        let g = t.geometry
        let count = WinogradLayout(g, tile: tile, images: images.count, chunkBudget: chunkBudget)
            .weightGradientScratchCount(g)
        var scratch = [Float](repeating: .nan, count: count + 64)
        for i in count..<(count + 64) { scratch[i] = 12345 }
        var dw = [Float](repeating: .nan, count: g.weightCount)
        scratch.withUnsafeMutableBufferPointer { s in
            conv2dWinogradWeightGradient(input: x, outputGradient: dy, weightGradient: &dw, scratch: s.baseAddress!,
                                         geometry: g, batch: t.batch, images: images, tile: tile,
                                         chunkBudget: chunkBudget)
        }
        XCTAssertTrue(scratch[count...].allSatisfy { $0 == 12345 }, "scratch overrun")
        return dw
    }

    /// The direct weight gradient of the images in `images` only, and the rounding scale of each
    /// weight: the largest Σ |dy|·|x| among the r² taps of its (output, input) channel pair, since
    /// the inverse transform Gᵀ·dU·G mixes all of them (a tap whose products are all zero still
    /// gets its neighbours' rounding).
    static func referenceWeightGradient(_ x: [Float], _ dy: [Float], _ t: Case,
                                        images: Range<Int>) -> (exact: [Double], scale: [Double]) {
        let spatial = t.geometry.outSpatial
        let masked = dy.indices.map { images.contains(($0 / spatial) % t.batch) ? dy[$0] : 0 }
        let weight = [Float](repeating: 0, count: t.geometry.weightCount)
        let exact = ConvolutionTests.referenceBackward(x, weight, masked, t).0
        let taps = ConvolutionTests.referenceBackward(x.map { abs($0) }, weight, masked.map { abs($0) }, t).0
        let r2 = t.kernel.h * t.kernel.w
        let scale = taps.indices.map { i in taps[(i / r2 * r2)..<(i / r2 * r2 + r2)].max()! }
        return (exact, scale)
    }

    static func data(_ t: Case, seed: UInt64) -> (x: [Float], weight: [Float], bias: [Float]?, dy: [Float]) {
        ConvolutionTests.data(t, seed: seed)
    }

    /// The whole batch, and for batches above 1 a share in the middle or at the end.
    static func shares(_ batch: Int) -> [Range<Int>] {
        batch == 1 ? [0..<1] : [0..<batch, 1..<batch, (batch / 2)..<(batch / 2 + 1)]
    }

    // MARK: tests

    func testApplies() {
        for t in Self.cases { XCTAssertTrue(winogradApplies(t.geometry)) }
        for t in ConvolutionTests.cases where ![3, 5].contains(t.kernel.h) || t.kernel.h != t.kernel.w
            || t.stride != Pair(square: 1) {
            XCTAssertFalse(winogradApplies(t.geometry), "\(t.geometry)")
        }
        var g = Self.cases[4].geometry
        g.padding = Pair(3, 1)
        XCTAssertFalse(winogradApplies(g), "padding 3 leaves no input-gradient padding 2 − p")
        var g5 = Self.cases[12].geometry
        g5.padding = Pair(2, 5)
        XCTAssertFalse(winogradApplies(g5), "padding 5 leaves no input-gradient padding 4 − p")
        XCTAssertEqual(winogradTile(for: g5), .f2x2k5)
    }

    func testInputGradientGeometryGivesBackTheInput() {
        for t in Self.cases {
            let g = t.geometry
            let back = winogradInputGradientGeometry(g)
            XCTAssertEqual(back.outHeight, g.inHeight)
            XCTAssertEqual(back.outWidth, g.inWidth)
            XCTAssertEqual(back.inChannels, g.outChannels)
            XCTAssertEqual(back.outChannels, g.inChannels)
        }
    }

    func testForwardMatchesDirectConvolution() {
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(700 + n))
            let exact = ConvolutionTests.referenceForward(d.x, d.weight, d.bias, t)
            let scale = Self.magnitudes(d.x, d.weight, t).map { $0 + 1 }  // + |bias| ≤ 1
                        for tile in Self.tiles(t) {
                for images in Self.shares(t.batch) {
                    let got = Self.forward(d.x, d.weight, d.bias, t, tile: tile, images: images)
                    Self.assertWithin(got, exact, scale, Self.tolerance(tile), images: images, batch: t.batch,
                                      spatial: t.geometry.outSpatial, "case \(n) \(tile) images \(images)")
                }
            }
        }
    }

    /// Chunks of few tiles (down to one tile, and chunks that cross image boundaries) give the same result.
    func testForwardDoesNotDependOnChunk() {
        for t in [Self.cases[5], Self.cases[12]] {
            let d = Self.data(t, seed: 71)
            for tile in Self.tiles(t) {
                let whole = Self.forward(d.x, d.weight, d.bias, t, tile: tile, images: 0..<t.batch)
                for budget in [1, 3 * 1000, 7 * 1000] {
                    // BLAS may round differently for other row counts, so equal within float tolerance.
                    let got = Self.forward(d.x, d.weight, d.bias, t, tile: tile, images: 0..<t.batch, chunkBudget: budget)
                    assertClose(got, whole, rtol: 1e-5, atol: 1e-5, "\(tile) budget \(budget)")
                }
            }
        }
        let u = Self.cases[4]
        let e = Self.data(u, seed: 72)
        let exact = ConvolutionTests.referenceForward(e.x, e.weight, e.bias, u)
        let scale = Self.magnitudes(e.x, e.weight, u).map { $0 + 1 }
        for tile in Self.tiles(u) {
            for budget in [1, 5 * 1000] {
                let got = Self.forward(e.x, e.weight, e.bias, u, tile: tile, images: 1..<u.batch, chunkBudget: budget)
                Self.assertWithin(got, exact, scale, Self.tolerance(tile), images: 1..<u.batch, batch: u.batch,
                                  spatial: u.geometry.outSpatial, "\(tile) budget \(budget)")
            }
        }
    }

    func testInputGradientMatchesDirectConvolution() {
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(800 + n))
            let exact = ConvolutionTests.referenceBackward(d.x, d.weight, d.dy, t).2
            let scale = Self.gradientMagnitudes(d.weight, d.dy, t)
            for tile in Self.tiles(t) {
                for images in Self.shares(t.batch) {
                    let got = Self.inputGradient(d.weight, d.dy, t, tile: tile, images: images)
                    Self.assertWithin(got, exact, scale, Self.tolerance(tile), images: images, batch: t.batch,
                                      spatial: t.h * t.w, "case \(n) \(tile) images \(images)")
                }
            }
        }
    }

    func testWeightGradientMatchesDirectConvolution() {
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(1100 + n))
            for images in Self.shares(t.batch) {
                let (exact, scale) = Self.referenceWeightGradient(d.x, d.dy, t, images: images)
                for tile in Self.tiles(t) {
                    let got = Self.weightGradient(d.x, d.dy, t, tile: tile, images: images)
                    Self.assertWithin(got, exact, scale, Self.weightGradientTolerance(tile), images: 0..<1, batch: 1,
                                      spatial: got.count, "case \(n) \(tile) images \(images)")
                }
            }
        }
    }

    /// Chunks of few tiles accumulate to the same gradient; an empty share gives zeros.
    func testWeightGradientChunksAndEmptyShare() {
        let t = Self.cases[4]
        let d = Self.data(t, seed: 73)
        let (exact, scale) = Self.referenceWeightGradient(d.x, d.dy, t, images: 1..<t.batch)
        for tile in Self.tiles(t) {
            for budget in [1, 5 * 1000] {
                let got = Self.weightGradient(d.x, d.dy, t, tile: tile, images: 1..<t.batch, chunkBudget: budget)
                Self.assertWithin(got, exact, scale, Self.weightGradientTolerance(tile), images: 0..<1, batch: 1,
                                  spatial: got.count, "\(tile) budget \(budget)")
            }
            XCTAssertEqual(Self.weightGradient(d.x, d.dy, t, tile: tile, images: 2..<2),
                           [Float](repeating: 0, count: t.geometry.weightCount))
        }
    }

    /// Central differences of L = Σ winogradForward(w)·R in Double against the Winograd weight gradient of R.
    func testWeightGradientMatchesFiniteDifferences() {
        for n in [3, 5, 7, 12, 13] {
            let t = Self.cases[n]
            let d = Self.data(t, seed: UInt64(1200 + n))
            for tile in Self.tiles(t) {
                let analytic = Self.weightGradient(d.x, d.dy, t, tile: tile, images: 0..<t.batch)
                Self.checkFiniteDifferences("case \(n) \(tile) w", d.weight, analytic, samples: 15, seed: UInt64(n)) {
                    dot(Self.forward(d.x, $0, d.bias, t, tile: tile, images: 0..<t.batch), d.dy)
                }
            }
        }
    }

    /// Central differences of `loss` (step 1e-2) at `count` sampled elements of `values` against `analytic`.
    static func checkFiniteDifferences(_ name: String, _ values: [Float], _ analytic: [Float], samples: Int,
                                       seed: UInt64, file: StaticString = #filePath, line: UInt = #line,
                                       _ loss: ([Float]) -> Double) {
        let h: Float = 1e-2
        for i in sampleIndices(values.count, count: samples, seed: seed) {
            var plus = values, minus = values
            plus[i] += h
            minus[i] -= h
            let numeric = (loss(plus) - loss(minus)) / Double(2 * h)
            XCTAssertTrue(gradientsAgree(analytic: Double(analytic[i]), numeric: numeric, rtol: 1e-2, atol: 2e-3),
                          "\(name)[\(i)]: analytic \(analytic[i]) numeric \(numeric)", file: file, line: line)
        }
    }

    /// Prints the largest |error| / Σ|terms| of each pass and tile over the test shapes, and max
    /// abs / relative errors on the examples/mnist.yaml shapes (batch 2) next to im2col's.
    func testReportErrors() {
        var worst: [String: Double] = [:]
        func note(_ key: String, _ got: [Float], _ exact: [Double], _ scale: [Double]) {
            for i in got.indices where scale[i] > 0 {
                worst[key] = max(worst[key] ?? 0, abs(Double(got[i]) - exact[i]) / scale[i])
            }
        }
        for (n, t) in Self.cases.enumerated() {
            let d = Self.data(t, seed: UInt64(1300 + n))
            let forwardExact = ConvolutionTests.referenceForward(d.x, d.weight, d.bias, t)
            let forwardScale = Self.magnitudes(d.x, d.weight, t).map { $0 + 1 }
            let (_, _, dxExact) = ConvolutionTests.referenceBackward(d.x, d.weight, d.dy, t)
            let dxScale = Self.gradientMagnitudes(d.weight, d.dy, t)
            let (dwExact, dwScale) = Self.referenceWeightGradient(d.x, d.dy, t, images: 0..<t.batch)
            for tile in Self.tiles(t) {
                let all = 0..<t.batch
                note("forward \(tile)", Self.forward(d.x, d.weight, d.bias, t, tile: tile, images: all), forwardExact, forwardScale)
                note("input gradient \(tile)", Self.inputGradient(d.weight, d.dy, t, tile: tile, images: all), dxExact, dxScale)
                note("weight gradient \(tile)", Self.weightGradient(d.x, d.dy, t, tile: tile, images: all), dwExact, dwScale)
            }
        }
        for (key, value) in worst.sorted(by: { $0.key < $1.key }) {
            print("winograd error/scale \(key): \(value)")
        }
        // examples/mnist.yaml's 3×3 convs, and lenet-wide's 5×5 one.
        for (c, oc, side, kernel) in [(32, 32, 28, 3), (32, 64, 14, 3), (64, 64, 14, 3), (16, 32, 14, 5)] {
            let t = Self.conv(c: c, oc: oc, h: side, w: side, pad: Pair(square: kernel == 3 ? 1 : 0), batch: 2,
                              kernel: kernel)
            let d = Self.data(t, seed: 1400)
            let exact = ConvolutionTests.referenceForward(d.x, d.weight, d.bias, t)
            let (exactDW, _, exactDX) = ConvolutionTests.referenceBackward(d.x, d.weight, d.dy, t)
            func errors(_ got: [Float], _ exact: [Double]) -> String {
                let largest = exact.map { abs($0) }.max() ?? 1
                let e = zip(got, exact).map { abs(Double($0) - $1) }.max() ?? 0
                return String(format: "max abs %.2e, max abs / max |exact| %.2e", e, e / largest)
            }
            let im2col = ConvolutionTests.backward(d.x, d.weight, d.dy, t, chunk: 2)
            print("conv \(c)→\(oc) @\(side): forward im2col: \(errors(ConvolutionTests.forward(d.x, d.weight, d.bias, t, chunk: 2), exact))")
            print("conv \(c)→\(oc) @\(side): input gradient im2col: \(errors(im2col.dx, exactDX))")
            print("conv \(c)→\(oc) @\(side): weight gradient im2col: \(errors(im2col.dw, exactDW))")
            for tile in Self.tiles(t) {
                let all = 0..<t.batch
                print("conv \(c)→\(oc) @\(side): forward \(tile): \(errors(Self.forward(d.x, d.weight, d.bias, t, tile: tile, images: all), exact))")
                print("conv \(c)→\(oc) @\(side): input gradient \(tile): \(errors(Self.inputGradient(d.weight, d.dy, t, tile: tile, images: all), exactDX))")
                print("conv \(c)→\(oc) @\(side): weight gradient \(tile): \(errors(Self.weightGradient(d.x, d.dy, t, tile: tile, images: all), exactDW))")
            }
        }
    }

    /// The weight transforms and the three kernels allocate nothing once warm (one call each first:
    /// OpenBLAS's and Swift's lazy one-time initializations).
    func testKernelsAllocateNothing() {
        setBLASThreads(1)
        for t in [Self.cases[9], Self.cases[13]] {
            let g = t.geometry
            let d = Self.data(t, seed: 1500)
            var forwardWeights = [Float](repeating: 0, count: winogradTransformedWeightCount(geometry: g, flipped: false))
            var gradientWeights = [Float](repeating: 0, count: winogradTransformedWeightCount(geometry: g, flipped: true))
            var scratch = [Float](repeating: 0, count: max(winogradForwardScratchCount(geometry: g, images: t.batch),
                                                           winogradInputGradientScratchCount(geometry: g, images: t.batch),
                                                           winogradWeightGradientScratchCount(geometry: g, images: t.batch)))
            var y = [Float](repeating: 0, count: t.oc * t.batch * g.outSpatial)
            var dx = [Float](repeating: 0, count: d.x.count)
            var dw = [Float](repeating: 0, count: g.weightCount)
            d.x.withUnsafeBufferPointer { x in
                d.weight.withUnsafeBufferPointer { w in
                    d.bias!.withUnsafeBufferPointer { b in
                        d.dy.withUnsafeBufferPointer { dy in
                            forwardWeights.withUnsafeMutableBufferPointer { fw in
                                gradientWeights.withUnsafeMutableBufferPointer { gw in
                                    scratch.withUnsafeMutableBufferPointer { s in
                                        y.withUnsafeMutableBufferPointer { y in
                                            dx.withUnsafeMutableBufferPointer { dx in
                                                dw.withUnsafeMutableBufferPointer { dw in
                                                    func step() {
                                                        winogradTransformWeights(weight: w.baseAddress!, transformed: fw.baseAddress!, geometry: g, flipped: false)
                                                        winogradTransformWeights(weight: w.baseAddress!, transformed: gw.baseAddress!, geometry: g, flipped: true)
                                                        conv2dWinogradForward(input: x.baseAddress!, transformedWeight: fw.baseAddress!, bias: b.baseAddress!,
                                                                              output: y.baseAddress!, scratch: s.baseAddress!, geometry: g, batch: t.batch,
                                                                              images: 0..<t.batch)
                                                        conv2dWinogradInputGradient(outputGradient: dy.baseAddress!, transformedFlippedWeight: gw.baseAddress!,
                                                                                    inputGradient: dx.baseAddress!, scratch: s.baseAddress!, geometry: g,
                                                                                    batch: t.batch, images: 0..<t.batch)
                                                        conv2dWinogradWeightGradient(input: x.baseAddress!, outputGradient: dy.baseAddress!,
                                                                                     weightGradient: dw.baseAddress!, scratch: s.baseAddress!, geometry: g,
                                                                                     batch: t.batch, images: 0..<t.batch)
                                                    }
                                                    step()
                                                    malloc_counter_start()
                                                    step()
                                                    XCTAssertEqual(malloc_counter_stop(), 0)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The public entry points (tile picked by `winogradTile(for:)`) with the public sizes.
    func testPublicAPI() {
        for (n, t) in Self.cases.enumerated() {
            let g = t.geometry
            let d = Self.data(t, seed: UInt64(900 + n))
            var forwardWeights = [Float](repeating: .nan, count: winogradTransformedWeightCount(geometry: g, flipped: false))
            var gradientWeights = [Float](repeating: .nan, count: winogradTransformedWeightCount(geometry: g, flipped: true))
            winogradTransformWeights(weight: d.weight, transformed: &forwardWeights, geometry: g, flipped: false)
            winogradTransformWeights(weight: d.weight, transformed: &gradientWeights, geometry: g, flipped: true)
            XCTAssertFalse(forwardWeights.contains { $0.isNaN })
            XCTAssertFalse(gradientWeights.contains { $0.isNaN })
            let images = t.batch > 1 ? 1..<t.batch : 0..<1
            var scratch = [Float](repeating: .nan, count: max(winogradForwardScratchCount(geometry: g, images: images.count),
                                                              winogradInputGradientScratchCount(geometry: g, images: images.count)))
            var y = [Float](repeating: .nan, count: t.oc * t.batch * g.outSpatial)
            var dx = [Float](repeating: .nan, count: d.x.count)
            conv2dWinogradForward(input: d.x, transformedWeight: forwardWeights, bias: d.bias, output: &y,
                                  scratch: &scratch, geometry: g, batch: t.batch, images: images)
            conv2dWinogradInputGradient(outputGradient: d.dy, transformedFlippedWeight: gradientWeights,
                                        inputGradient: &dx, scratch: &scratch, geometry: g, batch: t.batch,
                                        images: images)
            var dw = [Float](repeating: .nan, count: g.weightCount)
            var gradientScratch = [Float](repeating: .nan,
                                          count: winogradWeightGradientScratchCount(geometry: g, images: images.count))
            conv2dWinogradWeightGradient(input: d.x, outputGradient: d.dy, weightGradient: &dw,
                                         scratch: &gradientScratch, geometry: g, batch: t.batch, images: images)
            // The loosest tile of the kernel side: each pass picks its own by output size.
            let loosest: WinogradTile = t.kernel.h == 5 ? .f2x2k5 : .f4x4
            let tolerance = Self.tolerance(loosest)
            let (exactDW, scaleDW) = Self.referenceWeightGradient(d.x, d.dy, t, images: images)
            Self.assertWithin(dw, exactDW, scaleDW, Self.weightGradientTolerance(loosest), images: 0..<1, batch: 1, spatial: dw.count,
                              "weight gradient case \(n)")
            Self.assertWithin(y, ConvolutionTests.referenceForward(d.x, d.weight, d.bias, t),
                              Self.magnitudes(d.x, d.weight, t).map { $0 + 1 }, tolerance, images: images,
                              batch: t.batch, spatial: g.outSpatial, "forward case \(n)")
            Self.assertWithin(dx, ConvolutionTests.referenceBackward(d.x, d.weight, d.dy, t).2,
                              Self.gradientMagnitudes(d.weight, d.dy, t), tolerance, images: images,
                              batch: t.batch, spatial: t.h * t.w, "input gradient case \(n)")
        }
    }

    /// Central differences of L = Σ winogradForward(x)·R in Double against the Winograd input gradient of R.
    func testInputGradientMatchesFiniteDifferences() {
        for n in [2, 4, 6, 11, 14] {
            let t = Self.cases[n]
            let d = Self.data(t, seed: UInt64(1000 + n))
            for tile in Self.tiles(t) {
                let analytic = Self.inputGradient(d.weight, d.dy, t, tile: tile, images: 0..<t.batch)
                Self.checkFiniteDifferences("case \(n) \(tile) x", d.x, analytic, samples: 20, seed: UInt64(n)) {
                    dot(Self.forward($0, d.weight, d.bias, t, tile: tile, images: 0..<t.batch), d.dy)
                }
            }
        }
    }
}
