import XCTest
@testable import Runtime
import Graph
import Spec

final class OptimizersTests: XCTestCase {
    /// torch.optim.Adam's single-tensor step, in Double.
    struct ReferenceAdam {
        var lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double
        var m: [Double], v: [Double]
        var t = 0

        mutating func step(_ p: inout [Double], _ grad: [Double]) {
            t += 1
            let bc1 = 1 - pow(beta1, Double(t))
            let bc2 = 1 - pow(beta2, Double(t))
            for i in p.indices {
                let g = grad[i] + weightDecay * p[i]
                m[i] = beta1 * m[i] + (1 - beta1) * g           // exp_avg.lerp_(grad, 1 − β1)
                v[i] = beta2 * v[i] + (1 - beta2) * g * g       // exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1 − β2)
                let denom = v[i].squareRoot() / bc2.squareRoot() + eps
                p[i] -= lr / bc1 * m[i] / denom
            }
        }
    }

    func testAdamMatchesTorchReferenceForThreeSteps() {
        for weightDecay in [0.0, 0.1] {
            let n = 50
            var params = randomFloats(n, seed: 1, -1, 1)
            var reference = params.map(Double.init)
            var m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
            var torch = ReferenceAdam(lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay,
                                      m: .init(repeating: 0, count: n), v: .init(repeating: 0, count: n))
            for step in 1...3 {
                // Gradients of very different sizes, including exact zeros.
                var grads = randomFloats(n, seed: UInt64(10 + step), -1, 1)
                for i in 0..<n where i % 5 == 0 { grads[i] *= 1e-4 }
                grads[7] = 0
                adamUpdate(parameters: &params, gradients: grads, firstMoment: &m, secondMoment: &v, count: n,
                           lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay, step: step)
                torch.step(&reference, grads.map(Double.init))
                assertClose(params, reference, rtol: 1e-5, atol: 1e-6, "wd \(weightDecay) step \(step) params")
                assertClose(m, torch.m, rtol: 1e-5, atol: 1e-7, "wd \(weightDecay) step \(step) exp_avg")
                assertClose(v, torch.v, rtol: 1e-4, atol: 1e-10, "wd \(weightDecay) step \(step) exp_avg_sq")
            }
        }
    }

    /// The eight-wide loop gives the same bits as the scalar tail: 21 elements updated at once
    /// (16 by vectors, 5 by the tail) equal the same 21 updated one call of one element each.
    func testAdamVectorLoopEqualsScalarLoopBitForBit() {
        let n = 21
        let grads = randomFloats(n, seed: 31)
        var (together, m1, v1) = (randomFloats(n, seed: 32), randomFloats(n, seed: 33).map(abs), randomFloats(n, seed: 34).map(abs))
        var (single, m2, v2) = (together, m1, v1)
        for step in 1...3 {
            adamUpdate(parameters: &together, gradients: grads, firstMoment: &m1, secondMoment: &v1, count: n,
                       lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: step)
            for i in 0..<n {
                single.withUnsafeMutableBufferPointer { p in
                    m2.withUnsafeMutableBufferPointer { m in
                        v2.withUnsafeMutableBufferPointer { v in
                            grads.withUnsafeBufferPointer { g in
                                adamUpdate(parameters: p.baseAddress! + i, gradients: g.baseAddress! + i,
                                           firstMoment: m.baseAddress! + i, secondMoment: v.baseAddress! + i, count: 1,
                                           lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: step)
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(together.map(\.bitPattern), single.map(\.bitPattern))
        XCTAssertEqual(m1.map(\.bitPattern), m2.map(\.bitPattern))
        XCTAssertEqual(v1.map(\.bitPattern), v2.map(\.bitPattern))
    }

    func testAdamFirstStepMovesEachParameterByAboutLR() {
        // With bias correction, step 1 is θ −= lr·g/(|g| + ε′) ≈ lr·sign(g).
        var params: [Float] = [0, 0, 0, 1]
        let grads: [Float] = [3, -0.001, 0, 100]
        var m = [Float](repeating: 0, count: 4), v = [Float](repeating: 0, count: 4)
        adamUpdate(parameters: &params, gradients: grads, firstMoment: &m, secondMoment: &v, count: 4,
                   lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1)
        XCTAssertEqual(params[0], -0.1, accuracy: 1e-5)
        XCTAssertEqual(params[1], 0.1, accuracy: 1e-4)
        XCTAssertEqual(params[2], 0)
        XCTAssertEqual(params[3], 0.9, accuracy: 1e-5)
    }

    func testSGDWithMomentumMatchesTorchReference() {
        for (momentum, weightDecay) in [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01), (0.5, 0.1)] {
            let n = 20
            var params = randomFloats(n, seed: 3, -1, 1)
            var reference = params.map(Double.init)
            var velocity = [Float](repeating: 0, count: n)
            var buffer: [Double]? = nil
            for step in 1...4 {
                let grads = randomFloats(n, seed: UInt64(30 + step), -1, 1)
                sgdUpdate(parameters: &params, gradients: grads, velocity: &velocity, count: n, lr: 0.05,
                          momentum: momentum, weightDecay: weightDecay)
                // torch.optim.SGD (dampening 0, nesterov False).
                var d = (0..<n).map { Double(grads[$0]) + weightDecay * reference[$0] }
                if momentum != 0 {
                    if let previous = buffer {
                        buffer = (0..<n).map { momentum * previous[$0] + d[$0] }
                    } else {
                        buffer = d
                    }
                    d = buffer!
                }
                for i in 0..<n { reference[i] -= 0.05 * d[i] }
                assertClose(params, reference, rtol: 1e-5, atol: 1e-6, "momentum \(momentum) wd \(weightDecay) step \(step)")
            }
        }
    }

    func testSGDWithoutMomentumLeavesVelocityAlone() {
        var params: [Float] = [1, 2]
        var velocity: [Float] = [42, 43]
        sgdUpdate(parameters: &params, gradients: [1, -1], velocity: &velocity, count: 2, lr: 0.5, momentum: 0, weightDecay: 0)
        XCTAssertEqual(params, [0.5, 2.5])
        XCTAssertEqual(velocity, [42, 43])
    }
}
