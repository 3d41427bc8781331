import Graph

/// A Conv2D step bound to its buffers: im2col + GEMM over each work item's images.
struct ConvolutionStep {
    var geometry: Conv2DGeometry
    /// [C, batch, H, W]
    var input: UnsafeMutablePointer<Float>
    /// [OC, batch, OH, OW]
    var output: UnsafeMutablePointer<Float>
    /// [OC, C·KH·KW]
    var weight: UnsafeMutablePointer<Float>
    /// [OC]; absent for `bias: false`
    var bias: UnsafeMutablePointer<Float>?
    /// One region of `columnsPerLane` elements per lane.
    var columns: UnsafeMutablePointer<Float>
    var columnsPerLane: Int
    var imagesPerChunk: Int
    /// Training plans that run this step's backward pass.
    var gradients: Gradients?

    struct Gradients {
        /// dY [OC, batch, OH, OW], dW [OC, C·KH·KW], db [OC], dX [C, batch, H, W]
        var layer: LayerGradients
        /// Laid out as `columns`.
        var columns: UnsafeMutablePointer<Float>
        /// tasks − 1 regions of [OC, C·KH·KW]; absent with one lane
        var weightGradientPartials: UnsafeMutablePointer<Float>?
    }

    init(_ g: Conv2DGeometry, _ b: StepBinder) {
        geometry = g
        input = b.input
        output = b.output
        weight = b.parameter(.weight)!
        bias = b.parameter(.bias)
        columns = b.scratch(.columns)!
        columnsPerLane = g.columnsPerLane(batchSize: b.plan.batchSize, lanes: b.plan.lanes)
        imagesPerChunk = g.imagesPerChunk(batchSize: b.plan.batchSize, lanes: b.plan.lanes)
        gradients = LayerGradients(b).map { layer in
            Gradients(layer: layer, columns: b.scratch(.backwardColumns)!,
                      weightGradientPartials: b.scratch(.weightGradientPartials))
        }
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        conv2dForward(input: input, weight: weight, bias: bias, output: output,
                      columns: columns + lane.lane * columnsPerLane, geometry: geometry, batch: run.batch,
                      chunk: imagesPerChunk, images: lane.share(run.batch))
    }

    /// Phase 0: each work item's weight-gradient sum (item 0 into the gradient, the others into
    /// their partials), input gradient and a share of the bias gradient. Phase 1 (several items):
    /// the partials added into the gradient in item order.
    var backwardPhases: Int { gradients == nil ? 0 : gradients?.weightGradientPartials == nil ? 1 : 2 }

    func backward(phase: Int, batch: Int, _ lane: Lane) {
        guard let gradients else { return }
        let (d, g) = (gradients.layer, geometry)
        if phase == 0 {
            let target = lane.task == 0 ? d.weightGradient : gradients.weightGradientPartials! + (lane.task - 1) * g.weightCount
            conv2dBackward(input: input, weight: weight, outputGradient: d.outputGradient, weightGradient: target,
                           inputGradient: d.inputGradient, columns: gradients.columns + lane.lane * columnsPerLane,
                           geometry: g, batch: batch, chunk: imagesPerChunk, images: lane.share(batch))
            if let biasGradient = d.biasGradient {
                conv2dBiasGradient(outputGradient: d.outputGradient, biasGradient: biasGradient, geometry: g,
                                   batch: batch, channels: lane.share(g.outChannels))
            }
        } else if let partials = gradients.weightGradientPartials {
            let part = lane.share(g.weightCount)
            let to = d.weightGradient + part.lowerBound
            for item in 0..<(lane.tasks - 1) {
                let from = partials + item * g.weightCount + part.lowerBound
                for i in 0..<part.count {
                    to[i] += from[i]
                }
            }
        }
    }
}
