/// The typed form of a cnnc v1 model spec. Every value that came from the file keeps the
/// location of its node so later stages (shape inference, parameter limit) can point at it.

/// A height/width pair; YAML accepts an integer `k` (meaning `[k, k]`) or `[h, w]`.
public struct Pair: Hashable, Sendable, CustomStringConvertible {
    public var h: Int
    public var w: Int

    public init(_ h: Int, _ w: Int) {
        self.h = h
        self.w = w
    }

    public init(square k: Int) {
        self.init(k, k)
    }

    public var description: String { "\(h)×\(w)" }
}

/// PyTorch's defaults for optional layer arguments: those several kinds share here, each kind's
/// own in its file in Layers/Kinds/ (`LayerDefaults.convStride` in Conv2D.swift).
public enum LayerDefaults {
    public static let bias = true
    /// MNIST: one grey channel, 28×28 pixels.
    public static let input = [1, 28, 28]
}

/// The canonical spelling of each whitelisted layer, in the order docs list them.
public enum LayerName: String, CaseIterable, Sendable {
    case linear = "Linear"
    case conv2d = "Conv2D"
    case maxPool2d = "MaxPool2D"
    case batchNorm2d = "BatchNorm2D"
    case dropout = "Dropout"
    case relu = "ReLU"
    case softmax = "Softmax"

    /// The kind's family in Spec (Layers/Kinds/): its typed arguments, table entry and decoding.
    /// The switch is exhaustive: a new case does not compile without its family.
    public var family: any LayerKindSpec.Type {
        switch self {
        case .linear: return LinearSpec.self
        case .conv2d: return Conv2DSpec.self
        case .maxPool2d: return MaxPool2DSpec.self
        case .batchNorm2d: return BatchNorm2DSpec.self
        case .dropout: return DropoutSpec.self
        case .relu: return ReLUSpec.self
        case .softmax: return SoftmaxSpec.self
        }
    }
}

/// The whitelist, each case with its kind's typed arguments (`LayerKindSpec`, Layers/Kinds/).
/// Adding a layer means adding a case here and in `LayerName`; see "Adding a layer kind" in
/// LayerTable.swift.
public enum LayerKind: Hashable, Sendable {
    case conv2d(Conv2DSpec)
    case maxPool2d(MaxPool2DSpec)
    case batchNorm2d(BatchNorm2DSpec)
    case dropout(DropoutSpec)
    case relu
    case softmax
    case linear(LinearSpec)

    /// The typed arguments: the one switch in Spec from a layer to its kind's family.
    public var spec: any LayerKindSpec {
        switch self {
        case let .conv2d(spec): return spec
        case let .maxPool2d(spec): return spec
        case let .batchNorm2d(spec): return spec
        case let .dropout(spec): return spec
        case .relu: return ReLUSpec()
        case .softmax: return SoftmaxSpec()
        case let .linear(spec): return spec
        }
    }

    /// The whitelist entry of this layer.
    public var name: LayerName { type(of: spec).name }

    /// The canonical spelling, as written in docs and `--json` output.
    public var canonicalName: String { name.rawValue }

    /// Every whitelisted name, canonical spelling.
    public static let canonicalNames = LayerName.allCases.map(\.rawValue)
}

public struct LayerSpec: Hashable, Sendable {
    public var kind: LayerKind
    /// The user's `name:`, if any.
    public var name: String?
    /// Where the layer's item starts (the layer name).
    public var location: SourceLocation
    /// Where each argument key was written, by its YAML key (`kernel_size`, `p`, …).
    public var argumentLocations: [String: SourceLocation]

    public init(kind: LayerKind, name: String? = nil, location: SourceLocation,
                argumentLocations: [String: SourceLocation] = [:]) {
        self.kind = kind
        self.name = name
        self.location = location
        self.argumentLocations = argumentLocations
    }

    /// The location of argument `key` if it was written, else the layer's own location.
    public func location(of key: String) -> SourceLocation {
        argumentLocations[key] ?? location
    }
}

public enum OptimizerKind: String, Hashable, Sendable, CaseIterable {
    case adam
    case sgd
}

/// The `train.optimizer` mapping. Absent fields take the defaults in `TrainDefaults`.
public struct OptimizerSpec: Hashable, Sendable {
    public var kind: OptimizerKind
    public var lr: Double?
    public var momentum: Double?
    public var weightDecay: Double?

    public init(kind: OptimizerKind, lr: Double? = nil, momentum: Double? = nil, weightDecay: Double? = nil) {
        self.kind = kind
        self.lr = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
    }
}

/// The optional `train:` section. A field left out stays `nil`; the command line and then
/// `TrainDefaults` fill it in.
public struct TrainSpec: Hashable, Sendable {
    public var epochs: Int?
    public var batchSize: Int?
    public var optimizer: OptimizerSpec?
    public var seed: UInt64?

    public init(epochs: Int? = nil, batchSize: Int? = nil, optimizer: OptimizerSpec? = nil, seed: UInt64? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.seed = seed
    }
}

/// Training defaults when neither the spec nor the command line says otherwise.
public enum TrainDefaults {
    public static let epochs = 10
    public static let batchSize = 32
    public static let optimizer = OptimizerKind.adam
    public static let adamLR = 0.001
    public static let sgdLR = 0.01
    public static let momentum = 0.0
    public static let weightDecay = 0.0
    public static let seed: UInt64 = 0
}

public struct ModelSpec: Hashable, Sendable {
    public var name: String
    /// C, H, W.
    public var input: [Int]
    public var inputLocation: SourceLocation?
    public var layers: [LayerSpec]
    /// Where the `layers:` key is.
    public var layersLocation: SourceLocation
    public var train: TrainSpec

    public init(name: String, input: [Int] = LayerDefaults.input, inputLocation: SourceLocation? = nil,
                layers: [LayerSpec], layersLocation: SourceLocation, train: TrainSpec = TrainSpec()) {
        self.name = name
        self.input = input
        self.inputLocation = inputLocation
        self.layers = layers
        self.layersLocation = layersLocation
        self.train = train
    }
}
