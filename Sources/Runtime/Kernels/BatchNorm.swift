/// Batch norm forward in training mode: normalizes each channel with the batch's mean and biased
/// variance, saves mean and 1/std for backward, and updates the running estimates with
/// `momentum` (running_var takes the unbiased variance, as PyTorch).
/// - input, output: [C, batch, H, W] (may not alias)
/// - gamma, beta: [C]; runningMean, runningVar: [C], updated
/// - savedMean, savedInvStd: [C], written
func batchNormForwardTraining(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                              gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                              runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
                              savedMean: UnsafeMutablePointer<Float>, savedInvStd: UnsafeMutablePointer<Float>,
                              geometry g: BatchNormGeometry, batch: Int) {
    let m = batch * g.spatial
    let momentum = Float(g.momentum)
    for c in 0..<g.channels {
        let x = input + c * m
        let y = output + c * m
        var total = 0.0
        for i in 0..<m {
            total += Double(x[i])
        }
        let mean = total / Double(m)
        var squares = 0.0
        for i in 0..<m {
            let d = Double(x[i]) - mean
            squares += d * d
        }
        let variance = squares / Double(m)
        let invStd = 1 / (variance + g.eps).squareRoot()
        let scale = Float(invStd) * gamma[c]
        let shift = beta[c] - Float(mean) * scale
        for i in 0..<m {
            y[i] = x[i] * scale + shift
        }
        savedMean[c] = Float(mean)
        savedInvStd[c] = Float(invStd)
        let unbiased = m > 1 ? squares / Double(m - 1) : variance
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * Float(mean)
        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(unbiased)
    }
}

/// Batch norm forward in evaluation mode, with the running statistics. May run in place.
/// - input, output: [C, batch, H, W]
func batchNormForwardEvaluation(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
                                geometry g: BatchNormGeometry, batch: Int) {
    let m = batch * g.spatial
    for c in 0..<g.channels {
        let invStd = 1 / (Double(runningVar[c]) + g.eps).squareRoot()
        let scale = Float(invStd) * gamma[c]
        let shift = beta[c] - runningMean[c] * scale
        let x = input + c * m
        let y = output + c * m
        for i in 0..<m {
            y[i] = x[i] * scale + shift
        }
    }
}

/// Batch norm backward (training statistics): dγ = Σ dy·x̂, dβ = Σ dy,
/// dx = γ·invstd/m · (m·dy − dβ − x̂·dγ).
/// - input, outputGradient: [C, batch, H, W]
/// - gammaGradient, betaGradient: [C], overwritten
/// - inputGradient: [C, batch, H, W] or nil
func batchNormBackward(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                       gamma: UnsafePointer<Float>, savedMean: UnsafePointer<Float>, savedInvStd: UnsafePointer<Float>,
                       gammaGradient: UnsafeMutablePointer<Float>, betaGradient: UnsafeMutablePointer<Float>,
                       inputGradient: UnsafeMutablePointer<Float>?, geometry g: BatchNormGeometry, batch: Int) {
    let m = batch * g.spatial
    for c in 0..<g.channels {
        let x = input + c * m
        let dy = outputGradient + c * m
        let mean = savedMean[c]
        let invStd = savedInvStd[c]
        var sumDy = 0.0
        var sumDyXhat = 0.0
        for i in 0..<m {
            let xhat = (x[i] - mean) * invStd
            sumDy += Double(dy[i])
            sumDyXhat += Double(dy[i] * xhat)
        }
        gammaGradient[c] = Float(sumDyXhat)
        betaGradient[c] = Float(sumDy)
        guard let inputGradient else { continue }
        let dx = inputGradient + c * m
        let k = gamma[c] * invStd / Float(m)
        let meanDy = Float(sumDy)
        let meanDyXhat = Float(sumDyXhat)
        let fm = Float(m)
        for i in 0..<m {
            let xhat = (x[i] - mean) * invStd
            dx[i] = k * (fm * dy[i] - meanDy - xhat * meanDyXhat)
        }
    }
}
