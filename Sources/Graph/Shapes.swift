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

/// Geometry of a convolution over a C×H×W input. Weight layout is PyTorch's [out, in, kh, kw].
public struct Conv2DGeometry: Hashable, Sendable {
    public var inChannels: Int
    public var outChannels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var kernel: Pair
    public var stride: Pair
    public var padding: Pair
    public var bias: Bool

    public var outHeight: Int { windowOutputSize(inHeight, padding: padding.h, kernel: kernel.h, stride: stride.h) }
    public var outWidth: Int { windowOutputSize(inWidth, padding: padding.w, kernel: kernel.w, stride: stride.w) }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    public var columnRows: Int { inChannels * kernel.h * kernel.w }
    public var outSpatial: Int { outHeight * outWidth }
    public var weightCount: Int { outChannels * columnRows }
}

/// Geometry of a max pooling window over a C×H×W input (floor rounding, implicit −∞ padding).
public struct Pool2DGeometry: Hashable, Sendable {
    public var channels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var kernel: Pair
    public var stride: Pair
    public var padding: Pair

    public var outHeight: Int { windowOutputSize(inHeight, padding: padding.h, kernel: kernel.h, stride: stride.h) }
    public var outWidth: Int { windowOutputSize(inWidth, padding: padding.w, kernel: kernel.w, stride: stride.w) }
}

/// Caffe's compute_output_shape, as PyTorch does it for convolution and (floor-mode) pooling:
/// out = floor((in + 2·pad − kernel) / stride) + 1. Callers ensure in + 2·pad ≥ kernel.
public func windowOutputSize(_ input: Int, padding: Int, kernel: Int, stride: Int) -> Int {
    (input + 2 * padding - kernel) / stride + 1
}

public struct BatchNormGeometry: Hashable, Sendable {
    public var channels: Int
    /// H·W: the elements per channel per example.
    public var spatial: Int
    public var eps: Double
    public var momentum: Double
}

/// Geometry of a fully connected layer. Weight layout is PyTorch's [out, in].
public struct LinearGeometry: Hashable, Sendable {
    public var inFeatures: Int
    public var outFeatures: Int
    public var bias: Bool
}

/// Geometry of the implicit flatten that PyTorch writes as `nn.Flatten()` before a Linear.
public struct FlattenGeometry: Hashable, Sendable {
    public var channels: Int
    /// H·W.
    public var spatial: Int
}
