import Spec

extension Compilation {
    /// Compiles spec text with layer arguments overridden (checked like values in the file), then
    /// `transform` applied to the decoded spec (a sweep's dropout p or ablation) before the graph.
    public static func compile(source: SourceFile, overriding overrides: [LayerArgumentOverride],
                               transform: (ModelSpec) -> ModelSpec) -> Compilation {
        let parsed = parseSpec(source, overriding: overrides)
        guard let decoded = parsed.spec, !parsed.hasErrors else {
            return Compilation(source: parsed.source, spec: nil, graph: nil, diagnostics: parsed.diagnostics)
        }
        let spec = transform(decoded)
        let (graph, graphDiagnostics) = Graph.compile(spec)
        return Compilation(source: parsed.source, spec: spec, graph: graph,
                           diagnostics: sortedDiagnostics(parsed.diagnostics + graphDiagnostics))
    }
}
