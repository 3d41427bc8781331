import Graph

/// A Conv2D step bound to its buffers. Its algorithm was chosen at plan time (`runtimeScratch`):
/// im2col + GEMM, or Winograd for 3×3 stride-1 convs, whose weight gradient stays im2col + GEMM.
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
    var imagesPerChunk: Int
    var columnsPerLane: Int
    var forwardPass: Lowering
    /// Training plans that run this step's backward pass.
    var gradients: Gradients?

    /// How a pass lowers the convolution onto GEMMs, with its scratch.
    enum Lowering {
        /// im2col columns: one region of `columnsPerLane` elements per lane.
        case im2col(columns: UnsafeMutablePointer<Float>)
        case winograd(WinogradBuffers)
    }

    struct WinogradBuffers {
        /// The transformed (forward) or transformed flipped (input-gradient) weights.
        var weights: UnsafeMutablePointer<Float>
        /// One region of `perLane` elements per lane.
        var scratch: UnsafeMutablePointer<Float>
        var perLane: Int
    }

    struct Gradients {
        /// dY [OC, batch, OH, OW], dW [OC, C·KH·KW], db [OC], dX [C, batch, H, W]
        var layer: LayerGradients
        /// im2col columns for the weight gradient (and an im2col input gradient), as `columns`.
        var columns: UnsafeMutablePointer<Float>
        /// tasks − 1 regions of [OC, C·KH·KW]; absent with one lane
        var weightGradientPartials: UnsafeMutablePointer<Float>?
        /// Winograd for the input gradient; absent when it is im2col's or not computed.
        var winograd: WinogradBuffers?
    }

    init(_ g: Conv2DGeometry, _ b: StepBinder) {
        geometry = g
        input = b.input
        output = b.output
        weight = b.parameter(.weight)!
        bias = b.parameter(.bias)
        let (batchSize, lanes) = (b.plan.batchSize, b.plan.lanes)
        columnsPerLane = g.columnsPerLane(batchSize: batchSize, lanes: lanes)
        imagesPerChunk = g.imagesPerChunk(batchSize: batchSize, lanes: lanes)
        let images = ceilDivide(batchSize, lanes)
        if let weights = b.scratch(.winogradWeights), let scratch = b.scratch(.winogradColumns) {
            forwardPass = .winograd(WinogradBuffers(weights: weights, scratch: scratch,
                                                    perLane: winogradForwardScratchCount(geometry: g, images: images)))
        } else {
            forwardPass = .im2col(columns: b.scratch(.columns)!)
        }
        gradients = LayerGradients(b).map { layer in
            var winograd: WinogradBuffers?
            if let weights = b.scratch(.winogradFlippedWeights), let scratch = b.scratch(.winogradBackwardColumns) {
                winograd = WinogradBuffers(weights: weights, scratch: scratch,
                                           perLane: winogradInputGradientScratchCount(geometry: g, images: images))
            }
            return Gradients(layer: layer, columns: b.scratch(.backwardColumns)!,
                             weightGradientPartials: b.scratch(.weightGradientPartials), winograd: winograd)
        }
    }

    /// Winograd: phase 0 transforms the weights (one work item), phase 1 convolves.
    var forwardPhases: Int {
        if case .winograd = forwardPass { return 2 }
        return 1
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        switch forwardPass {
        case let .im2col(columns):
            conv2dForward(input: input, weight: weight, bias: bias, output: output,
                          columns: columns + lane.lane * columnsPerLane, geometry: geometry, batch: run.batch,
                          chunk: imagesPerChunk, images: lane.share(run.batch))
        case let .winograd(w):
            if run.phase == 0 {
                if lane.task == 0 {
                    winogradTransformWeights(weight: weight, transformed: w.weights, geometry: geometry, flipped: false)
                }
            } else {
                conv2dWinogradForward(input: input, transformedWeight: w.weights, bias: bias, output: output,
                                      scratch: w.scratch + lane.lane * w.perLane, geometry: geometry, batch: run.batch,
                                      images: lane.share(run.batch))
            }
        }
    }

    /// The backward phases in order.
    enum BackwardPhase {
        /// The flipped kernel's Winograd transform (one work item).
        case transformFlippedWeights
        /// Each work item's weight-gradient sum (item 0 into the gradient, the others into their
        /// partials), input gradient and a share of the bias gradient.
        case gradients
        /// The partials added into the gradient in item order.
        case reducePartials
    }

    var backwardPhases: Int {
        guard let gradients else { return 0 }
        return 1 + (gradients.winograd == nil ? 0 : 1) + (gradients.weightGradientPartials == nil ? 0 : 1)
    }

    /// Backward phase `index` of `backwardPhases`.
    func backwardPhase(_ index: Int) -> BackwardPhase {
        switch index + (gradients?.winograd == nil ? 1 : 0) {
        case 0: return .transformFlippedWeights
        case 1: return .gradients
        default: return .reducePartials
        }
    }

    func backward(phase index: Int, batch: Int, _ lane: Lane) {
        backward(backwardPhase(index), batch: batch, lane)
    }

    func backward(_ phase: BackwardPhase, batch: Int, _ lane: Lane) {
        guard let gradients else { return }
        let (d, g) = (gradients.layer, geometry)
        switch phase {
        case .transformFlippedWeights:
            if lane.task == 0, let w = gradients.winograd {
                winogradTransformWeights(weight: weight, transformed: w.weights, geometry: g, flipped: true)
            }
        case .gradients:
            let images = lane.share(batch)
            let target = lane.task == 0 ? d.weightGradient : gradients.weightGradientPartials! + (lane.task - 1) * g.weightCount
            let columns = gradients.columns + lane.lane * columnsPerLane
            if let w = gradients.winograd, let inputGradient = d.inputGradient {
                conv2dBackward(input: input, weight: weight, outputGradient: d.outputGradient, weightGradient: target,
                               inputGradient: nil, columns: columns, geometry: g, batch: batch, chunk: imagesPerChunk,
                               images: images)
                conv2dWinogradInputGradient(outputGradient: d.outputGradient, transformedFlippedWeight: w.weights,
                                            inputGradient: inputGradient, scratch: w.scratch + lane.lane * w.perLane,
                                            geometry: g, batch: batch, images: images)
            } else {
                conv2dBackward(input: input, weight: weight, outputGradient: d.outputGradient, weightGradient: target,
                               inputGradient: d.inputGradient, columns: columns, geometry: g, batch: batch,
                               chunk: imagesPerChunk, images: images)
            }
            if let biasGradient = d.biasGradient {
                conv2dBiasGradient(outputGradient: d.outputGradient, biasGradient: biasGradient, geometry: g,
                                   batch: batch, channels: lane.share(g.outChannels))
            }
        case .reducePartials:
            guard let partials = gradients.weightGradientPartials else { return }
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

/// The runtime's answer to the planner's scratch question (`ScratchPlanner`): Winograd for the
/// convs it computes well (3×3, stride 1, at least 8 channels in and out: the kernels work on
/// blocks of 8 channels), else Graph's own `Op.scratch` (im2col).
func runtimeScratch(_ op: Op, _ context: ScratchContext) -> [ScratchRequest] {
    guard case let .conv2d(g) = op, convolutionUsesWinograd(g) else { return op.scratch(context) }
    let lanes = context.lanes
    let images = ceilDivide(context.batchSize, lanes)
    var requests = [
        ScratchRequest(.winogradWeights, elementCount: winogradTransformedWeightCount(geometry: g, flipped: false),
                       pass: .forward),
        ScratchRequest(.winogradColumns, elementCount: winogradForwardScratchCount(geometry: g, images: images) * lanes,
                       pass: .forward),
    ]
    // The weight gradient (and bias gradient, partial sums) as im2col would do it.
    requests += op.scratch(context).filter { $0.pass == .backward }
    if context.runsBackward && context.computesInputGradient {
        requests.append(ScratchRequest(.winogradFlippedWeights,
                                       elementCount: winogradTransformedWeightCount(geometry: g, flipped: true),
                                       pass: .backward))
        requests.append(ScratchRequest(.winogradBackwardColumns,
                                       elementCount: winogradInputGradientScratchCount(geometry: g, images: images) * lanes,
                                       pass: .backward))
    }
    return requests
}

/// Convs the runtime computes by Winograd (see `runtimeScratch`).
func convolutionUsesWinograd(_ g: Conv2DGeometry) -> Bool {
    winogradApplies(g) && g.inChannels >= 8 && g.outChannels >= 8
}

extension BufferPlan {
    /// A plan with the runtime's kernel choices (Winograd where it applies).
    public init(runtimeFor graph: Graph, mode: PlanMode, batchSize: Int, lanes: Int = 1, fuse: Bool = true) {
        self.init(graph: graph, mode: mode, batchSize: batchSize, lanes: lanes, fuse: fuse, scratch: runtimeScratch)
    }
}
