import Graph
import Spec

/// A MaxPool2D step; work items split the (channel, image) planes.
struct MaxPoolStep: SinglePassStep {
    var geometry: Pool2DGeometry
    /// [C, batch, H, W]
    var input: UnsafeMutablePointer<Float>
    /// [C, batch, OH, OW]
    var output: UnsafeMutablePointer<Float>
    /// [C, batch, OH, OW] argmax positions; absent in evaluation plans
    var indices: UnsafeMutablePointer<Int32>?
    var gradients: PassThroughGradients?
    /// The pool also runs the in-place ReLU before it (`FusedPattern.reluMaxPool`): its input is
    /// then the ReLU's input, and its input gradient the ReLU's.
    var relu = false

    init(_ g: Pool2DGeometry, _ b: StepBinder) {
        geometry = g
        input = b.input
        output = b.output
        indices = b.savedIndices(.poolIndices)
        gradients = PassThroughGradients(b)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        maxPool2dForward(input: input, output: output, indices: run.training ? indices : nil, geometry: geometry,
                         batch: run.batch, planes: lane.share(geometry.channels * run.batch), relu: relu)
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients, let indices else { return }
        maxPool2dBackward(outputGradient: d.outputGradient, indices: indices, inputGradient: d.inputGradient,
                          geometry: geometry, batch: batch, planes: lane.share(geometry.channels * batch),
                          reluOutput: relu ? output : nil)
    }
}

/// MaxPool2D in the runtime (spec: Spec/Layers/Kinds/MaxPool2D.swift; op: Graph/Layers/MaxPool2D.swift;
/// kernels: Kernels/Pooling.swift).
extension Pool2DGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { MaxPoolStep(self, binder) }
    var slotInitialization: [SlotRole: SlotInitialization] { [:] }

    var pytorchModule: String {
        pytorchConstructor(.maxPool2d, [], keywords: [("kernel_size", pythonPair(kernel)), ("stride", pythonPair(stride)),
                                                      ("padding", pythonPair(padding))])
    }

    var onnxNode: ONNXNode? {
        ONNXNode("MaxPool", attributes: [onnxInts("kernel_shape", [kernel.h, kernel.w]), onnxInts("strides", [stride.h, stride.w]),
                                         onnxInts("pads", [padding.h, padding.w, padding.h, padding.w])])
    }
}
