import Spec

extension Graph {
    /// The receptive field of one output element of each step, in input pixels (height × width),
    /// as torchinfo-style summaries show it: r_out = r_in + (k − 1)·j_in and j_out = j_in·s, where
    /// j is the distance in input pixels between neighbouring elements. nil once features are flat
    /// (a Linear sees the whole input).
    public var receptiveFields: [Pair?] {
        var field = Pair(square: 1)
        var jump = Pair(square: 1)
        var isFlat = false
        return steps.map { step -> Pair? in
            let window: (kernel: Pair, stride: Pair)?
            switch step.op {
            case let .conv2d(g): window = (g.kernel, g.stride)
            case let .maxPool2d(g): window = (g.kernel, g.stride)
            case .flatten, .linear: window = nil; isFlat = true
            case .batchNorm2d, .dropout, .relu, .softmax: window = nil
            }
            if let window {
                field = Pair(field.h + (window.kernel.h - 1) * jump.h, field.w + (window.kernel.w - 1) * jump.w)
                jump = Pair(jump.h * window.stride.h, jump.w * window.stride.w)
            }
            return isFlat ? nil : field
        }
    }

    /// Elements of running statistics (batch-norm mean and variance): state that is saved but
    /// not trained, Keras's "non-trainable params". Counters (`num_batches_tracked`) are not counted.
    public var nonTrainableCount: Int { statisticCount }
}

extension Op {
    /// The layer's settings in a few characters for the `check` table and hover: `k5 s1 p2`,
    /// `k3×5 s2 p1×2 no bias`, `p 0.25`; empty for layers without settings.
    public var settingsText: String {
        func pair(_ p: Pair) -> String { p.h == p.w ? String(p.h) : "\(p.h)×\(p.w)" }
        switch self {
        case let .conv2d(g):
            return "k\(pair(g.kernel)) s\(pair(g.stride)) p\(pair(g.padding))" + (g.bias ? "" : " no bias")
        case let .maxPool2d(g):
            return "k\(pair(g.kernel)) s\(pair(g.stride)) p\(pair(g.padding))"
        case let .dropout(p):
            return "p \(formatShortest(p))"
        case let .linear(g):
            return g.bias ? "" : "no bias"
        case .batchNorm2d, .relu, .softmax, .flatten:
            return ""
        }
    }
}

/// `0.25`, `0.5`, `0` for probabilities: the shortest decimal that reads back the same.
func formatShortest(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
}
