import Graph
import Spec

// Winograd convolution for 3×3 and 5×5, stride-1 convolutions (padding 0…r − 1 in each direction,
// any sizes).
//
// F(m×m, r×r) computes an m×m output tile from an α×α input tile, α = m + r − 1, with α²
// multiplications per (input channel, output channel) pair instead of r²·m² (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2015):
//     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// Three tiles are provided (`WinogradTile`): F(2×2, 3×3) (16 GEMMs, 2.25× fewer multiplications),
// F(4×4, 3×3) (36 GEMMs, 4× fewer) and F(2×2, 5×5) (36 GEMMs, 2.78× fewer; the same α = 6 and
// interpolation points as F(4×4, 3×3), hence the same Bᵀ). `winogradTile(for:)` picks one per
// layer (by measurement, see its comment).
//
// ## API (for the network and planner)
//
//     winogradApplies(g) -> Bool                      3×3 or 5×5 kernel, stride 1, padding 0…r − 1
//     winogradTile(for: g) -> WinogradTile            the tile size used for geometry g
//     winogradInputGradientGeometry(g) -> Conv2DGeometry
//         the input-gradient pass as a forward convolution: dY → dX, channels swapped, padding r − 1 − p
//
//     winogradTransformedWeightCount(geometry: g, flipped:) -> Int        floats
//     winogradTransformWeights(weight:transformed:geometry:flipped:)      once per step, after the update
//
//     winogradForwardScratchCount(geometry: g, images:) -> Int            floats, per lane
//     conv2dWinogradForward(input:transformedWeight:bias:output:scratch:geometry:batch:images:)
//
//     winogradInputGradientScratchCount(geometry: g, images:) -> Int      floats, per lane
//     conv2dWinogradInputGradient(outputGradient:transformedFlippedWeight:inputGradient:scratch:geometry:batch:images:)
//
// `g` is always the forward convolution's geometry. `images` is one lane's share of the batch (a
// range of image indices); the kernels overwrite exactly those images of their output and read only
// those images of their input. `scratch` is the lane's own workspace of at least the stated count,
// sized for the largest share that lane gets (the count grows with `images` up to a cap, then stays).
// Each call is single-threaded; all three passes multiply with the same register-blocked FMA kernel
// (`multiplyStrided`), not BLAS. Nothing allocates. The weight transforms read the
// weights in PyTorch's [OC, IC, r, r] layout; `flipped: true` gives the transform of the input-gradient
// convolution's kernel (spatially flipped, in/out channels swapped), used by the input-gradient pass.
//
//     winogradWeightGradientScratchCount(geometry: g, images:) -> Int     floats, per lane
//     conv2dWinogradWeightGradient(input:outputGradient:weightGradient:scratch:geometry:batch:images:)
//
// The runtime picks per pass (`convolutionAlgorithm`): all three for 3×3 convs with ≥ 8 channels
// (measured with `cnnc bench SPEC --kernels`, one thread, one lane's share: each beats im2col + GEMM
// on every examples/mnist.yaml shape, the weight gradient by 1.5–3×), the forward pass only for
// 5×5 ones, whose gradients the direct kernels compute faster.
//
// ## Data layout inside the kernels
// Per lane, per chunk of up to `chunkTiles` output tiles (tiles of consecutive images of the share):
//   plane  [Hp, Wp, ICp]       one image, zero-padded, channels interleaved in blocks of 8 (ICp = IC
//                              rounded up to 8), so that the transforms load 8 channels as one SIMD8
//   V      [α², T, ICp]        transformed input tiles (α = m + 2), one matrix per tile element ξ
//   M      [α², T, OCp]        V[ξ] · U[ξ] for each ξ: α² products [T × IC]·[IC × OCp] by
//                              `multiplyStrided` (no packing; faster than BLAS at these sizes)
//   U      [α², IC, OCp]       the transformed weights (zero past OC)
// and the output transform writes Aᵀ M A (+ bias) for 8 output channels at a time into the CBHW output.

/// The algorithm F(m×m, r×r): an m×m output tile from an α×α input tile, α = m + r − 1.
public enum WinogradTile: Sendable, CaseIterable, CustomStringConvertible {
    /// F(2×2, 3×3): 4×4 input tiles, 16 GEMMs, 2.25× fewer multiplications than direct.
    case f2x2
    /// F(4×4, 3×3): 6×6 input tiles, 36 GEMMs, 4× fewer multiplications than direct.
    case f4x4
    /// F(2×2, 5×5): 6×6 input tiles, 36 GEMMs, 2.78× fewer multiplications than direct. It shares
    /// F(4×4, 3×3)'s interpolation points (0, ±1, ±2, ∞) and so its input transform Bᵀ.
    case f2x2k5

    /// Output tile side m.
    public var outputSide: Int {
        switch self {
        case .f2x2, .f2x2k5: return 2
        case .f4x4: return 4
        }
    }
    /// Kernel side r.
    public var kernelSide: Int { self == .f2x2k5 ? 5 : 3 }
    /// Input tile side α = m + r − 1.
    public var inputSide: Int { outputSide + kernelSide - 1 }

    /// The tile sizes for an r×r kernel.
    public static func tiles(kernelSide r: Int) -> [WinogradTile] { allCases.filter { $0.kernelSide == r } }

    public var description: String { "F(\(outputSide)×\(outputSide), \(kernelSide)×\(kernelSide))" }
}

/// Whether the Winograd kernels compute this convolution: a 3×3 or 5×5 kernel, stride 1, padding
/// 0…r − 1 in each direction (the input-gradient pass needs padding r − 1 − p ≥ 0).
public func winogradApplies(_ g: Conv2DGeometry) -> Bool {
    let r = g.kernel.h
    return (r == 3 || r == 5) && g.kernel == Pair(square: r) && g.stride == Pair(square: 1)
        && (0..<r).contains(g.padding.h) && (0..<r).contains(g.padding.w)
        && g.outHeight >= 1 && g.outWidth >= 1
}

/// The tile size used for geometry `g` (forward or input-gradient geometry alike).
///
/// Chosen by measurement (`winogradBenchmark`, batch 32, one thread): on the examples/mnist.yaml
/// shapes F(4×4) took 4.3 / 2.5 / 4.5 ms against F(2×2)'s 7.6 / 3.1 / 5.7 ms (32→32 @28, 32→64 @14,
/// 64→64 @14; transforms + products). Its float32 error is larger but small: at most 4–8·10⁻⁶ of the
/// largest |output| against 2–7·10⁻⁷ for F(2×2) and im2col (WinogradTests.testReportErrors).
/// F(2×2) is used where an output side is below 4, so that a 4×4 tile would be mostly cropped.
/// A 5×5 kernel takes F(2×2, 5×5), the one tile with α = 6 (F(4×4, 5×5)'s α = 8 needs points
/// such as ±1/2 and loses several more digits).
public func winogradTile(for g: Conv2DGeometry) -> WinogradTile {
    if g.kernel.h == 5 { return .f2x2k5 }
    return min(g.outHeight, g.outWidth) >= 4 ? .f4x4 : .f2x2
}

/// The input-gradient pass as a forward r×r convolution: dX = conv(dY, flipped W), from OC to IC
/// channels, over the OH×OW output gradient with padding r − 1 − p, which gives back H×W.
public func winogradInputGradientGeometry(_ g: Conv2DGeometry) -> Conv2DGeometry {
    var gradient = g
    (gradient.inChannels, gradient.outChannels) = (g.outChannels, g.inChannels)
    (gradient.inHeight, gradient.inWidth) = (g.outHeight, g.outWidth)
    gradient.padding = Pair(g.kernel.h - 1 - g.padding.h, g.kernel.w - 1 - g.padding.w)
    gradient.bias = false
    return gradient
}

// MARK: - Scratch sizes

/// Sizes of one lane's scratch regions for a convolution (the kernel's own geometry) and tile.
struct WinogradLayout {
    let tile: WinogradTile
    let m: Int
    let alpha: Int
    /// α²: the number of tile elements ξ, one GEMM each.
    let elements: Int
    let tilesY: Int
    let tilesX: Int
    let paddedHeight: Int
    let paddedWidth: Int
    let inBlocks: Int
    let outBlocks: Int
    /// IC and OC rounded up to 8.
    let inPadded: Int
    let outPadded: Int
    /// T: tiles per chunk.
    let chunkTiles: Int

    var tilesPerImage: Int { tilesY * tilesX }

    /// Image, tile row and tile column of tile `index` of a share that starts at `firstImage`.
    @inline(__always)
    func tile(_ index: Int, firstImage: Int) -> (image: Int, row: Int, column: Int) {
        let within = index % tilesPerImage
        return (firstImage + index / tilesPerImage, within / tilesX, within % tilesX)
    }
    var planeCount: Int { paddedHeight * paddedWidth * inPadded }
    /// Floats from one tile element's matrix to the next in V and M: T·ICp or T·OCp, plus one
    /// cache line, so that the α² matrices (which the transforms touch together, one vector
    /// each) do not start at addresses a multiple of 4 KiB apart and fight over one L1 set.
    var inputElementStride: Int { chunkTiles * inPadded + 16 }
    var productElementStride: Int { chunkTiles * outPadded + 16 }
    var transformedInputCount: Int { elements * inputElementStride }
    var productCount: Int { elements * productElementStride }
    /// Per-tile temporaries of the transforms: 2·α² vectors of 8 (the output transform's
    /// α·m intermediate and m² result).
    var temporaryCount: Int { 2 * elements * 8 }
    var scratchCount: Int { planeCount + transformedInputCount + productCount + temporaryCount }

    /// Floats of V and M together that a chunk may take: 256 Ki floats (1 MiB), so that one
    /// chunk's transformed tiles and products stay within L2 + a slice of L3 while each GEMM has
    /// enough rows (T) to run near BLAS's peak.
    static let chunkBudget = 256 * 1024

    init(_ g: Conv2DGeometry, tile: WinogradTile, images: Int, chunkBudget: Int = WinogradLayout.chunkBudget) {
        self.tile = tile
        m = tile.outputSide
        alpha = tile.inputSide
        elements = alpha * alpha
        tilesY = (g.outHeight + m - 1) / m
        tilesX = (g.outWidth + m - 1) / m
        paddedHeight = tilesY * m + tile.kernelSide - 1
        paddedWidth = tilesX * m + tile.kernelSide - 1
        inBlocks = (g.inChannels + 7) / 8
        outBlocks = (g.outChannels + 7) / 8
        inPadded = inBlocks * 8
        outPadded = outBlocks * 8
        let perTile = elements * (inPadded + outPadded)
        let cap = max(8, chunkBudget / perTile)
        chunkTiles = max(1, min(cap, images * tilesY * tilesX))
    }
}

/// Floats of one lane's scratch for `conv2dWinogradForward` over up to `images` images.
public func winogradForwardScratchCount(geometry g: Conv2DGeometry, images: Int) -> Int {
    WinogradLayout(g, tile: winogradTile(for: g), images: images).scratchCount
}

/// Floats of one lane's scratch for `conv2dWinogradInputGradient` over up to `images` images.
public func winogradInputGradientScratchCount(geometry g: Conv2DGeometry, images: Int) -> Int {
    winogradForwardScratchCount(geometry: winogradInputGradientGeometry(g), images: images)
}

/// Floats of the transformed weights: α²·IC·OCp for the forward (`flipped: false`), α²·OC·ICp for
/// the input-gradient (`flipped: true`) convolution (the output channels rounded up to 8).
public func winogradTransformedWeightCount(geometry g: Conv2DGeometry, flipped: Bool) -> Int {
    let kernelGeometry = flipped ? winogradInputGradientGeometry(g) : g
    return winogradTransformedWeightCount(geometry: g, flipped: flipped, tile: winogradTile(for: kernelGeometry))
}

func winogradTransformedWeightCount(geometry g: Conv2DGeometry, flipped: Bool, tile: WinogradTile) -> Int {
    let (rows, columns) = flipped ? (g.outChannels, g.inChannels) : (g.inChannels, g.outChannels)
    return tile.inputSide * tile.inputSide * rows * ((columns + 7) / 8 * 8)
}

// MARK: - Transforms

/// One tile size's transform matrices, as 1-D transforms over 8 channels at once. The 2-D
/// transforms apply them along rows, then along columns.
protocol WinogradTransform {
    /// Output side m, kernel side r and input side α = m + r − 1.
    static var m: Int { get }
    static var r: Int { get }
    static var alpha: Int { get }
    /// G: [α, r], the kernel transform (a stored constant: reading it allocates nothing).
    static var kernelTransform: [[Double]] { get }
    /// y = Bᵀ x: x is α vectors at `x + k·xStride`, y is α vectors at `y + k·yStride`.
    static func input(_ x: UnsafePointer<Float>, _ xStride: Int, _ y: UnsafeMutablePointer<Float>, _ yStride: Int)
    /// y = Aᵀ x: x is α vectors, y is m vectors.
    static func output(_ x: UnsafePointer<Float>, _ xStride: Int, _ y: UnsafeMutablePointer<Float>, _ yStride: Int)
    /// Stores a full m×m result tile of 8 channels, result[(y·m + x)·8 + lane], at
    /// `target + lane·channelStride + y·rowStride + x`, transposing in registers.
    static func store(_ result: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, channelStride: Int,
                      rowStride: Int)
    /// y = A x, the adjoint of `output` (weight gradient): x is m vectors, y is α vectors.
    static func gradient(_ x: UnsafePointer<Float>, _ xStride: Int, _ y: UnsafeMutablePointer<Float>, _ yStride: Int)
}

/// (a0 b0 a1 b1 | a4 b4 a5 b5), AVX's unpcklps.
@inline(__always)
func interleaveLow(_ a: Lanes, _ b: Lanes) -> Lanes { Lanes(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]) }

/// (a2 b2 a3 b3 | a6 b6 a7 b7), AVX's unpckhps.
@inline(__always)
func interleaveHigh(_ a: Lanes, _ b: Lanes) -> Lanes { Lanes(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]) }

@inline(__always)
func storeQuad(_ value: SIMD4<Float>, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD4<Float>.self)
}

@inline(__always)
func storePair(_ value: SIMD2<Float>, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD2<Float>.self)
}

enum WinogradF2: WinogradTransform {
    static var m: Int { 2 }
    static var r: Int { 3 }
    static var alpha: Int { 4 }
    static let kernelTransform: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]

    // Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
    @inline(__always)
    static func input(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs), x2 = loadLanes(x + 2 * xs), x3 = loadLanes(x + 3 * xs)
        storeLanes(x0 - x2, y)
        storeLanes(x1 + x2, y + ys)
        storeLanes(x2 - x1, y + 2 * ys)
        storeLanes(x1 - x3, y + 3 * ys)
    }

    // Aᵀ = [1 1 1 0; 0 1 −1 −1]
    @inline(__always)
    static func output(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs), x2 = loadLanes(x + 2 * xs), x3 = loadLanes(x + 3 * xs)
        storeLanes(x0 + x1 + x2, y)
        storeLanes(x1 - x2 - x3, y + ys)
    }

    @inline(__always)
    static func store(_ result: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, channelStride cs: Int,
                      rowStride rs: Int) {
        for y in 0..<2 {
            let r0 = loadLanes(result + y * 16), r1 = loadLanes(result + y * 16 + 8)
            let low = interleaveLow(r0, r1), high = interleaveHigh(r0, r1)  // lanes 0 1 4 5, 2 3 6 7
            let row = target + y * rs
            storePair(low.lowHalf.lowHalf, row)
            storePair(low.lowHalf.highHalf, row + cs)
            storePair(high.lowHalf.lowHalf, row + 2 * cs)
            storePair(high.lowHalf.highHalf, row + 3 * cs)
            storePair(low.highHalf.lowHalf, row + 4 * cs)
            storePair(low.highHalf.highHalf, row + 5 * cs)
            storePair(high.highHalf.lowHalf, row + 6 * cs)
            storePair(high.highHalf.highHalf, row + 7 * cs)
        }
    }

    // A = [1 0; 1 1; 1 −1; 0 −1]
    @inline(__always)
    static func gradient(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs)
        storeLanes(x0, y)
        storeLanes(x0 + x1, y + ys)
        storeLanes(x0 - x1, y + 2 * ys)
        storeLanes(Lanes() - x1, y + 3 * ys)
    }
}

enum WinogradF4: WinogradTransform {
    static var m: Int { 4 }
    static var r: Int { 3 }
    static var alpha: Int { 6 }
    static let kernelTransform: [[Double]] = [
        [1.0 / 4, 0, 0],
        [-1.0 / 6, -1.0 / 6, -1.0 / 6],
        [-1.0 / 6, 1.0 / 6, -1.0 / 6],
        [1.0 / 24, 1.0 / 12, 1.0 / 6],
        [1.0 / 24, -1.0 / 12, 1.0 / 6],
        [0, 0, 1],
    ]

    // Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
    @inline(__always)
    static func input(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs), x2 = loadLanes(x + 2 * xs)
        let x3 = loadLanes(x + 3 * xs), x4 = loadLanes(x + 4 * xs), x5 = loadLanes(x + 5 * xs)
        let four = Lanes(repeating: 4), five = Lanes(repeating: 5), two = Lanes(repeating: 2)
        storeLanes(x4 + four * x0 - five * x2, y)
        storeLanes((x3 + x4) - four * (x1 + x2), y + ys)
        storeLanes((x4 - x3) + four * (x1 - x2), y + 2 * ys)
        storeLanes((x4 - x2) + two * (x3 - x1), y + 3 * ys)
        storeLanes((x4 - x2) - two * (x3 - x1), y + 4 * ys)
        storeLanes(x5 + four * x1 - five * x3, y + 5 * ys)
    }

    // Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
    @inline(__always)
    static func output(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs), x2 = loadLanes(x + 2 * xs)
        let x3 = loadLanes(x + 3 * xs), x4 = loadLanes(x + 4 * xs), x5 = loadLanes(x + 5 * xs)
        let sum12 = x1 + x2, diff12 = x1 - x2, sum34 = x3 + x4, diff34 = x3 - x4
        storeLanes(x0 + sum12 + sum34, y)
        storeLanes(diff12 + Lanes(repeating: 2) * diff34, y + ys)
        storeLanes(sum12 + Lanes(repeating: 4) * sum34, y + 2 * ys)
        storeLanes(diff12 + Lanes(repeating: 8) * diff34 + x5, y + 3 * ys)
    }

    @inline(__always)
    static func store(_ result: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, channelStride cs: Int,
                      rowStride rs: Int) {
        for y in 0..<4 {
            let r = result + y * 32
            let r0 = loadLanes(r), r1 = loadLanes(r + 8), r2 = loadLanes(r + 16), r3 = loadLanes(r + 24)
            let t0 = interleaveLow(r0, r1), t1 = interleaveHigh(r0, r1)
            let t2 = interleaveLow(r2, r3), t3 = interleaveHigh(r2, r3)
            // s_k holds lane k in its low half and lane k + 4 in its high half.
            let s0 = Lanes(t0[0], t0[1], t2[0], t2[1], t0[4], t0[5], t2[4], t2[5])
            let s1 = Lanes(t0[2], t0[3], t2[2], t2[3], t0[6], t0[7], t2[6], t2[7])
            let s2 = Lanes(t1[0], t1[1], t3[0], t3[1], t1[4], t1[5], t3[4], t3[5])
            let s3 = Lanes(t1[2], t1[3], t3[2], t3[3], t1[6], t1[7], t3[6], t3[7])
            let row = target + y * rs
            storeQuad(s0.lowHalf, row)
            storeQuad(s1.lowHalf, row + cs)
            storeQuad(s2.lowHalf, row + 2 * cs)
            storeQuad(s3.lowHalf, row + 3 * cs)
            storeQuad(s0.highHalf, row + 4 * cs)
            storeQuad(s1.highHalf, row + 5 * cs)
            storeQuad(s2.highHalf, row + 6 * cs)
            storeQuad(s3.highHalf, row + 7 * cs)
        }
    }

    // A = [1 0 0 0; 1 1 1 1; 1 −1 1 −1; 1 2 4 8; 1 −2 4 −8; 0 0 0 1]
    @inline(__always)
    static func gradient(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs), x2 = loadLanes(x + 2 * xs), x3 = loadLanes(x + 3 * xs)
        let even = x0 + x2, odd = x1 + x3
        let even4 = x0 + Lanes(repeating: 4) * x2, odd4 = Lanes(repeating: 2) * x1 + Lanes(repeating: 8) * x3
        storeLanes(x0, y)
        storeLanes(even + odd, y + ys)
        storeLanes(even - odd, y + 2 * ys)
        storeLanes(even4 + odd4, y + 3 * ys)
        storeLanes(even4 - odd4, y + 4 * ys)
        storeLanes(x3, y + 5 * ys)
    }
}

/// F(2×2, 5×5) over F(4×4, 3×3)'s points 0, 1, −1, 2, −2, ∞: the same Bᵀ, G's rows the same
/// scales times (1, p, p², p³, p⁴), and Aᵀ's rows (1, p) (Lavin & Gray's construction).
enum WinogradF2K5: WinogradTransform {
    static var m: Int { 2 }
    static var r: Int { 5 }
    static var alpha: Int { 6 }
    static let kernelTransform: [[Double]] = [
        [1.0 / 4, 0, 0, 0, 0],
        [-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6],
        [-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6],
        [1.0 / 24, 2.0 / 24, 4.0 / 24, 8.0 / 24, 16.0 / 24],
        [1.0 / 24, -2.0 / 24, 4.0 / 24, -8.0 / 24, 16.0 / 24],
        [0, 0, 0, 0, 1],
    ]

    @inline(__always)
    static func input(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        WinogradF4.input(x, xs, y, ys)
    }

    // Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 1]
    @inline(__always)
    static func output(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs), x2 = loadLanes(x + 2 * xs)
        let x3 = loadLanes(x + 3 * xs), x4 = loadLanes(x + 4 * xs), x5 = loadLanes(x + 5 * xs)
        storeLanes(x0 + (x1 + x2) + (x3 + x4), y)
        storeLanes((x1 - x2) + Lanes(repeating: 2) * (x3 - x4) + x5, y + ys)
    }

    @inline(__always)
    static func store(_ result: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, channelStride cs: Int,
                      rowStride rs: Int) {
        WinogradF2.store(result, target, channelStride: cs, rowStride: rs)
    }

    // A = [1 0; 1 1; 1 −1; 1 2; 1 −2; 0 1]
    @inline(__always)
    static func gradient(_ x: UnsafePointer<Float>, _ xs: Int, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        let x0 = loadLanes(x), x1 = loadLanes(x + xs)
        let twice = Lanes(repeating: 2) * x1
        storeLanes(x0, y)
        storeLanes(x0 + x1, y + ys)
        storeLanes(x0 - x1, y + 2 * ys)
        storeLanes(x0 + twice, y + 3 * ys)
        storeLanes(x0 - twice, y + 4 * ys)
        storeLanes(x1, y + 5 * ys)
    }
}

/// The kernel transform of one tile size: U[ξ] = (G g Gᵀ)[ξ], eight columns at a time, for the
/// rows `rows` (default all) of the transformed matrices, so that lanes can split the work.
/// - weight: [OC, IC, r, r]
/// - transformed: [α², IC, OCp] (forward: rows are input channels) or [α², OC, ICp] (flipped: the
///   input-gradient kernel g'[ic][oc][ky][kx] = g[oc][ic][r − 1 − ky][r − 1 − kx], whose input channels
///   are the forward's outputs; rows are output channels); the columns past OC (or IC) up to a
///   multiple of 8 are zero
func winogradTransformWeights(weight: UnsafePointer<Float>, transformed: UnsafeMutablePointer<Float>,
                              geometry g: Conv2DGeometry, flipped: Bool, tile: WinogradTile,
                              rows selected: Range<Int>? = nil) {
    let gt = tile.kernelTransform
    let (alpha, r) = (tile.inputSide, tile.kernelSide)
    let taps = r * r
    let (ic, oc) = (g.inChannels, g.outChannels)
    let (rows, columns) = flipped ? (oc, ic) : (ic, oc)
    let padded = (columns + 7) / 8 * 8
    let stride = rows * padded
    // Kernel element of (row, column): forward g[column][row], flipped g[row][column], read flipped.
    let (rowStep, columnStep) = flipped ? (ic * taps, taps) : (taps, ic * taps)
    // Coefficients and the columns' kernels (230 floats), and G g (240 floats) for α ≤ 6, r ≤ 5, on
    // the stack: two buffers, since Swift takes one of more than 1 KiB from the heap.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 5 * 6 + 25 * 8) { buffer in
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 6 * 5 * 8) { halfBuffer in
        let coefficients = buffer.baseAddress!  // G[a][k] at a·r + k
        let kernel = coefficients + r * alpha   // [r, r] vectors of 8: the columns' kernels
        let half = halfBuffer.baseAddress!      // G g: [α, r] vectors of 8
        for a in 0..<alpha {
            for k in 0..<r { coefficients[a * r + k] = Float(gt[a][k]) }
        }
        for row in selected ?? 0..<rows {
            for block in 0..<(padded / 8) {
                let c0 = block * 8
                let lanes = min(8, columns - c0)
                for ky in 0..<r {
                    for kx in 0..<r {
                        let source = flipped ? (r - 1 - ky) * r + (r - 1 - kx) : ky * r + kx
                        var v = Lanes()
                        for lane in 0..<lanes { v[lane] = weight[row * rowStep + (c0 + lane) * columnStep + source] }
                        storeLanes(v, kernel + (ky * r + kx) * 8)
                    }
                }
                // half[a][kx] = Σ_ky G[a][ky] g[ky][kx]
                for a in 0..<alpha {
                    for kx in 0..<r {
                        var total = Lanes()
                        for ky in 0..<r {
                            total = multiplyAdd(Lanes(repeating: coefficients[a * r + ky]),
                                                loadLanes(kernel + (ky * r + kx) * 8), total)
                        }
                        storeLanes(total, half + (a * r + kx) * 8)
                    }
                }
                // U[a][b] = Σ_kx half[a][kx] G[b][kx]
                let target = transformed + row * padded + c0
                for a in 0..<alpha {
                    for b in 0..<alpha {
                        var total = Lanes()
                        for kx in 0..<r {
                            total = multiplyAdd(loadLanes(half + (a * r + kx) * 8),
                                                Lanes(repeating: coefficients[b * r + kx]), total)
                        }
                        storeLanes(total, target + (a * alpha + b) * stride)
                    }
                }
            }
        }
    }
    }
}

extension WinogradTile {
    /// G: [α, r].
    var kernelTransform: [[Double]] {
        switch self {
        case .f2x2: return WinogradF2.kernelTransform
        case .f4x4: return WinogradF4.kernelTransform
        case .f2x2k5: return WinogradF2K5.kernelTransform
        }
    }
}

/// The rows of the transformed weight matrices (`winogradTransformWeights`' unit of work): input
/// channels for the forward transform, output channels for the flipped one.
public func winogradTransformedWeightRows(geometry g: Conv2DGeometry, flipped: Bool) -> Int {
    flipped ? g.outChannels : g.inChannels
}

/// Transforms the weights for the forward pass (`flipped: false`) or for the input-gradient pass
/// (`flipped: true`), with the tile size `winogradTile(for:)` picks for that pass, for the rows
/// `rows` of the transformed matrices (default all, `winogradTransformedWeightRows`; lanes split them).
/// - weight: [OC, IC, r, r]
/// - transformed: [winogradTransformedWeightCount(geometry: g, flipped:)], overwritten (those rows)
public func winogradTransformWeights(weight: UnsafePointer<Float>, transformed: UnsafeMutablePointer<Float>,
                                     geometry g: Conv2DGeometry, flipped: Bool, rows: Range<Int>? = nil) {
    let kernelGeometry = flipped ? winogradInputGradientGeometry(g) : g
    winogradTransformWeights(weight: weight, transformed: transformed, geometry: g, flipped: flipped,
                             tile: winogradTile(for: kernelGeometry), rows: rows)
}

// MARK: - Convolution

/// Copies image `image` of a CBHW tensor into a zero-padded, channel-interleaved plane
/// [paddedHeight, paddedWidth, blocks·8]: plane row py holds input row py − top, plane column px
/// input column px − left; zero elsewhere and in the channels past `channels`.
/// - input: [channels, batch, height, width]
/// - plane: [paddedHeight, paddedWidth, blocks·8]
@inline(__always)
func winogradInterleave(_ input: UnsafePointer<Float>, _ plane: UnsafeMutablePointer<Float>,
                        channels: Int, height h: Int, width w: Int, top: Int, left: Int,
                        paddedHeight: Int, paddedWidth: Int, batch: Int, image: Int) {
    let channelStride = batch * h * w
    let blocks = (channels + 7) / 8
    let cp = blocks * 8
    let zero = Lanes()
    for block in 0..<blocks {
        let c0 = block * 8
        let full = c0 + 8 <= channels
        let source = input + (c0 * batch + image) * h * w
        for py in 0..<paddedHeight {
            let row = plane + py * paddedWidth * cp + c0
            let y = py - top
            guard y >= 0, y < h else {
                for px in 0..<paddedWidth { storeLanes(zero, row + px * cp) }
                continue
            }
            let sourceRow = source + y * w
            let right = min(paddedWidth, left + w)
            for px in 0..<left { storeLanes(zero, row + px * cp) }
            if full {
                for px in left..<right {
                    let s = sourceRow + (px - left)
                    storeLanes(Lanes(s[0], s[channelStride], s[2 * channelStride], s[3 * channelStride],
                                     s[4 * channelStride], s[5 * channelStride], s[6 * channelStride],
                                     s[7 * channelStride]), row + px * cp)
                }
            } else {
                for px in left..<right {
                    let s = sourceRow + (px - left)
                    var v = zero
                    for lane in 0..<(channels - c0) { v[lane] = s[lane * channelStride] }
                    storeLanes(v, row + px * cp)
                }
            }
            for px in right..<paddedWidth { storeLanes(zero, row + px * cp) }
        }
    }
}

/// One tile's separable 2-D transform, 8 channels at once: `op` along each of the `rows` rows of
/// the tile (into `temporary`, [rows, α, 8]), then along the α columns of that, writing element
/// ξ = k·α + j of the result to `target + ξ·elementStride`.
/// - source: rows × (α or m) vectors of 8 at `source + i·rowStride + j·columnStride`
@inline(__always)
func winogradTransformTile(_ source: UnsafePointer<Float>, rows: Int, rowStride: Int, columnStride: Int, alpha: Int,
                           temporary: UnsafeMutablePointer<Float>, target: UnsafeMutablePointer<Float>,
                           elementStride: Int,
                           _ op: (UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void) {
    for i in 0..<rows {
        op(source + i * rowStride, columnStride, temporary + i * alpha * 8, 8)
    }
    for j in 0..<alpha {
        op(temporary + j * 8, alpha * 8, target + j * elementStride, alpha * elementStride)
    }
}

/// V[ξ][t][c] = (Bᵀ d B)[ξ] for the tiles [start, start + count) of the share (tile index over
/// (image, tile row, tile column)), interleaving each image's plane as it is reached.
/// - input: [IC, batch, H, W]
/// - plane: [Hp, Wp, ICp], holding image `heldImage` (updated)
/// - transformed: [α², T, ICp]
/// - temporary: [α², 8]
@inline(__always)
func winogradTransformInput<T: WinogradTransform>(
    _: T.Type, input: UnsafePointer<Float>, plane: UnsafeMutablePointer<Float>, heldImage: inout Int,
    transformed: UnsafeMutablePointer<Float>, temporary: UnsafeMutablePointer<Float>,
    geometry g: Conv2DGeometry, layout l: WinogradLayout, batch: Int, firstImage: Int, start: Int, count: Int
) {
    let (m, alpha) = (T.m, T.alpha)
    let cp = l.inPadded
    let rowStride = l.paddedWidth * cp
    let elementStride = l.inputElementStride
    for t in 0..<count {
        let (image, ty, tx) = l.tile(start + t, firstImage: firstImage)
        if image != heldImage {
            winogradInterleave(input, plane, channels: g.inChannels, height: g.inHeight, width: g.inWidth,
                               top: g.padding.h, left: g.padding.w, paddedHeight: l.paddedHeight,
                               paddedWidth: l.paddedWidth, batch: batch, image: image)
            heldImage = image
        }
        let corner = plane + ty * m * rowStride + tx * m * cp
        for block in 0..<l.inBlocks {
            // V[ξ] = (Bᵀ d B)[ξ]
            winogradTransformTile(corner + block * 8, rows: alpha, rowStride: rowStride, columnStride: cp,
                                  alpha: alpha, temporary: temporary, target: transformed + t * cp + block * 8,
                                  elementStride: elementStride, T.input)
        }
    }
}

/// Y = Aᵀ M A (+ bias) for the tiles [start, start + count) of the share, 8 output channels at a
/// time, cropped at the right and bottom edges, written into the CBHW output.
/// - products: [α², T, OCp]
/// - bias: [OC] or nil
/// - output: [OC, batch, OH, OW]
/// - temporary: [α·m + m², 8]
@inline(__always)
func winogradTransformOutput<T: WinogradTransform>(
    _: T.Type, products: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
    temporary: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, layout l: WinogradLayout, batch: Int,
    firstImage: Int, start: Int, count: Int
) {
    let (m, alpha) = (T.m, T.alpha)
    let (oc, oh, ow) = (g.outChannels, g.outHeight, g.outWidth)
    let op = l.outPadded
    let productElementStride = l.productElementStride
    let result = temporary + alpha * m * 8
    let channelStride = batch * oh * ow
    for t in 0..<count {
        let (image, ty, tx) = l.tile(start + t, firstImage: firstImage)
        let rows = min(m, oh - ty * m)
        let columns = min(m, ow - tx * m)
        for block in 0..<l.outBlocks {
            let source = products + t * op + block * 8
            // Rows of M: temporary[k][x] = Σ_j M[k][j] A[j][x].
            for k in 0..<alpha {
                T.output(source + k * alpha * productElementStride, productElementStride, temporary + k * m * 8, 8)
            }
            // Columns: result[y][x] = Σ_k Aᵀ[y][k] temporary[k][x].
            for x in 0..<m {
                T.output(temporary + x * 8, m * 8, result + x * 8, m * 8)
            }
            let o0 = block * 8
            let lanes = min(8, oc - o0)
            if let bias {
                var b = Lanes()
                for lane in 0..<lanes { b[lane] = bias[o0 + lane] }
                for e in 0..<(m * m) { storeLanes(loadLanes(result + e * 8) + b, result + e * 8) }
            }
            let target = output + ((o0 * batch + image) * oh + ty * m) * ow + tx * m
            if lanes == 8 && rows == m && columns == m {
                T.store(result, target, channelStride: channelStride, rowStride: ow)
                continue
            }
            for lane in 0..<lanes {
                for y in 0..<rows {
                    for x in 0..<columns {
                        target[lane * channelStride + y * ow + x] = result[(y * m + x) * 8 + lane]
                    }
                }
            }
        }
    }
}


/// Winograd convolution forward for the images in `images`, one tile size.
@inline(never)
func conv2dWinogradForward<T: WinogradTransform>(
    _: T.Type, input: UnsafePointer<Float>, transformedWeight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry,
    layout l: WinogradLayout, batch: Int, images: Range<Int>
) {
    let ic = g.inChannels
    let plane = scratch
    let transformed = plane + l.planeCount
    let products = transformed + l.transformedInputCount
    let temporary = products + l.productCount
    let (cp, op) = (l.inPadded, l.outPadded)
    let inputElementStride = l.inputElementStride
    let productElementStride = l.productElementStride
    let tilesPerImage = l.tilesPerImage
    let total = images.count * tilesPerImage
    var heldImage = -1
    var start = 0
    while start < total {
        let count = min(l.chunkTiles, total - start)
        winogradTransformInput(T.self, input: input, plane: plane, heldImage: &heldImage,
                               transformed: transformed, temporary: temporary, geometry: g, layout: l,
                               batch: batch, firstImage: images.lowerBound, start: start, count: count)
        // M[ξ] = V[ξ] · U[ξ]: [count × IC] · [IC × OCp].
        for e in 0..<l.elements {
            multiplyStrided(transformed + e * inputElementStride, rowStride: cp, depthStride: 1,
                             transformedWeight + e * ic * op, ldb: op, products + e * productElementStride, ldc: op,
                             rows: count, columns: op, depth: ic, accumulate: false)
        }
        winogradTransformOutput(T.self, products: products, bias: bias, output: output, temporary: temporary,
                                geometry: g, layout: l, batch: batch, firstImage: images.lowerBound,
                                start: start, count: count)
        start += count
    }
}

/// Winograd convolution forward with an explicit tile size (tests and measurements).
func conv2dWinogradForward(input: UnsafePointer<Float>, transformedWeight: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int,
                           images: Range<Int>, tile: WinogradTile, chunkBudget: Int = WinogradLayout.chunkBudget) {
    let layout = WinogradLayout(g, tile: tile, images: images.count, chunkBudget: chunkBudget)
    switch tile {
    case .f2x2:
        conv2dWinogradForward(WinogradF2.self, input: input, transformedWeight: transformedWeight, bias: bias,
                              output: output, scratch: scratch, geometry: g, layout: layout, batch: batch,
                              images: images)
    case .f4x4:
        conv2dWinogradForward(WinogradF4.self, input: input, transformedWeight: transformedWeight, bias: bias,
                              output: output, scratch: scratch, geometry: g, layout: layout, batch: batch,
                              images: images)
    case .f2x2k5:
        conv2dWinogradForward(WinogradF2K5.self, input: input, transformedWeight: transformedWeight, bias: bias,
                              output: output, scratch: scratch, geometry: g, layout: layout, batch: batch,
                              images: images)
    }
}

/// Convolution forward by Winograd for the images in `images` (one lane's share).
/// - input: [IC, batch, H, W]
/// - transformedWeight: [winogradTransformedWeightCount(geometry: g, flipped: false)], from
///   `winogradTransformWeights(…, flipped: false)`
/// - bias: [OC] or nil
/// - output: [OC, batch, OH, OW], overwritten for `images`
/// - scratch: [winogradForwardScratchCount(geometry: g, images: images.count)] or more
public func conv2dWinogradForward(input: UnsafePointer<Float>, transformedWeight: UnsafePointer<Float>,
                                  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                  scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry, batch: Int,
                                  images: Range<Int>) {
    conv2dWinogradForward(input: input, transformedWeight: transformedWeight, bias: bias, output: output,
                          scratch: scratch, geometry: g, batch: batch, images: images, tile: winogradTile(for: g))
}

/// Convolution input gradient by Winograd for the images in `images` (one lane's share): the r×r
/// convolution of dY with the flipped kernel, channels swapped, padding r − 1 − p.
/// - outputGradient: [OC, batch, OH, OW]
/// - transformedFlippedWeight: [winogradTransformedWeightCount(geometry: g, flipped: true)], from
///   `winogradTransformWeights(…, flipped: true)`
/// - inputGradient: [IC, batch, H, W], overwritten for `images`
/// - scratch: [winogradInputGradientScratchCount(geometry: g, images: images.count)] or more
/// - geometry: the forward convolution's
public func conv2dWinogradInputGradient(outputGradient: UnsafePointer<Float>,
                                        transformedFlippedWeight: UnsafePointer<Float>,
                                        inputGradient: UnsafeMutablePointer<Float>,
                                        scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry,
                                        batch: Int, images: Range<Int>) {
    let gradient = winogradInputGradientGeometry(g)
    conv2dWinogradForward(input: outputGradient, transformedWeight: transformedFlippedWeight, bias: nil,
                          output: inputGradient, scratch: scratch, geometry: gradient, batch: batch,
                          images: images, tile: winogradTile(for: gradient))
}

// MARK: - Weight gradient

/// Sizes of the weight-gradient scratch beyond the forward layout's: the output-gradient plane
/// [tilesY·m, tilesX·m, OCp] and the accumulated dU [α², IC, OCp]. The products region of the
/// forward layout holds Z = A dY Aᵀ [α², T, OCp].
extension WinogradLayout {
    var gradientPlaneCount: Int { tilesY * m * tilesX * m * outPadded }
    func accumulatorCount(_ g: Conv2DGeometry) -> Int { elements * g.inChannels * outPadded }
    func weightGradientScratchCount(_ g: Conv2DGeometry) -> Int {
        scratchCount + gradientPlaneCount + accumulatorCount(g)
    }
}

/// Floats of one lane's scratch for `conv2dWinogradWeightGradient` over up to `images` images.
public func winogradWeightGradientScratchCount(geometry g: Conv2DGeometry, images: Int) -> Int {
    WinogradLayout(g, tile: winogradTile(for: g), images: images).weightGradientScratchCount(g)
}

/// Winograd weight gradient for the images in `images`, one tile size: the adjoint of the forward,
///     dg = Gᵀ [ Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B) ] G,
/// the sum over tiles as α² GEMMs dU[ξ] += V[ξ]ᵀ · Z[ξ] ([IC × T]·[T × OC]).
@inline(never)
func conv2dWinogradWeightGradient<T: WinogradTransform>(
    _: T.Type, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
    weightGradient: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry,
    layout l: WinogradLayout, batch: Int, images: Range<Int>
) {
    let (m, alpha) = (T.m, T.alpha)
    let (ic, oc, oh, ow) = (g.inChannels, g.outChannels, g.outHeight, g.outWidth)
    if images.isEmpty {
        weightGradient.update(repeating: 0, count: g.weightCount)
        return
    }
    let plane = scratch
    let transformed = plane + l.planeCount
    let products = transformed + l.transformedInputCount
    let temporary = products + l.productCount
    let gradientPlane = temporary + l.temporaryCount
    let accumulator = gradientPlane + l.gradientPlaneCount
    let (cp, op) = (l.inPadded, l.outPadded)
    let inputElementStride = l.inputElementStride
    let productElementStride = l.productElementStride
    let gradientWidth = l.tilesX * m
    let gradientRowStride = gradientWidth * op
    let total = images.count * l.tilesPerImage
    var heldImage = -1
    var heldGradient = -1
    var start = 0
    while start < total {
        let count = min(l.chunkTiles, total - start)
        winogradTransformInput(T.self, input: input, plane: plane, heldImage: &heldImage,
                               transformed: transformed, temporary: temporary, geometry: g, layout: l,
                               batch: batch, firstImage: images.lowerBound, start: start, count: count)
        // Z[ξ][t][o] = (A dY Aᵀ)[ξ], dY zero past the bottom and right edges.
        for t in 0..<count {
            let (image, ty, tx) = l.tile(start + t, firstImage: images.lowerBound)
            if image != heldGradient {
                winogradInterleave(outputGradient, gradientPlane, channels: oc, height: oh, width: ow,
                                   top: 0, left: 0, paddedHeight: l.tilesY * m, paddedWidth: gradientWidth,
                                   batch: batch, image: image)
                heldGradient = image
            }
            let corner = gradientPlane + ty * m * gradientRowStride + tx * m * op
            for block in 0..<l.outBlocks {
                // Z[ξ] = (A dY Aᵀ)[ξ]
                winogradTransformTile(corner + block * 8, rows: m, rowStride: gradientRowStride, columnStride: op,
                                      alpha: alpha, temporary: temporary, target: products + t * op + block * 8,
                                      elementStride: productElementStride, T.gradient)
            }
        }
        // dU[ξ] (+)= V[ξ]ᵀ · Z[ξ]: [IC × count] · [count × OCp] (Z is zero past OC).
        for e in 0..<l.elements {
            multiplyStrided(transformed + e * inputElementStride, rowStride: 1, depthStride: cp,
                             products + e * productElementStride, ldb: op, accumulator + e * ic * op, ldc: op,
                             rows: ic, columns: op, depth: count, accumulate: start != 0)
        }
        start += count
    }
    // dW[o][i] = Gᵀ dU[·][i][o] G, eight output channels at a time (dU's rows are contiguous in o).
    let gt = T.kernelTransform
    let r = T.r
    let taps = r * r
    let stride = ic * op
    let half = temporary  // Gᵀ dU: [r, α] vectors of 8
    withUnsafeTemporaryAllocation(of: Float.self, capacity: r * alpha) { g in  // g[a·r + k] = G[a][k]
        for a in 0..<alpha {
            for k in 0..<r { g[a * r + k] = Float(gt[a][k]) }
        }
        for i in 0..<ic {
            for block in 0..<l.outBlocks {
                let o0 = block * 8
                let u = accumulator + i * op + o0
                for b in 0..<alpha {
                    for k in 0..<r {
                        var h = Lanes()
                        for a in 0..<alpha {
                            h = multiplyAdd(Lanes(repeating: g[a * r + k]), loadLanes(u + (a * alpha + b) * stride), h)
                        }
                        storeLanes(h, half + (k * alpha + b) * 8)
                    }
                }
                let lanes = min(8, oc - o0)
                for ky in 0..<r {
                    for kx in 0..<r {
                        var total = Lanes()
                        for b in 0..<alpha {
                            total = multiplyAdd(loadLanes(half + (ky * alpha + b) * 8), Lanes(repeating: g[b * r + kx]), total)
                        }
                        let target = weightGradient + (o0 * ic + i) * taps + ky * r + kx
                        for lane in 0..<lanes { target[lane * ic * taps] = total[lane] }
                    }
                }
            }
        }
    }
}

/// Winograd weight gradient with an explicit tile size (tests and measurements).
func conv2dWinogradWeightGradient(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                  weightGradient: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                  geometry g: Conv2DGeometry, batch: Int, images: Range<Int>, tile: WinogradTile,
                                  chunkBudget: Int = WinogradLayout.chunkBudget) {
    let layout = WinogradLayout(g, tile: tile, images: images.count, chunkBudget: chunkBudget)
    switch tile {
    case .f2x2:
        conv2dWinogradWeightGradient(WinogradF2.self, input: input, outputGradient: outputGradient,
                                     weightGradient: weightGradient, scratch: scratch, geometry: g, layout: layout,
                                     batch: batch, images: images)
    case .f4x4:
        conv2dWinogradWeightGradient(WinogradF4.self, input: input, outputGradient: outputGradient,
                                     weightGradient: weightGradient, scratch: scratch, geometry: g, layout: layout,
                                     batch: batch, images: images)
    case .f2x2k5:
        conv2dWinogradWeightGradient(WinogradF2K5.self, input: input, outputGradient: outputGradient,
                                     weightGradient: weightGradient, scratch: scratch, geometry: g, layout: layout,
                                     batch: batch, images: images)
    }
}

/// Convolution weight gradient by Winograd for the images in `images` (one lane's share), summed
/// over those images and overwritten (zero for an empty share), as `conv2dBackward` does.
/// - input: [IC, batch, H, W] (the forward input)
/// - outputGradient: [OC, batch, OH, OW]
/// - weightGradient: [OC, IC, r, r], overwritten
/// - scratch: [winogradWeightGradientScratchCount(geometry: g, images: images.count)] or more
public func conv2dWinogradWeightGradient(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                         weightGradient: UnsafeMutablePointer<Float>,
                                         scratch: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry,
                                         batch: Int, images: Range<Int>) {
    conv2dWinogradWeightGradient(input: input, outputGradient: outputGradient, weightGradient: weightGradient,
                                 scratch: scratch, geometry: g, batch: batch, images: images,
                                 tile: winogradTile(for: g))
}
