import Foundation
import Graph
import Spec

/// A hyperparameter a sweep can vary: a training setting, or a numeric argument of spec layers.
public enum SweepParameter: Hashable, Sendable {
    /// p of every Dropout layer.
    case dropout
    case lr
    /// The optimizer's L2 strength (layers with their own `weight_decay` keep theirs).
    case weightDecay
    case batchSize
    case epochs
    case momentum
    /// A numeric argument of one layer (`--set head.weight_decay=…`).
    case layer(LayerArgumentReference)

    /// The settings flags in the order columns and directory names list them.
    public static let settings: [SweepParameter] = [.dropout, .lr, .weightDecay, .batchSize, .epochs, .momentum]

    /// The column name in tables, CSV and JSON, and the key in the manifest.
    public var name: String {
        switch self {
        case .dropout: return "dropout"
        case .lr: return "lr"
        case .weightDecay: return "weight_decay"
        case .batchSize: return "batch_size"
        case .epochs: return "epochs"
        case .momentum: return "momentum"
        case let .layer(reference): return reference.description
        }
    }

    /// The command-line flag that sets it.
    public var flag: String {
        switch self {
        case .layer: return "--set"
        default: return "--" + name.replacingOccurrences(of: "_", with: "-")
        }
    }

    /// The values the parameter takes; sizes are bounded so plans cannot overflow.
    public var domain: SweepDomain {
        switch self {
        case .dropout: return SweepDomain(lower: 0, upper: 1)
        case .lr: return SweepDomain(lower: 0, lowerIncluded: false, upper: 1e6, upperIncluded: true)
        case .weightDecay: return SweepDomain(lower: 0, upper: 1e6, upperIncluded: true)
        case .batchSize: return SweepDomain(lower: 1, upper: Double(sweepBatchSizeLimit), upperIncluded: true, integer: true)
        case .epochs: return SweepDomain(lower: 1, upper: Double(sweepEpochLimit), upperIncluded: true, integer: true)
        case .momentum: return SweepDomain(lower: 0, upper: 1)
        case let .layer(reference): return reference.argument.domain
        }
    }
}

/// Batch sizes a sweep accepts (a plan for more would not fit any machine this runs on).
public let sweepBatchSizeLimit = 1 << 20
public let sweepEpochLimit = 100_000
/// Runs one sweep may plan; the manifest and result tables hold one entry per run.
public let sweepRunLimit = 100_000
/// Runs a sweep starts without `--yes`.
public let sweepRunConfirmationThreshold = 1_000

/// A regularizer an ablation removes: every layer of that kind, or every weight decay set to 0.
public enum Ablation: String, Hashable, Sendable, CaseIterable {
    case batchNorm2D = "BatchNorm2D"
    case dropout = "Dropout"
    case weightDecay = "weight_decay"

    /// Case-insensitive, PyTorch spellings too (`BatchNorm2d`).
    public init?(name: String) {
        guard let match = Ablation.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else { return nil }
        self = match
    }

    /// The row label: `without BatchNorm2D`.
    public var label: String { "without \(rawValue)" }
}

/// One value of every swept parameter, and the ablation, if any: one row of the result table.
public struct SweepPoint: Hashable, Sendable {
    /// In axis order.
    public var values: [SweepValue]
    public var ablation: Ablation?
}

/// A swept parameter with its values.
public struct SweepAxis: Hashable, Sendable {
    public var parameter: SweepParameter
    public var values: SweepValueList

    public init(parameter: SweepParameter, values: SweepValueList) {
        self.parameter = parameter
        self.values = values
    }
}

/// Product of counts, or nil when it exceeds `limit` (never overflows).
public func boundedRunCount(_ counts: [Int], limit: Int = sweepRunLimit) -> Int? {
    var total = 1
    for count in counts {
        let (product, overflow) = total.multipliedReportingOverflow(by: count)
        guard !overflow, product <= limit else { return nil }
        total = product
    }
    return total
}
