import Graph
import Spec

// The weight and bias gradients of a conv followed by ReLU → MaxPool2D, straight from the pool's
// gradient (`FusedPattern.convReLUMaxPool`). The conv's output gradient is the pool's gradient at
// each window's argmax where the pooled maximum is positive (the ReLU's mask), zero elsewhere, so
//     dW[o][c][ky][kx] = Σ_b Σ_p [out[o][b][p] > 0] · dP[o][b][p] · X[c][b][y·sh − ph + ky][x·sw − pw + kx]
//     db[o]            = Σ_b Σ_p [out[o][b][p] > 0] · dP[o][b][p]
// where (y, x) is the argmax of pooled output p, and the input gradient likewise,
//     dX[c][b][y·sh − ph + ky][x·sw − pw + kx] += [out[o][b][p] > 0] · dP[o][b][p] · W[o][c][ky][kx].
// For 2×2 windows this is a quarter of the products of the dense gradients, and no dense output
// gradient is written or read. `conv2dPooledGradients` vectorizes over input channels (any conv);
// `conv2dPooledWeightGradient` over kernel columns, for a first conv with fewer than 4 input
// channels (no input gradient).

/// The conv's weight gradient over the images in `images` (one lane's share), overwritten (zero
/// for an empty share), from the pool's gradient at its argmaxes where the pool's output is
/// positive, one input channel at a time with rows of kernel taps in the vectors: for convs with
/// few input channels (a first layer's), where `conv2dPooledGradients`' channel vectors would be
/// mostly empty.
/// - input: [C, batch, H, W], the conv's input
/// - poolGradient, poolOutput, indices: [OC, batch, POH, POW], indices into the conv's OH×OW output plane
/// - weightGradient: [OC, C, KH, KW]
/// - scratch: [g.pooledGradientColumnsPerLane(inputGradient: false)] or more
/// - pooled: POH·POW
@inline(never)
public func conv2dPooledWeightGradient(input: UnsafePointer<Float>, poolGradient: UnsafePointer<Float>,
                                       poolOutput: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                                       weightGradient: UnsafeMutablePointer<Float>,
                                       scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry,
                                       pooled: Int, batch: Int, images: Range<Int>) {
    let (c, oc, kh, kw) = (g.inChannels, g.outChannels, g.kernel.h, g.kernel.w)
    let (h, w, ph, pw) = (g.inHeight, g.inWidth, g.padding.h, g.padding.w)
    let taps = kh * kw
    weightGradient.update(repeating: 0, count: g.weightCount)
    if images.isEmpty { return }
    let (rowStride, planeCount) = (g.pooledGradientRowStride, g.pooledGradientPlaneCount)
    let planes = scratch
    // Zero the planes once: the images' copies below overwrite only the inner H×W of each.
    planes.update(repeating: 0, count: c * planeCount)
    (planes + c * planeCount).withMemoryRebound(to: Int32.self, capacity: g.outSpatial) { offsets in
        for y in 0..<g.outHeight {
            for x in 0..<g.outWidth {
                offsets[y * g.outWidth + x] = Int32(truncatingIfNeeded: y * g.stride.h * rowStride + x * g.stride.w)
            }
        }
        let zero = Lanes()
        for b in images {
            for channel in 0..<c {
                let source = input + (channel * batch + b) * h * w
                let plane = planes + channel * planeCount + ph * rowStride + pw
                for y in 0..<h {
                    (plane + y * rowStride).update(from: source + y * w, count: w)
                }
            }
            for o in 0..<oc {
                let base = (o * batch + b) * pooled
                let (gradient, output, index) = (poolGradient + base, poolOutput + base, indices + base)
                for channel in 0..<c {
                    let plane = UnsafePointer(planes + channel * planeCount)
                    let target = weightGradient + (o * c + channel) * taps
                    // Up to 5 kernel rows × 8 columns in registers per sweep over the pooled outputs.
                    var ky0 = 0
                    while ky0 < kh {
                        let rows = min(5, kh - ky0)
                        var kx0 = 0
                        while kx0 < kw {
                            var (a0, a1, a2, a3, a4) = (zero, zero, zero, zero, zero)
                            for p in 0..<pooled {
                                let s = Lanes(repeating: output[p] > 0 ? gradient[p] : 0)
                                let corner = plane + Int(offsets[Int(index[p])]) + ky0 * rowStride + kx0
                                a0 = multiplyAdd(s, loadLanes(corner), a0)
                                if rows > 1 { a1 = multiplyAdd(s, loadLanes(corner + rowStride), a1) }
                                if rows > 2 { a2 = multiplyAdd(s, loadLanes(corner + 2 * rowStride), a2) }
                                if rows > 3 { a3 = multiplyAdd(s, loadLanes(corner + 3 * rowStride), a3) }
                                if rows > 4 { a4 = multiplyAdd(s, loadLanes(corner + 4 * rowStride), a4) }
                            }
                            let columns = min(8, kw - kx0)
                            let row = target + ky0 * kw + kx0
                            addLanes(a0, to: row, count: columns)
                            if rows > 1 { addLanes(a1, to: row + kw, count: columns) }
                            if rows > 2 { addLanes(a2, to: row + 2 * kw, count: columns) }
                            if rows > 3 { addLanes(a3, to: row + 3 * kw, count: columns) }
                            if rows > 4 { addLanes(a4, to: row + 4 * kw, count: columns) }
                            kx0 += 8
                        }
                        ky0 += 5
                    }
                }
            }
        }
    }
}

/// The conv's bias gradient for the output channels in `channels`, over the whole batch
/// (overwritten), from the pool's gradient where the pool's output is positive.
/// - poolGradient, poolOutput: [OC, batch, POH, POW]
/// - biasGradient: [OC]
public func conv2dPooledBiasGradient(poolGradient: UnsafePointer<Float>, poolOutput: UnsafePointer<Float>,
                                     biasGradient: UnsafeMutablePointer<Float>, pooled: Int, batch: Int,
                                     channels: Range<Int>) {
    let run = batch * pooled
    for o in channels {
        let (gradient, output) = (poolGradient + o * run, poolOutput + o * run)
        var total = Lanes()
        var i = 0
        while i + 8 <= run {
            total += Lanes().replacing(with: loadLanes(gradient + i), where: loadLanes(output + i) .> 0)
            i += 8
        }
        var tail: Float = 0
        while i < run {
            if output[i] > 0 { tail += gradient[i] }
            i += 1
        }
        biasGradient[o] = total.sum() + tail
    }
}

/// target[0..<count] += value[0..<count]
@inline(__always)
private func addLanes(_ value: Lanes, to target: UnsafeMutablePointer<Float>, count: Int) {
    for lane in 0..<count { target[lane] += value[lane] }
}

/// The conv's weight gradient over the images in `images` (one lane's share), overwritten (zero
/// for an empty share), and their input gradient when `inputGradient` is given (overwritten for
/// those images), eight input channels at a time: for each pooled output p whose maximum is
/// positive, with its argmax (y, x) and s = dP[o][b][p],
///     dW[o][c][ky][kx] += s · X[c][b][y·sh − ph + ky][x·sw − pw + kx]
///     dX[c][b][y·sh − ph + ky][x·sw − pw + kx] += s · W[o][c][ky][kx]
/// over channels-last, bordered copies of one image's input and input gradient (the latter then
/// written back without its border), the weight gradient accumulated channels-last over the share
/// and written out at the end. For 2×2 windows a quarter of the dense gradients' products.
/// - input: [C, batch, H, W], the conv's input
/// - weight: [OC, C, KH, KW]
/// - poolGradient, poolOutput, indices: [OC, batch, POH, POW], indices into the conv's OH×OW output plane
/// - weightGradient: [OC, C, KH, KW]
/// - inputGradient: [C, batch, H, W] or nil
/// - scratch: [g.pooledGradientColumnsPerLane(inputGradient:)] or more
/// - pooled: POH·POW
@inline(never)
public func conv2dPooledGradients(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                  poolGradient: UnsafePointer<Float>, poolOutput: UnsafePointer<Float>,
                                  indices: UnsafePointer<Int32>, weightGradient: UnsafeMutablePointer<Float>,
                                  inputGradient: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>,
                                  geometry g: Conv2DGeometry, pooled: Int, batch: Int, images: Range<Int>) {
    let (c, oc, kh, kw) = (g.inChannels, g.outChannels, g.kernel.h, g.kernel.w)
    let (h, w, ph, pw) = (g.inHeight, g.inWidth, g.padding.h, g.padding.w)
    let cp = g.pooledGradientChannels
    let tapCount = kh * kw
    let rowStride = (w + 2 * pw) * cp
    let rowVectors = kw * cp / 8
    let planeCount = g.pooledInputGradientPlaneCount
    let weightCount = g.pooledInputGradientWeightCount
    // [OC, KH, KW, Cp] each: the weight gradient's accumulator and the weights, zero past C.
    let accumulator = scratch
    let weights = accumulator + weightCount
    let source = weights + weightCount
    let gradientPlane = source + planeCount
    accumulator.update(repeating: 0, count: weightCount)
    if inputGradient != nil {
        for o in 0..<oc {
            for tap in 0..<tapCount {
                let target = weights + (o * tapCount + tap) * cp
                for channel in 0..<cp {
                    target[channel] = channel < c ? weight[(o * c + channel) * tapCount + tap] : 0
                }
            }
        }
    }
    (gradientPlane + planeCount).withMemoryRebound(to: Int32.self, capacity: g.outSpatial) { offsets in
        for y in 0..<g.outHeight {
            for x in 0..<g.outWidth {
                offsets[y * g.outWidth + x] = Int32(truncatingIfNeeded: y * g.stride.h * rowStride + x * g.stride.w * cp)
            }
        }
        for b in images {
            // The image channels-last, zero-bordered (and zero past C).
            source.update(repeating: 0, count: planeCount)
            for channel in 0..<c {
                let from = input + (channel * batch + b) * h * w
                for y in 0..<h {
                    let row = source + (y + ph) * rowStride + pw * cp + channel
                    for x in 0..<w { row[x * cp] = from[y * w + x] }
                }
            }
            if inputGradient != nil { gradientPlane.update(repeating: 0, count: planeCount) }
            for o in 0..<oc {
                let base = (o * batch + b) * pooled
                let (gradient, output, index) = (poolGradient + base, poolOutput + base, indices + base)
                let kernelOffset = o * tapCount * cp
                for p in 0..<pooled where output[p] > 0 {
                    let s = Lanes(repeating: gradient[p])
                    let corner = Int(offsets[Int(index[p])])
                    for ky in 0..<kh {
                        let at = corner + ky * rowStride
                        let tap = kernelOffset + ky * kw * cp
                        let (x, dw) = (UnsafePointer(source + at), accumulator + tap)
                        if inputGradient != nil {
                            let (wk, dx) = (UnsafePointer(weights + tap), gradientPlane + at)
                            for e in 0..<rowVectors {
                                storeLanes(multiplyAdd(s, loadLanes(x + e * 8), loadLanes(dw + e * 8)), dw + e * 8)
                                storeLanes(multiplyAdd(s, loadLanes(wk + e * 8), loadLanes(dx + e * 8)), dx + e * 8)
                            }
                        } else {
                            for e in 0..<rowVectors {
                                storeLanes(multiplyAdd(s, loadLanes(x + e * 8), loadLanes(dw + e * 8)), dw + e * 8)
                            }
                        }
                    }
                }
            }
            // The input gradient back to [C, batch, H, W], without the border.
            if let inputGradient {
                for channel in 0..<c {
                    let target = inputGradient + (channel * batch + b) * h * w
                    for y in 0..<h {
                        let row = gradientPlane + (y + ph) * rowStride + pw * cp + channel
                        for x in 0..<w { target[y * w + x] = row[x * cp] }
                    }
                }
            }
        }
    }
    for o in 0..<oc {
        for channel in 0..<c {
            let target = weightGradient + (o * c + channel) * tapCount
            for tap in 0..<tapCount { target[tap] = accumulator[(o * tapCount + tap) * cp + channel] }
        }
    }
}
