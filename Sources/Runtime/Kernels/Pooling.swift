import Graph
import Spec

/// Max pooling forward over each (channel, image) plane in `planes` (default: all), floor rounding, windows clipped to the
/// input (PyTorch pads with −∞). Records the argmax's index within its input plane when asked.
/// - input: [C, batch, H, W]
/// - output: [C, batch, OH, OW]
/// - indices: [C, batch, OH, OW] or nil (evaluation)
@inline(never)
func maxPool2dForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                      indices: UnsafeMutablePointer<Int32>?, geometry g: Pool2DGeometry, batch: Int,
                      planes: Range<Int>? = nil) {
    let (h, w, oh, ow) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
    if g.kernel == Pair(square: 2) && g.stride == Pair(square: 2) && g.padding == Pair(square: 0) {
        maxPool2x2Forward(input: input, output: output, indices: indices, height: h, width: w, outHeight: oh,
                          outWidth: ow, planes: planes ?? 0..<(g.channels * batch))
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
                outPlane[oy * ow + ox] = bestValue
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
                               outHeight oh: Int, outWidth ow: Int, planes: Range<Int>) {
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
                let (t0, t1) = (loadLanes(top + x), loadLanes(top + x + 8))
                let (u0, u1) = (loadLanes(bottom + x), loadLanes(bottom + x + 8))
                let a = Lanes(t0[0], t0[2], t0[4], t0[6], t1[0], t1[2], t1[4], t1[6])
                let b = Lanes(t0[1], t0[3], t0[5], t0[7], t1[1], t1[3], t1[5], t1[7])
                let c = Lanes(u0[0], u0[2], u0[4], u0[6], u1[0], u1[2], u1[4], u1[6])
                let d = Lanes(u0[1], u0[3], u0[5], u0[7], u1[1], u1[3], u1[5], u1[7])
                let mb = b .> a
                var best = a.replacing(with: b, where: mb)
                let mc = c .> best
                best = best.replacing(with: c, where: mc)
                let md = d .> best
                best = best.replacing(with: d, where: md)
                storeLanes(best, out + ox)
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
                out[ox] = best
                index?[ox] = Int32(truncatingIfNeeded: at)
                ox += 1
            }
        }
    }
}

/// Max pooling backward for the (channel, image) planes in `planes` (default: all): each output
/// gradient goes to its argmax (overwrites those planes of inputGradient).
/// - outputGradient: [C, batch, OH, OW]; indices: [C, batch, OH, OW]
/// - inputGradient: [C, batch, H, W]
@inline(never)
func maxPool2dBackward(outputGradient: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                       inputGradient: UnsafeMutablePointer<Float>, geometry g: Pool2DGeometry, batch: Int,
                       planes: Range<Int>? = nil) {
    let inSize = g.inHeight * g.inWidth
    let outSize = g.outHeight * g.outWidth
    let range = planes ?? 0..<(g.channels * batch)
    (inputGradient + range.lowerBound * inSize).update(repeating: 0, count: range.count * inSize)
    for plane in range {
        let inPlane = inputGradient + plane * inSize
        let base = plane * outSize
        for i in 0..<outSize {
            inPlane[Int(indices[base + i])] += outputGradient[base + i]
        }
    }
}
