import Graph
import Spec

/// A BatchNorm2D step bound to its buffers; work items split the channels.
struct BatchNormStep: SinglePassStep {
    var geometry: BatchNormGeometry
    /// [C, batch, H, W]
    var input: UnsafeMutablePointer<Float>
    /// [C, batch, H, W]
    var output: UnsafeMutablePointer<Float>
    /// γ, β: [C]
    var gamma: UnsafeMutablePointer<Float>
    var beta: UnsafeMutablePointer<Float>
    /// [C] each, updated by training forward passes
    var runningMean: UnsafeMutablePointer<Float>
    var runningVar: UnsafeMutablePointer<Float>
    /// num_batches_tracked
    var counter: UnsafeMutablePointer<Int64>
    /// The batch statistics training forward passes keep for backward; absent in evaluation plans.
    var saved: Saved?
    var gradients: Gradients?

    struct Saved {
        /// [C]
        var mean: UnsafeMutablePointer<Float>
        /// [C]
        var invStd: UnsafeMutablePointer<Float>
    }

    struct Gradients {
        /// [C, batch, H, W]
        var outputGradient: UnsafeMutablePointer<Float>
        /// [C] each
        var gammaGradient: UnsafeMutablePointer<Float>
        var betaGradient: UnsafeMutablePointer<Float>
        /// [C, batch, H, W]; absent when no earlier step needs it
        var inputGradient: UnsafeMutablePointer<Float>?
    }

    init(_ g: BatchNormGeometry, _ b: StepBinder) {
        geometry = g
        input = b.input
        output = b.output
        gamma = b.parameter(.weight)!
        beta = b.parameter(.bias)!
        runningMean = b.statistic(.runningMean)!
        runningVar = b.statistic(.runningVar)!
        counter = b.counter(.numBatchesTracked)!
        if let mean = b.saved(.batchMean), let invStd = b.saved(.batchInvStd) {
            saved = Saved(mean: mean, invStd: invStd)
        }
        gradients = b.outputGradient.map { outputGradient in
            Gradients(outputGradient: outputGradient, gammaGradient: b.gradient(.weight)!,
                      betaGradient: b.gradient(.bias)!, inputGradient: b.inputGradient)
        }
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        let channels = lane.share(geometry.channels)
        if run.training {
            let saved = saved!
            batchNormForwardTraining(input: input, output: output, gamma: gamma, beta: beta, runningMean: runningMean,
                                     runningVar: runningVar, savedMean: saved.mean, savedInvStd: saved.invStd,
                                     geometry: geometry, batch: run.batch, channels: channels)
            if lane.task == 0 { counter.pointee += 1 }
        } else {
            batchNormForwardEvaluation(input: input, output: output, gamma: gamma, beta: beta,
                                       runningMean: runningMean, runningVar: runningVar, geometry: geometry,
                                       batch: run.batch, channels: channels)
        }
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients, let saved else { return }
        batchNormBackward(input: input, outputGradient: d.outputGradient, gamma: gamma, savedMean: saved.mean,
                          savedInvStd: saved.invStd, gammaGradient: d.gammaGradient, betaGradient: d.betaGradient,
                          inputGradient: d.inputGradient, geometry: geometry, batch: batch,
                          channels: lane.share(geometry.channels))
    }
}

/// BatchNorm2D in the runtime (spec: Spec/Layers/Kinds/BatchNorm2D.swift; op:
/// Graph/Layers/BatchNorm2D.swift; kernels: Kernels/BatchNorm.swift).
extension BatchNormGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { BatchNormStep(self, binder) }

    /// PyTorch's default: γ = 1, β = 0, running mean 0, running variance 1.
    var slotInitialization: [SlotRole: SlotInitialization] {
        [.weight: .constant(1), .bias: .constant(0), .runningMean: .constant(0), .runningVar: .constant(1)]
    }

    var pytorchModule: String {
        pytorchConstructor(.batchNorm2d, ["\(channels)"], keywords: [("eps", pythonFloat(eps)), ("momentum", pythonFloat(momentum))])
    }

    /// ONNX's momentum weighs the running value, PyTorch's the batch's.
    var onnxNode: ONNXNode? {
        ONNXNode("BatchNormalization", parameters: ["weight", "bias", "running_mean", "running_var"],
                 attributes: [onnxFloat("epsilon", Float(eps)), onnxFloat("momentum", Float(1 - momentum))])
    }
}
