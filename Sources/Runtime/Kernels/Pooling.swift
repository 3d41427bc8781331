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
            if let indices {
                let index = indices + plane * oh * ow + oy * ow
                for ox in 0..<ow {
                    let x = 2 * ox
                    var best = top[x], at = first + x
                    if top[x + 1] > best { best = top[x + 1]; at = first + x + 1 }
                    if bottom[x] > best { best = bottom[x]; at = first + w + x }
                    if bottom[x + 1] > best { best = bottom[x + 1]; at = first + w + x + 1 }
                    out[ox] = best
                    index[ox] = Int32(truncatingIfNeeded: at)
                }
            } else {
                for ox in 0..<ow {
                    let x = 2 * ox
                    var best = top[x]
                    if top[x + 1] > best { best = top[x + 1] }
                    if bottom[x] > best { best = bottom[x] }
                    if bottom[x + 1] > best { best = bottom[x + 1] }
                    out[ox] = best
                }
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
