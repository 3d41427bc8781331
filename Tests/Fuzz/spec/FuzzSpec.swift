// libFuzzer entry for the spec front end: bytes → (loader checks) → YAML → typed spec → graph →
// plan-size check → buffer plans at 1, 2 and 3 lanes. Built by `scripts/fuzz spec SECONDS`.
// Any input must end in diagnostics or a graph, never in a trap, a hang or a memory error.
import Graph
import Spec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // loadSpec's own text checks: no NUL, valid UTF-8 (files reach parseSpec only then).
    guard !bytes.contains(0), size <= maxSpecFileSize else { return 0 }
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.utf8.elementsEqual(bytes) else { return 0 }
    let compilation = Compilation.compile(source: SourceFile(path: "fuzz.yaml", text: text))
    _ = compilation.renderedDiagnostics
    guard let graph = compilation.graph else { return 0 }
    let batch = compilation.spec?.train.batchSize ?? 32
    for lanes in 1...3 {
        guard BufferPlan.sizeProblem(graph: graph, batchSize: batch, lanes: lanes) == nil else { continue }
        // Planning is quadratic in the tensor count; large models are checked, not planned.
        guard graph.steps.count <= 64 else { continue }
        let plan = BufferPlan(graph: graph, mode: .training, batchSize: batch, lanes: lanes)
        precondition(plan.arenaBytes <= plan.naiveBytes, "arena larger than the tensors without reuse")
        _ = BufferPlan(graph: graph, mode: .evaluation, batchSize: batch, lanes: lanes)
    }
    return 0
}
