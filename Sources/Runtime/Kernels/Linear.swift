import CBLAS

/// Fully connected forward: output = input · Wᵀ + bias.
/// - input: [batch, in]
/// - weight: [out, in]
/// - bias: [out] or nil
/// - output: [batch, out]
@inline(never)
func linearForward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, geometry g: LinearGeometry, batch: Int) {
    let (i, o) = (g.inFeatures, g.outFeatures)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(o), Int32(i),
                1, input, Int32(i), weight, Int32(i), 0, output, Int32(o))
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
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(o), Int32(i), Int32(batch),
                1, outputGradient, Int32(o), input, Int32(i), 0, weightGradient, Int32(i))
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(i), Int32(o),
                    1, outputGradient, Int32(o), weight, Int32(i), 0, inputGradient, Int32(i))
    }
}
