import Graph
import Spec

/// A Linear step bound to its buffers: one GEMM per work item's rows (forward), output features
/// and rows (backward).
struct LinearStep: SinglePassStep {
    var geometry: LinearGeometry
    /// [batch, in]
    var input: UnsafeMutablePointer<Float>
    /// [batch, out]
    var output: UnsafeMutablePointer<Float>
    /// [out, in]
    var weight: UnsafeMutablePointer<Float>
    /// [out]; absent for `bias: false`
    var bias: UnsafeMutablePointer<Float>?
    var gradients: LayerGradients?

    init(_ g: LinearGeometry, _ b: StepBinder) {
        geometry = g
        input = b.input
        output = b.output
        weight = b.parameter(.weight)!
        bias = b.parameter(.bias)
        gradients = LayerGradients(b)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        linearForward(input: input, weight: weight, bias: bias, output: output, geometry: geometry,
                      rows: lane.share(run.batch))
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients else { return }
        linearBackward(input: input, weight: weight, outputGradient: d.outputGradient,
                       weightGradient: d.weightGradient, biasGradient: d.biasGradient, inputGradient: d.inputGradient,
                       geometry: geometry, batch: batch, features: lane.share(geometry.outFeatures),
                       rows: lane.share(batch))
    }
}

/// Linear in the runtime (spec: Spec/Layers/Kinds/Linear.swift; op: Graph/Layers/Linear.swift;
/// kernels: Kernels/Linear.swift).
extension LinearGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { LinearStep(self, binder) }

    /// PyTorch's default: weight and bias uniform in ±1/√in (kaiming_uniform with a = √5 gives the
    /// same bound for the weight).
    var slotInitialization: [SlotRole: SlotInitialization] {
        let bound = SlotInitialization.uniform(bound: 1 / Float(inFeatures).squareRoot())
        return [.weight: bound, .bias: bound]
    }

    var pytorchModule: String {
        pytorchConstructor(.linear, ["\(inFeatures)", "\(outFeatures)"], keywords: bias ? [] : [("bias", "False")])
    }

    var onnxNode: ONNXNode? { ONNXNode("Gemm", parameters: ["weight", "bias"], attributes: [onnxInt("transB", 1)]) }
}

/// The gradients a layer with a weight (and maybe a bias) reads and writes in its backward pass.
struct LayerGradients {
    /// Shaped as the output.
    var outputGradient: UnsafeMutablePointer<Float>
    /// Shaped as the weight.
    var weightGradient: UnsafeMutablePointer<Float>
    /// Absent for `bias: false`.
    var biasGradient: UnsafeMutablePointer<Float>?
    /// Shaped as the input; absent when no earlier step needs it.
    var inputGradient: UnsafeMutablePointer<Float>?

    /// Bound when the plan runs the step's backward pass.
    init?(_ b: StepBinder) {
        guard let outputGradient = b.outputGradient else { return nil }
        self.outputGradient = outputGradient
        weightGradient = b.gradient(.weight)!
        biasGradient = b.gradient(.bias)
        inputGradient = b.inputGradient
    }
}
