import XCTest
@testable import Graph
@testable import Runtime
import Spec

final class LinearTests: XCTestCase {
    static func reference(_ x: [Float], _ w: [Float], _ b: [Float]?, batch: Int, g: LinearGeometry) -> [Double] {
        var out = [Double](repeating: 0, count: batch * g.outFeatures)
        for n in 0..<batch {
            for o in 0..<g.outFeatures {
                var total = b.map { Double($0[o]) } ?? 0
                for i in 0..<g.inFeatures {
                    total += Double(x[n * g.inFeatures + i]) * Double(w[o * g.inFeatures + i])
                }
                out[n * g.outFeatures + o] = total
            }
        }
        return out
    }

    static func forward(_ x: [Float], _ w: [Float], _ b: [Float]?, batch: Int, g: LinearGeometry) -> [Float] {
        var out = [Float](repeating: .nan, count: batch * g.outFeatures)
        if let b {
            linearForward(input: x, weight: w, bias: b, output: &out, geometry: g, batch: batch)
        } else {
            linearForward(input: x, weight: w, bias: nil, output: &out, geometry: g, batch: batch)
        }
        return out
    }

    func testForwardMatchesReference() {
        for (batch, i, o, bias) in [(1, 5, 3, true), (4, 7, 10, false), (9, 48, 10, true)] {
            let g = LinearGeometry(inFeatures: i, outFeatures: o, bias: bias)
            let x = randomFloats(batch * i, seed: 1)
            let w = randomFloats(o * i, seed: 2)
            let b = bias ? randomFloats(o, seed: 3) : nil
            assertClose(Self.forward(x, w, b, batch: batch, g: g), Self.reference(x, w, b, batch: batch, g: g),
                        rtol: 1e-5, atol: 1e-5, "batch \(batch) \(i)→\(o)")
        }
    }

    func testBackwardMatchesReference() {
        let (batch, i, o) = (5, 6, 4)
        let g = LinearGeometry(inFeatures: i, outFeatures: o, bias: true)
        let x = randomFloats(batch * i, seed: 11)
        let w = randomFloats(o * i, seed: 12)
        let dy = randomFloats(batch * o, seed: 13)
        var dw = [Float](repeating: .nan, count: o * i)
        var db = [Float](repeating: .nan, count: o)
        var dx = [Float](repeating: .nan, count: batch * i)
        linearBackward(input: x, weight: w, outputGradient: dy, weightGradient: &dw, biasGradient: &db,
                       inputGradient: &dx, geometry: g, batch: batch)
        var rdw = [Double](repeating: 0, count: o * i)
        var rdb = [Double](repeating: 0, count: o)
        var rdx = [Double](repeating: 0, count: batch * i)
        for n in 0..<batch {
            for j in 0..<o {
                let d = Double(dy[n * o + j])
                rdb[j] += d
                for k in 0..<i {
                    rdw[j * i + k] += d * Double(x[n * i + k])
                    rdx[n * i + k] += d * Double(w[j * i + k])
                }
            }
        }
        assertClose(dw, rdw, rtol: 1e-5, atol: 1e-5, "dW")
        assertClose(db, rdb, rtol: 1e-5, atol: 1e-5, "db")
        assertClose(dx, rdx, rtol: 1e-5, atol: 1e-5, "dX")

        // Without bias or input gradient, dW is the same (and overwritten, not accumulated).
        var dw2 = [Float](repeating: 7, count: o * i)
        linearBackward(input: x, weight: w, outputGradient: dy, weightGradient: &dw2, biasGradient: nil,
                       inputGradient: nil, geometry: g, batch: batch)
        assertClose(dw2, rdw, rtol: 1e-5, atol: 1e-5, "dW without bias/input")
    }

    func testBackwardMatchesFiniteDifferences() {
        let (batch, i, o) = (3, 5, 4)
        let g = LinearGeometry(inFeatures: i, outFeatures: o, bias: true)
        let x = randomFloats(batch * i, seed: 21)
        let w = randomFloats(o * i, seed: 22)
        let b = randomFloats(o, seed: 23)
        let r = randomFloats(batch * o, seed: 24)
        var dw = [Float](repeating: 0, count: o * i)
        var db = [Float](repeating: 0, count: o)
        var dx = [Float](repeating: 0, count: batch * i)
        linearBackward(input: x, weight: w, outputGradient: r, weightGradient: &dw, biasGradient: &db,
                       inputGradient: &dx, geometry: g, batch: batch)
        let h: Float = 1e-2
        func check(_ name: String, _ values: [Float], _ grad: [Float], _ loss: ([Float]) -> Double) {
            for k in values.indices {
                var plus = values, minus = values
                plus[k] += h
                minus[k] -= h
                let numeric = (loss(plus) - loss(minus)) / Double(2 * h)
                XCTAssertTrue(gradientsAgree(analytic: Double(grad[k]), numeric: numeric, rtol: 1e-2, atol: 1e-3),
                              "\(name)[\(k)]: analytic \(grad[k]) numeric \(numeric)")
            }
        }
        check("x", x, dx) { dot(Self.forward($0, w, b, batch: batch, g: g), r) }
        check("w", w, dw) { dot(Self.forward(x, $0, b, batch: batch, g: g), r) }
        check("b", b, db) { dot(Self.forward(x, w, $0, batch: batch, g: g), r) }
    }
}
