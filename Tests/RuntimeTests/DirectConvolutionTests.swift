import XCTest
@testable import Graph
@testable import Runtime
import Spec

/// The direct kernels (Kernels/DirectConvolution.swift) against the convolution in Double
/// (`ConvolutionTests.referenceForward` / `referenceBackward`): forward, input gradient and weight
/// gradient, on shapes that exercise both tile widths (16 and 8 channels), padded and unpadded
/// sources, pixel and tap counts that leave a partial last tile, partial and empty shares, and the
/// one-channel row kernel's partial rows and channel blocks.
final class DirectConvolutionTests: XCTestCase {
    typealias Case = ConvolutionTests.Case

    static func conv(c: Int, oc: Int, h: Int, w: Int, k: Pair, pad: Pair, batch: Int, bias: Bool = true) -> Case {
        Case(c: c, oc: oc, h: h, w: w, kernel: k, stride: Pair(square: 1), padding: pad, bias: bias, batch: batch)
    }

    static let cases: [Case] = [
        conv(c: 1, oc: 1, h: 1, w: 1, k: Pair(square: 1), pad: Pair(square: 0), batch: 1),
        conv(c: 1, oc: 6, h: 9, w: 9, k: Pair(square: 5), pad: Pair(square: 2), batch: 3),       // lenet's first
        conv(c: 6, oc: 16, h: 7, w: 7, k: Pair(square: 5), pad: Pair(square: 0), batch: 2),      // lenet's second
        conv(c: 3, oc: 33, h: 6, w: 5, k: Pair(square: 3), pad: Pair(square: 1), batch: 3),      // 16 + 16 + 8
        conv(c: 16, oc: 20, h: 8, w: 8, k: Pair(square: 5), pad: Pair(square: 0), batch: 2, bias: false),
        conv(c: 2, oc: 9, h: 5, w: 7, k: Pair(3, 2), pad: Pair(1, 0), batch: 4),
        conv(c: 5, oc: 3, h: 4, w: 6, k: Pair(2, 4), pad: Pair(0, 2), batch: 2, bias: false),
        conv(c: 1, oc: 32, h: 12, w: 12, k: Pair(square: 3), pad: Pair(square: 1), batch: 2),    // mnist's first
        conv(c: 1, oc: 7, h: 20, w: 19, k: Pair(3, 5), pad: Pair(1, 2), batch: 3),               // rows of 16 + 3
        conv(c: 1, oc: 13, h: 9, w: 36, k: Pair(2, 2), pad: Pair(square: 0), batch: 2, bias: false),  // 16 + 16 + 3
    ]

    /// |error| / Σ|terms|: plain float32 sums in a fixed order (as im2col's GEMM), so the bound is
    /// that of a dot product of a few hundred terms.
    static let tolerance = 1e-5

    /// Output filled with NaN, the direct forward over `images` (`rows`: the one-channel row
    /// kernel, else the channel-vector kernel), and a guard tail after the scratch.
    static func forward(_ x: [Float], _ weight: [Float], _ bias: [Float]?, _ t: Case, images: Range<Int>,
                        rows: Bool = false) -> [Float] {
        let g = t.geometry
        var out = [Float](repeating: .nan, count: t.oc * t.batch * g.outSpatial)
        if rows {
            withGuardedScratch(directForwardScratchCount(geometry: g, images: images.count)) { s in
                out.withUnsafeMutableBufferPointer { o in
                    conv2dDirectRowForward(input: x, weight: weight, bias: bias, output: o.baseAddress!, scratch: s,
                                           geometry: g, batch: t.batch, images: images)
                }
            }
            return out
        }
        var rearranged = [Float](repeating: .nan, count: directTransformedWeightCount(geometry: g, flipped: false))
        directTransformWeights(weight: weight, transformed: &rearranged, geometry: g, flipped: false,
                               rows: 0..<directTransformedWeightRows(geometry: g, flipped: false))
        withGuardedScratch(DirectLayout(forward: g, images: images.count, transposed: false).count) { s in
            out.withUnsafeMutableBufferPointer { o in
                conv2dDirectForward(input: x, transformedWeight: rearranged, bias: bias, output: o.baseAddress!,
                                    scratch: s, geometry: g, batch: t.batch, images: images)
            }
        }
        return out
    }

    static func inputGradient(_ weight: [Float], _ dy: [Float], _ t: Case, images: Range<Int>) -> [Float] {
        let g = t.geometry
        var flipped = [Float](repeating: .nan, count: directTransformedWeightCount(geometry: g, flipped: true))
        // Two shares, as two lanes would make them.
        let rows = directTransformedWeightRows(geometry: g, flipped: true)
        for lane in 0..<2 {
            directTransformWeights(weight: weight, transformed: &flipped, geometry: g, flipped: true,
                                   rows: laneShare(of: rows, lane: lane, lanes: 2))
        }
        var dx = [Float](repeating: .nan, count: t.c * t.batch * t.h * t.w)
        withGuardedScratch(directBackwardScratchCount(geometry: g, images: images.count, inputGradient: true)) { s in
            dx.withUnsafeMutableBufferPointer { o in
                conv2dDirectInputGradient(outputGradient: dy, transformedFlippedWeight: flipped,
                                          inputGradient: o.baseAddress!, scratch: s, geometry: g, batch: t.batch,
                                          images: images)
            }
        }
        return dx
    }

    static func weightGradient(_ x: [Float], _ dy: [Float], _ t: Case, images: Range<Int>) -> [Float] {
        let g = t.geometry
        var dw = [Float](repeating: .nan, count: g.weightCount)
        withGuardedScratch(directBackwardScratchCount(geometry: g, images: images.count, inputGradient: false)) { s in
            conv2dDirectWeightGradient(input: x, outputGradient: dy, weightGradient: &dw, scratch: s, geometry: g,
                                       batch: t.batch, images: images)
        }
        return dw
    }

    /// A NaN-filled scratch of `count` floats with a guard tail that must stay untouched.
    static func withGuardedScratch(_ count: Int, file: StaticString = #filePath, line: UInt = #line,
                                   _ body: (UnsafeMutablePointer<Float>) -> Void) {
        var scratch = [Float](repeating: .nan, count: count + 64)
        for i in count..<(count + 64) { scratch[i] = 12345 }
        scratch.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        XCTAssertTrue(scratch[count...].allSatisfy { $0 == 12345 }, "scratch overrun", file: file, line: line)
    }

    func testApplies() {
        for t in Self.cases { XCTAssertTrue(directConvolutionApplies(t.geometry)) }
        XCTAssertFalse(directConvolutionApplies(ConvolutionTests.cases[2].geometry), "stride 2")
        XCTAssertFalse(directConvolutionApplies(ConvolutionTests.cases[4].geometry), "stride (2, 1)")
        let padded = Self.conv(c: 2, oc: 3, h: 4, w: 4, k: Pair(square: 1), pad: Pair(square: 1), batch: 1)
        XCTAssertFalse(directConvolutionApplies(padded.geometry), "padding 1 with a 1×1 kernel")
        let wide = Self.conv(c: 2, oc: 3, h: 4, w: 4, k: Pair(3, 2), pad: Pair(1, 2), batch: 1)
        XCTAssertFalse(directConvolutionApplies(wide.geometry), "padding 2 with a kernel 2 wide")
    }

    func testForwardMatchesReference() {
        for (n, t) in Self.cases.enumerated() {
            let d = ConvolutionTests.data(t, seed: UInt64(900 + n))
            let exact = ConvolutionTests.referenceForward(d.x, d.weight, d.bias, t)
            let scale = WinogradTests.magnitudes(d.x, d.weight, t).map { $0 + 1 }
            // Both forward kernels where the row kernel applies (one input channel).
            for rows in directRowKernelApplies(t.geometry) ? [false, true] : [false] {
                for images in WinogradTests.shares(t.batch) {
                    let got = Self.forward(d.x, d.weight, d.bias, t, images: images, rows: rows)
                    WinogradTests.assertWithin(got, exact, scale, Self.tolerance, images: images, batch: t.batch,
                                               spatial: t.geometry.outSpatial, "case \(n) rows \(rows) images \(images)")
                }
            }
        }
    }

    func testInputGradientMatchesReference() {
        for (n, t) in Self.cases.enumerated() {
            let d = ConvolutionTests.data(t, seed: UInt64(950 + n))
            let exact = ConvolutionTests.referenceBackward(d.x, d.weight, d.dy, t).2
            let scale = WinogradTests.gradientMagnitudes(d.weight, d.dy, t).map { $0 + 1e-6 }
            for images in WinogradTests.shares(t.batch) {
                let got = Self.inputGradient(d.weight, d.dy, t, images: images)
                WinogradTests.assertWithin(got, exact, scale, Self.tolerance, images: images, batch: t.batch,
                                           spatial: t.h * t.w, "case \(n) images \(images)")
            }
        }
    }

    func testWeightGradientMatchesReference() {
        for (n, t) in Self.cases.enumerated() {
            let d = ConvolutionTests.data(t, seed: UInt64(1000 + n))
            for images in WinogradTests.shares(t.batch) {
                let spatial = t.geometry.outSpatial
                let masked = d.dy.indices.map { images.contains(($0 / spatial) % t.batch) ? d.dy[$0] : 0 }
                let zero = [Float](repeating: 0, count: t.geometry.weightCount)
                let exact = ConvolutionTests.referenceBackward(d.x, zero, masked, t).0
                let scale = ConvolutionTests.referenceBackward(d.x.map { abs($0) }, zero, masked.map { abs($0) }, t).0
                let got = Self.weightGradient(d.x, d.dy, t, images: images)
                for i in got.indices {
                    XCTAssertLessThanOrEqual(abs(Double(got[i]) - exact[i]), Self.tolerance * (scale[i] + 1e-6),
                                             "case \(n) images \(images) [\(i)]: got \(got[i]), expected \(exact[i])")
                }
            }
            XCTAssertEqual(Self.weightGradient(d.x, d.dy, t, images: 1..<1),
                           [Float](repeating: 0, count: t.geometry.weightCount), "an empty share writes zeros")
        }
    }

    /// Central differences of L = Σ forward(w)·R (and of L in x) against the kernels' gradients of R.
    func testGradientsMatchFiniteDifferences() {
        for n in [1, 3, 4, 6] {
            let t = Self.cases[n]
            let d = ConvolutionTests.data(t, seed: UInt64(1100 + n))
            let all = 0..<t.batch
            WinogradTests.checkFiniteDifferences("case \(n) w", d.weight, Self.weightGradient(d.x, d.dy, t, images: all),
                                                 samples: 15, seed: UInt64(n)) {
                dot(Self.forward(d.x, $0, d.bias, t, images: all), d.dy)
            }
            WinogradTests.checkFiniteDifferences("case \(n) x", d.x, Self.inputGradient(d.weight, d.dy, t, images: all),
                                                 samples: 15, seed: UInt64(n + 50)) {
                dot(Self.forward($0, d.weight, d.bias, t, images: all), d.dy)
            }
        }
    }

    /// The rearranged weights, rows in (ky, kx, channel) order: forward [tap, OCp] and flipped
    /// [(ky, kx, oc), Cp], padding zero.
    func testWeightRearrangement() {
        let t = Self.conv(c: 2, oc: 3, h: 4, w: 4, k: Pair(2, 3), pad: Pair(square: 0), batch: 1)
        let g = t.geometry
        let weight = (0..<g.weightCount).map(Float.init)   // W[oc, c, ky, kx] = ((oc·2 + c)·2 + ky)·3 + kx
        var forward = [Float](repeating: .nan, count: directTransformedWeightCount(geometry: g, flipped: false))
        directTransformWeights(weight: weight, transformed: &forward, geometry: g, flipped: false, rows: 0..<12)
        XCTAssertEqual(Array(forward[0..<8]), [0, 12, 24, 0, 0, 0, 0, 0])
        // Row 3 is (ky 0, kx 1, c 1): W[oc, 1, 0, 1] = 7, 19, 31; row 4 (ky 0, kx 2, c 0): 2, 14, 26.
        XCTAssertEqual(Array(forward[8 * 3..<8 * 4]), [7, 19, 31, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(forward[8 * 4..<8 * 5]), [2, 14, 26, 0, 0, 0, 0, 0])
        var flipped = [Float](repeating: .nan, count: directTransformedWeightCount(geometry: g, flipped: true))
        directTransformWeights(weight: weight, transformed: &flipped, geometry: g, flipped: true, rows: 0..<18)
        // Row (ky 0, oc 0, kx 0) holds W[0, c, 1, 2]: 5 and 11.
        XCTAssertEqual(Array(flipped[0..<8]), [5, 11, 0, 0, 0, 0, 0, 0])
        // Row 17, (ky 1, kx 2, oc 2), holds W[2, c, 0, 0]: 24 and 30; row 1, (ky 0, kx 0, oc 1),
        // W[1, c, 1, 2]: 17 and 23.
        XCTAssertEqual(Array(flipped[8 * 17..<8 * 18]), [24, 30, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(flipped[8 * 1..<8 * 2]), [17, 23, 0, 0, 0, 0, 0, 0])
    }
}
