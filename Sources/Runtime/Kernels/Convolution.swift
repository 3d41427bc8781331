import CBLAS

// Image tensors are stored channel-major across the batch ("CBHW"): element (c, b, y, x) of a
// batch of B images is at ((c·B + b)·H + y)·W + x. One GEMM per chunk of images then writes a
// conv's output for all its channels straight into place, and batch norm sees each channel as
// one contiguous run.

/// The output columns `ox` whose input column `ox·stride − pad + kx` lies inside [0, width):
/// the half-open range [low, high), possibly empty.
@inline(__always)
func validColumns(outWidth: Int, width: Int, stride: Int, pad: Int, offset kx: Int) -> (low: Int, high: Int) {
    // ox·s − p + kx ≥ 0  ⇔  ox ≥ ceil((p − kx) / s);   ox·s − p + kx < w  ⇔  ox < ceil((w + p − kx) / s).
    let low = max(0, ceilDivide(pad - kx, stride))
    let high = min(outWidth, ceilDivide(width + pad - kx, stride))
    return (low, max(low, high))
}

@inline(__always)
func ceilDivide(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? (a + b - 1) / b : -((-a) / b)
}

/// Lowers images [first, first + count) of a CBHW batch into columns: row (c, ky, kx), column
/// (image, oy, ox), zero where the window reads padding.
/// - input: [C, batch, H, W]
/// - columns: [C·KH·KW, count·OH·OW]
@inline(never)
func im2col(_ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>,
            geometry g: Conv2DGeometry, batch: Int, first: Int, count: Int) {
    let (h, w, oh, ow) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
    let (sh, sw) = (g.stride.h, g.stride.w)
    let columnCount = count * oh * ow
    var row = 0
    for c in 0..<g.inChannels {
        for ky in 0..<g.kernel.h {
            for kx in 0..<g.kernel.w {
                let rowStart = columns + row * columnCount
                let (low, high) = validColumns(outWidth: ow, width: w, stride: sw, pad: g.padding.w, offset: kx)
                let shift = kx - g.padding.w
                for image in 0..<count {
                    let plane = input + (c * batch + first + image) * h * w
                    let outPlane = rowStart + image * oh * ow
                    for oy in 0..<oh {
                        let iy = oy * sh - g.padding.h + ky
                        let outRow = outPlane + oy * ow
                        guard iy >= 0 && iy < h else {
                            outRow.update(repeating: 0, count: ow)
                            continue
                        }
                        let inRow = plane + iy * w + shift
                        if low > 0 { outRow.update(repeating: 0, count: low) }
                        if sw == 1 {
                            (outRow + low).update(from: inRow + low, count: high - low)
                        } else {
                            for ox in low..<high {
                                outRow[ox] = inRow[ox * sw]
                            }
                        }
                        if high < ow { (outRow + high).update(repeating: 0, count: ow - high) }
                    }
                }
                row += 1
            }
        }
    }
}

/// The adjoint of `im2col`: adds each column entry back onto the input position it was read from.
/// - columns: [C·KH·KW, count·OH·OW]
/// - input: [C, batch, H, W], accumulated into
@inline(never)
func col2im(_ columns: UnsafePointer<Float>, _ input: UnsafeMutablePointer<Float>,
            geometry g: Conv2DGeometry, batch: Int, first: Int, count: Int) {
    let (h, w, oh, ow) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
    let (sh, sw) = (g.stride.h, g.stride.w)
    let columnCount = count * oh * ow
    var row = 0
    for c in 0..<g.inChannels {
        for ky in 0..<g.kernel.h {
            for kx in 0..<g.kernel.w {
                let rowStart = columns + row * columnCount
                let (low, high) = validColumns(outWidth: ow, width: w, stride: sw, pad: g.padding.w, offset: kx)
                let shift = kx - g.padding.w
                for image in 0..<count {
                    let plane = input + (c * batch + first + image) * h * w
                    let colPlane = rowStart + image * oh * ow
                    for oy in 0..<oh {
                        let iy = oy * sh - g.padding.h + ky
                        guard iy >= 0 && iy < h else { continue }
                        let inRow = plane + iy * w + shift
                        let colRow = colPlane + oy * ow
                        if sw == 1 {
                            for ox in low..<high {
                                inRow[ox] += colRow[ox]
                            }
                        } else {
                            for ox in low..<high {
                                inRow[ox * sw] += colRow[ox]
                            }
                        }
                    }
                }
                row += 1
            }
        }
    }
}

/// Convolution forward, im2col + SGEMM per chunk of images.
/// - input: [C, batch, H, W]
/// - weight: [OC, C·KH·KW] (PyTorch's [OC, C, KH, KW])
/// - bias: [OC] or nil
/// - output: [OC, batch, OH, OW]
/// - columns: workspace of [C·KH·KW, chunk·OH·OW]
@inline(never)
func conv2dForward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>,
                   geometry g: Conv2DGeometry, batch: Int, chunk: Int) {
    let spatial = g.outSpatial
    var first = 0
    while first < batch {
        let count = min(chunk, batch - first)
        im2col(input, columns, geometry: g, batch: batch, first: first, count: count)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                    Int32(g.outChannels), Int32(count * spatial), Int32(g.columnRows),
                    1, weight, Int32(g.columnRows), columns, Int32(count * spatial),
                    0, output + first * spatial, Int32(batch * spatial))
        first += count
    }
    guard let bias else { return }
    let run = batch * spatial
    for oc in 0..<g.outChannels {
        laneAffine(output + oc * run, output + oc * run, count: run, scale: 1, shift: bias[oc])
    }
}

/// Convolution backward: weight and bias gradients (overwritten), and the input gradient
/// (overwritten) when asked for.
/// - input: [C, batch, H, W] (the forward input)
/// - outputGradient: [OC, batch, OH, OW]
/// - weightGradient: [OC, C·KH·KW]; biasGradient: [OC] or nil
/// - inputGradient: [C, batch, H, W] or nil
/// - columns: workspace of [C·KH·KW, chunk·OH·OW], reused for the column gradient
@inline(never)
func conv2dBackward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                    outputGradient: UnsafePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
                    biasGradient: UnsafeMutablePointer<Float>?, inputGradient: UnsafeMutablePointer<Float>?,
                    columns: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int, chunk: Int) {
    let spatial = g.outSpatial
    let run = batch * spatial
    if let biasGradient {
        for oc in 0..<g.outChannels {
            biasGradient[oc] = laneSum(outputGradient + oc * run, count: run)
        }
    }
    if let inputGradient {
        inputGradient.update(repeating: 0, count: g.inChannels * batch * g.inHeight * g.inWidth)
    }
    var first = 0
    while first < batch {
        let count = min(chunk, batch - first)
        let n = count * spatial
        im2col(input, columns, geometry: g, batch: batch, first: first, count: count)
        // dW (+)= dY[:, chunk] · columnsᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(g.outChannels), Int32(g.columnRows), Int32(n),
                    1, outputGradient + first * spatial, Int32(run), columns, Int32(n),
                    first == 0 ? 0 : 1, weightGradient, Int32(g.columnRows))
        if let inputGradient {
            // dColumns = Wᵀ · dY[:, chunk], then scattered back onto the input.
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                        Int32(g.columnRows), Int32(n), Int32(g.outChannels),
                        1, weight, Int32(g.columnRows), outputGradient + first * spatial, Int32(run),
                        0, columns, Int32(n))
            col2im(columns, inputGradient, geometry: g, batch: batch, first: first, count: count)
        }
        first += count
    }
}
