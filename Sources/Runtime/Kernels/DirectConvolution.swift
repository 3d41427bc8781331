import Graph
import Spec

// Direct convolution over output-channel vectors, for the stride-1 convs that Winograd does not
// take (5×5 kernels, the 1-channel first layer): no im2col matrix and no GEMM library.
//
// All three passes are one micro-kernel, `directTile`: six broadcast scalars times a vector of 16
// (or 8) channels, accumulated over a list of offsets,
//
//     acc[j][l] += x[base_j + offsets[i]] · v[i·stride + l]     j < 6, l < 16, i < count.
//
// - forward:         j = six output pixels, i = the taps (ky, kx, c), v = the weights as [taps, OCp];
// - input gradient:  the forward convolution of dY (padded by k − 1 − p) with the flipped kernel;
//                    each tile runs only the taps that read inside the unpadded source (pixels
//                    are ordered by that window, so a tile's six share it: no work on the border);
// - weight gradient: j = six taps, i = the pixels, v = dY transposed to [pixels, OCp].
//
// Twelve accumulators, two weight (or dY) vectors and one broadcast: 15 of AVX2's 16 registers,
// two vector loads and six broadcasts per twelve FMAs. The offsets are byte-free Int32 tables the
// lane builds in its scratch (`DirectLayout`); padding is a zero-bordered copy of the lane's images.

/// Whether the direct kernels compute this convolution in all three passes: stride 1 (the
/// input-gradient pass is then itself a stride-1 convolution, of dY bordered by k − 1 − p), any
/// kernel, padding up to k − 1 (more would leave that border negative; such convs are im2col).
public func directConvolutionApplies(_ g: Conv2DGeometry) -> Bool {
    g.stride.h == 1 && g.stride.w == 1 && g.padding.h < g.kernel.h && g.padding.w < g.kernel.w
}

/// Channels of one micro-kernel tile (two vectors) and pixels or taps of one tile.
let directTileChannels = 16
let directTileWidth = 6

/// Where a lane's planes sit for the direct kernels: channel c, image b, row y, column x of the
/// (padded) planes at c·channelStride + b·imageStride + y·pitch + x.
struct DirectPlanes {
    var channels: Int
    var images: Int
    var height: Int
    var width: Int
    /// Zero border added on each side; 0 when the kernels read the tensor in place.
    var pad: Pair

    var pitch: Int { width + 2 * pad.w }
    var rows: Int { height + 2 * pad.h }
    var imageStride: Int { rows * pitch }
    var channelStride: Int { images * imageStride }
    /// Floats of the padded copy (0 when the tensor is read in place).
    var copyCount: Int { pad.h == 0 && pad.w == 0 ? 0 : channels * channelStride }
    /// Floats of the channels-last copy the convolving passes read (`directChannelsLast`).
    var channelsLastCount: Int { channels * images * rows * pitch }
}

/// Sizes of one lane's direct-convolution scratch for a pass, and the tables' places in it.
struct DirectLayout {
    /// The source planes (forward: the input; input gradient: dY).
    var planes: DirectPlanes
    /// Taps (c, ky, kx) of the source channels.
    var taps: Int
    /// Output pixels (image, oy, ox) of the lane's images.
    var pixels: Int
    /// Channels of the vectors (the weights' or dY's), rounded up to 8.
    var vectorChannels: Int
    /// The weight-gradient pass also keeps dY transposed, [pixels, vectorChannels] (`DirectGroups`).
    var transposed: Bool

    /// [copy | taps (Int32) | pixels (Int32) | pixels' windows (2 × Int32) | pixels' output
    /// offsets (Int32) | tile 6×16 | dYᵀ]; the copy is channels-last for the convolving passes
    /// (`directChannelsLast`), the padded planes (if any) for the weight gradient (`directSource`).
    var tapsOffset: Int { transposed ? planes.copyCount : planes.channelsLastCount }
    var pixelsOffset: Int { tapsOffset + taps }
    var windowsOffset: Int { pixelsOffset + pixels }
    var addressesOffset: Int { windowsOffset + 2 * pixels }
    var tileOffset: Int { addressesOffset + pixels }
    var transposedOffset: Int { tileOffset + directTileWidth * directTileChannels }
    var count: Int { transposedOffset + (transposed ? pixels * vectorChannels : 0) }

    /// The forward pass (`transposed: false`) or the weight-gradient pass (`true`) of `g` over
    /// up to `images` images.
    init(forward g: Conv2DGeometry, images: Int, transposed: Bool) {
        planes = DirectPlanes(channels: g.inChannels, images: images, height: g.inHeight, width: g.inWidth,
                              pad: g.padding)
        taps = g.columnRows
        pixels = images * g.outSpatial
        vectorChannels = roundUpToLanes(g.outChannels)
        self.transposed = transposed
    }

    /// The input-gradient pass of `g`: dY padded by k − 1 − p, the flipped kernel, H×W pixels.
    init(inputGradient g: Conv2DGeometry, images: Int) {
        planes = DirectPlanes(channels: g.outChannels, images: images, height: g.outHeight, width: g.outWidth,
                              pad: Pair(g.kernel.h - 1 - g.padding.h, g.kernel.w - 1 - g.padding.w))
        taps = g.outChannels * g.kernel.h * g.kernel.w
        pixels = images * g.inHeight * g.inWidth
        vectorChannels = roundUpToLanes(g.inChannels)
        transposed = false
    }
}

@inline(__always)
func roundUpToLanes(_ n: Int) -> Int { (n + 7) / 8 * 8 }

/// Floats of one lane's forward scratch for up to `images` images.
/// (The row kernel's, for a one-channel conv; else the channel-vector kernel's.)
public func directForwardScratchCount(geometry g: Conv2DGeometry, images: Int) -> Int {
    directRowKernelApplies(g) ? directRowScratchCount(geometry: g, images: images)
                              : DirectLayout(forward: g, images: images, transposed: false).count
}

/// Floats of one lane's backward scratch: the weight gradient's, and the input gradient's when it
/// is computed (the two run one after the other in the same region).
public func directBackwardScratchCount(geometry g: Conv2DGeometry, images: Int, inputGradient: Bool) -> Int {
    max(DirectLayout(forward: g, images: images, transposed: true).count,
        inputGradient ? DirectLayout(inputGradient: g, images: images).count : 0)
}

/// Floats of the rearranged weights: [C·KH·KW, OCp] forward, [OC·KH·KW, Cp] flipped.
public func directTransformedWeightCount(geometry g: Conv2DGeometry, flipped: Bool) -> Int {
    flipped ? g.outChannels * g.kernel.h * g.kernel.w * roundUpToLanes(g.inChannels)
            : g.columnRows * roundUpToLanes(g.outChannels)
}

/// Rows of the rearranged weights (each lane takes a share of them).
public func directTransformedWeightRows(geometry g: Conv2DGeometry, flipped: Bool) -> Int {
    flipped ? g.outChannels * g.kernel.h * g.kernel.w : g.columnRows
}

/// Rearranges the weights for the direct kernels, rows `rows` of them, channel-group-major
/// (`DirectGroups`), the rows in the convolution's tap order (`DirectTapOrder.windowMajor`).
/// - weight: [OC, C, KH, KW]
/// - transformed: forward [KH·KW·C, OCp] (row (ky, kx, c), column oc); flipped [KH·KW·OC, Cp]
///   (row (ky, kx, oc), column c, holding W[oc, c, KH − 1 − ky, KW − 1 − kx]); padding columns 0
public func directTransformWeights(weight: UnsafePointer<Float>, transformed: UnsafeMutablePointer<Float>,
                                   geometry g: Conv2DGeometry, flipped: Bool, rows: Range<Int>) {
    let (kh, kw) = (g.kernel.h, g.kernel.w)
    let window = kh * kw
    let taps = g.columnRows
    let groups = DirectGroups(channels: flipped ? g.inChannels : g.outChannels,
                              rows: directTransformedWeightRows(geometry: g, flipped: flipped))
    for row in rows {
        let source: UnsafePointer<Float>
        let columnStep: Int
        let (position, channel) = row.quotientAndRemainder(dividingBy: flipped ? g.outChannels : g.inChannels)
        let (ky, kx) = position.quotientAndRemainder(dividingBy: kw)
        if flipped {
            source = weight + channel * taps + (kh - 1 - ky) * kw + (kw - 1 - kx)
            columnStep = window
        } else {
            source = weight + (channel * kh + ky) * kw + kx
            columnStep = taps
        }
        groups.forEachGroup { first, width in
            let to = transformed + groups.offset(ofGroup: first) + row * width
            for lane in 0..<width {
                let column = first + lane
                to[lane] = column < groups.channels ? source[column * columnStep] : 0
            }
        }
    }
}

/// A [rows, channels] matrix stored channel-group-major: groups of 16 channels, the last of 8
/// when only 8 (or fewer) remain, each group a contiguous [rows, width] block, channels past
/// `channels` zero. The micro-kernel's pass over one group then reads one sequential stream.
struct DirectGroups {
    var channels: Int
    var rows: Int

    var paddedChannels: Int { roundUpToLanes(channels) }

    /// Width of the group that starts at channel `first`.
    @inline(__always)
    func width(ofGroup first: Int) -> Int { paddedChannels - first >= directTileChannels ? directTileChannels : 8 }

    /// Offset of the group's block: the groups before it hold `first` channels of `rows` rows.
    @inline(__always)
    func offset(ofGroup first: Int) -> Int { first * rows }

    @inline(__always)
    func forEachGroup(_ body: (_ first: Int, _ width: Int) -> Void) {
        var first = 0
        while first < channels {
            let width = width(ofGroup: first)
            body(first, width)
            first += width
        }
    }
}

// MARK: - The micro-kernel

/// tile[j·16 + l] = Σ_i x[b_j + offsets[i]] · v[i·stride + l] for j < 6 and l < 16 (`wide`) or
/// l < 8: the one loop all three passes run. The rows i are `segments` runs of `count`, each
/// `segmentStride` rows after the one before (one run: rows 0..<count).
/// - x: the planes the offsets point into; b0…b5: each column's base offset
/// - offsets: [(segments − 1)·segmentStride + count]
/// - v: [(segments − 1)·segmentStride + count, stride], 16 (`wide`) or 8 of each row
/// - tile: [6, 16], overwritten
@inline(__always)
func directTile(_ x: UnsafePointer<Float>, _ b0: Int, _ b1: Int, _ b2: Int, _ b3: Int, _ b4: Int, _ b5: Int,
                offsets: UnsafePointer<Int32>, count: Int, segments: Int = 1, segmentStride: Int = 0,
                _ v: UnsafePointer<Float>, stride: Int, wide: Bool, tile: UnsafeMutablePointer<Float>) {
    let (x0, x1, x2, x3, x4, x5) = (x + b0, x + b1, x + b2, x + b3, x + b4, x + b5)
    if wide {
        var (a00, a01, a10, a11) = (Lanes(), Lanes(), Lanes(), Lanes())
        var (a20, a21, a30, a31) = (Lanes(), Lanes(), Lanes(), Lanes())
        var (a40, a41, a50, a51) = (Lanes(), Lanes(), Lanes(), Lanes())
        for segment in 0..<segments {
        let offsets = offsets + segment * segmentStride
        var pv = v + segment * segmentStride * stride
        var i = 0
        while i < count {
            let o = Int(offsets[i])
            let v0 = loadLanes(pv), v1 = loadLanes(pv + 8)
            var s = Lanes(repeating: x0[o])
            a00 = multiplyAdd(s, v0, a00); a01 = multiplyAdd(s, v1, a01)
            s = Lanes(repeating: x1[o])
            a10 = multiplyAdd(s, v0, a10); a11 = multiplyAdd(s, v1, a11)
            s = Lanes(repeating: x2[o])
            a20 = multiplyAdd(s, v0, a20); a21 = multiplyAdd(s, v1, a21)
            s = Lanes(repeating: x3[o])
            a30 = multiplyAdd(s, v0, a30); a31 = multiplyAdd(s, v1, a31)
            s = Lanes(repeating: x4[o])
            a40 = multiplyAdd(s, v0, a40); a41 = multiplyAdd(s, v1, a41)
            s = Lanes(repeating: x5[o])
            a50 = multiplyAdd(s, v0, a50); a51 = multiplyAdd(s, v1, a51)
            pv += stride
            i &+= 1
        }
        }
        storeLanes(a00, tile); storeLanes(a01, tile + 8)
        storeLanes(a10, tile + 16); storeLanes(a11, tile + 24)
        storeLanes(a20, tile + 32); storeLanes(a21, tile + 40)
        storeLanes(a30, tile + 48); storeLanes(a31, tile + 56)
        storeLanes(a40, tile + 64); storeLanes(a41, tile + 72)
        storeLanes(a50, tile + 80); storeLanes(a51, tile + 88)
    } else {
        var (a0, a1, a2, a3, a4, a5) = (Lanes(), Lanes(), Lanes(), Lanes(), Lanes(), Lanes())
        for segment in 0..<segments {
        let offsets = offsets + segment * segmentStride
        var pv = v + segment * segmentStride * stride
        var i = 0
        while i < count {
            let o = Int(offsets[i])
            let v0 = loadLanes(pv)
            a0 = multiplyAdd(Lanes(repeating: x0[o]), v0, a0)
            a1 = multiplyAdd(Lanes(repeating: x1[o]), v0, a1)
            a2 = multiplyAdd(Lanes(repeating: x2[o]), v0, a2)
            a3 = multiplyAdd(Lanes(repeating: x3[o]), v0, a3)
            a4 = multiplyAdd(Lanes(repeating: x4[o]), v0, a4)
            a5 = multiplyAdd(Lanes(repeating: x5[o]), v0, a5)
            pv += stride
            i &+= 1
        }
        }
        storeLanes(a0, tile); storeLanes(a1, tile + 16); storeLanes(a2, tile + 32)
        storeLanes(a3, tile + 48); storeLanes(a4, tile + 64); storeLanes(a5, tile + 80)
    }
}

/// Runs `directTile` over every six columns of `columns` and every channel group of `v`,
/// handing each finished tile to `store(tile, firstColumn, columnCount, firstChannel,
/// channelCount)`. The last columns repeat the final one rather than reading past the table.
/// With `windows`, the offsets are `windowMajor` taps of a KH×`kernelWidth` kernel over
/// `sourceChannels` channels, and each tile runs only the taps of the kernel rows and columns that
/// some column of it reads inside the unpadded source (the rest read the zero border).
/// - bases: [columns] Int32 base offsets into x; offsets: [count]
/// - v: [count, channels] channel-group-major (`DirectGroups`)
/// - windows: [columns, 2] each column's kernel rows and columns (`directPixelTables`), or nil for all
@inline(__always)
func directTiles(_ x: UnsafePointer<Float>, bases: UnsafePointer<Int32>, columns: Int,
                 offsets: UnsafePointer<Int32>, count: Int, _ v: UnsafePointer<Float>, channels: Int,
                 windows: UnsafePointer<Int32>? = nil, kernelWidth: Int = 0, sourceChannels: Int = 0,
                 tile: UnsafeMutablePointer<Float>,
                 _ store: (_ tile: UnsafePointer<Float>, _ column: Int, _ columnCount: Int, _ channel: Int,
                           _ channelCount: Int) -> Void) {
    guard columns > 0 else { return }
    let groups = DirectGroups(channels: channels, rows: count)
    groups.forEachGroup { first, width in
        let block = v + groups.offset(ofGroup: first)
        let wide = width == directTileChannels
        var t = 0
        while t < columns {
            @inline(__always) func base(_ j: Int) -> Int { Int(bases[min(t + j, columns - 1)]) }
            var (firstTap, taps, segments, segmentStride) = (0, count, 1, 0)
            if let windows {
                let window = directTileWindow(windows + 2 * t, columns: min(directTileWidth, columns - t))
                (firstTap, taps, segments, segmentStride) = window.segments(kernelWidth: kernelWidth,
                                                                            channels: sourceChannels)
            }
            directTile(x, base(0), base(1), base(2), base(3), base(4), base(5), offsets: offsets + firstTap,
                       count: taps, segments: segments, segmentStride: segmentStride, block + firstTap * width,
                       stride: width, wide: wide, tile: tile)
            store(tile, t, min(directTileWidth, columns - t), first, min(width, channels - first))
            t += directTileWidth
        }
    }
}

/// The kernel rows ky0…ky1 and columns kx0…kx1 a pixel (or a tile of them) reads inside the
/// unpadded source; empty when ky1 < ky0 or kx1 < kx0.
struct DirectWindow {
    var ky0: Int32, ky1: Int32, kx0: Int32, kx1: Int32

    /// The taps of this window in `windowMajor` order: runs of (kx1 − kx0 + 1)·channels taps, one
    /// per kernel row, `segmentStride` apart, the first at `firstTap`; whole rows make one run.
    @inline(__always)
    func segments(kernelWidth: Int, channels: Int) -> (firstTap: Int, taps: Int, segments: Int, segmentStride: Int) {
        let rows = Int(ky1) - Int(ky0) + 1, columns = Int(kx1) - Int(kx0) + 1
        guard rows > 0 && columns > 0 else { return (0, 0, 0, 0) }
        let firstTap = (Int(ky0) * kernelWidth + Int(kx0)) * channels
        if columns == kernelWidth { return (firstTap, rows * kernelWidth * channels, 1, 0) }
        return (firstTap, columns * channels, rows, kernelWidth * channels)
    }
}

/// The union of `columns` pixels' windows (`directPixelTables`): each packed as two Int32,
/// ky0 | ky1 << 16 and kx0 | kx1 << 16.
@inline(__always)
func directTileWindow(_ windows: UnsafePointer<Int32>, columns: Int) -> DirectWindow {
    var w = DirectWindow(ky0: .max, ky1: .min, kx0: .max, kx1: .min)
    for j in 0..<columns {
        let (rows, cols) = (windows[2 * j], windows[2 * j + 1])
        w.ky0 = min(w.ky0, rows & 0xFFFF); w.ky1 = max(w.ky1, rows >> 16)
        w.kx0 = min(w.kx0, cols & 0xFFFF); w.kx1 = max(w.kx1, cols >> 16)
    }
    return w
}

/// Writes channel `lane` of a tile's `columns` columns to `row[0..<columns]`, plus `shift`.
/// - tile: [6, 16]; row: [columns]
@inline(__always)
func directStoreColumns(_ tile: UnsafePointer<Float>, lane: Int, columns: Int, shift: Float,
                        _ row: UnsafeMutablePointer<Float>) {
    let t = tile + lane
    if columns == directTileWidth {
        row[0] = t[0] + shift; row[1] = t[16] + shift; row[2] = t[32] + shift
        row[3] = t[48] + shift; row[4] = t[64] + shift; row[5] = t[80] + shift
    } else {
        for j in 0..<columns { row[j] = t[j * directTileChannels] + shift }
    }
}

/// Writes channel `lane` of a tile's `columns` columns to `plane[addresses[j]]`, plus `shift`.
/// - tile: [6, 16]; addresses: [columns]
@inline(__always)
func directStoreScattered(_ tile: UnsafePointer<Float>, lane: Int, columns: Int, shift: Float,
                          _ plane: UnsafeMutablePointer<Float>, addresses: UnsafePointer<Int32>) {
    let t = tile + lane
    for j in 0..<columns { plane[Int(addresses[j])] = t[j * directTileChannels] + shift }
}

// MARK: - Passes

/// The order of a tap table.
enum DirectTapOrder {
    /// (c, ky, kx): PyTorch's weight order, for the weight gradient.
    case channelMajor
    /// (ky, kx, c) over a channels-last copy (`directChannelsLast`): the convolutions', so that a
    /// tile's window is one contiguous run per kernel row and consecutive taps read consecutive
    /// floats.
    case windowMajor
}

/// Fills `table` with the offsets of the taps (c, ky, kx) in `order`: channelMajor in `planes`,
/// c·channelStride + ky·pitch + kx; windowMajor in their channels-last copy, (ky·pitch + kx)·C + c.
/// - table: [channels·KH·KW]
@inline(__always)
func directTapTable(_ table: UnsafeMutablePointer<Int32>, planes p: DirectPlanes, kernel: Pair,
                    order: DirectTapOrder) {
    for c in 0..<p.channels {
        for ky in 0..<kernel.h {
            for kx in 0..<kernel.w {
                switch order {
                case .channelMajor:
                    table[(c * kernel.h + ky) * kernel.w + kx] = Int32(c * p.channelStride + ky * p.pitch + kx)
                case .windowMajor:
                    table[(ky * kernel.w + kx) * p.channels + c] = Int32((ky * p.pitch + kx) * p.channels + c)
                }
            }
        }
    }
}

/// Fills the tables of the output pixels of `images` images, ordered by their window (the kernel
/// rows and columns that read inside the unpadded source: for output row oy, ky ∈ [pad − oy,
/// pad + H − 1 − oy] within [0, KH), likewise for columns), so that the six pixels of a tile share
/// one: runs of rows with the same kernel rows × runs of columns with the same kernel columns,
/// each over every image.
/// - bases: [pixels] the window's top-left offset in the channels-last copy of `planes`,
///   ((image·rows + oy)·pitch + ox)·C
/// - windows: [pixels, 2] ky0 | ky1 << 16, kx0 | kx1 << 16
/// - addresses: [pixels] the pixel's offset in the output, image·OH·OW + oy·OW + ox
/// - valid: the source's unpadded size and its padding (`DirectPlanes` before any in-place view)
@inline(__always)
func directPixelTables(bases: UnsafeMutablePointer<Int32>, windows: UnsafeMutablePointer<Int32>,
                       addresses: UnsafeMutablePointer<Int32>, planes p: DirectPlanes,
                       kernel: Pair, images: Int, outHeight: Int, outWidth: Int) {
    // First | last << 16; (1, 0) when the window is empty (the pixel reads only the border).
    @inline(__always) func range(_ o: Int, pad: Int, size: Int, k: Int) -> Int32 {
        let (low, high) = (max(0, pad - o), min(k - 1, pad + size - 1 - o))
        return high < low ? Int32(1) : Int32(low | high << 16)
    }
    // Runs y0..<y1 of output rows with the same kernel rows × runs x0..<x1 of output columns
    // with the same kernel columns (plain loops: closures capturing `i` would allocate).
    var i = 0
    var y0 = 0
    while y0 < outHeight {
        let rowWindow = range(y0, pad: p.pad.h, size: p.height, k: kernel.h)
        var y1 = y0 + 1
        while y1 < outHeight && range(y1, pad: p.pad.h, size: p.height, k: kernel.h) == rowWindow { y1 += 1 }
        var x0 = 0
        while x0 < outWidth {
            let columnWindow = range(x0, pad: p.pad.w, size: p.width, k: kernel.w)
            var x1 = x0 + 1
            while x1 < outWidth && range(x1, pad: p.pad.w, size: p.width, k: kernel.w) == columnWindow { x1 += 1 }
            for image in 0..<images {
                for oy in y0..<y1 {
                    for ox in x0..<x1 {
                        bases[i] = Int32(((image * p.rows + oy) * p.pitch + ox) * p.channels)
                        windows[2 * i] = rowWindow
                        windows[2 * i + 1] = columnWindow
                        addresses[i] = Int32((image * outHeight + oy) * outWidth + ox)
                        i += 1
                    }
                }
            }
            x0 = x1
        }
        y0 = y1
    }
}

/// Fills `table` with the offsets of output pixels (image, oy, ox) of `images` images in
/// `planes`: image·imageStride + oy·pitch + ox (stride 1: the window's top-left input).
/// - table: [images·outHeight·outWidth]
@inline(__always)
func directPixelTable(_ table: UnsafeMutablePointer<Int32>, planes p: DirectPlanes, images: Int,
                      outHeight: Int, outWidth: Int) {
    var i = 0
    for image in 0..<images {
        for oy in 0..<outHeight {
            let row = image * p.imageStride + oy * p.pitch
            for ox in 0..<outWidth {
                table[i] = Int32(row + ox)
                i += 1
            }
        }
    }
}

/// The lane's source planes: a zero-bordered copy of images [first, first + count) of a
/// [channels, batch, H, W] tensor in `scratch`, or the tensor itself when there is no padding.
@inline(__always)
func directSource(_ tensor: UnsafePointer<Float>, planes p: DirectPlanes, batch: Int, first: Int, count: Int,
                  scratch: UnsafeMutablePointer<Float>) -> (UnsafePointer<Float>, DirectPlanes) {
    let plane = p.height * p.width
    if p.copyCount == 0 {
        // In place: channel stride batch·H·W, starting at the first image.
        let inPlace = DirectPlanes(channels: p.channels, images: batch, height: p.height, width: p.width,
                                   pad: Pair(0, 0))
        return (tensor + first * plane, inPlace)
    }
    let (pitch, top, left) = (p.pitch, p.pad.h, p.pad.w)
    for c in 0..<p.channels {
        for image in 0..<count {
            let to = scratch + c * p.channelStride + image * p.imageStride
            let from = tensor + (c * batch + first + image) * plane
            laneZero(to, count: top * pitch)
            for y in 0..<p.height {
                let row = to + (top + y) * pitch
                laneZero(row, count: left)
                laneCopy(from + y * p.width, row + left, count: p.width)
                laneZero(row + left + p.width, count: pitch - left - p.width)
            }
            laneZero(to + (top + p.height) * pitch, count: (p.rows - top - p.height) * pitch)
        }
    }
    return (UnsafePointer(scratch), p)
}

/// A channels-last, zero-bordered copy of images [first, first + count) of a [C, batch, H, W]
/// tensor: element (image, y, x, c) of the padded planes at ((image·rows + y)·pitch + x)·C + c, so
/// the convolving passes' consecutive taps (`windowMajor`) read consecutive floats. Each padded
/// row is written in L1: the border zeroed, then channel by channel.
/// - to: [planes.channelsLastCount] for `count` images
@inline(__always)
func directChannelsLast(_ tensor: UnsafePointer<Float>, planes p: DirectPlanes, batch: Int, first: Int, count: Int,
                        to: UnsafeMutablePointer<Float>) {
    let (channels, plane) = (p.channels, p.height * p.width)
    let rowFloats = p.pitch * channels
    for image in 0..<count {
        let padded = to + image * p.rows * rowFloats
        laneZero(padded, count: p.pad.h * rowFloats)
        laneZero(padded + (p.pad.h + p.height) * rowFloats, count: (p.rows - p.pad.h - p.height) * rowFloats)
        for y in 0..<p.height {
            let row = padded + (p.pad.h + y) * rowFloats
            laneZero(row, count: p.pad.w * channels)
            laneZero(row + (p.pad.w + p.width) * channels, count: (p.pitch - p.pad.w - p.width) * channels)
            let inner = row + p.pad.w * channels
            for c in 0..<channels {
                let from = tensor + (c * batch + first + image) * plane + y * p.width
                for x in 0..<p.width { inner[x * channels + c] = from[x] }
            }
        }
    }
}

@inline(__always)
func int32Table(_ scratch: UnsafeMutablePointer<Float>, at offset: Int) -> UnsafeMutablePointer<Int32> {
    UnsafeMutableRawPointer(scratch + offset).assumingMemoryBound(to: Int32.self)
}

/// A stride-1 convolution of a lane's images with rearranged weights, by `directTile`: the
/// forward pass, and (with dY and the flipped kernel) the input gradient.
/// - source: [channels, batch, H, W] (forward: the input; input gradient: dY)
/// - weights: [taps, vectorChannels] from `directTransformWeights` (`DirectGroups`)
/// - bias: [outputChannels] or nil
/// - output: [outputChannels, batch, OH, OW], overwritten for images [first, first + count)
/// - scratch: [layout.count]
@inline(__always)
func directConvolve(source tensor: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    output: UnsafeMutablePointer<Float>, outputChannels: Int, outHeight: Int, outWidth: Int,
                    kernel: Pair, layout l: DirectLayout, scratch: UnsafeMutablePointer<Float>, batch: Int,
                    first: Int, count: Int) {
    guard count > 0 else { return }
    directChannelsLast(tensor, planes: l.planes, batch: batch, first: first, count: count, to: scratch)
    let source = UnsafePointer(scratch)
    let taps = int32Table(scratch, at: l.tapsOffset)
    let pixels = int32Table(scratch, at: l.pixelsOffset)
    let windows = int32Table(scratch, at: l.windowsOffset)
    let addresses = int32Table(scratch, at: l.addressesOffset)
    directTapTable(taps, planes: l.planes, kernel: kernel, order: .windowMajor)
    directPixelTables(bases: pixels, windows: windows, addresses: addresses, planes: l.planes,
                      kernel: kernel, images: count, outHeight: outHeight, outWidth: outWidth)
    let spatial = outHeight * outWidth
    let channelStride = batch * spatial
    let out = output + first * spatial
    directTiles(source, bases: pixels, columns: count * spatial, offsets: taps, count: l.taps, weights,
                channels: outputChannels, windows: windows, kernelWidth: kernel.w, sourceChannels: l.planes.channels,
                tile: scratch + l.tileOffset) { tile, column, columns, channel, channelCount in
        for lane in 0..<channelCount {
            directStoreScattered(tile, lane: lane, columns: columns, shift: bias?[channel + lane] ?? 0,
                                 out + (channel + lane) * channelStride, addresses: addresses + column)
        }
    }
}

/// Convolution forward by the direct kernels' channel vectors for the images in `images` (one
/// lane's share). (A one-channel conv runs `conv2dDirectRowForward` in the network instead.)
/// - input: [C, batch, H, W]
/// - transformedWeight: [directTransformedWeightCount(geometry: g, flipped: false)]
/// - bias: [OC] or nil
/// - output: [OC, batch, OH, OW], overwritten for `images`
/// - scratch: [DirectLayout(forward: g, images: images.count, transposed: false).count] or more
@inline(never)
public func conv2dDirectForward(input: UnsafePointer<Float>, transformedWeight: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int,
                                images: Range<Int>) {
    precondition(directConvolutionApplies(g), "the direct kernels take stride-1 convolutions")
    let layout = DirectLayout(forward: g, images: images.count, transposed: false)
    directConvolve(source: input, weights: transformedWeight, bias: bias, output: output,
                   outputChannels: g.outChannels, outHeight: g.outHeight, outWidth: g.outWidth, kernel: g.kernel,
                   layout: layout, scratch: scratch, batch: batch, first: images.lowerBound, count: images.count)
}

/// Convolution input gradient by the direct kernels for the images in `images` (one lane's
/// share): the stride-1 convolution of dY, padded by k − 1 − p, with the flipped kernel.
/// - outputGradient: [OC, batch, OH, OW]
/// - transformedFlippedWeight: [directTransformedWeightCount(geometry: g, flipped: true)]
/// - inputGradient: [C, batch, H, W], overwritten for `images`
/// - scratch: [directBackwardScratchCount(geometry: g, images: images.count, inputGradient: true)] or more
@inline(never)
public func conv2dDirectInputGradient(outputGradient: UnsafePointer<Float>,
                                      transformedFlippedWeight: UnsafePointer<Float>,
                                      inputGradient: UnsafeMutablePointer<Float>,
                                      scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int,
                                      images: Range<Int>) {
    precondition(directConvolutionApplies(g), "the direct kernels take stride-1 convolutions")
    let layout = DirectLayout(inputGradient: g, images: images.count)
    directConvolve(source: outputGradient, weights: transformedFlippedWeight, bias: nil, output: inputGradient,
                   outputChannels: g.inChannels, outHeight: g.inHeight, outWidth: g.inWidth, kernel: g.kernel,
                   layout: layout, scratch: scratch, batch: batch, first: images.lowerBound, count: images.count)
}

/// Convolution weight gradient by the direct kernels over the images in `images` (one lane's
/// share): dW[oc, tap] = Σ_pixels dY[oc, pixel] · x[tap at pixel], overwritten (zero for no images).
/// - input: [C, batch, H, W] (the forward input)
/// - outputGradient: [OC, batch, OH, OW]
/// - weightGradient: [OC, C·KH·KW]
/// - scratch: [directBackwardScratchCount(geometry: g, images: images.count, inputGradient: false)] or more
@inline(never)
public func conv2dDirectWeightGradient(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                       weightGradient: UnsafeMutablePointer<Float>,
                                       scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int,
                                       images: Range<Int>) {
    precondition(directConvolutionApplies(g), "the direct kernels take stride-1 convolutions")
    let count = images.count
    guard count > 0 else {
        weightGradient.update(repeating: 0, count: g.weightCount)
        return
    }
    let l = DirectLayout(forward: g, images: count, transposed: true)
    let (source, planes) = directSource(input, planes: l.planes, batch: batch, first: images.lowerBound,
                                        count: count, scratch: scratch)
    let taps = int32Table(scratch, at: l.tapsOffset)
    let pixels = int32Table(scratch, at: l.pixelsOffset)
    directTapTable(taps, planes: planes, kernel: g.kernel, order: .channelMajor)
    directPixelTable(pixels, planes: planes, images: count, outHeight: g.outHeight, outWidth: g.outWidth)
    // dYᵀ: [pixels, OCp] (`DirectGroups`), the padding channels zero.
    let transposed = scratch + l.transposedOffset
    let run = batch * g.outSpatial
    let from = outputGradient + images.lowerBound * g.outSpatial
    directTranspose(from, rowStride: run, rows: g.outChannels, columns: l.pixels, to: transposed)
    let columnRows = g.columnRows
    directTiles(source, bases: taps, columns: l.taps, offsets: pixels, count: l.pixels, transposed,
                channels: g.outChannels, tile: scratch + l.tileOffset) { tile, column, columns, channel, channelCount in
        for lane in 0..<channelCount {
            directStoreColumns(tile, lane: lane, columns: columns, shift: 0,
                               weightGradient + (channel + lane) * columnRows + column)
        }
    }
}

// MARK: - One input channel: output rows as vectors

/// A first layer (one input channel) has too few taps (KH·KW) for channel vectors to pay for their
/// transposed stores; its forward pass runs with pixels in the vectors instead: 16 output columns
/// of one row × 6 output channels per tile, the taps' weights broadcast.
func directRowKernelApplies(_ g: Conv2DGeometry) -> Bool {
    directConvolutionApplies(g) && g.inChannels == 1
}

/// Where the row kernel's scratch holds what: the finished tile (6 × 16 floats), the taps' Int32
/// offsets into a padded image, then the zero-bordered copy of the images and 16 floats of
/// slack, since a tile's last vector may read past the end of a padded row.
struct DirectRowLayout {
    let planes: DirectPlanes
    let tileOffset = 0
    let tapsOffset = 96
    let imagesOffset: Int
    let count: Int

    init(_ g: Conv2DGeometry, images: Int) {
        planes = DirectPlanes(channels: 1, images: images, height: g.inHeight, width: g.inWidth, pad: g.padding)
        imagesOffset = tapsOffset + (g.kernel.h * g.kernel.w + 15) / 16 * 16
        count = imagesOffset + images * planes.imageStride + 16
    }
}

/// Floats of the row kernel's scratch (`DirectRowLayout`).
func directRowScratchCount(geometry g: Conv2DGeometry, images: Int) -> Int {
    DirectRowLayout(g, images: images).count
}

/// The row kernel's tile: `tile[r][l] = Σ_t w_r[t] · source[offsets[t] + l]` for six weight rows
/// r and sixteen columns l, twelve accumulators in registers.
/// - w0…w5: [count] each; source: read at offsets[t] + 0..<16; offsets: [count]; tile: [6, 16]
@inline(never)
func directRowTile(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                   _ w3: UnsafePointer<Float>, _ w4: UnsafePointer<Float>, _ w5: UnsafePointer<Float>,
                   source: UnsafePointer<Float>, offsets: UnsafePointer<Int32>, count: Int,
                   tile: UnsafeMutablePointer<Float>) {
    var (a00, a01, a10, a11) = (Lanes(), Lanes(), Lanes(), Lanes())
    var (a20, a21, a30, a31) = (Lanes(), Lanes(), Lanes(), Lanes())
    var (a40, a41, a50, a51) = (Lanes(), Lanes(), Lanes(), Lanes())
    var t = 0
    while t < count {
        let line = source + Int(offsets[t])
        let v0 = loadLanes(line), v1 = loadLanes(line + 8)
        var s = Lanes(repeating: w0[t])
        a00 = multiplyAdd(s, v0, a00); a01 = multiplyAdd(s, v1, a01)
        s = Lanes(repeating: w1[t])
        a10 = multiplyAdd(s, v0, a10); a11 = multiplyAdd(s, v1, a11)
        s = Lanes(repeating: w2[t])
        a20 = multiplyAdd(s, v0, a20); a21 = multiplyAdd(s, v1, a21)
        s = Lanes(repeating: w3[t])
        a30 = multiplyAdd(s, v0, a30); a31 = multiplyAdd(s, v1, a31)
        s = Lanes(repeating: w4[t])
        a40 = multiplyAdd(s, v0, a40); a41 = multiplyAdd(s, v1, a41)
        s = Lanes(repeating: w5[t])
        a50 = multiplyAdd(s, v0, a50); a51 = multiplyAdd(s, v1, a51)
        t &+= 1
    }
    storeLanes(a00, tile); storeLanes(a01, tile + 8)
    storeLanes(a10, tile + 16); storeLanes(a11, tile + 24)
    storeLanes(a20, tile + 32); storeLanes(a21, tile + 40)
    storeLanes(a30, tile + 48); storeLanes(a31, tile + 56)
    storeLanes(a40, tile + 64); storeLanes(a41, tile + 72)
    storeLanes(a50, tile + 80); storeLanes(a51, tile + 88)
}

/// Forward of a one-channel stride-1 conv by output rows for the images in `images` (one lane's
/// share), reading the weights as they are: tiles of 16 output columns of one row × 6 output
/// channels (`directRowTile`).
/// - input: [1, batch, H, W]
/// - weight: [OC, 1, KH, KW]
/// - bias: [OC] or nil
/// - output: [OC, batch, OH, OW], overwritten for `images`
/// - scratch: [directForwardScratchCount(geometry: g, images: images.count)] or more
@inline(never)
public func conv2dDirectRowForward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                   bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                   scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int,
                                   images: Range<Int>) {
    precondition(directRowKernelApplies(g), "the row kernel takes one-channel stride-1 convolutions")
    let (first, count) = (images.lowerBound, images.count)
    guard count > 0 else { return }
    let layout = DirectRowLayout(g, images: count)
    let planes = layout.planes
    let padded = scratch + layout.imagesOffset
    // Always a copy (even without padding): the slack after it keeps the last reads in bounds.
    let plane = g.inHeight * g.inWidth
    for image in 0..<count {
        let to = padded + image * planes.imageStride
        let from = input + (first + image) * plane
        for y in 0..<planes.rows {
            let row = to + y * planes.pitch
            let inside = y - g.padding.h
            if inside < 0 || inside >= g.inHeight {
                laneZero(row, count: planes.pitch)
            } else {
                laneZero(row, count: g.padding.w)
                laneCopy(from + inside * g.inWidth, row + g.padding.w, count: g.inWidth)
                laneZero(row + g.padding.w + g.inWidth, count: planes.pitch - g.padding.w - g.inWidth)
            }
        }
    }
    laneZero(padded + count * planes.imageStride, count: 16)
    let (kh, kw, oc) = (g.kernel.h, g.kernel.w, g.outChannels)
    let (oh, ow) = (g.outHeight, g.outWidth)
    let taps = kh * kw
    let offsets = int32Table(scratch, at: layout.tapsOffset)
    for ky in 0..<kh {
        for kx in 0..<kw { offsets[ky * kw + kx] = Int32(ky * planes.pitch + kx) }
    }
    let tile = scratch + layout.tileOffset
    let spatial = oh * ow
    let channelStride = batch * spatial
    for image in 0..<count {
        let source = padded + image * planes.imageStride
        let out = output + (first + image) * spatial
        for oy in 0..<oh {
            var x0 = 0
            while x0 < ow {
                let columns = min(16, ow - x0)
                var o0 = 0
                while o0 < oc {
                    // Six output channels (the last repeated past OC), 16 columns.
                    @inline(__always) func row(_ r: Int) -> UnsafePointer<Float> { weight + min(o0 + r, oc - 1) * taps }
                    directRowTile(row(0), row(1), row(2), row(3), row(4), row(5),
                                  source: source + oy * planes.pitch + x0, offsets: offsets, count: taps, tile: tile)
                    for r in 0..<min(6, oc - o0) {
                        let shift = Lanes(repeating: bias?[o0 + r] ?? 0)
                        directStoreRow(loadLanes(tile + 16 * r) + shift, loadLanes(tile + 16 * r + 8) + shift,
                                       columns: columns, out + (o0 + r) * channelStride + oy * ow + x0)
                    }
                    o0 += 6
                }
                x0 += 16
            }
        }
    }
}

/// Stores the first `columns` (≤ 16) of two vectors at `to`.
@inline(__always)
func directStoreRow(_ low: Lanes, _ high: Lanes, columns: Int, _ to: UnsafeMutablePointer<Float>) {
    if columns == 16 {
        storeLanes(low, to)
        storeLanes(high, to + 8)
        return
    }
    var rest = high
    var at = 0
    if columns >= 8 {
        storeLanes(low, to)
        at = 8
    } else {
        rest = low
    }
    for i in 0..<(columns - at) { to[at + i] = rest[i] }
}

/// The transpose of a [rows, columns] matrix (row stride `rowStride`) as a [columns, rows]
/// matrix in channel-group-major form (`DirectGroups`, padding channels zero), eight rows at a time
/// so that each destination row is written as whole vectors.
/// - from: [rows, rowStride]; to: [columns · roundUpToLanes(rows)]
@inline(__always)
func directTranspose(_ from: UnsafePointer<Float>, rowStride: Int, rows: Int, columns: Int,
                     to: UnsafeMutablePointer<Float>) {
    let groups = DirectGroups(channels: rows, rows: columns)
    groups.forEachGroup { first, width in
        let block = to + groups.offset(ofGroup: first)
        var r0 = first
        while r0 < first + width {
            let lanes = max(0, min(8, rows - r0))
            let destination = block + (r0 - first)
            if lanes == 8 {
                let (p0, p1, p2, p3) = (from + r0 * rowStride, from + (r0 + 1) * rowStride,
                                        from + (r0 + 2) * rowStride, from + (r0 + 3) * rowStride)
                let (p4, p5, p6, p7) = (from + (r0 + 4) * rowStride, from + (r0 + 5) * rowStride,
                                        from + (r0 + 6) * rowStride, from + (r0 + 7) * rowStride)
                for c in 0..<columns {
                    storeLanes(Lanes(p0[c], p1[c], p2[c], p3[c], p4[c], p5[c], p6[c], p7[c]), destination + c * width)
                }
            } else {
                for c in 0..<columns {
                    var v = Lanes()
                    for lane in 0..<lanes { v[lane] = from[(r0 + lane) * rowStride + c] }
                    storeLanes(v, destination + c * width)
                }
            }
            r0 += 8
        }
    }
}
