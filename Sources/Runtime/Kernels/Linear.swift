import Graph
import Spec


/// Fully connected forward: output = input · Wᵀ + bias.
/// - input: [batch, in]
/// - weight: [out, in]
/// - bias: [out] or nil
/// - output: [batch, out]
@inline(never)
func linearForward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, geometry g: LinearGeometry, batch: Int) {
    let (i, o) = (g.inFeatures, g.outFeatures)
    multiplyTransposed(input, lda: i, weight, ldb: i, output, ldc: o, rows: batch, columns: o, depth: i)
    guard let bias else { return }
    for b in 0..<batch {
        let row = output + b * o
        for j in 0..<o {
            row[j] += bias[j]
        }
    }
}

/// Fully connected backward: weight and bias gradients (overwritten), input gradient if asked.
/// - input: [batch, in]; outputGradient: [batch, out]
/// - weightGradient: [out, in]; biasGradient: [out] or nil
/// - inputGradient: [batch, in] or nil
@inline(never)
func linearBackward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                    weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                    inputGradient: UnsafeMutablePointer<Float>?, geometry g: LinearGeometry, batch: Int) {
    let (i, o) = (g.inFeatures, g.outFeatures)
    // dW = dYᵀ · X
    multiplyStrided(outputGradient, rowStride: 1, depthStride: o, input, ldb: i, weightGradient, ldc: i,
                    rows: o, columns: i, depth: batch, accumulate: false)
    if let biasGradient {
        for j in 0..<o {
            var total: Float = 0
            for b in 0..<batch {
                total += outputGradient[b * o + j]
            }
            biasGradient[j] = total
        }
    }
    if let inputGradient {
        // dX = dY · W
        multiplyStrided(outputGradient, rowStride: o, depthStride: 1, weight, ldb: i, inputGradient, ldc: i,
                        rows: batch, columns: i, depth: o, accumulate: false)
    }
}

/// Fully connected forward for the batch rows in `rows` (one lane's share).
/// - input: [batch, in]; weight: [out, in]; bias: [out] or nil; output: [batch, out]
@inline(never)
func linearForward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, geometry g: LinearGeometry, rows: Range<Int>) {
    guard !rows.isEmpty else { return }
    linearForward(input: input + rows.lowerBound * g.inFeatures, weight: weight, bias: bias,
                  output: output + rows.lowerBound * g.outFeatures, geometry: g, batch: rows.count)
}

/// Fully connected backward split between lanes: the weight and bias gradients of the output
/// features in `features`, and the input gradient of the batch rows in `rows` (all overwritten).
/// - input: [batch, in]; outputGradient: [batch, out]; weightGradient: [out, in]
/// - biasGradient: [out] or nil; inputGradient: [batch, in] or nil
@inline(never)
func linearBackward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                    weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                    inputGradient: UnsafeMutablePointer<Float>?, geometry g: LinearGeometry, batch: Int,
                    features: Range<Int>, rows: Range<Int>) {
    let (i, o) = (g.inFeatures, g.outFeatures)
    if !features.isEmpty {
        // dW[features] = dY[:, features]ᵀ · X
        multiplyStrided(outputGradient + features.lowerBound, rowStride: 1, depthStride: o, input, ldb: i,
                        weightGradient + features.lowerBound * i, ldc: i, rows: features.count, columns: i,
                        depth: batch, accumulate: false)
        if let biasGradient {
            for j in features {
                var total: Float = 0
                for b in 0..<batch {
                    total += outputGradient[b * o + j]
                }
                biasGradient[j] = total
            }
        }
    }
    if let inputGradient, !rows.isEmpty {
        // dX[rows] = dY[rows] · W
        multiplyStrided(outputGradient + rows.lowerBound * o, rowStride: o, depthStride: 1, weight, ldb: i,
                        inputGradient + rows.lowerBound * i, ldc: i, rows: rows.count, columns: i, depth: o,
                        accumulate: false)
    }
}
