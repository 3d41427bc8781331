import Spec

/// The shape of one example's features as it flows through the network (the batch dimension is
/// never part of it).
public enum FeatureShape: Hashable, Sendable, CustomStringConvertible {
    case image(channels: Int, height: Int, width: Int)
    case flat(Int)

    public var elementCount: Int {
        switch self {
        case let .image(c, h, w): return c * h * w
        case let .flat(n): return n
        }
    }

    /// As PyTorch prints it without the batch: `[32, 28, 28]` or `[10]`.
    public var dims: [Int] {
        switch self {
        case let .image(c, h, w): return [c, h, w]
        case let .flat(n): return [n]
        }
    }

    public var description: String {
        dims.map(String.init).joined(separator: "×")
    }
}

/// Caffe's compute_output_shape, as PyTorch does it for convolution and (floor-mode) pooling:
/// out = floor((in + 2·pad − kernel) / stride) + 1. Callers ensure in + 2·pad ≥ kernel.
public func windowOutputSize(_ input: Int, padding: Int, kernel: Int, stride: Int) -> Int {
    (input + 2 * padding - kernel) / stride + 1
}
