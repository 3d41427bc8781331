import XCTest
@testable import Runtime
import Graph
import Spec

final class LossTests: XCTestCase {
    static func referenceSoftmax(_ row: ArraySlice<Float>) -> [Double] {
        let top = Double(row.max()!)
        let exps = row.map { exp(Double($0) - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    func testSoftmaxRowsSumToOneAndMatchReference() {
        let (batch, classes) = (6, 10)
        let x = randomFloats(batch * classes, seed: 1, -5, 5)
        var y = [Float](repeating: .nan, count: x.count)
        softmaxForward(input: x, output: &y, batch: batch, classes: classes)
        for b in 0..<batch {
            let row = y[(b * classes)..<((b + 1) * classes)]
            XCTAssertEqual(row.reduce(0.0) { $0 + Double($1) }, 1, accuracy: 1e-6)
            assertClose(Array(row), Self.referenceSoftmax(x[(b * classes)..<((b + 1) * classes)]), rtol: 1e-5, atol: 1e-7, "row \(b)")
        }
    }

    func testSoftmaxIsStableForHugeLogits() {
        let x: [Float] = [1000, -1000, 0, 999, 1000, 1000, -1000, -1000, -1000, -1000]
        var y = [Float](repeating: .nan, count: x.count)
        softmaxForward(input: x, output: &y, batch: 1, classes: 10)
        XCTAssertTrue(y.allSatisfy { $0.isFinite })
        XCTAssertEqual(y.reduce(0, +), 1, accuracy: 1e-6)
        assertClose(y, Self.referenceSoftmax(x[...]), rtol: 1e-5, atol: 1e-7, "huge logits")
        let negative = [Float](repeating: -1000, count: 10)
        softmaxForward(input: negative, output: &y, batch: 1, classes: 10)
        assertClose(y, [Double](repeating: 0.1, count: 10), rtol: 1e-6, atol: 0, "uniform")
    }

    func testSoftmaxBackwardMatchesFiniteDifferences() {
        let (batch, classes) = (3, 5)
        let x = randomFloats(batch * classes, seed: 4, -2, 2)
        let r = randomFloats(batch * classes, seed: 5)
        var y = [Float](repeating: 0, count: x.count)
        softmaxForward(input: x, output: &y, batch: batch, classes: classes)
        var dx = [Float](repeating: .nan, count: x.count)
        softmaxBackward(output: y, outputGradient: r, inputGradient: &dx, batch: batch, classes: classes)
        let h: Float = 1e-2
        for i in x.indices {
            var plus = x, minus = x
            plus[i] += h
            minus[i] -= h
            var yp = [Float](repeating: 0, count: x.count), ym = [Float](repeating: 0, count: x.count)
            softmaxForward(input: plus, output: &yp, batch: batch, classes: classes)
            softmaxForward(input: minus, output: &ym, batch: batch, classes: classes)
            let numeric = (dot(yp, r) - dot(ym, r)) / Double(2 * h)
            XCTAssertTrue(gradientsAgree(analytic: Double(dx[i]), numeric: numeric, rtol: 1e-2, atol: 1e-3),
                          "x[\(i)]: analytic \(dx[i]) numeric \(numeric)")
        }
    }

    static func crossEntropy(_ logits: [Float], _ labels: [Int32], batch: Int, classes: Int) -> (loss: Double, correct: Int, gradient: [Float]) {
        var gradient = [Float](repeating: .nan, count: logits.count)
        let result = crossEntropyForwardBackward(logits: logits, labels: labels, gradient: &gradient, batch: batch, classes: classes)
        return (result.loss, result.correct, gradient)
    }

    func testCrossEntropyLossAndGradient() {
        let (batch, classes) = (7, 10)
        let logits = randomFloats(batch * classes, seed: 8, -4, 4)
        var generator = SeededGenerator(seed: 9)
        let labels = (0..<batch).map { _ in Int32(generator.nextInt(below: classes)) }
        let result = Self.crossEntropy(logits, labels, batch: batch, classes: classes)
        var expectedLoss = 0.0
        var expectedCorrect = 0
        for b in 0..<batch {
            let row = logits[(b * classes)..<((b + 1) * classes)]
            let p = Self.referenceSoftmax(row)
            expectedLoss += -log(p[Int(labels[b])])
            if row.firstIndex(of: row.max()!)! - b * classes == Int(labels[b]) { expectedCorrect += 1 }
            var expectedGradient = p
            expectedGradient[Int(labels[b])] -= 1
            assertClose(Array(result.gradient[(b * classes)..<((b + 1) * classes)]), expectedGradient.map { $0 / Double(batch) },
                        rtol: 1e-4, atol: 1e-7, "gradient row \(b)")
        }
        XCTAssertEqual(result.loss, expectedLoss, accuracy: 1e-5 * expectedLoss)
        XCTAssertEqual(result.correct, expectedCorrect)
        // Each gradient row sums to zero.
        for b in 0..<batch {
            XCTAssertEqual(result.gradient[(b * classes)..<((b + 1) * classes)].reduce(0.0) { $0 + Double($1) }, 0, accuracy: 1e-7)
        }
    }

    func testCrossEntropyIsStableForHugeLogits() {
        let classes = 10
        var logits = [Float](repeating: -1000, count: 2 * classes)
        logits[3] = 1000           // row 0: confident and right
        logits[classes + 5] = 1000 // row 1: confident and wrong (label 2)
        logits[classes + 2] = 990
        let result = Self.crossEntropy(logits, [3, 2], batch: 2, classes: classes)
        XCTAssertTrue(result.loss.isFinite)
        XCTAssertEqual(result.loss, 10, accuracy: 1e-3) // row 0: 0; row 1: 1000 − 990 (+ log(1 + e⁻¹⁰))
        XCTAssertEqual(result.correct, 1)
        XCTAssertTrue(result.gradient.allSatisfy { $0.isFinite })
        XCTAssertEqual(result.gradient[classes + 5], 0.5, accuracy: 1e-4)
        XCTAssertEqual(result.gradient[classes + 2], -0.5, accuracy: 1e-4)
    }

    func testCrossEntropyGradientMatchesFiniteDifferencesOfMeanLoss() {
        let (batch, classes) = (4, 10)
        let logits = randomFloats(batch * classes, seed: 12, -3, 3)
        let labels: [Int32] = [0, 9, 4, 4]
        let analytic = Self.crossEntropy(logits, labels, batch: batch, classes: classes).gradient
        let h: Float = 1e-2
        for i in logits.indices {
            var plus = logits, minus = logits
            plus[i] += h
            minus[i] -= h
            let lp = Self.crossEntropy(plus, labels, batch: batch, classes: classes).loss / Double(batch)
            let lm = Self.crossEntropy(minus, labels, batch: batch, classes: classes).loss / Double(batch)
            let numeric = (lp - lm) / Double(2 * h)
            XCTAssertTrue(gradientsAgree(analytic: Double(analytic[i]), numeric: numeric, rtol: 1e-2, atol: 1e-4),
                          "logit \(i): analytic \(analytic[i]) numeric \(numeric)")
        }
    }

    /// Softmax then its Jacobian applied to −onehot/(p·batch) (the gradient of −log p) equals the fused gradient.
    func testFusedGradientEqualsSoftmaxBackwardOfLogLoss() {
        let (batch, classes) = (3, 10)
        let logits = randomFloats(batch * classes, seed: 21, -2, 2)
        let labels: [Int32] = [1, 7, 7]
        let fused = Self.crossEntropy(logits, labels, batch: batch, classes: classes).gradient
        var p = [Float](repeating: 0, count: logits.count)
        softmaxForward(input: logits, output: &p, batch: batch, classes: classes)
        var dp = [Float](repeating: 0, count: logits.count)
        for b in 0..<batch {
            let j = b * classes + Int(labels[b])
            dp[j] = -1 / (p[j] * Float(batch))
        }
        var dx = [Float](repeating: 0, count: logits.count)
        softmaxBackward(output: p, outputGradient: dp, inputGradient: &dx, batch: batch, classes: classes)
        assertClose(dx, fused, rtol: 1e-4, atol: 1e-6, "fused vs unfused")
    }

    func testCountCorrectTiesGoToLowestIndex() {
        let scores: [Float] = [
            0, 1, 5, 5, 0,   // argmax 2 (tie with 3)
            9, 9, 9, 9, 9,   // argmax 0
            -3, -2, -1, -4, -5, // argmax 2
            1, 2, 3, 4, 5,   // argmax 4
        ]
        XCTAssertEqual(countCorrect(scores: scores, labels: [2, 0, 2, 4], batch: 4, classes: 5), 4)
        XCTAssertEqual(countCorrect(scores: scores, labels: [3, 1, 2, 0], batch: 4, classes: 5), 1)
        XCTAssertEqual(countCorrect(scores: scores, labels: [3, 4, 0, 3], batch: 4, classes: 5), 0)
        // crossEntropy's correct count follows the same rule.
        let ce = Self.crossEntropy(scores, [2, 0, 2, 4], batch: 4, classes: 5)
        XCTAssertEqual(ce.correct, 4)
        XCTAssertEqual(Self.crossEntropy(scores, [3, 1, 1, 4], batch: 4, classes: 5).correct, 1)
    }
}
