import Foundation
import Graph
import Spec

/// The seeds of a sweep: an explicit list (`--seed 1,2,3`), or `count` seeds counting up from
/// `first` (`--seed S --seeds K`; without `--seed`, from the spec's seed).
public struct SweepSeeds: Hashable, Sendable {
    public var list: [UInt64]?
    public var first: UInt64?
    public var count: Int

    public init(list: [UInt64]? = nil, first: UInt64? = nil, count: Int = 1) {
        self.list = list
        self.first = first
        self.count = count
    }
}

/// Everything a sweep's command line decides: swept values, ablations, seeds and the fixed settings.
public struct SweepDefinition: Hashable, Sendable {
    /// Settings flags first (in `SweepParameter.settings` order), then `--set`s as given.
    public var axes: [SweepAxis]
    public var ablations: [Ablation]
    public var seeds: SweepSeeds
    public var optimizer: OptimizerKind?
    public var threads: Int
    public var validation: Int
    public var limit: Int?
    public var selectOn: SelectionSplit

    public init(axes: [SweepAxis], ablations: [Ablation] = [], seeds: SweepSeeds = SweepSeeds(), optimizer: OptimizerKind? = nil,
                threads: Int, validation: Int, limit: Int?, selectOn: SelectionSplit = .validation) {
        self.axes = axes
        self.ablations = ablations
        self.seeds = seeds
        self.optimizer = optimizer
        self.threads = threads
        self.validation = validation
        self.limit = limit
        self.selectOn = selectOn
    }
}

/// Why a sweep cannot be planned: a misuse of the command line (exit 2) or a spec that a swept
/// value makes invalid (exit 1; the text holds the spec's rendered diagnostics).
public enum SweepPlanError: Error, CustomStringConvertible {
    case usage(String)
    case invalidSpec(String)

    public var description: String {
        switch self {
        case let .usage(text), let .invalidSpec(text): return text
        }
    }
}

/// One training run of a sweep.
public struct SweepRun: Hashable, Sendable {
    public var index: Int
    /// The row of the result table it belongs to.
    public var point: Int
    public var seed: UInt64
    /// Sub-directory name inside the sweep's directory.
    public var directoryName: String
    public var settings: TrainingSettings
    /// Index into `SweepPlan.variants`: the compiled spec it trains.
    public var variant: Int
    /// The swept dropout p, if dropout is swept.
    public var dropout: Double?
}

/// A sweep compiled and expanded before anything runs: every point's spec is compiled (so a
/// value that makes the spec invalid is reported before the first run), every run's settings
/// resolved, and the run count bounded before any list is built.
public final class SweepPlan: @unchecked Sendable {
    public let source: SourceFile
    public let definition: SweepDefinition
    /// The spec compiled as written.
    public let base: Compilation
    public let points: [SweepPoint]
    public let seeds: [UInt64]
    public let runs: [SweepRun]
    /// Distinct compiled specs (dropout p, layer arguments and ablation decide them).
    public let variants: [Compilation]
    /// Each point's variant.
    public let pointVariants: [Int]
    /// Things the user should know (an ablation with nothing to remove, say).
    public let warnings: [String]

    public init(source: SourceFile, definition: SweepDefinition) throws {
        self.source = source
        self.definition = definition
        base = Compilation.compile(source: source)
        guard let baseSpec = base.spec, let baseGraph = base.graph else {
            throw SweepPlanError.invalidSpec(base.renderedDiagnostics)
        }
        let axes = definition.axes
        var names = Set<String>()
        for axis in axes where !names.insert(axis.parameter.name).inserted {
            throw SweepPlanError.usage("\(axis.parameter.name) is swept twice")
        }
        // Layer references resolve against the spec as written.
        var layerIndices: [Int: Int] = [:]
        for (i, axis) in axes.enumerated() {
            if case let .layer(reference) = axis.parameter {
                do {
                    layerIndices[i] = try resolveLayer(reference, spec: baseSpec, graph: baseGraph)
                } catch let error as SweepValueError {
                    throw SweepPlanError.usage(error.description)
                }
            }
        }
        let dropoutAxis = axes.firstIndex { $0.parameter == .dropout }
        if dropoutAxis != nil && !baseSpec.hasDropout {
            throw SweepPlanError.invalidSpec("\(source.path): error: the spec has no Dropout layer, so --dropout would train \(axes[dropoutAxis!].values.values.count) identical models")
        }
        let baseSettings = TrainingSettings.resolve(spec: baseSpec.train, overrides: TrainingOverrides(optimizer: definition.optimizer),
                                                    threads: definition.threads, validation: definition.validation,
                                                    limit: definition.limit)
        var ablations: [Ablation?] = [nil]
        var warnings: [String] = []
        for ablation in definition.ablations {
            guard !ablations.contains(ablation) else { throw SweepPlanError.usage("--ablate \(ablation.rawValue) is given twice") }
            let swept: SweepParameter? = ablation == .dropout ? .dropout : ablation == .weightDecay ? .weightDecay : nil
            // A single value is the baseline's setting (what the ablation removes); several are a sweep of it.
            if let swept, axes.contains(where: { $0.parameter == swept && $0.values.values.count > 1 }) {
                throw SweepPlanError.usage("--ablate \(ablation.rawValue) cannot be combined with \(swept.flag), which sweeps what it removes")
            }
            if axes.contains(where: { axis in
                if case let .layer(reference) = axis.parameter, ablation == .weightDecay, axis.values.values.count > 1 {
                    return reference.argument.key == "weight_decay"
                }
                return false
            }) {
                throw SweepPlanError.usage("--ablate weight_decay cannot be combined with --set …weight_decay")
            }
            let optimizerDecay = axes.first { $0.parameter == .weightDecay }?.values.values.map(\.value).max()
                ?? baseSettings.optimizer.weightDecay
            guard baseSpec.hasRegularizer(ablation, optimizerWeightDecay: optimizerDecay) else {
                warnings.append(ablation == .weightDecay
                    ? "--ablate weight_decay: nothing to remove (the optimizer's weight decay is 0 and no layer sets one); pass --weight-decay W to compare with and without it"
                    : "--ablate \(ablation.rawValue): the spec has no \(ablation.rawValue) layer; nothing to remove")
                continue
            }
            ablations.append(ablation)
        }
        // Bound the run count before building any list.
        let seedCount = definition.seeds.list?.count ?? definition.seeds.count
        guard seedCount >= 1 else { throw SweepPlanError.usage("--seeds must be at least 1") }
        let counts = axes.map(\.values.values.count) + [ablations.count, seedCount]
        guard boundedRunCount(counts) != nil else {
            let description = counts.map(String.init).joined(separator: " × ")
            throw SweepPlanError.usage("the sweep has \(description) runs, more than the \(groupedThousands(sweepRunLimit)) one sweep may plan; split it into several sweeps")
        }
        let first = definition.seeds.first ?? baseSettings.seed
        seeds = definition.seeds.list ?? (0..<UInt64(definition.seeds.count)).map { first &+ $0 }

        // Points: the Cartesian product of the axes (the last axis varies fastest), then ablations.
        var points: [SweepPoint] = []
        var current: [SweepValue] = []
        func expand(_ axis: Int) {
            if axis == axes.count {
                for ablation in ablations { points.append(SweepPoint(values: current, ablation: ablation)) }
                return
            }
            for value in axes[axis].values.values {
                current.append(value)
                expand(axis + 1)
                current.removeLast()
            }
        }
        expand(0)
        self.points = points
        self.warnings = warnings

        // Compile each distinct spec once.
        struct VariantKey: Hashable {
            var overrides: [LayerArgumentOverride]
            var dropout: SweepValue?
            var ablation: Ablation?
        }
        var variantIndex: [VariantKey: Int] = [:]
        var variants: [Compilation] = []
        var pointVariants: [Int] = []
        var problems: [String] = []
        for point in points {
            var overrides: [LayerArgumentOverride] = []
            for (i, axis) in axes.enumerated() {
                if case let .layer(reference) = axis.parameter, let layer = layerIndices[i] {
                    overrides.append(LayerArgumentOverride(layerIndex: layer, key: reference.argument.key, text: point.values[i].description))
                }
            }
            let key = VariantKey(overrides: overrides, dropout: dropoutAxis.map { point.values[$0] }, ablation: point.ablation)
            if let existing = variantIndex[key] {
                pointVariants.append(existing)
                continue
            }
            let compilation = Compilation.compile(source: source, overriding: overrides) { spec in
                var spec = spec
                if let p = key.dropout { spec = spec.settingDropout(p.value) }
                if let ablation = key.ablation { spec = spec.ablating(ablation) }
                return spec
            }
            if compilation.graph == nil {
                let what = SweepPlan.describe(point, axes: axes)
                problems.append("with \(what):\n" + compilation.renderedDiagnostics)
            }
            variantIndex[key] = variants.count
            pointVariants.append(variants.count)
            variants.append(compilation)
        }
        guard problems.isEmpty else {
            throw SweepPlanError.invalidSpec(problems.joined())
        }
        self.variants = variants
        self.pointVariants = pointVariants

        // Runs: every point with every seed.
        let multiValued = axes.indices.filter { axes[$0].values.values.count > 1 }
        let width = String(points.count * seeds.count - 1).count
        var runs: [SweepRun] = []
        for (pointIndex, point) in points.enumerated() {
            let spec = variants[pointVariants[pointIndex]].spec!
            var overrides = TrainingOverrides(optimizer: definition.optimizer)
            overrides.epochs = 1  // a sweep is a design loop; --epochs overrides
            var dropout: Double?
            for (i, axis) in axes.enumerated() {
                let value = point.values[i]
                switch axis.parameter {
                case .dropout: dropout = value.value
                case .lr: overrides.lr = value.value
                case .weightDecay: overrides.weightDecay = value.value
                case .batchSize: overrides.batchSize = value.integer
                case .epochs: overrides.epochs = value.integer
                case .momentum: overrides.momentum = value.value
                case .layer: break
                }
            }
            var settings = TrainingSettings.resolve(spec: spec.train, overrides: overrides, threads: definition.threads,
                                                    validation: definition.validation, limit: definition.limit)
            if point.ablation == .weightDecay { settings.optimizer.weightDecay = 0 }
            for seed in seeds {
                var parts = multiValued.map { sanitizedName(axes[$0].parameter.name) + point.values[$0].description }
                if let ablation = point.ablation {
                    parts.append("without-" + ablation.rawValue)
                } else if ablations.count > 1 {
                    parts.append("baseline")
                }
                if seeds.count > 1 { parts.append("seed\(seed)") }
                let index = runs.count
                let number = String(index)
                let name = String(repeating: "0", count: max(0, width - number.count)) + number
                    + (parts.isEmpty ? "" : "-" + parts.joined(separator: "-"))
                var runSettings = settings
                runSettings.seed = seed
                runs.append(SweepRun(index: index, point: pointIndex, seed: seed, directoryName: name, settings: runSettings,
                                     variant: pointVariants[pointIndex], dropout: dropout))
            }
        }
        self.runs = runs
    }

    /// The axes with more than one value: the table's and files' parameter columns.
    public var sweptAxes: [Int] { definition.axes.indices.filter { definition.axes[$0].values.values.count > 1 } }

    public var hasAblations: Bool { points.contains { $0.ablation != nil } }

    /// Bytes the largest run allocates (parameters, optimizer state, arenas); the data set is shared.
    public func largestRunBytes() -> Int {
        var seen = Set<[Int]>()
        var largest = 0
        for run in runs where seen.insert([run.variant, run.settings.batchSize]).inserted {
            let graph = variants[run.variant].graph!
            largest = max(largest, TrainingPlans(graph: graph, settings: run.settings).bytes(graph: graph, optimizer: run.settings.optimizer))
        }
        return largest
    }

    /// `dropout=0.5, lr=0.01, without BatchNorm2D`.
    static func describe(_ point: SweepPoint, axes: [SweepAxis]) -> String {
        var parts = zip(axes, point.values).filter { $0.0.values.values.count > 1 }.map { "\($0.parameter.name)=\($1)" }
        if let ablation = point.ablation { parts.append(ablation.label) }
        return parts.isEmpty ? "the spec as written" : parts.joined(separator: ", ")
    }

    public func describe(point index: Int) -> String {
        SweepPlan.describe(points[index], axes: definition.axes)
    }

    /// The run's entry in the manifest: everything that decides it, in a stable order.
    public func runJSON(_ run: SweepRun) -> JSON {
        let point = points[run.point]
        return .object([
            ("index", .int(run.index)),
            ("directory", .string(run.directoryName)),
            ("values", .object(zip(definition.axes, point.values).map { ($0.parameter.name, .string($1.description)) })),
            ("ablation", point.ablation.map { .string($0.rawValue) } ?? .null),
            ("spec_sha256", .string(sha256Hex(Array(source.text.utf8)))),
            ("settings", settingsJSON(run.settings, dropout: run.dropout)),
        ])
    }

    /// The SHA-256 of `runJSON(run)`: what a run's run.json and checkpoint are checked against.
    public func runSHA256(_ run: SweepRun) -> String {
        sha256Hex(Array(runJSON(run).rendered().utf8))
    }
}

/// Letters, digits, `.`, `_` and `-` only, so a value or layer name is safe in a path.
func sanitizedName(_ text: String) -> String {
    String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") ? $0 : "_" })
}
