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
    for i in 0..<count {
        let g = gradients[i] + decay * parameters[i]
        firstMoment[i] = b1 * firstMoment[i] + (1 - b1) * g
        secondMoment[i] = b2 * secondMoment[i] + (1 - b2) * g * g
        let denominator = secondMoment[i].squareRoot() / rootCorrection2 + e
        parameters[i] -= stepSize * firstMoment[i] / denominator
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
