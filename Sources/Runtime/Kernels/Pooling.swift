import Graph
import Spec

/// Max pooling forward over each (channel, image) plane in `planes` (default: all), floor rounding, windows clipped to the
/// input (PyTorch pads with −∞). Records the argmax's index within its input plane when asked.
/// With `relu`, a ReLU that comes before the pool is applied to each maximum instead of to every
/// input (max(relu(x)) = relu(max(x)), exactly): the steps ReLU → MaxPool2D in one pass.
/// - input: [C, batch, H, W]
/// - output: [C, batch, OH, OW]
/// - indices: [C, batch, OH, OW] or nil (evaluation)
@inline(never)
func maxPool2dForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                      indices: UnsafeMutablePointer<Int32>?, geometry g: Pool2DGeometry, batch: Int,
                      planes: Range<Int>? = nil, relu: Bool = false) {
    let (h, w, oh, ow) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
    if g.isTwoByTwo {
        maxPool2x2Forward(input: input, output: output, indices: indices, height: h, width: w, outHeight: oh,
                          outWidth: ow, planes: planes ?? 0..<(g.channels * batch), relu: relu)
        return
    }
    for plane in planes ?? 0..<(g.channels * batch) {
        let inPlane = input + plane * h * w
        let outPlane = output + plane * oh * ow
        let indexPlane = indices.map { $0 + plane * oh * ow }
        for oy in 0..<oh {
            let y0 = max(oy * g.stride.h - g.padding.h, 0)
            let y1 = min(oy * g.stride.h - g.padding.h + g.kernel.h, h)
            for ox in 0..<ow {
                let x0 = max(ox * g.stride.w - g.padding.w, 0)
                let x1 = min(ox * g.stride.w - g.padding.w + g.kernel.w, w)
                var best = y0 * w + x0
                var bestValue = inPlane[best]
                for y in y0..<y1 {
                    for x in x0..<x1 where inPlane[y * w + x] > bestValue {
                        bestValue = inPlane[y * w + x]
                        best = y * w + x
                    }
                }
                outPlane[oy * ow + ox] = relu ? max(bestValue, 0) : bestValue
                indexPlane?[oy * ow + ox] = Int32(best)
            }
        }
    }
}

/// `maxPool2dForward` for 2×2 windows at stride 2 without padding (every window inside the
/// input): the same scan order and strict comparisons, so the same maximum and index, ties and NaN
/// included, without the general loop's clipping.
/// - input: [planes, H, W]; output, indices: [planes, OH, OW] (indices nil in evaluation)
@inline(__always)
private func maxPool2x2Forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                               indices: UnsafeMutablePointer<Int32>?, height h: Int, width w: Int,
                               outHeight oh: Int, outWidth ow: Int, planes: Range<Int>, relu: Bool) {
    let zero = Lanes()
    for plane in planes {
        let inPlane = input + plane * h * w
        let outPlane = output + plane * oh * ow
        for oy in 0..<oh {
            let top = inPlane + 2 * oy * w
            let bottom = top + w
            let out = outPlane + oy * ow
            let first = 2 * oy * w
            let index = indices.map { $0 + plane * oh * ow + oy * ow }
            var ox = 0
            // Eight windows at a time: even and odd columns split by shuffles, the winner chosen by
            // masks (which element wins is data-dependent, so branches would mispredict). A row
            // of at least 8 windows ends with the 8 windows that end it, overlapping the previous
            // eight: the overlapped windows are computed again, identically.
            while ox < ow && ow >= 8 {
                ox = min(ox, ow - 8)
                let x = 2 * ox
                let t = UnsafeRawPointer(top + x).loadUnaligned(as: SIMD16<Float>.self)
                let u = UnsafeRawPointer(bottom + x).loadUnaligned(as: SIMD16<Float>.self)
                let (a, b, c, d) = (t.evenHalf, t.oddHalf, u.evenHalf, u.oddHalf)
                let mb = b .> a
                var best = a.replacing(with: b, where: mb)
                let mc = c .> best
                best = best.replacing(with: c, where: mc)
                let md = d .> best
                best = best.replacing(with: d, where: md)
                storeLanes(relu ? best.replacing(with: zero, where: best .< zero) : best, out + ox)
                if let index {
                    let left = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: first + x))
                        &+ SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
                    let wide = Int32(truncatingIfNeeded: w)
                    var at = left.replacing(with: left &+ 1, where: mb)
                    at = at.replacing(with: left &+ wide, where: mc)
                    at = at.replacing(with: left &+ (wide + 1), where: md)
                    UnsafeMutableRawPointer(index + ox).storeBytes(of: at, as: SIMD8<Int32>.self)
                }
                ox += 8
            }
            // The rest one window at a time, by selects rather than branches (as above).
            while ox < ow {
                let x = 2 * ox
                var best = top[x], at = first + x
                @inline(__always) func challenge(_ value: Float, _ position: Int) {
                    let wins = value > best
                    best = wins ? value : best
                    at = wins ? position : at
                }
                challenge(top[x + 1], first + x + 1)
                challenge(bottom[x], first + w + x)
                challenge(bottom[x + 1], first + w + x + 1)
                out[ox] = relu ? max(best, 0) : best
                index?[ox] = Int32(truncatingIfNeeded: at)
                ox += 1
            }
        }
    }
}

/// Max pooling backward for the (channel, image) planes in `planes` (default: all): each output
/// gradient goes to its argmax (overwrites those planes of inputGradient). With `reluOutput` (the
/// pool's output, when the pool applied a ReLU before it, `maxPool2dForward(relu: true)`), a
/// gradient goes only where that output is positive: the ReLU's backward in the same pass.
/// - outputGradient: [C, batch, OH, OW]; indices: [C, batch, OH, OW]; reluOutput: [C, batch, OH, OW] or nil
/// - inputGradient: [C, batch, H, W]
@inline(never)
func maxPool2dBackward(outputGradient: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                       inputGradient: UnsafeMutablePointer<Float>, geometry g: Pool2DGeometry, batch: Int,
                       planes: Range<Int>? = nil, reluOutput: UnsafePointer<Float>? = nil) {
    let range = planes ?? 0..<(g.channels * batch)
    if g.isTwoByTwo && g.outWidth >= 8 {
        maxPool2x2Backward(outputGradient: outputGradient, indices: indices, inputGradient: inputGradient,
                           reluOutput: reluOutput, height: g.inHeight, width: g.inWidth, outHeight: g.outHeight,
                           outWidth: g.outWidth, planes: range)
        return
    }
    let inSize = g.inHeight * g.inWidth
    let outSize = g.outHeight * g.outWidth
    (inputGradient + range.lowerBound * inSize).update(repeating: 0, count: range.count * inSize)
    for plane in range {
        let inPlane = inputGradient + plane * inSize
        let base = plane * outSize
        for i in 0..<outSize where reluOutput.map({ $0[base + i] > 0 }) ?? true {
            inPlane[Int(indices[base + i])] += outputGradient[base + i]
        }
    }
}

/// `maxPool2dBackward` for 2×2 windows at stride 2 without padding, rows of at least 8 windows:
/// the windows do not overlap, so each window's four input gradients are written at once (the
/// argmax's, zeros elsewhere), eight windows at a time, with no zeroing pass before; a last row or
/// column that no window covers (odd sizes) is zeroed.
/// - outputGradient, indices: [planes, OH, OW]; reluOutput: [planes, OH, OW] or nil
/// - inputGradient: [planes, H, W]
@inline(__always)
private func maxPool2x2Backward(outputGradient: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                                inputGradient: UnsafeMutablePointer<Float>, reluOutput: UnsafePointer<Float>?,
                                height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int,
                                planes: Range<Int>) {
    precondition(ow >= 8, "rows of at least 8 windows")
    let zero = Lanes()
    let wide = Int32(truncatingIfNeeded: w)
    for plane in planes {
        let inPlane = inputGradient + plane * h * w
        for oy in 0..<oh {
            let top = inPlane + 2 * oy * w
            let bottom = top + w
            let at = indices + plane * oh * ow + oy * ow
            let dy = outputGradient + plane * oh * ow + oy * ow
            let y = reluOutput.map { $0 + plane * oh * ow + oy * ow }
            let first = 2 * oy * w
            var ox = 0
            // Eight windows at a time; the last eight of a row overlap the previous ones and
            // write the same values again.
            while ox < ow {
                ox = min(ox, ow - 8)
                let x = 2 * ox
                var g = loadLanes(dy + ox)
                if let y { g = g.replacing(with: zero, where: loadLanes(y + ox) .<= zero) }
                let index = UnsafeRawPointer(at + ox).loadUnaligned(as: SIMD8<Int32>.self)
                let left = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: first + x))
                    &+ SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
                let a = zero.replacing(with: g, where: index .== left)
                let b = zero.replacing(with: g, where: index .== left &+ 1)
                let c = zero.replacing(with: g, where: index .== left &+ wide)
                let d = zero.replacing(with: g, where: index .== left &+ (wide + 1))
                var upper = SIMD16<Float>(), lower = SIMD16<Float>()
                upper.evenHalf = a
                upper.oddHalf = b
                lower.evenHalf = c
                lower.oddHalf = d
                UnsafeMutableRawPointer(top + x).storeBytes(of: upper, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(bottom + x).storeBytes(of: lower, as: SIMD16<Float>.self)
                ox += 8
            }
            if w > 2 * ow {
                laneZero(top + 2 * ow, count: w - 2 * ow)
                laneZero(bottom + 2 * ow, count: w - 2 * ow)
            }
        }
        if h > 2 * oh { laneZero(inPlane + 2 * oh * w, count: (h - 2 * oh) * w) }
    }
}

extension Pool2DGeometry {
    /// 2×2 windows at stride 2 without padding: every window inside the input, none overlapping.
    var isTwoByTwo: Bool { kernel == Pair(square: 2) && stride == Pair(square: 2) && padding == Pair(square: 0) }
}
