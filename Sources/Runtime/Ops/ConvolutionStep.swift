import Graph
import Spec

/// A Conv2D step bound to its buffers. Its algorithms were chosen at plan time, per pass
/// (`convolutionAlgorithm`, `runtimeScratch`): Winograd for 3×3 stride-1 convs with ≥ 8 channels
/// (and the forward pass of such 5×5 convs), the direct kernels for the other stride-1 convs,
/// im2col + GEMM for the rest; a conv the plan fuses with the ReLU and MaxPool2D after it leaves
/// its gradients to the fused step (`BackwardLowering.pooled`).
struct ConvolutionStep: RunnableStep {
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

    /// The kernels that compute a conv from weights rearranged at the start of each pass.
    enum Algorithm: CaseIterable {
        /// F(m×m, r×r) tiles (Kernels/Winograd.swift).
        case winograd
        /// Output-channel vectors over tap and pixel tables (Kernels/DirectConvolution.swift).
        case direct
    }

    /// How a pass lowers the convolution, with its scratch.
    enum Lowering {
        /// im2col columns: one region of `columnsPerLane` elements per lane.
        case im2col(columns: UnsafeMutablePointer<Float>)
        case transformed(Algorithm, TransformedBuffers)
        /// The direct one-channel kernel by output rows: it reads the weights as they are, so
        /// there is nothing to rearrange. One region of `perLane` elements per lane.
        case rows(scratch: UnsafeMutablePointer<Float>, perLane: Int)
    }

    struct TransformedBuffers {
        /// The rearranged forward weights.
        var weights: UnsafeMutablePointer<Float>
        /// One region of `perLane` elements per lane.
        var scratch: UnsafeMutablePointer<Float>
        var perLane: Int
    }

    struct Gradients {
        /// dY [OC, batch, OH, OW], dW [OC, C·KH·KW], db [OC], dX [C, batch, H, W]
        var layer: LayerGradients
        var lowering: BackwardLowering
        /// tasks − 1 regions of [OC, C·KH·KW]; absent with one lane
        var weightGradientPartials: UnsafeMutablePointer<Float>?
    }

    /// How the backward pass computes the weight and input gradients, with its scratch.
    enum BackwardLowering {
        /// By the fused Conv2D+ReLU+MaxPool2D step (`ConvReLUPoolStep`), from the pool's gradient,
        /// in `scratch` (one region of `perLane` elements per lane); the conv's own backward then
        /// runs only its partial sums' reduction.
        case pooled(scratch: UnsafeMutablePointer<Float>, perLane: Int)
        /// im2col columns (one region of `columnsPerLane` per lane): dW = dY·colsᵀ, dX = col2im(Wᵀ·dY).
        case im2col(columns: UnsafeMutablePointer<Float>)
        /// Both by `Algorithm`'s kernels: dW from the input and dY, dX as the forward convolution
        /// of dY with the flipped kernel, whose rearrangement `flippedWeights` holds; it is absent
        /// exactly when the plan computes no input gradient. One scratch region per lane.
        case transformed(Algorithm, scratch: UnsafeMutablePointer<Float>, perLane: Int,
                         flippedWeights: UnsafeMutablePointer<Float>?)
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
        // The plan holds one algorithm's scratch per pass (`runtimeScratch`), or im2col's.
        let algorithm = Algorithm.allCases.first { b.scratch($0.scratchKinds.forward) != nil }
        let backwardAlgorithm = Algorithm.allCases.first { b.scratch($0.scratchKinds.backward) != nil }
        if let algorithm, let scratch = b.scratch(algorithm.scratchKinds.forward) {
            let perLane = algorithm.forwardScratchCount(g, images: images)
            if let weights = b.scratch(algorithm.scratchKinds.weights) {
                forwardPass = .transformed(algorithm, TransformedBuffers(weights: weights, scratch: scratch, perLane: perLane))
            } else {
                precondition(algorithm == .direct && directRowKernelApplies(g),
                             "only the one-channel direct kernel runs without rearranged weights")
                forwardPass = .rows(scratch: scratch, perLane: perLane)
            }
        } else {
            forwardPass = .im2col(columns: b.scratch(.columns)!)
        }
        gradients = LayerGradients(b).map { layer in
            let lowering: BackwardLowering
            if let scratch = b.scratch(.pooledWeightGradient) {
                lowering = .pooled(scratch: scratch,
                                   perLane: g.pooledGradientColumnsPerLane(inputGradient: layer.inputGradient != nil))
            } else if let algorithm = backwardAlgorithm, let scratch = b.scratch(algorithm.scratchKinds.backward) {
                let flipped = b.scratch(algorithm.scratchKinds.flipped)
                precondition((flipped == nil) == (layer.inputGradient == nil),
                             "a \(algorithm) conv's flipped weights are planned exactly when it computes dX")
                lowering = .transformed(algorithm, scratch: scratch,
                                        perLane: algorithm.backwardScratchCount(g, images: images,
                                                                                inputGradient: flipped != nil),
                                        flippedWeights: flipped)
            } else {
                lowering = .im2col(columns: b.scratch(.backwardColumns)!)
            }
            return Gradients(layer: layer, lowering: lowering,
                             weightGradientPartials: b.scratch(.weightGradientPartials))
        }
    }

    /// Winograd and direct: phase 0 rearranges the weights (each work item a share of the rows),
    /// phase 1 convolves.
    var forwardPhases: Int {
        if case .transformed = forwardPass { return 2 }
        return 1   // im2col, and the row kernel (nothing to rearrange)
    }

    func forward(_ run: ForwardRun, _ lane: Lane) {
        switch forwardPass {
        case let .im2col(columns):
            conv2dForward(input: input, weight: weight, bias: bias, output: output,
                          columns: columns + lane.lane * columnsPerLane, geometry: geometry, batch: run.batch,
                          chunk: imagesPerChunk, images: lane.share(run.batch))
        case let .rows(scratch, perLane):
            conv2dDirectRowForward(input: input, weight: weight, bias: bias, output: output,
                                   scratch: scratch + lane.lane * perLane, geometry: geometry, batch: run.batch,
                                   images: lane.share(run.batch))
        case let .transformed(algorithm, w):
            if run.phase == 0 {
                transformWeights(algorithm, into: w.weights, flipped: false, lane)
                return
            }
            let scratch = w.scratch + lane.lane * w.perLane
            let images = lane.share(run.batch)
            switch algorithm {
            case .winograd:
                conv2dWinogradForward(input: input, transformedWeight: w.weights, bias: bias, output: output,
                                      scratch: scratch, geometry: geometry, batch: run.batch, images: images)
            case .direct:
                conv2dDirectForward(input: input, transformedWeight: w.weights, bias: bias, output: output,
                                    scratch: scratch, geometry: geometry, batch: run.batch, images: images)
            }
        }
    }

    /// A share of `algorithm`'s weight rearrangement (forward or flipped) for work item `lane`.
    private func transformWeights(_ algorithm: Algorithm, into transformed: UnsafeMutablePointer<Float>,
                                  flipped: Bool, _ lane: Lane) {
        switch algorithm {
        case .winograd:
            winogradTransformWeights(weight: weight, transformed: transformed, geometry: geometry, flipped: flipped,
                                     rows: lane.share(winogradTransformedWeightRows(geometry: geometry, flipped: flipped)))
        case .direct:
            directTransformWeights(weight: weight, transformed: transformed, geometry: geometry, flipped: flipped,
                                   rows: lane.share(directTransformedWeightRows(geometry: geometry, flipped: flipped)))
        }
    }

    /// The backward phases in order.
    enum BackwardPhase {
        /// The flipped kernel's Winograd transform (each work item a share of the rows).
        case transformFlippedWeights
        /// Each work item's weight-gradient sum (item 0 into the gradient, the others into their
        /// partials), input gradient and a share of the bias gradient.
        case gradients
        /// The partials added into the gradient in item order.
        case reducePartials
    }

    /// The rearranged flipped weights the input-gradient pass uses (Winograd and direct).
    private var flippedWeights: UnsafeMutablePointer<Float>? {
        guard case let .transformed(_, _, _, flipped)? = gradients?.lowering else { return nil }
        return flipped
    }

    var backwardPhases: Int {
        guard let gradients else { return 0 }
        return 1 + (flippedWeights == nil ? 0 : 1) + (gradients.weightGradientPartials == nil ? 0 : 1)
    }

    /// Backward phase `index` of `backwardPhases`.
    func backwardPhase(_ index: Int) -> BackwardPhase {
        switch index + (flippedWeights == nil ? 1 : 0) {
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
            if case let .transformed(algorithm, _, _, flipped?) = gradients.lowering {
                transformWeights(algorithm, into: flipped, flipped: true, lane)
            }
        case .gradients:
            let images = lane.share(batch)
            let target = lane.task == 0 ? d.weightGradient : gradients.weightGradientPartials! + (lane.task - 1) * g.weightCount
            switch gradients.lowering {
            case .pooled:
                preconditionFailure("a conv fused with its ReLU and pool computes its gradients in ConvReLUPoolStep")
            case let .im2col(columns):
                conv2dBackward(input: input, weight: weight, outputGradient: d.outputGradient, weightGradient: target,
                               inputGradient: d.inputGradient, columns: columns + lane.lane * columnsPerLane,
                               geometry: g, batch: batch, chunk: imagesPerChunk, images: images)
            case let .transformed(.winograd, scratch, perLane, flipped):
                let laneScratch = scratch + lane.lane * perLane
                conv2dWinogradWeightGradient(input: input, outputGradient: d.outputGradient, weightGradient: target,
                                             scratch: laneScratch, geometry: g, batch: batch, images: images)
                if let flipped, let inputGradient = d.inputGradient {
                    conv2dWinogradInputGradient(outputGradient: d.outputGradient, transformedFlippedWeight: flipped,
                                                inputGradient: inputGradient, scratch: laneScratch, geometry: g,
                                                batch: batch, images: images)
                }
            case let .transformed(.direct, scratch, perLane, flipped):
                let laneScratch = scratch + lane.lane * perLane
                conv2dDirectWeightGradient(input: input, outputGradient: d.outputGradient, weightGradient: target,
                                           scratch: laneScratch, geometry: g, batch: batch, images: images)
                if let flipped, let inputGradient = d.inputGradient {
                    conv2dDirectInputGradient(outputGradient: d.outputGradient, transformedFlippedWeight: flipped,
                                              inputGradient: inputGradient, scratch: laneScratch, geometry: g,
                                              batch: batch, images: images)
                }
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

/// The runtime's answer to the planner's scratch question (`ScratchPlanner`): each pass of a conv
/// with an algorithm (`convolutionAlgorithm`) asks for that algorithm's rearranged weights and
/// per-lane workspaces; an im2col pass, and the other ops, take Graph's own `Op.scratch`.
func runtimeScratch(_ op: Op, _ context: ScratchContext) -> [ScratchRequest] {
    guard case let .conv2d(g) = op else { return op.scratch(context) }
    let lanes = context.lanes
    let images = ceilDivide(context.batchSize, lanes)
    let inputGradient = context.computesInputGradient
    let im2col = op.scratch(context)
    var requests: [ScratchRequest]
    if let algorithm = convolutionAlgorithm(g, .forward) {
        let kinds = algorithm.scratchKinds
        requests = [ScratchRequest(kinds.forward, elementCount: algorithm.forwardScratchCount(g, images: images) * lanes,
                                   pass: .forward)]
        if algorithm.rearrangesForwardWeights(g) {
            requests.insert(ScratchRequest(kinds.weights, elementCount: algorithm.weightCount(g, flipped: false),
                                           pass: .forward), at: 0)
        }
    } else {
        requests = im2col.filter { $0.pass == .forward }
    }
    guard context.runsBackward else { return requests }
    // A conv whose backward the fused Conv2D+ReLU+MaxPool2D group runs takes Graph's answer too:
    // the pooled workspace and the partial sums.
    if !context.backwardFusedWithReLUMaxPool, let algorithm = convolutionAlgorithm(g, .backward) {
        let kinds = algorithm.scratchKinds
        requests.append(ScratchRequest(kinds.backward,
                                       elementCount: algorithm.backwardScratchCount(g, images: images,
                                                                                    inputGradient: inputGradient) * lanes,
                                       pass: .backward))
        if inputGradient {
            requests.append(ScratchRequest(kinds.flipped, elementCount: algorithm.weightCount(g, flipped: true),
                                           pass: .backward))
        }
        // The weight-gradient partial sums of lanes 1…, as im2col's plan has them.
        requests += im2col.filter { $0.kind == .weightGradientPartials }
    } else {
        requests += im2col.filter { $0.pass == .backward }
    }
    return requests
}

/// Each algorithm's scratch, in one place for the planner (`runtimeScratch`) and the bound step.
extension ConvolutionStep.Algorithm {
    /// Its scratch kinds: rearranged weights and per-lane workspace forward; per-lane workspace
    /// and the flipped kernel's rearrangement backward.
    var scratchKinds: (weights: ScratchKind, forward: ScratchKind, backward: ScratchKind, flipped: ScratchKind) {
        switch self {
        case .winograd: return (.winogradWeights, .winogradColumns, .winogradBackwardColumns, .winogradFlippedWeights)
        case .direct: return (.directWeights, .directColumns, .directBackwardColumns, .directFlippedWeights)
        }
    }

    /// Floats of the rearranged weights, forward or flipped.
    func weightCount(_ g: Conv2DGeometry, flipped: Bool) -> Int {
        switch self {
        case .winograd: return winogradTransformedWeightCount(geometry: g, flipped: flipped)
        case .direct: return directTransformedWeightCount(geometry: g, flipped: flipped)
        }
    }

    /// Floats of one lane's forward workspace for up to `images` images.
    func forwardScratchCount(_ g: Conv2DGeometry, images: Int) -> Int {
        switch self {
        case .winograd: return winogradForwardScratchCount(geometry: g, images: images)
        case .direct: return directForwardScratchCount(geometry: g, images: images)
        }
    }

    /// Floats of one lane's backward workspace.
    func backwardScratchCount(_ g: Conv2DGeometry, images: Int, inputGradient: Bool) -> Int {
        switch self {
        case .winograd: return winogradBackwardScratchCount(geometry: g, images: images, inputGradient: inputGradient)
        case .direct: return directBackwardScratchCount(geometry: g, images: images, inputGradient: inputGradient)
        }
    }

    /// The forward pass reads rearranged weights (the one-channel row kernel reads them as they are).
    func rearrangesForwardWeights(_ g: Conv2DGeometry) -> Bool {
        !(self == .direct && directRowKernelApplies(g))
    }
}

/// The algorithm the runtime computes a pass of a conv with (the backward pass: weight and input
/// gradients), nil for im2col + GEMM:
/// - Winograd for stride-1 convs with at least 8 channels in and out (its kernels work on blocks
///   of 8 channels): all passes of a 3×3 conv, the forward pass of a 5×5 one. F(2×2, 5×5)'s
///   input gradient convolves dY padded by 4 − p, twice the tiles of the forward pass, and its
///   weight gradient transforms both operands for 2.8× fewer products than the direct kernel's,
///   which runs near peak: on lenet-wide's 16→32 conv (`cnnc bench --kernels`, 16 images, one
///   thread) Winograd took 0.38 / 0.66 / 0.46 ms and direct 0.61 / 0.60 / 0.39 ms for the forward,
///   input-gradient and weight-gradient passes.
/// - the direct kernels for the other stride-1 convs;
/// - im2col for strided ones, and for a one-channel conv with more than 16 output channels, whose
///   forward pass is bound by writing its output: on examples/mnist.yaml's first layer (1→32, 3×3)
///   the direct forward took 1.7× im2col + OpenBLAS's time and the weight gradient tied
///   (`scripts/bench-ab`, 2026-12-03), while on the LeNets' first layers (1→6, 1→16, 5×5) direct
///   was 0.5–0.7× in the backward pass.
func convolutionAlgorithm(_ g: Conv2DGeometry, _ pass: Pass) -> ConvolutionStep.Algorithm? {
    if winogradApplies(g) && g.inChannels >= 8 && g.outChannels >= 8 && (pass == .forward || g.kernel.h == 3) {
        return .winograd
    }
    if directConvolutionApplies(g) && !(g.inChannels == 1 && g.outChannels > 16) { return .direct }
    return nil
}

extension BufferPlan {
    /// A plan with the runtime's kernel choices (`convolutionAlgorithm`).
    public init(runtimeFor graph: Graph, mode: PlanMode, batchSize: Int, lanes: Int = 1, fuse: Bool = true) {
        self.init(graph: graph, mode: mode, batchSize: batchSize, lanes: lanes, fuse: fuse, scratch: runtimeScratch)
    }
}

/// Floats of one lane's Winograd backward scratch: the weight gradient's, and the input
/// gradient's when it is computed (the two run one after the other in the same region).
func winogradBackwardScratchCount(geometry g: Conv2DGeometry, images: Int, inputGradient: Bool) -> Int {
    max(winogradWeightGradientScratchCount(geometry: g, images: images),
        inputGradient ? winogradInputGradientScratchCount(geometry: g, images: images) : 0)
}

/// Conv2D in the runtime (spec: Spec/Layers/Kinds/Conv2D.swift; op: Graph/Layers/Conv2D.swift;
/// kernels: Kernels/Convolution.swift, DirectConvolution.swift, Winograd.swift, GEMM.swift).
extension Conv2DGeometry: RuntimeOp {
    func bind(_ binder: StepBinder) -> BoundStep { ConvolutionStep(self, binder) }

    /// PyTorch's default: weight and bias uniform in ±1/√(C·KH·KW) (kaiming_uniform with a = √5
    /// gives the same bound for the weight).
    var slotInitialization: [SlotRole: SlotInitialization] {
        let bound = SlotInitialization.uniform(bound: 1 / Float(columnRows).squareRoot())
        return [.weight: bound, .bias: bound]
    }

    var pytorchModule: String {
        pytorchConstructor(.conv2d, ["\(inChannels)", "\(outChannels)"],
                           keywords: [("kernel_size", pythonPair(kernel)), ("stride", pythonPair(stride)),
                                      ("padding", pythonPair(padding))] + (bias ? [] : [("bias", "False")]))
    }

    var onnxNode: ONNXNode? {
        ONNXNode("Conv", parameters: ["weight", "bias"],
                 attributes: [onnxInts("kernel_shape", [kernel.h, kernel.w]), onnxInts("strides", [stride.h, stride.w]),
                              onnxInts("pads", [padding.h, padding.w, padding.h, padding.w])])
    }
}
