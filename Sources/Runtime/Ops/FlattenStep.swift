import Graph
import Spec

/// The implicit flatten from CBHW images to rows of features; work items split the channels.
struct FlattenStep: SinglePassStep {
    var geometry: FlattenGeometry
    /// [C, batch, S]
    var input: UnsafeMutablePointer<Float>
    /// [batch, C·S]
    var output: UnsafeMutablePointer<Float>
    var gradients: PassThroughGradients?

    init(_ g: FlattenGeometry, _ b: StepBinder) {
        geometry = g
        input = b.input
        output = b.output
        gradients = PassThroughGradients(b)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        flattenForward(input: input, output: output, geometry: geometry, batch: run.batch,
                       channels: lane.share(geometry.channels))
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients else { return }
        flattenBackward(outputGradient: d.outputGradient, inputGradient: d.inputGradient, geometry: geometry,
                        batch: batch, channels: lane.share(geometry.channels))
    }
}

/// The implicit flatten in the runtime (op: Graph/Layers/Flatten.swift; kernels: Kernels/Elementwise.swift).
extension FlattenGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { FlattenStep(self, binder) }
    var slotInitialization: [SlotRole: SlotInitialization] { [:] }
    /// The graph's own step, not a spec layer: it has no table entry.
    var pytorchModule: String { "nn.Flatten()" }
    var onnxNode: ONNXNode? { ONNXNode("Flatten", attributes: [onnxInt("axis", 1)]) }
}
