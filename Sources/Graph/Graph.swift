import Spec

/// One step of the static graph: a layer of the spec (or the implicit flatten) with its input and
/// output shapes resolved. `index` is the module's position in the equivalent PyTorch
/// `nn.Sequential`, where the implicit flatten is a module of its own.
public struct Step: Hashable, Sendable {
    public var index: Int
    /// The user's `name:`, else the canonical kind and index (`conv2d_0`).
    public var name: String
    public var op: Op
    public var input: FeatureShape
    public var output: FeatureShape
    /// Where the layer is in the spec; the implicit flatten points at the Linear that needs it.
    public var location: SourceLocation
    /// The spec's per-layer `weight_decay`, overriding the optimizer's.
    public var weightDecay: Double?
    /// True for the flatten the compiler inserted.
    public var isImplicit: Bool
}

/// One entry of the model's `state_dict`: its PyTorch name, shape, and where its values live.
public struct ParameterSlot: Hashable, Sendable {
    /// PyTorch's `state_dict` key, e.g. `0.weight`, `1.running_mean`.
    public var name: String
    public var stepIndex: Int
    public var role: SlotRole
    public var shape: [Int]
    /// Element offset into the block named by `role.storage`.
    public var offset: Int

    public var count: Int { shape.reduce(1, *) }
}

/// The compiled model: resolved steps, parameter slots and counts. Buffer plans are made from it
/// for a mode and batch size (see `BufferPlan`).
public struct Graph: Hashable, Sendable {
    /// A model must have fewer parameters than this.
    public static let parameterLimit = 1_000_000
    /// MNIST's classes: the width the last step must produce.
    public static let classCount = 10
    /// Every argument, feature count and per-layer parameter count stays at most this (2^31), so
    /// products of two of them, and sums over a spec's layers, cannot overflow Int.
    public static let sizeLimit = 1 << 31

    public var name: String
    public var input: FeatureShape
    public var steps: [Step]
    /// Every state_dict entry in PyTorch's order.
    public var slots: [ParameterSlot]
    /// Elements in each storage block.
    public var parameterCount: Int
    public var statisticCount: Int
    public var counterCount: Int

    /// Forward multiply-accumulates per example.
    public var macsPerExample: Int { steps.reduce(0) { $0 + $1.op.macs } }

    /// The model ends in Softmax: it outputs probabilities and is trained with the cross-entropy
    /// of their log, computed stably from the logits.
    public var outputsProbabilities: Bool {
        if case .softmax = steps.last?.op { return true }
        return false
    }

    /// Builds the graph from a spec the Spec stage accepted: infers every shape, inserts the
    /// implicit flatten, lays out parameter slots and checks the output width and parameter limit.
    /// Returns every problem it can find; shape inference stops at the first layer whose input
    /// does not fit, since every later shape depends on it.
    public static func compile(_ spec: ModelSpec) -> (graph: Graph?, diagnostics: [Diagnostic]) {
        let inferred = infer(spec)
        return (inferred.diagnostics.contains { $0.severity == .error } ? nil : inferred.graph, inferred.diagnostics)
    }

    /// What `compile` does, but returning the graph even when it has errors: the steps resolved up
    /// to the first layer whose input does not fit (all of them when only the output width or the
    /// parameter limit is wrong). Editors show these shapes while a spec is being fixed. Nil only
    /// when the input shape itself is unusable.
    public static func infer(_ spec: ModelSpec) -> (graph: Graph?, diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        guard spec.input.count == 3 else {
            return (nil, [.error(at: spec.inputLocation, "'input' must be [C, H, W]")])
        }
        guard boundedProduct(spec.input) != nil else {
            return (nil, [.error(at: spec.inputLocation,
                                 "'input' has more than \(groupedThousands(sizeLimit)) values per image")])
        }
        let input = FeatureShape.image(channels: spec.input[0], height: spec.input[1], width: spec.input[2])
        var shape = input
        var steps: [Step] = []
        for layer in spec.layers {
            if type(of: layer.kind.shapeRule).flattensImageInput, case let .image(c, h, w) = shape {
                let flatten = Op.flatten(FlattenGeometry(channels: c, spatial: h * w))
                let output = FeatureShape.flat(c * h * w)
                steps.append(Step(index: steps.count, name: "flatten_\(steps.count)", op: flatten, input: shape,
                                  output: output, location: layer.location, weightDecay: nil, isImplicit: true))
                shape = output
            }
            switch resolve(layer, input: shape) {
            case let .failure(diagnostic):
                diagnostics.append(diagnostic)
                return (Graph(name: spec.name, input: input, steps: steps), diagnostics)
            case let .success((op, output)):
                guard boundedProduct(output.dims) != nil,
                      op.slotShapes.allSatisfy({ boundedProduct($0.shape) != nil }) else {
                    diagnostics.append(tooLargeError(layer))
                    return (Graph(name: spec.name, input: input, steps: steps), diagnostics)
                }
                let index = steps.count
                let name = layer.name ?? "\(op.kindName.lowercased())_\(index)"
                steps.append(Step(index: index, name: name, op: op, input: shape, output: output,
                                  location: layer.location, weightDecay: layer.weightDecay, isImplicit: false))
                shape = output
            }
        }
        if let last = steps.last, last.output != .flat(classCount) {
            let producer = steps.last { step in
                if case .linear = step.op { return true }
                return false
            } ?? last
            diagnostics.append(.error(
                at: producer.location,
                "the model outputs \(last.output) features per image; an MNIST classifier needs \(classCount)",
                hint: "end with `Linear: {out_features: \(classCount)}` (optionally followed by Softmax)"))
        }
        let graph = Graph(name: spec.name, input: input, steps: steps)
        if graph.parameterCount >= parameterLimit {
            diagnostics.append(graph.parameterLimitDiagnostic(at: spec.layersLocation))
        }
        return (graph, diagnostics)
    }

    /// Lays out the slots by walking the steps once, so names, shapes and offsets cannot drift.
    public init(name: String, input: FeatureShape, steps: [Step]) {
        self.name = name
        self.input = input
        self.steps = steps
        var next: [SlotStorage: Int] = [.parameters: 0, .statistics: 0, .counters: 0]
        var slots: [ParameterSlot] = []
        for step in steps {
            for (role, shape) in step.op.slotShapes {
                let offset = next[role.storage, default: 0]
                let slot = ParameterSlot(name: "\(step.index).\(role.rawValue)", stepIndex: step.index,
                                         role: role, shape: shape, offset: offset)
                next[role.storage] = offset + slot.count
                slots.append(slot)
            }
        }
        self.slots = slots
        self.parameterCount = next[.parameters, default: 0]
        self.statisticCount = next[.statistics, default: 0]
        self.counterCount = next[.counters, default: 0]
    }

    /// The same graph with `p` on every Dropout step. Dropout changes no shape, slot or buffer,
    /// so plans made for this graph serve the copy unchanged.
    public func settingDropout(_ p: Double) -> Graph {
        var copy = self
        for i in copy.steps.indices {
            if case .dropout = copy.steps[i].op {
                copy.steps[i].op = .dropout(p: p)
            }
        }
        return copy
    }

    /// True if any step is a Dropout.
    public var hasDropout: Bool {
        steps.contains { step in
            if case .dropout = step.op { return true }
            return false
        }
    }

    /// The slots of one step, in state_dict order.
    public func slots(ofStep index: Int) -> [ParameterSlot] {
        slots.filter { $0.stepIndex == index }
    }

    /// The slot of `role` in step `index`, if the op has one.
    public func slot(step index: Int, _ role: SlotRole) -> ParameterSlot? {
        slots.first { $0.stepIndex == index && $0.role == role }
    }

    private func parameterLimitDiagnostic(at location: SourceLocation) -> Diagnostic {
        let withParameters = steps.filter { $0.op.parameterCount > 0 }
        let total = Double(parameterCount)
        var notes = ["  parameters by layer:"]
        for step in withParameters {
            let share = Double(step.op.parameterCount) / total * 100
            notes.append("    \(step.index) \(step.op.kindName) (line \(step.location.line)): "
                         + "\(groupedThousands(step.op.parameterCount)) (\(formatFixed(share, digits: 1))%)")
        }
        let largest = withParameters.sorted { $0.op.parameterCount > $1.op.parameterCount }.prefix(2)
        let names = largest.map { "\($0.index) \($0.op.kindName) at line \($0.location.line)" }
        return .error(
            at: location,
            "the model has \(groupedThousands(parameterCount)) parameters; the limit is fewer than "
                + "\(groupedThousands(Graph.parameterLimit)) (over by \(groupedThousands(parameterCount - Graph.parameterLimit + 1)))",
            hint: "most parameters are in \(names.joined(separator: " and ")); shrink those layers or pool before the first Linear",
            notes: notes)
    }
}

extension LayerSpec {
    /// The per-layer `weight_decay` (Conv2D and Linear have one).
    var weightDecay: Double? { kind.spec.weightDecay }
}

extension ModelSpec {
    /// The same spec with `p` set on every Dropout layer (the `--dropout` flag).
    public func settingDropout(_ p: Double) -> ModelSpec {
        var copy = self
        copy.layers = layers.map { layer in
            var layer = layer
            if case .dropout = layer.kind {
                layer.kind = .dropout(DropoutSpec(p: p))
            }
            return layer
        }
        return copy
    }

    /// True if any layer is a Dropout.
    public var hasDropout: Bool {
        layers.contains { layer in
            if case .dropout = layer.kind { return true }
            return false
        }
    }
}

/// The op `layer` becomes on `input`, or why it cannot: its integer arguments must stay within
/// `Graph.sizeLimit`, then its kind's shape rule (`LayerShapeRule`, Graph/Layers/) decides.
private func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
    let tooLarge = layer.kind.spec.argumentValues.values.contains { value in
        switch value {
        case let .integer(n): return n > Graph.sizeLimit
        case let .pair(p): return p.h > Graph.sizeLimit || p.w > Graph.sizeLimit
        case .number, .boolean, .string: return false
        }
    }
    if tooLarge {
        return .failure(tooLargeError(layer))
    }
    return layer.kind.shapeRule.resolve(layer, input: input)
}

/// The product of `values`, or nil when it passes `Graph.sizeLimit` (checked: never traps).
func boundedProduct(_ values: [Int]) -> Int? {
    var result = 1
    for value in values {
        let (product, overflow) = result.multipliedReportingOverflow(by: value)
        guard !overflow, product <= Graph.sizeLimit else { return nil }
        result = product
    }
    return result
}

private func tooLargeError(_ layer: LayerSpec) -> Diagnostic {
    .error(at: layer.location,
           "\(layer.kind.canonicalName) is too large: a size, output or weight count exceeds \(groupedThousands(Graph.sizeLimit))")
}

/// A C×H×W-only layer after the features were flattened.
func flatInputError(_ layer: LayerSpec, input: FeatureShape) -> Diagnostic {
    .error(at: layer.location,
           "\(layer.kind.canonicalName) needs a C×H×W input, but its input is \(input) flat features",
           hint: "\(layer.kind.canonicalName) must come before the first Linear")
}

/// A window (kernel or pooling) must fit the padded input: in + 2·pad ≥ window in both dimensions.
func windowProblem(_ what: String, window: Pair, padding: Pair, layer: LayerSpec, input: FeatureShape) -> Diagnostic? {
    guard case let .image(_, h, w) = input else { return nil }
    let paddedH = h + 2 * padding.h
    let paddedW = w + 2 * padding.w
    guard window.h > paddedH || window.w > paddedW else { return nil }
    let key = layer.argumentLocations["kernel_size"] != nil ? "kernel_size" : ""
    let paddingNote = padding == Pair(square: 0) ? "" : " (padded to \(paddedH)×\(paddedW))"
    return .error(at: layer.location(of: key),
                  "\(what) \(window) does not fit input \(input)\(paddingNote)",
                  hint: "the input shrank too much before this layer; use a smaller \(what), add padding, or pool less")
}

/// `1234567` → `1,234,567`.
public func groupedThousands(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return value < 0 ? "-" + out : out
}

/// A fixed-point rendering without Foundation's locale: `formatFixed(3.14159, digits: 2)` = `3.14`.
public func formatFixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    // Beyond Int's range (about 9.2e18 after scaling) the digits are Swift's shortest form.
    guard abs(value) * scale < 9e18 else { return "\(value)" }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard digits > 0 else { return sign + String(whole) }
    let fractionText = String(fraction)
    return sign + String(whole) + "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
}

/// Lets shape rules return `Result<_, Diagnostic>`.
extension Diagnostic: Error {}
