import Graph
import Spec


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

/// Walks the im2col matrix of images [first, first + count) one output row at a time, for
/// `im2col` and its adjoint `col2im`. For column row (c, ky, kx), image and output row oy it calls
/// `visit(columnRow, inputRow, low, high)`: the element offset of that stretch of OW columns, the
/// element offset of the input row it reads (nil when oy reads padding), and the range of output
/// columns [low, high) whose input column `ox·stride − pad + kx` is inside the image. Input column
/// of output column ox is at `inputRow + ox·stride` (the offset already includes kx − pad).
@inline(__always)
func forEachColumnRow(geometry g: Conv2DGeometry, batch: Int, first: Int, count: Int,
                      _ visit: (_ columnRow: Int, _ inputRow: Int?, _ low: Int, _ high: Int) -> Void) {
    let (h, w, oh, ow) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
    let columnCount = count * oh * ow
    var row = 0
    for c in 0..<g.inChannels {
        for ky in 0..<g.kernel.h {
            for kx in 0..<g.kernel.w {
                let (low, high) = validColumns(outWidth: ow, width: w, stride: g.stride.w, pad: g.padding.w, offset: kx)
                let shift = kx - g.padding.w
                for image in 0..<count {
                    let plane = (c * batch + first + image) * h * w
                    let columnPlane = row * columnCount + image * oh * ow
                    for oy in 0..<oh {
                        let iy = oy * g.stride.h - g.padding.h + ky
                        let inside = iy >= 0 && iy < h
                        visit(columnPlane + oy * ow, inside ? plane + iy * w + shift : nil, low, high)
                    }
                }
                row += 1
            }
        }
    }
}

/// Lowers images [first, first + count) of a CBHW batch into columns: row (c, ky, kx), column
/// (image, oy, ox), zero where the window reads padding.
/// - input: [C, batch, H, W]
/// - columns: [C·KH·KW, count·OH·OW]
@inline(never)
func im2col(_ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>,
            geometry g: Conv2DGeometry, batch: Int, first: Int, count: Int) {
    let (ow, sw) = (g.outWidth, g.stride.w)
    forEachColumnRow(geometry: g, batch: batch, first: first, count: count) { columnRow, inputRow, low, high in
        let outRow = columns + columnRow
        guard let inputRow else {
            laneZero(outRow, count: ow)
            return
        }
        let inRow = input + inputRow
        if low > 0 { laneZero(outRow, count: low) }
        if sw == 1 {
            laneCopy(inRow + low, outRow + low, count: high - low)
        } else {
            for ox in low..<high {
                outRow[ox] = inRow[ox * sw]
            }
        }
        if high < ow { laneZero(outRow + high, count: ow - high) }
    }
}

/// The adjoint of `im2col`: adds each column entry back onto the input position it was read from.
/// - columns: [C·KH·KW, count·OH·OW]
/// - input: [C, batch, H, W], accumulated into
@inline(never)
func col2im(_ columns: UnsafePointer<Float>, _ input: UnsafeMutablePointer<Float>,
            geometry g: Conv2DGeometry, batch: Int, first: Int, count: Int) {
    let sw = g.stride.w
    forEachColumnRow(geometry: g, batch: batch, first: first, count: count) { columnRow, inputRow, low, high in
        guard let inputRow else { return }
        let inRow = input + inputRow
        let colRow = columns + columnRow
        if sw == 1 {
            laneAccumulate(colRow + low, into: inRow + low, count: high - low)
        } else {
            for ox in low..<high {
                inRow[ox * sw] += colRow[ox]
            }
        }
    }
}

/// Convolution forward, im2col + SGEMM per chunk, for the images in `images` (one lane's share).
/// - input: [C, batch, H, W]
/// - weight: [OC, C·KH·KW] (PyTorch's [OC, C, KH, KW])
/// - bias: [OC] or nil
/// - output: [OC, batch, OH, OW], written for `images`
/// - columns: this lane's workspace of [C·KH·KW, chunk·OH·OW]
@inline(never)
func conv2dForward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>,
                   geometry g: Conv2DGeometry, batch: Int, chunk: Int, images: Range<Int>) {
    let spatial = g.outSpatial
    var first = images.lowerBound
    while first < images.upperBound {
        let count = min(chunk, images.upperBound - first)
        im2col(input, columns, geometry: g, batch: batch, first: first, count: count)
        gemm(transposeA: false, transposeB: false, m: g.outChannels, n: count * spatial, k: g.columnRows,
             alpha: 1, a: weight, lda: g.columnRows, b: columns, ldb: count * spatial,
             beta: 0, c: output + first * spatial, ldc: batch * spatial)
        first += count
    }
    guard let bias, !images.isEmpty else { return }
    let run = batch * spatial
    let start = images.lowerBound * spatial
    let length = images.count * spatial
    for oc in 0..<g.outChannels {
        let row = output + oc * run + start
        laneAffine(row, row, count: length, scale: 1, shift: bias[oc])
    }
}

/// Convolution forward over the whole batch on one thread.
func conv2dForward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>,
                   geometry g: Conv2DGeometry, batch: Int, chunk: Int) {
    conv2dForward(input: input, weight: weight, bias: bias, output: output, columns: columns,
                  geometry: g, batch: batch, chunk: chunk, images: 0..<batch)
}

/// Convolution backward for the images in `images` (one lane's share): the weight gradient of
/// those images (overwritten into `weightGradient`) and, when asked, their input gradient
/// (overwritten).
/// - input: [C, batch, H, W] (the forward input)
/// - outputGradient: [OC, batch, OH, OW]
/// - weightGradient: [OC, C·KH·KW]
/// - inputGradient: [C, batch, H, W] or nil
/// - columns: this lane's workspace of [C·KH·KW, chunk·OH·OW], reused for the column gradient
@inline(never)
func conv2dBackward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                    outputGradient: UnsafePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
                    inputGradient: UnsafeMutablePointer<Float>?, columns: UnsafeMutablePointer<Float>,
                    geometry g: Conv2DGeometry, batch: Int, chunk: Int, images: Range<Int>) {
    let spatial = g.outSpatial
    let run = batch * spatial
    if images.isEmpty {
        weightGradient.update(repeating: 0, count: g.weightCount)
        return
    }
    if let inputGradient {
        let plane = g.inHeight * g.inWidth
        for c in 0..<g.inChannels {
            (inputGradient + (c * batch + images.lowerBound) * plane).update(repeating: 0, count: images.count * plane)
        }
    }
    var first = images.lowerBound
    while first < images.upperBound {
        let count = min(chunk, images.upperBound - first)
        let n = count * spatial
        im2col(input, columns, geometry: g, batch: batch, first: first, count: count)
        // dW (+)= dY[:, chunk] · columnsᵀ
        gemm(transposeA: false, transposeB: true, m: g.outChannels, n: g.columnRows, k: n,
             alpha: 1, a: outputGradient + first * spatial, lda: run, b: columns, ldb: n,
             beta: first == images.lowerBound ? 0 : 1, c: weightGradient, ldc: g.columnRows)
        if let inputGradient {
            // dColumns = Wᵀ · dY[:, chunk], then scattered back onto the input.
            gemm(transposeA: true, transposeB: false, m: g.columnRows, n: n, k: g.outChannels,
                 alpha: 1, a: weight, lda: g.columnRows, b: outputGradient + first * spatial, ldb: run,
                 beta: 0, c: columns, ldc: n)
            col2im(columns, inputGradient, geometry: g, batch: batch, first: first, count: count)
        }
        first += count
    }
}

/// Bias gradient of a convolution for the output channels in `channels`: the sum of dY over the
/// batch and positions (overwritten).
/// - outputGradient: [OC, batch, OH, OW]; biasGradient: [OC]
@inline(never)
func conv2dBiasGradient(outputGradient: UnsafePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
                        geometry g: Conv2DGeometry, batch: Int, channels: Range<Int>) {
    let run = batch * g.outSpatial
    for oc in channels {
        biasGradient[oc] = laneSum(outputGradient + oc * run, count: run)
    }
}

/// Convolution backward over the whole batch on one thread: weight and bias gradients
/// (overwritten), and the input gradient (overwritten) when asked for.
func conv2dBackward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                    outputGradient: UnsafePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
                    biasGradient: UnsafeMutablePointer<Float>?, inputGradient: UnsafeMutablePointer<Float>?,
                    columns: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int, chunk: Int) {
    if let biasGradient {
        conv2dBiasGradient(outputGradient: outputGradient, biasGradient: biasGradient, geometry: g, batch: batch,
                           channels: 0..<g.outChannels)
    }
    conv2dBackward(input: input, weight: weight, outputGradient: outputGradient, weightGradient: weightGradient,
                   inputGradient: inputGradient, columns: columns, geometry: g, batch: batch, chunk: chunk,
                   images: 0..<batch)
}
