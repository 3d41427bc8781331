import Foundation
import Graph
import Spec

/// Thread CPU seconds per call (the minimum over repetitions) of the kernels the runtime computes a
/// conv with (Winograd or direct) and of the im2col + GEMM kernels they replace, for one
/// convolution on one thread. For `cnnc bench --kernels` and measurements; never asserted on.
public struct ConvolutionKernelTiming: Sendable, CustomStringConvertible {
    public var geometry: Conv2DGeometry
    public var batch: Int
    /// The kernels timed: `winograd F(4×4, 3×3)` (another tile likewise) or `direct`.
    public var kernels: String
    /// Forward (incl. the forward weight rearrangement), input gradient (incl. the flipped
    /// one), weight gradient.
    public var forward: Double
    public var inputGradient: Double
    public var weightGradient: Double
    /// im2col + GEMM: `conv2dForward`; `conv2dBackward` without and with the input gradient.
    public var im2colForward: Double
    public var im2colWeightGradient: Double
    public var im2colBackward: Double
    /// The passes the runtime computes with these kernels (`convolutionAlgorithm`; backward: the
    /// input and weight gradients).
    public var chosen: [Pass] = []

    /// Multiply-adds of the direct convolution over the batch.
    public var directMACs: Double {
        Double(geometry.weightCount) * Double(geometry.outSpatial) * Double(batch)
    }

    /// Effective GFLOP/s: 2 × direct MACs / seconds.
    public func gigaflops(_ seconds: Double) -> Double { 2 * directMACs / seconds / 1e9 }

    public var description: String {
        let g = geometry
        func row(_ name: String, _ wino: Double, _ base: Double) -> String {
            let w = String(format: "%7.3f ms %6.1f GFLOP/s", wino * 1e3, gigaflops(wino))
            let b = String(format: "%7.3f ms %6.1f GFLOP/s", base * 1e3, gigaflops(base))
            return "  \(name.padding(toLength: 15, withPad: " ", startingAt: 0)) \(kernels.prefix(8)) \(w) | im2col \(b) | ×\(String(format: "%.2f", base / wino))"
        }
        let runs = chosen.isEmpty ? "not run" : "runs " + chosen.map(\.rawValue).joined(separator: " and ")
        return """
            conv \(g.inChannels)→\(g.outChannels) \(g.kernel.h)×\(g.kernel.w) @\(g.inHeight)×\(g.inWidth) pad \(g.padding.h) batch \(batch), \(kernels) (\(runs))
            \(row("forward", forward, im2colForward))
            \(row("input gradient", inputGradient, im2colBackward - im2colWeightGradient))
            \(row("weight gradient", weightGradient, im2colWeightGradient))
            """
    }
}

/// CPU seconds the calling thread has run: unlike wall time, it leaves out the time the thread
/// waits while other processes have the core, so figures on a shared machine stay comparable.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Random inputs and outputs of one conv over `batch` images, and the im2col + GEMM timings.
private struct KernelBench {
    let g: Conv2DGeometry
    let batch: Int
    let repetitions: Int
    var x: [Float], dy: [Float], weight: [Float], bias: [Float]
    var y: [Float], dx: [Float], dw: [Float]

    init(_ g: Conv2DGeometry, batch: Int, repetitions: Int) {
        (self.g, self.batch, self.repetitions) = (g, batch, repetitions)
        let inputCount = g.inChannels * batch * g.inHeight * g.inWidth
        let outputCount = g.outChannels * batch * g.outSpatial
        var generator = SeededGenerator(seed: 1)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in generator.nextFloat(in: -1, 1) } }
        x = random(inputCount)
        dy = random(outputCount)
        weight = random(g.weightCount)
        bias = random(g.outChannels)
        y = [Float](repeating: 0, count: outputCount)
        dx = [Float](repeating: 0, count: inputCount)
        dw = [Float](repeating: 0, count: g.weightCount)
    }

    func best(_ body: () -> Void) -> Double {
        body()
        var fastest = Double.infinity
        for _ in 0..<repetitions {
            let start = threadCPUSeconds()
            body()
            fastest = min(fastest, threadCPUSeconds() - start)
        }
        return fastest
    }

    /// Times `forward`, `inputGradient` and `weightGradient`, then im2col + GEMM.
    mutating func timing(kernels: String, forward: (inout KernelBench) -> Void,
                         inputGradient: (inout KernelBench) -> Void,
                         weightGradient: (inout KernelBench) -> Void) -> ConvolutionKernelTiming {
        var me = self
        let f = best { forward(&me) }
        let i = best { inputGradient(&me) }
        let w = best { weightGradient(&me) }
        let perImage = g.columnRows * g.outSpatial
        let chunk = max(1, min(batch, BufferPlan.columnBudgetBytes / (perImage * MemoryLayout<Float>.size)))
        var columns = [Float](repeating: 0, count: perImage * chunk)
        let (g, batch) = (self.g, self.batch)
        let im2colForward = best {
            conv2dForward(input: me.x, weight: me.weight, bias: me.bias, output: &me.y, columns: &columns, geometry: g,
                          batch: batch, chunk: chunk)
        }
        let im2colWeightGradient = best {
            conv2dBackward(input: me.x, weight: me.weight, outputGradient: me.dy, weightGradient: &me.dw,
                           inputGradient: nil, columns: &columns, geometry: g, batch: batch, chunk: chunk,
                           images: 0..<batch)
        }
        let im2colBackward = best {
            conv2dBackward(input: me.x, weight: me.weight, outputGradient: me.dy, weightGradient: &me.dw,
                           inputGradient: &me.dx, columns: &columns, geometry: g, batch: batch, chunk: chunk,
                           images: 0..<batch)
        }
        self = me
        return ConvolutionKernelTiming(geometry: g, batch: batch, kernels: kernels, forward: f, inputGradient: i,
                                       weightGradient: w, im2colForward: im2colForward,
                                       im2colWeightGradient: im2colWeightGradient, im2colBackward: im2colBackward)
    }
}

/// Times each algorithm that can compute `g` (Winograd, direct) against im2col + GEMM, whole
/// batch on the calling thread; empty for a conv only im2col computes. `ConvolutionKernelTiming.chosen`
/// says which passes the runtime runs with each (`convolutionAlgorithm`).
public func convolutionKernelBenchmarks(geometry g: Conv2DGeometry, batch: Int,
                                        repetitions: Int) -> [ConvolutionKernelTiming] {
    var algorithms: [ConvolutionStep.Algorithm] = []
    if winogradApplies(g) { algorithms.append(.winograd) }
    if directConvolutionApplies(g) { algorithms.append(.direct) }
    return algorithms.map { algorithm in
        var timing = convolutionKernelBenchmark(algorithm, geometry: g, batch: batch, repetitions: repetitions)
        timing.chosen = [Pass.forward, .backward].filter { convolutionAlgorithm(g, $0) == algorithm }
        return timing
    }
}

func convolutionKernelBenchmark(_ algorithm: ConvolutionStep.Algorithm, geometry g: Conv2DGeometry, batch: Int,
                                repetitions: Int) -> ConvolutionKernelTiming {
    switch algorithm {
    case .winograd: return winogradBenchmark(geometry: g, batch: batch, repetitions: repetitions)
    case .direct: return directBenchmark(geometry: g, batch: batch, repetitions: repetitions)
    }
}

/// Times the direct kernels against im2col + GEMM, `repetitions` times each; keeps the minimum.
public func directBenchmark(geometry g: Conv2DGeometry, batch: Int, repetitions: Int) -> ConvolutionKernelTiming {
    precondition(directConvolutionApplies(g), "directBenchmark: not a stride-1 convolution")
    var bench = KernelBench(g, batch: batch, repetitions: repetitions)
    var rearranged = [Float](repeating: 0, count: max(directTransformedWeightCount(geometry: g, flipped: false),
                                                      directTransformedWeightCount(geometry: g, flipped: true)))
    var scratch = [Float](repeating: 0, count: max(directForwardScratchCount(geometry: g, images: batch),
                                                   DirectLayout(forward: g, images: batch, transposed: false).count,
                                                   directBackwardScratchCount(geometry: g, images: batch,
                                                                              inputGradient: true)))
    let images = 0..<batch
    return bench.timing(kernels: "direct", forward: { b in
        // What the network runs: the row kernel for one channel, else rearrangement + channel vectors.
        if directRowKernelApplies(g) {
            conv2dDirectRowForward(input: b.x, weight: b.weight, bias: b.bias, output: &b.y, scratch: &scratch,
                                   geometry: g, batch: batch, images: images)
            return
        }
        directTransformWeights(weight: b.weight, transformed: &rearranged, geometry: g, flipped: false,
                               rows: 0..<directTransformedWeightRows(geometry: g, flipped: false))
        conv2dDirectForward(input: b.x, transformedWeight: rearranged, bias: b.bias, output: &b.y,
                            scratch: &scratch, geometry: g, batch: batch, images: images)
    }, inputGradient: { b in
        directTransformWeights(weight: b.weight, transformed: &rearranged, geometry: g, flipped: true,
                               rows: 0..<directTransformedWeightRows(geometry: g, flipped: true))
        conv2dDirectInputGradient(outputGradient: b.dy, transformedFlippedWeight: rearranged, inputGradient: &b.dx,
                                  scratch: &scratch, geometry: g, batch: batch, images: images)
    }, weightGradient: { b in
        conv2dDirectWeightGradient(input: b.x, outputGradient: b.dy, weightGradient: &b.dw, scratch: &scratch,
                                   geometry: g, batch: batch, images: images)
    })
}

/// Times the Winograd kernels (tile `tile`, else `winogradTile(for:)`) against im2col + GEMM on
/// random data, whole batch on the calling thread, `repetitions` times each; keeps the minimum.
public func winogradBenchmark(geometry g: Conv2DGeometry, batch: Int, repetitions: Int,
                              tile: WinogradTile? = nil) -> ConvolutionKernelTiming {
    precondition(winogradApplies(g), "winogradBenchmark: not a 3×3 or 5×5 stride-1 convolution")
    let tile = tile ?? winogradTile(for: g)
    let gradient = winogradInputGradientGeometry(g)
    var bench = KernelBench(g, batch: batch, repetitions: repetitions)
    var transformed = [Float](repeating: 0, count: max(winogradTransformedWeightCount(geometry: g, flipped: false, tile: tile),
                                                       winogradTransformedWeightCount(geometry: g, flipped: true, tile: tile)))
    let layout = WinogradLayout(g, tile: tile, images: batch)
    let scratchCount = max(layout.weightGradientScratchCount(g),
                           WinogradLayout(gradient, tile: tile, images: batch).scratchCount)
    var scratch = [Float](repeating: 0, count: scratchCount)
    let images = 0..<batch
    return bench.timing(kernels: "winograd \(tile)", forward: { b in
        winogradTransformWeights(weight: b.weight, transformed: &transformed, geometry: g, flipped: false, tile: tile)
        conv2dWinogradForward(input: b.x, transformedWeight: transformed, bias: b.bias, output: &b.y,
                              scratch: &scratch, geometry: g, batch: batch, images: images, tile: tile)
    }, inputGradient: { b in
        winogradTransformWeights(weight: b.weight, transformed: &transformed, geometry: g, flipped: true, tile: tile)
        conv2dWinogradForward(input: b.dy, transformedWeight: transformed, bias: nil, output: &b.dx,
                              scratch: &scratch, geometry: gradient, batch: batch, images: images, tile: tile)
    }, weightGradient: { b in
        conv2dWinogradWeightGradient(input: b.x, outputGradient: b.dy, weightGradient: &b.dw, scratch: &scratch,
                                     geometry: g, batch: batch, images: images, tile: tile)
    })
}
