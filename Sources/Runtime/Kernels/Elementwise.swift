/// ReLU forward; may run in place.
/// - input, output: [count]
func reluForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        output[i] = max(input[i], 0)
    }
}

/// ReLU backward from the forward output (the mask is output > 0); may run in place.
/// - output, outputGradient, inputGradient: [count]
func reluBackward(output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                  inputGradient: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        inputGradient[i] = output[i] > 0 ? outputGradient[i] : 0
    }
}

/// Dropout forward in training mode (inverted): each element is kept with probability 1 − p and
/// scaled by 1/(1 − p); the mask holds 0 or 1/(1 − p). May run in place.
/// - input, output, mask: [count]
func dropoutForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                    mask: UnsafeMutablePointer<Float>, p: Double, count: Int, generator: inout SeededGenerator) {
    let scale = Float(1 / (1 - p))
    let threshold = Float(p)
    for i in 0..<count {
        let keep = generator.nextUnitFloat() >= threshold
        mask[i] = keep ? scale : 0
        output[i] = input[i] * mask[i]
    }
}

/// Dropout backward: the gradient passes where the element was kept, with the same scale.
/// - mask, outputGradient, inputGradient: [count]
func dropoutBackward(mask: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                     inputGradient: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        inputGradient[i] = outputGradient[i] * mask[i]
    }
}

/// The implicit flatten: a CBHW batch to one row of C·H·W features per image, in PyTorch's
/// (c, y, x) order.
/// - input: [C, batch, S]; output: [batch, C·S]
func flattenForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, geometry g: FlattenGeometry, batch: Int) {
    let (c, s) = (g.channels, g.spatial)
    for channel in 0..<c {
        for image in 0..<batch {
            let from = input + (channel * batch + image) * s
            let to = output + image * c * s + channel * s
            to.update(from: from, count: s)
        }
    }
}

/// The flatten's adjoint: rows of features back to the CBHW layout.
/// - outputGradient: [batch, C·S]; inputGradient: [C, batch, S]
func flattenBackward(outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
                     geometry g: FlattenGeometry, batch: Int) {
    let (c, s) = (g.channels, g.spatial)
    for channel in 0..<c {
        for image in 0..<batch {
            let from = outputGradient + image * c * s + channel * s
            let to = inputGradient + (channel * batch + image) * s
            to.update(from: from, count: s)
        }
    }
}
