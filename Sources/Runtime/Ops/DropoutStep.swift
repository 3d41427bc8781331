import Graph
import Spec

/// A Dropout step: inverted dropout in training, the identity in evaluation.
struct DropoutStep: SinglePassStep {
    var p: Double
    var outputPerExample: Int
    /// [batch · outputPerExample] each; the output may be the input (in place)
    var input: UnsafeMutablePointer<Float>
    var output: UnsafeMutablePointer<Float>
    /// [batch · outputPerExample]: 0 or 1/(1 − p); absent in evaluation plans
    var mask: UnsafeMutablePointer<Float>?
    var gradients: PassThroughGradients?

    init(p: Double, _ b: StepBinder) {
        self.p = p
        outputPerExample = b.outputPerExample
        input = b.input
        output = b.output
        mask = b.saved(.dropoutMask)
        gradients = PassThroughGradients(b)
    }

    func drawsSeed(training: Bool) -> Bool { training && p > 0 }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        let count = run.batch * outputPerExample
        if drawsSeed(training: run.training) {
            let part = lane.share(count)
            dropoutForward(input: input, output: output, mask: mask!, p: p, seed: run.seed,
                           first: part.lowerBound, count: part.count)
            return
        }
        let part = lane.share(count)
        if run.training { (mask! + part.lowerBound).update(repeating: 1, count: part.count) }
        if input != output {
            (output + part.lowerBound).update(from: input + part.lowerBound, count: part.count)
        }
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients, let mask else { return }
        let part = lane.share(batch * outputPerExample)
        dropoutBackward(mask: mask + part.lowerBound, outputGradient: d.outputGradient + part.lowerBound,
                        inputGradient: d.inputGradient + part.lowerBound, count: part.count)
    }
}

/// Dropout in the runtime (spec: Spec/Layers/Kinds/Dropout.swift; op: Graph/Layers/Dropout.swift;
/// kernels: Kernels/Elementwise.swift).
extension DropoutGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { DropoutStep(p: p, binder) }
    var slotInitialization: [SlotRole: SlotInitialization] { [:] }
    var pytorchModule: String { pytorchConstructor(.dropout, [], keywords: [("p", pythonFloat(p))]) }

    /// Evaluation semantics: the identity, left out. The last step is never a Dropout (the spec
    /// must end in Linear or Softmax), so leaving it out cannot lose the graph's output name.
    var onnxNode: ONNXNode? { nil }
}
