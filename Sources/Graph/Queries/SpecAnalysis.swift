import Spec

/// Everything an editor shows about one spec text, computed once per edit: the diagnostics
/// (exactly `cnnc check`'s), the outline of what is written, and the shape facts of every layer
/// that could be resolved. The queries (hover, inlay hints, symbols) are pure functions of it.
public struct SpecAnalysis: Sendable {
    public var compilation: Compilation
    /// The text as parsed (line and column lookups).
    public var source: SourceFile
    /// Keys and layer items as written; nil when the text is not YAML with a mapping on top.
    public var outline: SpecOutline?
    /// Facts of each resolved layer, in spec order. When the spec decodes but fails in Graph, these
    /// are the layers up to the first one whose input does not fit (or all of them when only the
    /// output width or the parameter limit is wrong); empty when the spec does not decode.
    public var layers: [LayerFacts]

    /// Analyses `text` as the file `path` (which names the model when the spec has no `name:`).
    public init(path: String, text: String) {
        compilation = Compilation.compile(path: path, bytes: Array(text.utf8))
        source = SourceFile(path: path, text: text)
        // Over the size limit `check` refuses the file unread; the outline does not parse it either.
        outline = text.utf8.count > maxSpecFileSize ? nil : SpecOutline(source)
        let graph = compilation.graph ?? compilation.spec.flatMap { Graph.infer($0).graph }
        layers = graph.map(LayerFacts.of) ?? []
    }

    public var diagnostics: [Diagnostic] { compilation.diagnostics }

    /// The facts of the layer whose name is at `location`, if it was resolved.
    public func facts(atLayer location: SourceLocation) -> LayerFacts? {
        layers.first { $0.step.location == location }
    }
}

/// One layer of the spec as compiled: its step, the implicit flatten before it (a Linear on a
/// C×H×W input), and the parameter total of the model up to and including it.
public struct LayerFacts: Sendable, Hashable {
    public var step: Step
    public var flatten: Step?
    public var runningParameters: Int

    /// The facts of every written layer of `graph`, in order.
    public static func of(_ graph: Graph) -> [LayerFacts] {
        var facts: [LayerFacts] = []
        var total = 0
        var pendingFlatten: Step?
        for step in graph.steps {
            total += step.op.parameterCount
            if step.isImplicit {
                pendingFlatten = step
                continue
            }
            facts.append(LayerFacts(step: step, flatten: pendingFlatten, runningParameters: total))
            pendingFlatten = nil
        }
        return facts
    }

    /// The input the layer's item sees: before the implicit flatten, if there is one.
    public var input: FeatureShape { flatten?.input ?? step.input }

    /// This layer's share of the parameter budget (`Graph.parameterLimit`), in percent.
    public var budgetShare: Double {
        Double(step.op.parameterCount) / Double(Graph.parameterLimit) * 100
    }

    /// Hover text (Markdown that also reads as plain text):
    ///
    ///     **Conv2D** `conv2d_0` · module 0
    ///
    ///     - shape: 1×28×28 → 32×28×28
    ///     - parameters: 320 (0.03% of the 1,000,000 budget; 320 up to here)
    ///     - MACs: 225,792 per image
    public var hoverText: String {
        var lines = ["**\(step.op.kindName)** `\(step.name)` · module \(step.index)", ""]
        if let flatten {
            lines.append("- flattened first: \(flatten.input) → \(flatten.output) (module \(flatten.index), implicit Flatten)")
        }
        lines.append("- shape: \(step.input) → \(step.output)")
        let share = formatFixed(budgetShare, digits: 2)
        lines.append("- parameters: \(groupedThousands(step.op.parameterCount)) (\(share)% of the "
                     + "\(groupedThousands(Graph.parameterLimit)) budget; \(groupedThousands(runningParameters)) up to here)")
        lines.append("- MACs: \(groupedThousands(step.op.macs)) per image")
        return lines.joined(separator: "\n")
    }

    /// The inlay hint at the end of the layer's line: its output shape and the running parameter
    /// total, `→ 32×28×28 · Σ 320`.
    public var inlayLabel: String {
        "→ \(step.output) · Σ \(groupedThousands(runningParameters))"
    }
}
