import Foundation
import Graph
import Spec

/// Adam as torch.optim.Adam (L2 weight decay added to the gradient, not decoupled):
/// g ← g + λ·θ; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// θ ← θ − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε).
/// - parameters, gradients, firstMoment, secondMoment: [count]
@inline(never)
func adamUpdate(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>,
                count: Int, lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, step: Int) {
    let correction1 = 1 - pow(beta1, Double(step))
    let correction2 = 1 - pow(beta2, Double(step))
    let stepSize = Float(lr / correction1)
    let rootCorrection2 = Float(correction2.squareRoot())
    let (b1, b2, e, decay) = (Float(beta1), Float(beta2), Float(eps), Float(weightDecay))
    let (c1, c2) = (1 - b1, 1 - b2)
    // Eight elements at a time with the scalar loop's operations in the scalar loop's order
    // (IEEE square roots and quotients are exactly rounded in both), so the result is the same
    // bit for bit; the compiler does not vectorize the loop itself (the pointers may alias).
    let (vb1, vb2, vc1, vc2) = (Lanes(repeating: b1), Lanes(repeating: b2), Lanes(repeating: c1), Lanes(repeating: c2))
    let (ve, vdecay, vstep, vroot) = (Lanes(repeating: e), Lanes(repeating: decay), Lanes(repeating: stepSize),
                                      Lanes(repeating: rootCorrection2))
    var i = 0
    while i + 8 <= count {
        let p = loadLanes(parameters + i)
        let g = loadLanes(gradients + i) + vdecay * p
        let m = vb1 * loadLanes(firstMoment + i) + vc1 * g
        let v = vb2 * loadLanes(secondMoment + i) + vc2 * g * g
        storeLanes(m, firstMoment + i)
        storeLanes(v, secondMoment + i)
        let denominator = v.squareRoot() / vroot + ve
        storeLanes(p - vstep * m / denominator, parameters + i)
        i += 8
    }
    while i < count {
        let g = gradients[i] + decay * parameters[i]
        firstMoment[i] = b1 * firstMoment[i] + c1 * g
        secondMoment[i] = b2 * secondMoment[i] + c2 * g * g
        let denominator = secondMoment[i].squareRoot() / rootCorrection2 + e
        parameters[i] -= stepSize * firstMoment[i] / denominator
        i += 1
    }
}

/// SGD with momentum as torch.optim.SGD (no dampening, no Nesterov): g ← g + λ·θ;
/// buf ← μ·buf + g (buf starts at g); θ ← θ − lr·buf. Without momentum the buffer is unused.
/// - parameters, gradients, velocity: [count]
@inline(never)
func sgdUpdate(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
               velocity: UnsafeMutablePointer<Float>, count: Int, lr: Double, momentum: Double, weightDecay: Double) {
    let (rate, mu, decay) = (Float(lr), Float(momentum), Float(weightDecay))
    for i in 0..<count {
        var g = gradients[i] + decay * parameters[i]
        if mu != 0 {
            velocity[i] = mu * velocity[i] + g
            g = velocity[i]
        }
        parameters[i] -= rate * g
    }
}
