import Graph
import Spec

/// A BatchNorm2D step bound to its buffers; work items split the channels.
struct BatchNormStep {
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
