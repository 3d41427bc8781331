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

/// Conv2D → ReLU → MaxPool2D in training (`FusedPattern.convReLUMaxPool`). Forward: the conv's
/// phases, each work item then pooling its own images with the ReLU applied to each maximum
/// (`MaxPoolStep.relu`). Backward: each work item takes the conv's weight gradient over its share
/// of the images straight from the pool's gradient at the argmaxes (item 0 into the gradient, the
/// others into the conv's partials), with their input gradient where the plan computes it
/// (`conv2dPooledGradients`; `conv2dPooledWeightGradient` for a first conv of few channels), and
/// a share of the bias gradient;
/// then the partials are added in item order, as the conv's own backward does. Neither the
/// pool's backward nor the conv's dense output gradient runs.
struct ConvReLUPoolStep: RunnableStep {
    var conv: ConvolutionStep
    /// Runs the in-place ReLU before it: its input is the conv's output.
    var pool: MaxPoolStep
    /// The conv's pooled backward workspace: one region of `perLane` floats per lane.
    var scratch: UnsafeMutablePointer<Float>
    var perLane: Int

    init(conv: ConvolutionStep, pool: MaxPoolStep) {
        guard case let .pooled(scratch, perLane)? = conv.gradients?.lowering else {
            preconditionFailure("Conv2D+ReLU+MaxPool2D: a conv planned for the pooled backward")
        }
        precondition(pool.relu && pool.gradients != nil && pool.indices != nil,
                     "Conv2D+ReLU+MaxPool2D: a pool that runs the ReLU, with its gradient and indices")
        self.conv = conv
        self.pool = pool
        self.scratch = scratch
        self.perLane = perLane
    }

    var output: UnsafeMutablePointer<Float> { pool.output }

    var forwardPhases: Int { conv.forwardPhases }

    /// Each work item pools the images it has just convolved (the conv's passes split the batch
    /// by images), while they are in its cache, with no barrier between.
    func forward(_ run: ForwardRun, _ lane: Lane) {
        conv.forward(run, lane)
        guard run.phase == conv.forwardPhases - 1 else { return }
        let images = lane.share(run.batch)
        for channel in 0..<pool.geometry.channels {
            let first = channel * run.batch
            maxPool2dForward(input: pool.input, output: pool.output, indices: run.training ? pool.indices : nil,
                             geometry: pool.geometry, batch: run.batch,
                             planes: (first + images.lowerBound)..<(first + images.upperBound), relu: true)
        }
    }

    var backwardPhases: Int { conv.gradients!.weightGradientPartials == nil ? 1 : 2 }

    func backward(phase: Int, batch: Int, _ lane: Lane) {
        guard phase == 0 else {
            conv.backward(.reducePartials, batch: batch, lane)
            return
        }
        let gradients = conv.gradients!
        let d = gradients.layer
        let g = conv.geometry
        let pooled = pool.geometry.outHeight * pool.geometry.outWidth
        let poolGradient = pool.gradients!.outputGradient
        let target = lane.task == 0 ? d.weightGradient : gradients.weightGradientPartials! + (lane.task - 1) * g.weightCount
        let laneScratch = scratch + lane.lane * perLane
        if g.pooledGradientsByRows(inputGradient: d.inputGradient != nil) {
            conv2dPooledWeightGradient(input: conv.input, poolGradient: poolGradient, poolOutput: pool.output,
                                       indices: pool.indices!, weightGradient: target, scratch: laneScratch, geometry: g,
                                       pooled: pooled, batch: batch, images: lane.share(batch))
        } else {
            conv2dPooledGradients(input: conv.input, weight: conv.weight, poolGradient: poolGradient,
                                  poolOutput: pool.output, indices: pool.indices!, weightGradient: target,
                                  inputGradient: d.inputGradient, scratch: laneScratch, geometry: g, pooled: pooled,
                                  batch: batch, images: lane.share(batch))
        }
        if let biasGradient = d.biasGradient {
            conv2dPooledBiasGradient(poolGradient: poolGradient, poolOutput: pool.output, biasGradient: biasGradient,
                                     pooled: pooled, batch: batch, channels: lane.share(g.outChannels))
        }
    }
}
