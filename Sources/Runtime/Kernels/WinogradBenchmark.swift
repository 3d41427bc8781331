import Foundation
import Graph

/// Thread CPU seconds per call (the minimum over repetitions) of the Winograd kernels and of the im2col + GEMM
/// kernels they replace, for one convolution on one thread. For `cnnc bench` and measurements;
/// never asserted on.
public struct WinogradTiming: Sendable, CustomStringConvertible {
    public var geometry: Conv2DGeometry
    public var batch: Int
    public var tile: WinogradTile
    /// Winograd: forward (incl. the forward weight transform), input gradient (incl. the flipped
    /// weight transform), weight gradient.
    public var forward: Double
    public var inputGradient: Double
    public var weightGradient: Double
    /// im2col + GEMM: `conv2dForward`; `conv2dBackward` without and with the input gradient.
    public var im2colForward: Double
    public var im2colWeightGradient: Double
    public var im2colBackward: Double

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
            return "  \(name.padding(toLength: 15, withPad: " ", startingAt: 0)) winograd \(w) | im2col \(b) | ×\(String(format: "%.2f", base / wino))"
        }
        return """
            conv \(g.inChannels)→\(g.outChannels) @\(g.inHeight)×\(g.inWidth) pad \(g.padding.h) batch \(batch), \(tile)
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

/// Times the Winograd kernels (tile `tile`, else `winogradTile(for:)`) against im2col + GEMM on
/// random data, whole batch on the calling thread, `repetitions` times each; keeps the minimum.
public func winogradBenchmark(geometry g: Conv2DGeometry, batch: Int, repetitions: Int,
                              tile: WinogradTile? = nil) -> WinogradTiming {
    precondition(winogradApplies(g), "winogradBenchmark: not a 3×3 stride-1 convolution")
    let tile = tile ?? winogradTile(for: g)
    let gradient = winogradInputGradientGeometry(g)
    let inputCount = g.inChannels * batch * g.inHeight * g.inWidth
    let outputCount = g.outChannels * batch * g.outSpatial
    var generator = SeededGenerator(seed: 1)
    func random(_ n: Int) -> [Float] { (0..<n).map { _ in generator.nextFloat(in: -1, 1) } }
    let x = random(inputCount), dy = random(outputCount), weight = random(g.weightCount)
    let bias = random(g.outChannels)
    var y = [Float](repeating: 0, count: outputCount)
    var dx = [Float](repeating: 0, count: inputCount)
    var dw = [Float](repeating: 0, count: g.weightCount)
    var transformed = [Float](repeating: 0, count: max(winogradTransformedWeightCount(geometry: g, flipped: false, tile: tile),
                                                       winogradTransformedWeightCount(geometry: g, flipped: true, tile: tile)))
    let layout = WinogradLayout(g, tile: tile, images: batch)
    let scratchCount = max(layout.weightGradientScratchCount(g),
                           WinogradLayout(gradient, tile: tile, images: batch).scratchCount)
    var scratch = [Float](repeating: 0, count: scratchCount)
    let perImage = g.columnRows * g.outSpatial
    let chunk = max(1, min(batch, BufferPlan.columnBudgetBytes / (perImage * MemoryLayout<Float>.size)))
    var columns = [Float](repeating: 0, count: perImage * chunk)

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
    let images = 0..<batch
    let forward = best {
        winogradTransformWeights(weight: weight, transformed: &transformed, geometry: g, flipped: false, tile: tile)
        conv2dWinogradForward(input: x, transformedWeight: transformed, bias: bias, output: &y, scratch: &scratch,
                              geometry: g, batch: batch, images: images, tile: tile)
    }
    let inputGradient = best {
        winogradTransformWeights(weight: weight, transformed: &transformed, geometry: g, flipped: true, tile: tile)
        conv2dWinogradForward(input: dy, transformedWeight: transformed, bias: nil, output: &dx, scratch: &scratch,
                              geometry: gradient, batch: batch, images: images, tile: tile)
    }
    let weightGradient = best {
        conv2dWinogradWeightGradient(input: x, outputGradient: dy, weightGradient: &dw, scratch: &scratch,
                                     geometry: g, batch: batch, images: images, tile: tile)
    }
    let im2colForward = best {
        conv2dForward(input: x, weight: weight, bias: bias, output: &y, columns: &columns, geometry: g,
                      batch: batch, chunk: chunk)
    }
    let im2colWeightGradient = best {
        conv2dBackward(input: x, weight: weight, outputGradient: dy, weightGradient: &dw, inputGradient: nil,
                       columns: &columns, geometry: g, batch: batch, chunk: chunk, images: images)
    }
    let im2colBackward = best {
        conv2dBackward(input: x, weight: weight, outputGradient: dy, weightGradient: &dw, inputGradient: &dx,
                       columns: &columns, geometry: g, batch: batch, chunk: chunk, images: images)
    }
    return WinogradTiming(geometry: g, batch: batch, tile: tile, forward: forward, inputGradient: inputGradient,
                          weightGradient: weightGradient, im2colForward: im2colForward,
                          im2colWeightGradient: im2colWeightGradient, im2colBackward: im2colBackward)
}
