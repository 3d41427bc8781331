import Spec

/// A spec file taken as far as it goes: parsed, decoded, and compiled into a graph, with every
/// diagnostic from each stage.
public struct Compilation: Sendable {
    public var source: SourceFile
    public var spec: ModelSpec?
    public var graph: Graph?
    public var diagnostics: [Diagnostic]

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// Every diagnostic rendered as `file:line:col: severity: message`, source line, caret, hint.
    public var renderedDiagnostics: String {
        diagnostics.map(source.render).joined()
    }

    /// Loads and compiles the spec at `path`. `dropout` sets p of every Dropout layer.
    public static func compile(path: String, dropout: Double? = nil) -> Compilation {
        let parsed = loadSpec(path: path)
        return compile(parsed, dropout: dropout)
    }

    /// Compiles spec text held in memory (tests, tools).
    public static func compile(source: SourceFile, dropout: Double? = nil) -> Compilation {
        compile(parseSpec(source), dropout: dropout)
    }

    private static func compile(_ parsed: SpecParseResult, dropout: Double?) -> Compilation {
        guard var spec = parsed.spec, !parsed.hasErrors else {
            return Compilation(source: parsed.source, spec: nil, graph: nil, diagnostics: parsed.diagnostics)
        }
        if let dropout {
            spec = spec.settingDropout(dropout)
        }
        let (graph, graphDiagnostics) = Graph.compile(spec)
        let all = (parsed.diagnostics + graphDiagnostics + inputOrderWarnings(spec)).sorted { a, b in
            switch (a.location, b.location) {
            case (nil, .some): return true
            case let (.some(x), .some(y)): return x < y
            default: return false
            }
        }
        return Compilation(source: parsed.source, spec: spec, graph: graph, diagnostics: all)
    }
}

/// `input:` is (C, H, W); a shape that reads like channels-last (H, W, C) — a last dimension of
/// 1 to 4 after two larger ones, as in `[28, 28, 1]` — gets a warning at `input:` saying so.
func inputOrderWarnings(_ spec: ModelSpec) -> [Diagnostic] {
    let dims = spec.input
    guard dims.count == 3, dims[2] <= 4, dims[0] > 4, dims[1] > 4 else { return [] }
    return [.warning(at: spec.inputLocation,
                     "input \(dims) reads as \(dims[0]) channels of \(dims[1])×\(dims[2]) images: `input:` is (C, H, W), channels first",
                     hint: "for \(dims[0])×\(dims[1]) images with \(dims[2]) channel\(dims[2] == 1 ? "" : "s") write [\(dims[2]), \(dims[0]), \(dims[1])]")]
}
