import Graph
import Spec

// The weight and bias gradients of a conv followed by ReLU → MaxPool2D, straight from the pool's
// gradient (`FusedPattern.convReLUMaxPool`). The conv's output gradient is the pool's gradient at
// each window's argmax where the pooled maximum is positive (the ReLU's mask), zero elsewhere, so
//     dW[o][c][ky][kx] = Σ_b Σ_p [out[o][b][p] > 0] · dP[o][b][p] · X[c][b][y·sh − ph + ky][x·sw − pw + kx]
//     db[o]            = Σ_b Σ_p [out[o][b][p] > 0] · dP[o][b][p]
// where (y, x) is the argmax of pooled output p. For 2×2 windows this is a quarter of the products
// of the dense weight gradient, and no dense output gradient is written or read.

/// The conv's weight gradient over the images in `images` (one lane's share), overwritten (zero
/// for an empty share), from the pool's gradient at its argmaxes where the pool's output is positive.
/// - input: [C, batch, H, W], the conv's input
/// - poolGradient, poolOutput, indices: [OC, batch, POH, POW], indices into the conv's OH×OW output plane
/// - weightGradient: [OC, C, KH, KW]
/// - scratch: [g.pooledGradientColumnsPerLane] or more
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
