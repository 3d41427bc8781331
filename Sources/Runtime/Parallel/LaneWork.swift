/// One piece of a training or evaluation step, split between lanes: which kernel, over which
/// buffers. `perform` is what every lane of a `LanePool` runs; each lane takes its share (images,
/// channels, planes, elements or rows) of the work.
enum LaneWork {
    case gather(PlanIO, ImageSource, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int32>, count: Int,
                features: Int, channels: Int)
    case convolutionForward(StepBinding, Conv2DGeometry, batch: Int)
    case convolutionBackward(StepBinding, Conv2DGeometry, batch: Int)
    /// Adds lanes 1…'s weight-gradient partial sums into the gradient.
    case convolutionReduce(StepBinding, Conv2DGeometry)
    case poolForward(StepBinding, Pool2DGeometry, batch: Int)
    case poolBackward(StepBinding, Pool2DGeometry, batch: Int)
    case batchNormTraining(StepBinding, BatchNormGeometry, batch: Int)
    case batchNormEvaluation(StepBinding, BatchNormGeometry, batch: Int)
    case batchNormBackward(StepBinding, BatchNormGeometry, batch: Int)
    case dropoutForward(StepBinding, p: Double, seed: UInt64, count: Int)
    case dropoutBackward(StepBinding, count: Int)
    case reluForward(StepBinding, count: Int)
    case reluBackward(StepBinding, count: Int)
    case flattenForward(StepBinding, FlattenGeometry, batch: Int)
    case flattenBackward(StepBinding, FlattenGeometry, batch: Int)
    case linearForward(StepBinding, LinearGeometry, batch: Int)
    case linearBackward(StepBinding, LinearGeometry, batch: Int)
    case update(UpdateWork)
}

/// An optimizer step over the parameter block.
struct UpdateWork {
    var groups: [UpdateGroup]
    var parameters: UnsafeMutablePointer<Float>
    var gradients: UnsafeMutablePointer<Float>
    var optimizerState: UnsafeMutablePointer<Float>
    var parameterCount: Int
    var optimizer: OptimizerSettings
    var step: Int
}

/// A parameter slot as the optimizer sees it: where it is and its L2 strength.
struct UpdateGroup {
    var offset: Int
    var count: Int
    var weightDecay: Double
}

/// Lane `lane` of `lanes` does its share of `work`.
func perform(_ work: LaneWork, lane: Int, lanes: Int) {
    func share(_ count: Int) -> Range<Int> { laneShare(of: count, lane: lane, lanes: lanes) }
    switch work {
    case let .gather(io, images, labels, indices, count, features, channels):
        gatherExamples(io, images: images, labels: labels, indices: indices, count: count,
                       features: features, channels: channels, examples: share(count))
    case let .convolutionForward(b, g, batch):
        conv2dForward(input: b.input, weight: b.weight!, bias: b.bias, output: b.output,
                      columns: b.columns! + lane * b.columnsPerLane, geometry: g, batch: batch,
                      chunk: b.imagesPerChunk, images: share(batch))
    case let .convolutionBackward(b, g, batch):
        let target = lane == 0 ? b.weightGradient! : b.weightGradientPartials! + (lane - 1) * g.weightCount
        conv2dBackward(input: b.input, weight: b.weight!, outputGradient: b.outputGradient!, weightGradient: target,
                       inputGradient: b.inputGradient, columns: b.backwardColumns! + lane * b.columnsPerLane,
                       geometry: g, batch: batch, chunk: b.imagesPerChunk, images: share(batch))
        if let biasGradient = b.biasGradient {
            conv2dBiasGradient(outputGradient: b.outputGradient!, biasGradient: biasGradient, geometry: g, batch: batch,
                               channels: share(g.outChannels))
        }
    case let .convolutionReduce(b, g):
        let part = share(g.weightCount)
        let to = b.weightGradient! + part.lowerBound
        for partial in 0..<(lanes - 1) {
            let from = b.weightGradientPartials! + partial * g.weightCount + part.lowerBound
            for i in 0..<part.count {
                to[i] += from[i]
            }
        }
    case let .poolForward(b, g, batch):
        maxPool2dForward(input: b.input, output: b.output, indices: b.indices, geometry: g, batch: batch,
                         planes: share(g.channels * batch))
    case let .poolBackward(b, g, batch):
        maxPool2dBackward(outputGradient: b.outputGradient!, indices: b.indices!, inputGradient: b.inputGradient!,
                          geometry: g, batch: batch, planes: share(g.channels * batch))
    case let .batchNormTraining(b, g, batch):
        batchNormForwardTraining(input: b.input, output: b.output, gamma: b.weight!, beta: b.bias!,
                                 runningMean: b.runningMean!, runningVar: b.runningVar!, savedMean: b.mean!,
                                 savedInvStd: b.invStd!, geometry: g, batch: batch, channels: share(g.channels))
    case let .batchNormEvaluation(b, g, batch):
        batchNormForwardEvaluation(input: b.input, output: b.output, gamma: b.weight!, beta: b.bias!,
                                   runningMean: b.runningMean!, runningVar: b.runningVar!, geometry: g, batch: batch,
                                   channels: share(g.channels))
    case let .batchNormBackward(b, g, batch):
        batchNormBackward(input: b.input, outputGradient: b.outputGradient!, gamma: b.weight!, savedMean: b.mean!,
                          savedInvStd: b.invStd!, gammaGradient: b.weightGradient!, betaGradient: b.biasGradient!,
                          inputGradient: b.inputGradient, geometry: g, batch: batch, channels: share(g.channels))
    case let .dropoutForward(b, p, seed, count):
        let part = dropoutShare(of: count, lane: lane, lanes: lanes)
        dropoutForward(input: b.input, output: b.output, mask: b.mask!, p: p, seed: seed,
                       first: part.lowerBound, count: part.count)
    case let .dropoutBackward(b, count):
        let part = share(count)
        dropoutBackward(mask: b.mask! + part.lowerBound, outputGradient: b.outputGradient! + part.lowerBound,
                        inputGradient: b.inputGradient! + part.lowerBound, count: part.count)
    case let .reluForward(b, count):
        let part = share(count)
        reluForward(input: b.input + part.lowerBound, output: b.output + part.lowerBound, count: part.count)
    case let .reluBackward(b, count):
        let part = share(count)
        reluBackward(output: b.output + part.lowerBound, outputGradient: b.outputGradient! + part.lowerBound,
                     inputGradient: b.inputGradient! + part.lowerBound, count: part.count)
    case let .flattenForward(b, g, batch):
        flattenForward(input: b.input, output: b.output, geometry: g, batch: batch, channels: share(g.channels))
    case let .flattenBackward(b, g, batch):
        flattenBackward(outputGradient: b.outputGradient!, inputGradient: b.inputGradient!, geometry: g, batch: batch,
                        channels: share(g.channels))
    case let .linearForward(b, g, batch):
        linearForward(input: b.input, weight: b.weight!, bias: b.bias, output: b.output, geometry: g, rows: share(batch))
    case let .linearBackward(b, g, batch):
        linearBackward(input: b.input, weight: b.weight!, outputGradient: b.outputGradient!,
                       weightGradient: b.weightGradient!, biasGradient: b.biasGradient, inputGradient: b.inputGradient,
                       geometry: g, batch: batch, features: share(g.outFeatures), rows: share(batch))
    case let .update(u):
        for group in u.groups {
            let part = share(group.count)
            let offset = group.offset + part.lowerBound
            switch u.optimizer.kind {
            case .adam:
                adamUpdate(parameters: u.parameters + offset, gradients: u.gradients + offset,
                           firstMoment: u.optimizerState + offset, secondMoment: u.optimizerState + u.parameterCount + offset,
                           count: part.count, lr: u.optimizer.lr, beta1: u.optimizer.beta1, beta2: u.optimizer.beta2,
                           eps: u.optimizer.eps, weightDecay: group.weightDecay, step: u.step)
            case .sgd:
                sgdUpdate(parameters: u.parameters + offset, gradients: u.gradients + offset,
                          velocity: u.optimizerState + offset, count: part.count, lr: u.optimizer.lr,
                          momentum: u.optimizer.momentum, weightDecay: group.weightDecay)
            }
        }
    }
}

/// Copies examples `indices[examples]` of a data set into a plan's input (CBHW) and labels.
/// - images: [N, C·H·W] floats, or bytes mapped through a 256-entry table
func gatherExamples(_ io: PlanIO, images: ImageSource, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int32>,
                    count: Int, features: Int, channels: Int, examples: Range<Int>) {
    let planeSize = features / channels
    for b in examples {
        let example = Int(indices[b]) * features
        for c in 0..<channels {
            let to = io.input + (c * count + b) * planeSize
            switch images {
            case let .floats(values):
                to.update(from: values + example + c * planeSize, count: planeSize)
            case let .bytes(pixels, table):
                let from = pixels + example + c * planeSize
                for i in 0..<planeSize {
                    to[i] = table[Int(from[i])]
                }
            }
        }
        io.labels[b] = labels[Int(indices[b])]
    }
}
