import Graph
import Spec

/// One work item of a job: item `task` of `tasks`, run by thread `lane` (which owns the per-lane
/// scratch regions). A job's split into work items depends only on the plan's lane count, never on
/// which thread takes which item, so results are identical whichever thread runs what.
struct Lane {
    var task: Int
    var tasks: Int
    var lane: Int

    /// The part of 0..<count that this work item takes.
    @inline(__always)
    func share(_ count: Int) -> Range<Int> { laneShare(of: count, lane: task, lanes: tasks) }
}

/// What a forward pass needs besides the step's own buffers.
struct ForwardRun {
    /// Which of the step's `forwardPhases` this job is.
    var phase: Int
    var batch: Int
    var training: Bool
    /// A fresh random seed for steps that draw (`BoundStep.drawsSeed`), else 0.
    var seed: UInt64
}

/// One job for the lane pool: a pass of a bound step, loading a batch, or the optimizer update.
/// `perform` is what every work item of a job runs.
enum LaneJob {
    case forward(BoundStep, ForwardRun)
    case backward(BoundStep, phase: Int, batch: Int)
    case gather(GatherWork)
    case update(UpdateWork)
}

func perform(_ job: LaneJob, _ lane: Lane) {
    switch job {
    case let .forward(step, run): step.forward(run, lane)
    case let .backward(step, phase, batch): step.backward(phase: phase, batch: batch, lane)
    case let .gather(work): work.run(lane)
    case let .update(work): work.run(lane)
    }
}

/// Copies examples `indices[0..<count]` of a data set into a plan's input (CBHW) and labels.
struct GatherWork {
    var input: UnsafeMutablePointer<Float>
    var labels: UnsafeMutablePointer<Int32>
    var images: ImageSource
    var sourceLabels: UnsafePointer<Int32>
    var indices: UnsafePointer<Int32>
    var count: Int
    var features: Int
    var channels: Int

    func run(_ lane: Lane) {
        gatherExamples(input: input, labels: labels, images: images, sourceLabels: sourceLabels, indices: indices,
                       count: count, features: features, channels: channels, examples: lane.share(count))
    }
}

/// Copies examples `indices[examples]` of a data set into a plan's input and labels.
/// - input: [C, count, H, W]; labels: [count]
/// - images: [N, C·H·W] floats, or bytes mapped through a 256-entry table; sourceLabels: [N]
func gatherExamples(input: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>, images: ImageSource,
                    sourceLabels: UnsafePointer<Int32>, indices: UnsafePointer<Int32>,
                    count: Int, features: Int, channels: Int, examples: Range<Int>) {
    let planeSize = features / channels
    for b in examples {
        let example = Int(indices[b]) * features
        for c in 0..<channels {
            let to = input + (c * count + b) * planeSize
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
        labels[b] = sourceLabels[Int(indices[b])]
    }
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

    func run(_ lane: Lane) {
        for group in groups {
            let part = lane.share(group.count)
            let offset = group.offset + part.lowerBound
            switch optimizer.kind {
            case .adam:
                adamUpdate(parameters: parameters + offset, gradients: gradients + offset,
                           firstMoment: optimizerState + offset, secondMoment: optimizerState + parameterCount + offset,
                           count: part.count, lr: optimizer.lr, beta1: optimizer.beta1, beta2: optimizer.beta2,
                           eps: optimizer.eps, weightDecay: group.weightDecay, step: step)
            case .sgd:
                sgdUpdate(parameters: parameters + offset, gradients: gradients + offset,
                          velocity: optimizerState + offset, count: part.count, lr: optimizer.lr,
                          momentum: optimizer.momentum, weightDecay: group.weightDecay)
            }
        }
    }
}

/// A parameter slot as the optimizer sees it: where it is and its L2 strength.
struct UpdateGroup {
    var offset: Int
    var count: Int
    var weightDecay: Double
}
