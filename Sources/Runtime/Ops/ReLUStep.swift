import Graph
import Spec

/// A ReLU step; work items split the elements.
struct ReLUStep: SinglePassStep {
    var outputPerExample: Int
    /// [batch · outputPerExample] each; the output may be the input (in place)
    var input: UnsafeMutablePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var gradients: PassThroughGradients?

    init(_ b: StepBinder) {
        outputPerExample = b.outputPerExample
        input = b.input
        output = b.output
        gradients = PassThroughGradients(b)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        let part = lane.share(run.batch * outputPerExample)
        reluForward(input: input + part.lowerBound, output: output + part.lowerBound, count: part.count)
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients else { return }
        let part = lane.share(batch * outputPerExample)
        reluBackward(output: output + part.lowerBound, outputGradient: d.outputGradient + part.lowerBound,
                     inputGradient: d.inputGradient + part.lowerBound, count: part.count)
    }
}

/// ReLU in the runtime (spec: Spec/Layers/Kinds/ReLU.swift; op: Graph/Layers/ReLU.swift;
/// kernels: Kernels/Elementwise.swift).
extension ReLUGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { ReLUStep(binder) }
    var slotInitialization: [SlotRole: SlotInitialization] { [:] }
    var pytorchModule: String { pytorchConstructor(.relu, [], keywords: []) }
    var onnxNode: ONNXNode? { ONNXNode("Relu") }
}
