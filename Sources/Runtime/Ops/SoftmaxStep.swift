import Graph
import Spec

/// A Softmax step; work items split the rows. A final Softmax in training is fused into the loss,
/// so it runs no backward pass there.
struct SoftmaxStep: SinglePassStep {
    var classes: Int
    /// [batch, classes] each
    var input: UnsafeMutablePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var gradients: PassThroughGradients?

    init(_ b: StepBinder) {
        classes = b.outputPerExample
        input = b.input
        output = b.output
        gradients = PassThroughGradients(b)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        let rows = lane.share(run.batch)
        softmaxForward(input: input + rows.lowerBound * classes, output: output + rows.lowerBound * classes,
                       batch: rows.count, classes: classes)
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients else { return }
        let rows = lane.share(batch)
        let offset = rows.lowerBound * classes
        softmaxBackward(output: output + offset, outputGradient: d.outputGradient + offset,
                        inputGradient: d.inputGradient + offset, batch: rows.count, classes: classes)
    }
}

/// Softmax in the runtime (spec: Spec/Layers/Kinds/Softmax.swift; op: Graph/Layers/Softmax.swift;
/// kernels: Kernels/Loss.swift).
extension SoftmaxGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { SoftmaxStep(binder) }
    var slotInitialization: [SlotRole: SlotInitialization] { [:] }
    var pytorchModule: String { pytorchConstructor(.softmax, ["dim=1"], keywords: []) }
    var onnxNode: ONNXNode? { ONNXNode("Softmax", attributes: [onnxInt("axis", 1)]) }
}
