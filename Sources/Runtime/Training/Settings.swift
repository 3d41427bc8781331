import Foundation
import Graph
import Spec

/// Values given on the command line; each one present overrides the spec's `train:` section.
public struct TrainingOverrides: Hashable, Sendable {
    public var epochs: Int?
    public var batchSize: Int?
    public var optimizer: OptimizerKind?
    public var lr: Double?
    public var momentum: Double?
    public var weightDecay: Double?
    public var seed: UInt64?

    public init(epochs: Int? = nil, batchSize: Int? = nil, optimizer: OptimizerKind? = nil, lr: Double? = nil,
                momentum: Double? = nil, weightDecay: Double? = nil, seed: UInt64? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.seed = seed
    }
}

extension OptimizerSettings {
    /// Command line first, then the spec, then `TrainDefaults`. Switching the optimizer on the
    /// command line drops the spec's learning rate and momentum, which belonged to the other one.
    public static func resolve(spec: OptimizerSpec?, overrides: TrainingOverrides) -> OptimizerSettings {
        let kind = overrides.optimizer ?? spec?.kind ?? TrainDefaults.optimizer
        let fromSpec = spec?.kind == kind ? spec : nil
        let defaultLR = kind == .adam ? TrainDefaults.adamLR : TrainDefaults.sgdLR
        return OptimizerSettings(
            kind: kind,
            lr: overrides.lr ?? fromSpec?.lr ?? defaultLR,
            momentum: overrides.momentum ?? fromSpec?.momentum ?? TrainDefaults.momentum,
            weightDecay: overrides.weightDecay ?? spec?.weightDecay ?? TrainDefaults.weightDecay)
    }
}

extension TrainingSettings {
    /// Merges the spec's `train:` section with the command line.
    public static func resolve(spec: TrainSpec, overrides: TrainingOverrides, threads: Int, validation: Int,
                               limit: Int?) -> TrainingSettings {
        TrainingSettings(
            epochs: overrides.epochs ?? spec.epochs ?? TrainDefaults.epochs,
            batchSize: overrides.batchSize ?? spec.batchSize ?? TrainDefaults.batchSize,
            optimizer: OptimizerSettings.resolve(spec: spec.optimizer, overrides: overrides),
            seed: overrides.seed ?? spec.seed ?? TrainDefaults.seed,
            threads: threads,
            validation: validation,
            limit: limit)
    }
}

/// Logical cores of this machine.
public func availableCores() -> Int {
    max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}
