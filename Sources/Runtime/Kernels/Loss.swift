import Foundation
import Graph
import Spec

/// Softmax over each row, computed stably (the row maximum is subtracted first).
/// - input, output: [batch, classes]
@inline(never)
func softmaxForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, classes: Int) {
    for b in 0..<batch {
        let x = input + b * classes
        let y = output + b * classes
        var top = x[0]
        for j in 1..<classes { top = max(top, x[j]) }
        var total: Float = 0
        for j in 0..<classes {
            y[j] = expf(x[j] - top)
            total += y[j]
        }
        for j in 0..<classes { y[j] /= total }
    }
}

/// Cross-entropy of softmax(logits) against the labels, fused and stable: the loss of a row is
/// logsumexp(x) − x[label], and the gradient with respect to the logits is
/// (softmax(x) − onehot(label)) / batch, so the mean loss's gradient comes out directly.
/// - logits: [batch, classes]; labels: [batch]
/// - gradient: [batch, classes], written
/// - returns: the summed loss over the batch (Double) and the count of rows whose argmax is the label
@inline(never)
func crossEntropyForwardBackward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                                 gradient: UnsafeMutablePointer<Float>, batch: Int, classes: Int) -> (loss: Double, correct: Int) {
    var loss = 0.0
    var correct = 0
    let inverseBatch = 1 / Float(batch)
    for b in 0..<batch {
        let x = logits + b * classes
        let g = gradient + b * classes
        let label = Int(labels[b])
        var top = x[0]
        var argmax = 0
        for j in 1..<classes where x[j] > top {
            top = x[j]
            argmax = j
        }
        var total: Float = 0
        for j in 0..<classes {
            g[j] = expf(x[j] - top)
            total += g[j]
        }
        loss += Double(logf(total) + top - x[label])
        for j in 0..<classes {
            g[j] = (g[j] / total - (j == label ? 1 : 0)) * inverseBatch
        }
        if argmax == label { correct += 1 }
    }
    return (loss, correct)
}

/// The predicted class of one row of scores: the first index of the largest score.
/// - scores: [classes]
@inline(__always)
func predictedClass(_ scores: UnsafePointer<Float>, classes: Int) -> Int {
    var argmax = 0
    for j in 1..<classes where scores[j] > scores[argmax] {
        argmax = j
    }
    return argmax
}

/// Rows whose largest entry is at the label (ties go to the lowest index, as torch.argmax).
/// - scores: [batch, classes]; labels: [batch]
@inline(never)
func countCorrect(scores: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int) -> Int {
    var correct = 0
    for b in 0..<batch {
        if predictedClass(scores + b * classes, classes: classes) == Int(labels[b]) { correct += 1 }
    }
    return correct
}

/// Softmax backward through its Jacobian: dx = p ⊙ (dy − Σ dy·p), per row.
/// - output (p), outputGradient: [batch, classes]; inputGradient: [batch, classes]
@inline(never)
func softmaxBackward(output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                     inputGradient: UnsafeMutablePointer<Float>, batch: Int, classes: Int) {
    for b in 0..<batch {
        let p = output + b * classes
        let dy = outputGradient + b * classes
        var dot: Float = 0
        for j in 0..<classes { dot += dy[j] * p[j] }
        let dx = inputGradient + b * classes
        for j in 0..<classes { dx[j] = p[j] * (dy[j] - dot) }
    }
}
