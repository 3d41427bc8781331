import Graph
import Spec

/// BatchNorm2D → ReLU (→ MaxPool2D) run as one kernel (`FusedPattern`): each work item takes a
/// share of the channels and, per channel, normalizes with the ReLU applied as it writes, then
/// pools that channel's planes while they are in cache; backward scatters the pool's gradient,
/// then runs batch norm's backward with the ReLU's mask applied as it reads. Results are the
/// unfused steps' to the bit: the same arithmetic in the same order, fewer passes over memory.
struct BatchNormReLUStep {
    /// The ReLU runs in place on the batch norm's output, and its gradient in place on its output
    /// gradient (the plan checked both), so `norm`'s buffers are the ReLU's too.
    var norm: BatchNormStep
    var pool: MaxPoolStep?

    var output: UnsafeMutablePointer<Float> { pool?.output ?? norm.output }

    var backwardPhases: Int { norm.gradients == nil ? 0 : 1 }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        let g = norm.geometry
        for c in lane.share(g.channels) {
            let channel = c..<(c + 1)
            if run.training {
                let saved = norm.saved!
                batchNormForwardTraining(input: norm.input, output: norm.output, gamma: norm.gamma, beta: norm.beta,
                                         runningMean: norm.runningMean, runningVar: norm.runningVar,
                                         savedMean: saved.mean, savedInvStd: saved.invStd, geometry: g,
                                         batch: run.batch, channels: channel, relu: true)
            } else {
                batchNormForwardEvaluation(input: norm.input, output: norm.output, gamma: norm.gamma, beta: norm.beta,
                                           runningMean: norm.runningMean, runningVar: norm.runningVar, geometry: g,
                                           batch: run.batch, channels: channel, relu: true)
            }
            if let pool {
                maxPool2dForward(input: pool.input, output: pool.output, indices: run.training ? pool.indices : nil,
                                 geometry: pool.geometry, batch: run.batch, planes: c * run.batch..<(c + 1) * run.batch)
            }
        }
        if run.training && lane.task == 0 { norm.counter.pointee += 1 }
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = norm.gradients, let saved = norm.saved else { return }
        let g = norm.geometry
        for c in lane.share(g.channels) {
            if let pool, let p = pool.gradients, let indices = pool.indices {
                maxPool2dBackward(outputGradient: p.outputGradient, indices: indices, inputGradient: p.inputGradient,
                                  geometry: pool.geometry, batch: batch, planes: c * batch..<(c + 1) * batch)
            }
            batchNormBackward(input: norm.input, outputGradient: d.outputGradient, gamma: norm.gamma,
                              savedMean: saved.mean, savedInvStd: saved.invStd, gammaGradient: d.gammaGradient,
                              betaGradient: d.betaGradient, inputGradient: d.inputGradient, geometry: g, batch: batch,
                              channels: c..<(c + 1), reluOutput: norm.output)
        }
    }
}
