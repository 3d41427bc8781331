import Graph
import Spec

/// The input and output gradients of a step without parameters, bound when the plan runs its
/// backward pass (some earlier step needs the input gradient).
struct PassThroughGradients {
    var outputGradient: UnsafeMutablePointer<Float>
    var inputGradient: UnsafeMutablePointer<Float>

    init?(_ b: StepBinder) {
        guard let outputGradient = b.outputGradient, let inputGradient = b.inputGradient else { return nil }
        self.outputGradient = outputGradient
        self.inputGradient = inputGradient
    }
}

/// A MaxPool2D step; work items split the (channel, image) planes.
struct MaxPoolStep {
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

/// A Dropout step: inverted dropout in training, the identity in evaluation.
struct DropoutStep {
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

/// A ReLU step; work items split the elements.
struct ReLUStep {
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

/// A Softmax step; work items split the rows. A final Softmax in training is fused into the loss,
/// so it runs no backward pass there.
struct SoftmaxStep {
    var classes: Int
    /// [batch, classes] each
    var input: UnsafeMutablePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var gradients: PassThroughGradients?

    init(_ b: StepBinder) {
        classes = b.outputPerExample
        input = b.input
        output = b.output
        gradients = PassThroughGradients(b)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        let rows = lane.share(run.batch)
        softmaxForward(input: input + rows.lowerBound * classes, output: output + rows.lowerBound * classes,
                       batch: rows.count, classes: classes)
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients else { return }
        let rows = lane.share(batch)
        let offset = rows.lowerBound * classes
        softmaxBackward(output: output + offset, outputGradient: d.outputGradient + offset,
                        inputGradient: d.inputGradient + offset, batch: rows.count, classes: classes)
    }
}

/// The implicit flatten from CBHW images to rows of features; work items split the channels.
struct FlattenStep {
    var geometry: FlattenGeometry
    /// [C, batch, S]
    var input: UnsafeMutablePointer<Float>
    /// [batch, C·S]
    var output: UnsafeMutablePointer<Float>
    var gradients: PassThroughGradients?

    init(_ g: FlattenGeometry, _ b: StepBinder) {
        geometry = g
        input = b.input
        output = b.output
        gradients = PassThroughGradients(b)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        flattenForward(input: input, output: output, geometry: geometry, batch: run.batch,
                       channels: lane.share(geometry.channels))
    }

    func backward(batch: Int, _ lane: Lane) {
        guard let d = gradients else { return }
        flattenBackward(outputGradient: d.outputGradient, inputGradient: d.inputGradient, geometry: geometry,
                        batch: batch, channels: lane.share(geometry.channels))
    }
}
