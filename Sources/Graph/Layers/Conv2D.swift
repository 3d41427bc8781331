import Spec

/// Conv2D in Graph: its shape rule, its op's geometry and every fact the planner and reports take
/// from it (spec: Spec/Layers/Kinds/Conv2D.swift; step: Runtime/Ops/ConvolutionStep.swift).
extension Conv2DSpec: LayerShapeRule {
    public func resolve(_ layer: LayerSpec, input: FeatureShape) -> Result<(Op, FeatureShape), Diagnostic> {
        guard case let .image(c, h, w) = input else {
            return .failure(flatInputError(layer, input: input))
        }
        let geometry = Conv2DGeometry(inChannels: c, outChannels: outChannels, inHeight: h, inWidth: w,
                                      kernel: kernel, stride: stride, padding: padding, bias: bias)
        if let problem = windowProblem("kernel", window: kernel, padding: padding, layer: layer, input: input) {
            return .failure(problem)
        }
        return .success((.conv2d(geometry), .image(channels: outChannels, height: geometry.outHeight, width: geometry.outWidth)))
    }

    public static let shapeRuleText = "OC × ⌊(H + 2p − k)/s⌋+1 × ⌊(W + 2p − k)/s⌋+1"
    public static let parameterRuleText = "OC·C·kh·kw (+ OC)"
}

/// Geometry of a convolution over a C×H×W input. Weight layout is PyTorch's [out, in, kh, kw].
public struct Conv2DGeometry: OpRule {
    public var inChannels: Int
    public var outChannels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var kernel: Pair
    public var stride: Pair
    public var padding: Pair
    public var bias: Bool

    public var outHeight: Int { windowOutputSize(inHeight, padding: padding.h, kernel: kernel.h, stride: stride.h) }
    public var outWidth: Int { windowOutputSize(inWidth, padding: padding.w, kernel: kernel.w, stride: stride.w) }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    public var columnRows: Int { inChannels * kernel.h * kernel.w }
    public var outSpatial: Int { outHeight * outWidth }
    public var weightCount: Int { outChannels * columnRows }

    public static let layerName: LayerName? = .conv2d

    public var slotShapes: [(role: SlotRole, shape: [Int])] {
        let weight: [(role: SlotRole, shape: [Int])] = [(.weight, [outChannels, inChannels, kernel.h, kernel.w])]
        return bias ? weight + [(.bias, [outChannels])] : weight
    }

    /// OC·OH·OW·IC·KH·KW.
    public var macs: Int { outChannels * outSpatial * columnRows }

    public func saved(output: FeatureShape) -> [(kind: SavedKind, count: Int, perExample: Bool)] { [] }

    /// The weight gradient reads the input.
    public var dataflow: OpDataflow { OpDataflow(backwardReadsInput: true) }

    /// im2col columns: each lane lowers its share of the batch, as many images at a time as fit
    /// the budget. (The runtime asks for its own algorithms' scratch instead: `runtimeScratch`.)
    public func scratch(_ context: ScratchContext) -> [ScratchRequest] {
        let (batchSize, lanes) = (context.batchSize, context.lanes)
        let columns = columnsPerLane(batchSize: batchSize, lanes: lanes) * lanes
        var requests = [ScratchRequest(.columns, elementCount: columns, pass: .forward)]
        if context.runsBackward {
            if context.backwardFusedWithReLUMaxPool {
                requests.append(ScratchRequest(.pooledWeightGradient,
                                               elementCount: pooledGradientColumnsPerLane(
                                                   inputGradient: context.computesInputGradient) * lanes,
                                               pass: .backward))
            } else {
                requests.append(ScratchRequest(.backwardColumns, elementCount: columns, pass: .backward))
            }
            if lanes > 1 {
                requests.append(ScratchRequest(.weightGradientPartials, elementCount: weightCount * (lanes - 1),
                                               pass: .backward))
            }
        }
        return requests
    }

    /// The per-lane workspace of the weight and input gradients taken straight from a following
    /// max pool's gradient (`FusedPattern.convReLUMaxPool`). A first conv with fewer than 4 input
    /// channels (`pooledGradientsByRows`): one image's channels, zero-bordered, each row
    /// `pooledGradientRowStride` floats (8 past the padded width, so that 8-float row loads stay
    /// inside), then an Int32 table of the OH·OW windows' offsets in a plane. Otherwise: the weight
    /// gradient's accumulator and the weights as [OC, KH, KW, C rounded up to 8], one image's input
    /// and input gradient channels-last and bordered, [H + 2·ph, W + 2·pw, C rounded up to 8], and
    /// the table.
    public func pooledGradientsByRows(inputGradient: Bool) -> Bool { !inputGradient && inChannels < 4 }
    public var pooledGradientRowStride: Int { inWidth + 2 * padding.w + 8 }
    public var pooledGradientPlaneCount: Int { (inHeight + 2 * padding.h) * pooledGradientRowStride }
    public var pooledGradientChannels: Int { (inChannels + 7) / 8 * 8 }
    public var pooledInputGradientPlaneCount: Int {
        (inHeight + 2 * padding.h) * (inWidth + 2 * padding.w) * pooledGradientChannels
    }
    public var pooledInputGradientWeightCount: Int { outChannels * kernel.h * kernel.w * pooledGradientChannels }
    public func pooledGradientColumnsPerLane(inputGradient: Bool) -> Int {
        if pooledGradientsByRows(inputGradient: inputGradient) { return inChannels * pooledGradientPlaneCount + outSpatial }
        return 2 * (pooledInputGradientWeightCount + pooledInputGradientPlaneCount) + outSpatial
    }

    /// Images a lane lowers into its im2col region at once: as many of its share of the batch as
    /// fit `BufferPlan.columnBudgetBytes`, at least one.
    public func imagesPerChunk(batchSize: Int, lanes: Int) -> Int {
        let imagesPerLane = (batchSize + lanes - 1) / lanes
        return max(1, min(imagesPerLane, BufferPlan.columnBudgetBytes / (columnsPerImage * ElementType.float32.size)))
    }

    /// im2col elements of one image: [C·KH·KW, OH·OW].
    public var columnsPerImage: Int { columnRows * outSpatial }

    /// Elements of one lane's im2col region.
    public func columnsPerLane(batchSize: Int, lanes: Int) -> Int {
        columnsPerImage * imagesPerChunk(batchSize: batchSize, lanes: lanes)
    }

    public var window: (kernel: Pair, stride: Pair)? { (kernel, stride) }

    public var settingsText: String {
        "k\(settingsPair(kernel)) s\(settingsPair(stride)) p\(settingsPair(padding))" + (bias ? "" : " no bias")
    }
}
