import Spec

extension Graph {
    /// The receptive field of one output element of each step, in input pixels (height × width),
    /// as torchinfo-style summaries show it: r_out = r_in + (k − 1)·j_in and j_out = j_in·s, where
    /// j is the distance in input pixels between neighbouring elements. nil once features are flat
    /// (a Linear sees the whole input).
    public var receptiveFields: [Pair?] {
        var field = Pair(square: 1)
        var jump = Pair(square: 1)
        return steps.map { step -> Pair? in
            if let window = step.op.window {
                field = Pair(field.h + (window.kernel.h - 1) * jump.h, field.w + (window.kernel.w - 1) * jump.w)
                jump = Pair(jump.h * window.stride.h, jump.w * window.stride.w)
            }
            guard case .image = step.output else { return nil }
            return field
        }
    }

    /// Elements of running statistics (batch-norm mean and variance): state that is saved but
    /// not trained, Keras's "non-trainable params". Counters (`num_batches_tracked`) are not counted.
    public var nonTrainableCount: Int { statisticCount }
}

/// `0.25`, `0.5`, `0` for probabilities: the shortest decimal that reads back the same.
func formatShortest(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
}
