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

/// Elements per dropout random stream: the mask of element i comes from stream i / 4096 of the
/// step's seed, so any split of the elements between lanes draws the same mask.
let dropoutBlock = 4096

/// Dropout forward in training mode (inverted) for elements [first, first + count): each element
/// is kept with probability 1 − p and scaled by 1/(1 − p); the mask holds 0 or 1/(1 − p). May run
/// in place. A non-empty range must start on a multiple of `dropoutBlock` (an empty share, such as
/// a last lane's past the end, may start anywhere).
/// - input, output, mask: [total], touched in [first, first + count)
@inline(never)
func dropoutForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                    mask: UnsafeMutablePointer<Float>, p: Double, seed: UInt64, first: Int, count: Int) {
    precondition(count == 0 || first % dropoutBlock == 0, "dropout ranges start on a block")
    let scale = Float(1 / (1 - p))
    let threshold = Float(p)
    var start = first
    while start < first + count {
        let end = min(start + dropoutBlock, first + count)
        var generator = SeededGenerator(seed: seed ^ (UInt64(start / dropoutBlock) &* 0x9E37_79B9_7F4A_7C15))
        for i in start..<end {
            let keep = generator.nextUnitFloat() >= threshold
            mask[i] = keep ? scale : 0
            output[i] = input[i] * mask[i]
        }
        start = end
    }
}

/// Dropout forward over all `count` elements on one thread, with a fresh seed from `generator`.
func dropoutForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                    mask: UnsafeMutablePointer<Float>, p: Double, count: Int, generator: inout SeededGenerator) {
    dropoutForward(input: input, output: output, mask: mask, p: p, seed: generator.next(), first: 0, count: count)
}

/// The block-aligned share of `count` dropout elements that `lane` of `lanes` takes.
func dropoutShare(of count: Int, lane: Int, lanes: Int) -> Range<Int> {
    let blocks = (count + dropoutBlock - 1) / dropoutBlock
    let share = laneShare(of: blocks, lane: lane, lanes: lanes)
    return min(share.lowerBound * dropoutBlock, count)..<min(share.upperBound * dropoutBlock, count)
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
