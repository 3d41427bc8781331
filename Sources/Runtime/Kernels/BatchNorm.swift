import Graph
import Spec

/// Each kernel here handles the channels in `channels` (default: all), so lanes can split them.

/// Batch norm forward in training mode: normalizes each channel with the batch's mean and biased
/// variance, saves mean and 1/std for backward, and updates the running estimates with
/// `momentum` (running_var takes the unbiased variance, as PyTorch). With `relu`, writes
/// max(0, y) instead of y (the fused BatchNorm2D → ReLU).
/// - input, output: [C, batch, H, W] (may not alias)
/// - gamma, beta: [C]; runningMean, runningVar: [C], updated
/// - savedMean, savedInvStd: [C], written
@inline(never)
func batchNormForwardTraining(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                              gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                              runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
                              savedMean: UnsafeMutablePointer<Float>, savedInvStd: UnsafeMutablePointer<Float>,
                              geometry g: BatchNormGeometry, batch: Int, channels: Range<Int>? = nil,
                              relu: Bool = false) {
    let m = batch * g.spatial
    let momentum = Float(g.momentum)
    for c in channels ?? 0..<g.channels {
        let x = input + c * m
        let y = output + c * m
        let mean = Double(laneSum(x, count: m)) / Double(m)
        let squares = Double(laneSquaredDeviation(x, count: m, center: Float(mean)))
        let variance = squares / Double(m)
        let invStd = 1 / (variance + g.eps).squareRoot()
        let scale = Float(invStd) * gamma[c]
        let shift = beta[c] - Float(mean) * scale
        if relu {
            laneAffineReLU(x, y, count: m, scale: scale, shift: shift)
        } else {
            laneAffine(x, y, count: m, scale: scale, shift: shift)
        }
        savedMean[c] = Float(mean)
        savedInvStd[c] = Float(invStd)
        let unbiased = m > 1 ? squares / Double(m - 1) : variance
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * Float(mean)
        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(unbiased)
    }
}

/// Batch norm forward in evaluation mode, with the running statistics. May run in place. With
/// `relu`, writes max(0, y).
/// - input, output: [C, batch, H, W]
@inline(never)
func batchNormForwardEvaluation(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
                                geometry g: BatchNormGeometry, batch: Int, channels: Range<Int>? = nil,
                                relu: Bool = false) {
    let m = batch * g.spatial
    for c in channels ?? 0..<g.channels {
        let invStd = 1 / (Double(runningVar[c]) + g.eps).squareRoot()
        let scale = Float(invStd) * gamma[c]
        let shift = beta[c] - runningMean[c] * scale
        if relu {
            laneAffineReLU(input + c * m, output + c * m, count: m, scale: scale, shift: shift)
        } else {
            laneAffine(input + c * m, output + c * m, count: m, scale: scale, shift: shift)
        }
    }
}

/// Batch norm backward (training statistics): dγ = Σ dy·x̂, dβ = Σ dy,
/// dx = γ·invstd/m · (m·dy − dβ − x̂·dγ). With `reluOutput` (the fused BatchNorm2D → ReLU), dy is
/// the ReLU's output gradient masked where that output is not positive, as ReLU's backward would.
/// - input, outputGradient: [C, batch, H, W]; reluOutput: [C, batch, H, W] or nil
/// - gammaGradient, betaGradient: [C], overwritten
/// - inputGradient: [C, batch, H, W] or nil
@inline(never)
func batchNormBackward(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                       gamma: UnsafePointer<Float>, savedMean: UnsafePointer<Float>, savedInvStd: UnsafePointer<Float>,
                       gammaGradient: UnsafeMutablePointer<Float>, betaGradient: UnsafeMutablePointer<Float>,
                       inputGradient: UnsafeMutablePointer<Float>?, geometry g: BatchNormGeometry, batch: Int,
                       channels: Range<Int>? = nil, reluOutput: UnsafePointer<Float>? = nil) {
    if let reluOutput {
        batchNormBackward(input: input, outputGradient: outputGradient, gamma: gamma, savedMean: savedMean,
                          savedInvStd: savedInvStd, gammaGradient: gammaGradient, betaGradient: betaGradient,
                          inputGradient: inputGradient, geometry: g, batch: batch, channels: channels ?? 0..<g.channels) {
            let zero = Lanes()
            return loadLanes($0 + $1).replacing(with: zero, where: loadLanes(reluOutput + ($0 - outputGradient) + $1) .<= zero)
        } scalar: {
            reluOutput[($0 - outputGradient) + $1] > 0 ? $0[$1] : 0
        }
    } else {
        batchNormBackward(input: input, outputGradient: outputGradient, gamma: gamma, savedMean: savedMean,
                          savedInvStd: savedInvStd, gammaGradient: gammaGradient, betaGradient: betaGradient,
                          inputGradient: inputGradient, geometry: g, batch: batch, channels: channels ?? 0..<g.channels) {
            loadLanes($0 + $1)
        } scalar: {
            $0[$1]
        }
    }
}

/// The body of `batchNormBackward`, reading dy through `load` (8 lanes at `dy + i`) and `scalar`.
@inline(__always)
private func batchNormBackward(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                               gamma: UnsafePointer<Float>, savedMean: UnsafePointer<Float>,
                               savedInvStd: UnsafePointer<Float>, gammaGradient: UnsafeMutablePointer<Float>,
                               betaGradient: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
                               geometry g: BatchNormGeometry, batch: Int, channels: Range<Int>,
                               load: (UnsafePointer<Float>, Int) -> Lanes,
                               scalar: (UnsafePointer<Float>, Int) -> Float) {
    let m = batch * g.spatial
    for c in channels {
        let x = input + c * m
        let dy = outputGradient + c * m
        let mean = savedMean[c]
        let invStd = savedInvStd[c]
        // Σ dy·x̂ = invstd · (Σ dy·x − mean · Σ dy)
        var dyLanes = Lanes()
        var dyxLanes = Lanes()
        var i = 0
        while i + 8 <= m {
            let d = load(dy, i)
            dyLanes += d
            dyxLanes += d * loadLanes(x + i)
            i += 8
        }
        var sumDyFloat = dyLanes.sum()
        var sumDyXFloat = dyxLanes.sum()
        while i < m {
            sumDyFloat += scalar(dy, i)
            sumDyXFloat += scalar(dy, i) * x[i]
            i += 1
        }
        let sumDy = Double(sumDyFloat)
        let sumDyXhat = Double(invStd) * (Double(sumDyXFloat) - Double(mean) * sumDy)
        gammaGradient[c] = Float(sumDyXhat)
        betaGradient[c] = Float(sumDy)
        guard let inputGradient else { continue }
        let dx = inputGradient + c * m
        let k = gamma[c] * invStd / Float(m)
        let meanDy = Float(sumDy)
        let meanDyXhat = Float(sumDyXhat)
        // dx = k·m·dy − k·(Σdy) − k·x̂·(Σdy·x̂), with x̂ = (x − mean)·invstd: one fused pass.
        let a = Lanes(repeating: k * Float(m))
        let xScale = k * invStd * meanDyXhat
        let b = Lanes(repeating: xScale)
        let constant = Lanes(repeating: -k * meanDy + xScale * mean)
        var j = 0
        while j + 8 <= m {
            storeLanes(a * load(dy, j) - b * loadLanes(x + j) + constant, dx + j)
            j += 8
        }
        while j < m {
            dx[j] = k * Float(m) * scalar(dy, j) - xScale * x[j] + (-k * meanDy + xScale * mean)
            j += 1
        }
    }
}
