import XCTest
@testable import Graph
@testable import Runtime
import Spec

final class BatchNormTests: XCTestCase {
    struct Result {
        var y: [Float]
        var runningMean: [Float]
        var runningVar: [Float]
        var savedMean: [Float]
        var savedInvStd: [Float]
    }

    static func train(_ x: [Float], gamma: [Float], beta: [Float], runningMean: [Float], runningVar: [Float],
                      g: BatchNormGeometry, batch: Int) -> Result {
        var y = [Float](repeating: .nan, count: x.count)
        var rm = runningMean, rv = runningVar
        var mean = [Float](repeating: .nan, count: g.channels)
        var invStd = [Float](repeating: .nan, count: g.channels)
        batchNormForwardTraining(input: x, output: &y, gamma: gamma, beta: beta, runningMean: &rm, runningVar: &rv,
                                 savedMean: &mean, savedInvStd: &invStd, geometry: g, batch: batch)
        return Result(y: y, runningMean: rm, runningVar: rv, savedMean: mean, savedInvStd: invStd)
    }

    func testHandComputedExample() {
        // One channel, batch 2, 1×2 images: x = [1, 2 | 3, 4]; second channel x = [−2, 0 | 0, 2].
        let g = BatchNormGeometry(channels: 2, spatial: 2, eps: 1e-5, momentum: 0.1)
        let x: [Float] = [1, 2, 3, 4, -2, 0, 0, 2]
        let r = Self.train(x, gamma: [2, 1], beta: [0.5, -1], runningMean: [0, 1], runningVar: [1, 2], g: g, batch: 2)
        // Channel 0: mean 2.5, biased var 1.25, unbiased var 5/3.
        let inv0 = 1 / (1.25 + 1e-5).squareRoot()
        // Channel 1: mean 0, biased var 2, unbiased var 8/3.
        let inv1 = 1 / (2.0 + 1e-5).squareRoot()
        let expected: [Double] = [
            2 * (-1.5) * inv0 + 0.5, 2 * (-0.5) * inv0 + 0.5, 2 * 0.5 * inv0 + 0.5, 2 * 1.5 * inv0 + 0.5,
            -2 * inv1 - 1, -1, -1, 2 * inv1 - 1,
        ]
        assertClose(r.y, expected, rtol: 1e-6, atol: 1e-6, "output")
        // Literal values: y0 = 0.5 − 3/√1.25001 ≈ −2.183271, y3 = 0.5 + 3/√1.25001 ≈ 3.183271.
        XCTAssertEqual(r.y[0], -2.183271, accuracy: 2e-5)
        XCTAssertEqual(r.y[3], 3.183271, accuracy: 2e-5)
        // running_mean = 0.9·old + 0.1·mean; running_var = 0.9·old + 0.1·unbiased var.
        assertClose(r.runningMean, [0.25, 0.9], rtol: 1e-6, atol: 1e-7, "running_mean")
        assertClose(r.runningVar, [0.9 + 0.1 * 5.0 / 3.0, 1.8 + 0.1 * 8.0 / 3.0], rtol: 1e-6, atol: 1e-7, "running_var")
        XCTAssertEqual(r.runningVar[0], 1.0666667, accuracy: 1e-6)
        assertClose(r.savedMean, [2.5, 0], rtol: 1e-7, atol: 1e-7, "saved mean")
        assertClose(r.savedInvStd, [inv0, inv1], rtol: 1e-6, atol: 1e-7, "saved invstd (biased variance)")
    }

    func testTrainingNormalizesEachChannel() {
        let (c, batch, spatial) = (3, 4, 25)
        let g = BatchNormGeometry(channels: c, spatial: spatial, eps: 1e-5, momentum: 0.1)
        var x = randomFloats(c * batch * spatial, seed: 5, -1, 1)
        // Different scale and offset per channel.
        for ch in 0..<c {
            for i in 0..<(batch * spatial) {
                x[ch * batch * spatial + i] = x[ch * batch * spatial + i] * Float(ch + 1) * 3 + Float(ch) * 10 - 4
            }
        }
        let r = Self.train(x, gamma: [1, 1, 1], beta: [0, 0, 0], runningMean: [0, 0, 0], runningVar: [1, 1, 1],
                           g: g, batch: batch)
        let m = batch * spatial
        for ch in 0..<c {
            let run = r.y[(ch * m)..<((ch + 1) * m)].map(Double.init)
            let mean = run.reduce(0, +) / Double(m)
            let variance = run.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(m)
            XCTAssertEqual(mean, 0, accuracy: 1e-5, "channel \(ch) mean")
            XCTAssertEqual(variance, 1, accuracy: 1e-3, "channel \(ch) variance")
        }
        // With an affine transform: y = γ·x̂ + β.
        let gamma: [Float] = [2, -0.5, 3], beta: [Float] = [1, 2, -3]
        let affine = Self.train(x, gamma: gamma, beta: beta, runningMean: [0, 0, 0], runningVar: [1, 1, 1], g: g, batch: batch)
        var expected = [Double](repeating: 0, count: x.count)
        for ch in 0..<c {
            for i in 0..<m {
                expected[ch * m + i] = Double(gamma[ch]) * Double(r.y[ch * m + i]) + Double(beta[ch])
            }
        }
        assertClose(affine.y, expected, rtol: 1e-5, atol: 1e-5, "affine")
    }

    func testRunningStatisticsAccumulateWithMomentum() {
        let g = BatchNormGeometry(channels: 1, spatial: 3, eps: 1e-5, momentum: 0.1)
        var rm: Double = 0, rv: Double = 1
        var runningMean: [Float] = [0], runningVar: [Float] = [1]
        for step in 0..<5 {
            let x = randomFloats(2 * 3, seed: UInt64(30 + step), 0, 4)
            let r = Self.train(x, gamma: [1], beta: [0], runningMean: runningMean, runningVar: runningVar, g: g, batch: 2)
            let values = x.map(Double.init)
            let mean = values.reduce(0, +) / 6
            let unbiased = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5
            rm = 0.9 * rm + 0.1 * mean
            rv = 0.9 * rv + 0.1 * unbiased
            runningMean = r.runningMean
            runningVar = r.runningVar
            XCTAssertEqual(Double(runningMean[0]), rm, accuracy: 1e-5, "step \(step)")
            XCTAssertEqual(Double(runningVar[0]), rv, accuracy: 1e-5, "step \(step)")
        }
    }

    func testEvaluationUsesRunningStatistics() {
        let (c, batch, spatial) = (2, 3, 4)
        let g = BatchNormGeometry(channels: c, spatial: spatial, eps: 1e-3, momentum: 0.1)
        let x = randomFloats(c * batch * spatial, seed: 9, -2, 2)
        let gamma: [Float] = [1.5, -1], beta: [Float] = [0.25, 2]
        let runningMean: [Float] = [0.3, -0.7], runningVar: [Float] = [2.0, 0.5]
        var y = [Float](repeating: .nan, count: x.count)
        batchNormForwardEvaluation(input: x, output: &y, gamma: gamma, beta: beta, runningMean: runningMean,
                                   runningVar: runningVar, geometry: g, batch: batch)
        let m = batch * spatial
        var expected = [Double](repeating: 0, count: x.count)
        for ch in 0..<c {
            for i in 0..<m {
                expected[ch * m + i] = (Double(x[ch * m + i]) - Double(runningMean[ch]))
                    / (Double(runningVar[ch]) + 1e-3).squareRoot() * Double(gamma[ch]) + Double(beta[ch])
            }
        }
        assertClose(y, expected, rtol: 1e-5, atol: 1e-5, "evaluation")
        // In place gives the same.
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            batchNormForwardEvaluation(input: p.baseAddress!, output: p.baseAddress!, gamma: gamma, beta: beta,
                                       runningMean: runningMean, runningVar: runningVar, geometry: g, batch: batch)
        }
        XCTAssertEqual(inPlace, y)
    }

    func testBackwardMatchesFiniteDifferences() {
        let (c, batch, spatial) = (2, 3, 4)
        let g = BatchNormGeometry(channels: c, spatial: spatial, eps: 1e-5, momentum: 0.1)
        let x = randomFloats(c * batch * spatial, seed: 41, -2, 2)
        let gamma: [Float] = [1.3, -0.7], beta: [Float] = [0.2, -0.4]
        let r = randomFloats(x.count, seed: 42)
        func loss(_ x: [Float], _ gamma: [Float], _ beta: [Float]) -> Double {
            dot(Self.train(x, gamma: gamma, beta: beta, runningMean: [0, 0], runningVar: [1, 1], g: g, batch: batch).y, r)
        }
        let f = Self.train(x, gamma: gamma, beta: beta, runningMean: [0, 0], runningVar: [1, 1], g: g, batch: batch)
        var dgamma = [Float](repeating: .nan, count: c)
        var dbeta = [Float](repeating: .nan, count: c)
        var dx = [Float](repeating: .nan, count: x.count)
        batchNormBackward(input: x, outputGradient: r, gamma: gamma, savedMean: f.savedMean, savedInvStd: f.savedInvStd,
                          gammaGradient: &dgamma, betaGradient: &dbeta, inputGradient: &dx, geometry: g, batch: batch)
        let h: Float = 1e-2
        func check(_ name: String, _ values: [Float], _ grad: [Float], _ l: ([Float]) -> Double) {
            for i in values.indices {
                var plus = values, minus = values
                plus[i] += h
                minus[i] -= h
                let numeric = (l(plus) - l(minus)) / Double(2 * h)
                XCTAssertTrue(gradientsAgree(analytic: Double(grad[i]), numeric: numeric, rtol: 1e-2, atol: 2e-3),
                              "\(name)[\(i)]: analytic \(grad[i]) numeric \(numeric)")
            }
        }
        check("x", x, dx) { loss($0, gamma, beta) }
        check("gamma", gamma, dgamma) { loss(x, $0, beta) }
        check("beta", beta, dbeta) { loss(x, gamma, $0) }

        // Without an input gradient, γ and β gradients are unchanged.
        var dgamma2 = [Float](repeating: 9, count: c)
        var dbeta2 = [Float](repeating: 9, count: c)
        batchNormBackward(input: x, outputGradient: r, gamma: gamma, savedMean: f.savedMean, savedInvStd: f.savedInvStd,
                          gammaGradient: &dgamma2, betaGradient: &dbeta2, inputGradient: nil, geometry: g, batch: batch)
        XCTAssertEqual(dgamma2, dgamma)
        XCTAssertEqual(dbeta2, dbeta)
    }

    /// The input gradient of batch norm sums to zero per channel and is orthogonal to x̂.
    func testInputGradientInvariants() {
        let (c, batch, spatial) = (2, 5, 9)
        let g = BatchNormGeometry(channels: c, spatial: spatial, eps: 1e-5, momentum: 0.1)
        let x = randomFloats(c * batch * spatial, seed: 51, -3, 3)
        let f = Self.train(x, gamma: [1, 2], beta: [0, 0], runningMean: [0, 0], runningVar: [1, 1], g: g, batch: batch)
        let dy = randomFloats(x.count, seed: 52)
        var dgamma = [Float](repeating: 0, count: c), dbeta = [Float](repeating: 0, count: c)
        var dx = [Float](repeating: 0, count: x.count)
        batchNormBackward(input: x, outputGradient: dy, gamma: [1, 2], savedMean: f.savedMean, savedInvStd: f.savedInvStd,
                          gammaGradient: &dgamma, betaGradient: &dbeta, inputGradient: &dx, geometry: g, batch: batch)
        let m = batch * spatial
        for ch in 0..<c {
            var total = 0.0, projection = 0.0
            for i in 0..<m {
                let xhat = (Double(x[ch * m + i]) - Double(f.savedMean[ch])) * Double(f.savedInvStd[ch])
                total += Double(dx[ch * m + i])
                projection += Double(dx[ch * m + i]) * xhat
            }
            XCTAssertEqual(total, 0, accuracy: 1e-4, "channel \(ch)")
            XCTAssertEqual(projection, 0, accuracy: 1e-4, "channel \(ch)")
        }
    }
}
