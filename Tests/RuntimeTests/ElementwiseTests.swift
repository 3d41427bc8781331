import XCTest
@testable import Graph
@testable import Runtime
import Spec

final class ElementwiseTests: XCTestCase {
    func testReLUForwardAndBackward() {
        let x: [Float] = [-2, -0.0, 0, 0.5, 3, -1e-20, 1e-20]
        var y = [Float](repeating: .nan, count: x.count)
        reluForward(input: x, output: &y, count: x.count)
        XCTAssertEqual(y, [0, 0, 0, 0.5, 3, 0, 1e-20])
        let dy: [Float] = [1, 2, 3, 4, 5, 6, 7]
        var dx = [Float](repeating: .nan, count: x.count)
        reluBackward(output: y, outputGradient: dy, inputGradient: &dx, count: x.count)
        // PyTorch: the gradient at exactly 0 is 0.
        XCTAssertEqual(dx, [0, 0, 0, 4, 5, 0, 7])
        // In place, both directions.
        var buffer = x
        buffer.withUnsafeMutableBufferPointer { p in reluForward(input: p.baseAddress!, output: p.baseAddress!, count: x.count) }
        XCTAssertEqual(buffer, y)
        var gradient = dy
        gradient.withUnsafeMutableBufferPointer { p in
            reluBackward(output: y, outputGradient: p.baseAddress!, inputGradient: p.baseAddress!, count: x.count)
        }
        XCTAssertEqual(gradient, dx)
    }

    func testFlattenMatchesPyTorchOrder() {
        // CBHW batch: C = 2, B = 3, H = 2, W = 2; element (c, b, y, x) has value 1000c + 100b + 10y + x.
        let (c, b, h, w) = (2, 3, 2, 2)
        var input = [Float](repeating: 0, count: c * b * h * w)
        for ch in 0..<c { for n in 0..<b { for y in 0..<h { for x in 0..<w {
            input[((ch * b + n) * h + y) * w + x] = Float(1000 * ch + 100 * n + 10 * y + x)
        } } } }
        let g = FlattenGeometry(channels: c, spatial: h * w)
        var output = [Float](repeating: .nan, count: input.count)
        flattenForward(input: input, output: &output, geometry: g, batch: b)
        // x.view(B, -1) on NCHW: row n, feature (c·H + y)·W + x.
        for ch in 0..<c { for n in 0..<b { for y in 0..<h { for x in 0..<w {
            XCTAssertEqual(output[n * c * h * w + (ch * h + y) * w + x], Float(1000 * ch + 100 * n + 10 * y + x))
        } } } }
        var back = [Float](repeating: .nan, count: input.count)
        flattenBackward(outputGradient: output, inputGradient: &back, geometry: g, batch: b)
        XCTAssertEqual(back, input, "flatten then its adjoint is the identity")
        // Adjointness on random data.
        let r = randomFloats(input.count, seed: 3)
        var rBack = [Float](repeating: .nan, count: input.count)
        flattenBackward(outputGradient: r, inputGradient: &rBack, geometry: g, batch: b)
        XCTAssertEqual(dot(output, r), dot(input, rBack), accuracy: 1e-6)
    }

    func testDropoutZeroIsIdentity() {
        let x = randomFloats(1000, seed: 1)
        var y = [Float](repeating: .nan, count: x.count)
        var mask = [Float](repeating: .nan, count: x.count)
        var generator = SeededGenerator(seed: 7)
        dropoutForward(input: x, output: &y, mask: &mask, p: 0, count: x.count, generator: &generator)
        XCTAssertEqual(y, x)
        XCTAssertTrue(mask.allSatisfy { $0 == 1 })
    }

    func testDropoutMaskStatistics() {
        let n = 100_000
        for p in [0.1, 0.3, 0.5, 0.8] {
            let x = [Float](repeating: 1, count: n)
            var y = [Float](repeating: .nan, count: n)
            var mask = [Float](repeating: .nan, count: n)
            var generator = SeededGenerator(seed: UInt64(p * 1000))
            dropoutForward(input: x, output: &y, mask: &mask, p: p, count: n, generator: &generator)
            let scale = Float(1 / (1 - p))
            XCTAssertTrue(mask.allSatisfy { $0 == 0 || $0 == scale }, "p \(p): mask values")
            XCTAssertEqual(y, mask, "p \(p): output = input · mask")
            let kept = Double(mask.filter { $0 != 0 }.count)
            let sigma = (Double(n) * p * (1 - p)).squareRoot()
            XCTAssertLessThanOrEqual(abs(kept - Double(n) * (1 - p)), 3 * sigma, "p \(p): keep rate \(kept / Double(n))")
            // The expectation is preserved: mean(y) ≈ mean(x) = 1 (σ of the mean = √(p/(1−p)/n)).
            let mean = y.reduce(0.0) { $0 + Double($1) } / Double(n)
            XCTAssertEqual(mean, 1, accuracy: 4 * (p / (1 - p) / Double(n)).squareRoot(), "p \(p): mean")
        }
    }

    /// The keep pattern that scripts/cnnc_torch.py's `cnnc_dropout_keep` (numpy, used by
    /// scripts/twin-train) printed for these seeds: the Swift kernel and the twin draw the same
    /// masks, whichever way the elements are split.
    func testDropoutMaskMatchesTheTwinTrainersNumbers() {
        for (seed, p, expected) in [(UInt64(0x0123_4567_89AB_CDEF), 0.5, "1001111001101000000111000101100000010111"),
                                    (UInt64(0xFEDC_BA98_7654_3210), 0.9, "00000000000001011000")] {
            let n = expected.count
            let x = [Float](repeating: 1, count: n)
            for split in [n, 1, 7, 8, 13] {
                var y = [Float](repeating: .nan, count: n)
                var mask = [Float](repeating: .nan, count: n)
                var first = 0
                while first < n {
                    let count = min(split, n - first)
                    dropoutForward(input: x, output: &y, mask: &mask, p: p, seed: seed, first: first, count: count)
                    first += count
                }
                XCTAssertEqual(String(mask.map { $0 == 0 ? "0" : "1" }), expected, "seed \(seed) p \(p), pieces of \(split)")
                XCTAssertEqual(y, mask)
            }
        }
    }

    func testDropoutBackwardUsesMaskAndSeedIsDeterministic() {
        let n = 257
        let x = randomFloats(n, seed: 2)
        func run(seed: UInt64) -> (y: [Float], mask: [Float]) {
            var y = [Float](repeating: .nan, count: n)
            var mask = [Float](repeating: .nan, count: n)
            var generator = SeededGenerator(seed: seed)
            dropoutForward(input: x, output: &y, mask: &mask, p: 0.4, count: n, generator: &generator)
            return (y, mask)
        }
        let a = run(seed: 11), b = run(seed: 11), c = run(seed: 12)
        XCTAssertEqual(a.mask, b.mask)
        XCTAssertEqual(a.y, b.y)
        XCTAssertNotEqual(a.mask, c.mask)
        let dy = randomFloats(n, seed: 5)
        var dx = [Float](repeating: .nan, count: n)
        dropoutBackward(mask: a.mask, outputGradient: dy, inputGradient: &dx, count: n)
        for i in 0..<n {
            XCTAssertEqual(dx[i], dy[i] * a.mask[i])
            XCTAssertEqual(a.y[i], x[i] * a.mask[i])
        }
        // In place forward gives the same output.
        var buffer = x
        var mask = [Float](repeating: .nan, count: n)
        var generator = SeededGenerator(seed: 11)
        buffer.withUnsafeMutableBufferPointer { p in
            dropoutForward(input: p.baseAddress!, output: p.baseAddress!, mask: &mask, p: 0.4, count: n, generator: &generator)
        }
        XCTAssertEqual(buffer, a.y)
        // Consecutive calls on one generator draw fresh masks.
        var shared = SeededGenerator(seed: 11)
        var m1 = [Float](repeating: 0, count: n), m2 = [Float](repeating: 0, count: n)
        var out = [Float](repeating: 0, count: n)
        dropoutForward(input: x, output: &out, mask: &m1, p: 0.4, count: n, generator: &shared)
        dropoutForward(input: x, output: &out, mask: &m2, p: 0.4, count: n, generator: &shared)
        XCTAssertEqual(m1, a.mask)
        XCTAssertNotEqual(m1, m2)
    }
}
