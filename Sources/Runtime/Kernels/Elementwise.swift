import Graph
import Spec

/// ReLU forward; may run in place.
/// - input, output: [count]
@inline(never)
func reluForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int) {
    let zero = Lanes()
    var i = 0
    while i + 8 <= count {
        let x = loadLanes(input + i)
        storeLanes(x.replacing(with: zero, where: x .< zero), output + i)
        i += 8
    }
    while i < count {
        output[i] = max(input[i], 0)
        i += 1
    }
}

/// ReLU backward from the forward output (the mask is output > 0); may run in place.
/// - output, outputGradient, inputGradient: [count]
@inline(never)
func reluBackward(output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                  inputGradient: UnsafeMutablePointer<Float>, count: Int) {
    let zero = Lanes()
    var i = 0
    while i + 8 <= count {
        let y = loadLanes(output + i)
        let g = loadLanes(outputGradient + i)
        storeLanes(g.replacing(with: zero, where: y .<= zero), inputGradient + i)
        i += 8
    }
    while i < count {
        inputGradient[i] = output[i] > 0 ? outputGradient[i] : 0
        i += 1
    }
}

/// The dropout mask's random number for element `index` of a step: a counter-based hash (two
/// rounds of MurmurHash3's 32-bit finalizer, keyed by the step seed's halves), so every element's
/// draw is independent of how the elements are split between lanes and of the order they run in.
/// For one seed it is a bijection of the index. Its top 24 bits are the uniform draw.
/// scripts/cnnc_torch.py (`cnnc_dropout_keep`) computes the same numbers for the twin trainers.
@inline(__always)
func dropoutHash(_ index: SIMD8<UInt32>, seed: UInt64) -> SIMD8<UInt32> {
    @inline(__always) func mix(_ v: SIMD8<UInt32>) -> SIMD8<UInt32> {
        var x = v ^ (v &>> 16)
        x = x &* 0x85EB_CA6B
        x ^= x &>> 13
        x = x &* 0xC2B2_AE35
        return x ^ (x &>> 16)
    }
    let low = SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: seed))
    let high = SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: seed >> 32))
    return mix(mix((index &* 0x9E37_79B9) ^ low) ^ high)
}

/// The 24-bit draws at or above which an element is kept with probability 1 − p: element i is
/// kept when `dropoutHash(i) >> 8 ≥ dropoutCut(p)`, i.e. when its uniform float in [0, 1) with 24
/// random bits is ≥ Float(p) (exactly: both sides are multiples of 2⁻²⁴ after the rounding up).
func dropoutCut(p: Double) -> UInt32 {
    UInt32((Double(Float(p)) * 16_777_216).rounded(.up))
}

/// Dropout forward in training mode (inverted) for elements [first, first + count): each element
/// is kept with probability 1 − p and scaled by 1/(1 − p); the mask holds 0 or 1/(1 − p). May run
/// in place. Any split of the elements between calls draws the same mask.
/// - input, output, mask: [total], touched in [first, first + count); total < 2³²
@inline(never)
func dropoutForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                    mask: UnsafeMutablePointer<Float>, p: Double, seed: UInt64, first: Int, count: Int) {
    precondition(first + count <= Int(UInt32.max), "dropout indexes elements with 32 bits")
    let scale = Lanes(repeating: Float(1 / (1 - p)))
    let cut = SIMD8<UInt32>(repeating: dropoutCut(p: p))
    let step = SIMD8<UInt32>(repeating: 8)
    var index = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7) &+ UInt32(first)
    var i = first
    let end = first + count
    while i < end {
        let keep = (dropoutHash(index, seed: seed) &>> 8) .>= cut
        let m = Lanes().replacing(with: scale, where: keep)
        if i + 8 <= end {
            storeLanes(m, mask + i)
            storeLanes(loadLanes(input + i) * m, output + i)
        } else {
            for l in 0..<(end - i) {
                mask[i + l] = m[l]
                output[i + l] = input[i + l] * m[l]
            }
        }
        index &+= step
        i += 8
    }
}

/// Dropout forward over all `count` elements on one thread, with a fresh seed from `generator`.
func dropoutForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                    mask: UnsafeMutablePointer<Float>, p: Double, count: Int, generator: inout SeededGenerator) {
    dropoutForward(input: input, output: output, mask: mask, p: p, seed: generator.next(), first: 0, count: count)
}

/// Dropout backward: the gradient passes where the element was kept, with the same scale.
/// - mask, outputGradient, inputGradient: [count]
@inline(never)
func dropoutBackward(mask: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                     inputGradient: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        inputGradient[i] = outputGradient[i] * mask[i]
    }
}

/// The implicit flatten: a CBHW batch to one row of C·H·W features per image, in PyTorch's
/// (c, y, x) order.
/// - input: [C, batch, S]; output: [batch, C·S]
@inline(never)
func flattenForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, geometry g: FlattenGeometry, batch: Int,
                    channels: Range<Int>? = nil) {
    let (c, s) = (g.channels, g.spatial)
    for channel in channels ?? 0..<c {
        for image in 0..<batch {
            let from = input + (channel * batch + image) * s
            let to = output + image * c * s + channel * s
            to.update(from: from, count: s)
        }
    }
}

/// The flatten's adjoint: rows of features back to the CBHW layout.
/// - outputGradient: [batch, C·S]; inputGradient: [C, batch, S]
@inline(never)
func flattenBackward(outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
                     geometry g: FlattenGeometry, batch: Int, channels: Range<Int>? = nil) {
    let (c, s) = (g.channels, g.spatial)
    for channel in channels ?? 0..<c {
        for image in 0..<batch {
            let from = outputGradient + image * c * s + channel * s
            let to = inputGradient + (channel * batch + image) * s
            to.update(from: from, count: s)
        }
    }
}
