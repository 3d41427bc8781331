import Graph
import Spec
import Synchronization

/// The machine's measured single-precision multiply-add throughput, the ceiling every conv is
/// compared against.
public struct FMAPeak: Sendable {
    /// GFLOP/s of one thread.
    public var perCore: Double
    /// GFLOP/s of `threads` threads running at once.
    public var total: Double
    public var threads: Int

    /// Seconds one 60,000-image epoch takes at least: 3 × forward MACs (forward, input gradient,
    /// weight gradient) × 2 FLOP per image, at the `threads`-thread peak.
    public func epochFloorSeconds(macsPerExample: Int, examples: Int = 60_000) -> Double {
        3 * 2 * Double(macsPerExample) * Double(examples) / (total * 1e9)
    }
}

/// Runs a loop of independent 8-lane FMAs (ten accumulators, more than FMA latency × throughput)
/// for about `seconds` on one thread and on `threads` threads at once.
public func measureFMAPeak(threads: Int, seconds: Double = 0.15) -> FMAPeak {
    // Calibrate the iteration count on one thread, then time it.
    var iterations = 1 << 16
    var elapsed = 0.0
    while true {
        let started = now()
        fmaSink = fmaLoop(iterations: iterations, seed: Float(iterations & 7))
        elapsed = now() - started
        if elapsed >= seconds / 4 || iterations >= 1 << 30 { break }
        iterations *= 2
    }
    iterations = max(1, Int(Double(iterations) * seconds / max(elapsed, 1e-9)))
    let started = now()
    fmaSink = fmaLoop(iterations: iterations, seed: 1)
    let single = flopsPerIteration * Double(iterations) / (now() - started) / 1e9
    guard threads > 1 else { return FMAPeak(perCore: single, total: single, threads: 1) }
    let results = UnsafeMutablePointer<Float>.allocate(capacity: threads)
    defer { results.deallocate() }
    let pool = LanePool(lanes: threads) { job, task, _ in
        let work = job.load(as: (iterations: Int, results: UnsafeMutablePointer<Float>).self)
        work.results[task] = fmaLoop(iterations: work.iterations, seed: 2)
    }
    var job = (iterations: iterations, results: results)
    let startedAll = now()
    withUnsafePointer(to: &job) { pool.run(UnsafeRawPointer($0), tasks: pool.threads) }
    let total = flopsPerIteration * Double(iterations) * Double(pool.threads) / (now() - startedAll) / 1e9
    fmaSink = results[0]
    return FMAPeak(perCore: single, total: total, threads: pool.threads)
}

/// 10 accumulators × 8 lanes × 2 FLOP.
private let flopsPerIteration = 160.0

/// Keeps the loop's result alive (written by the calling thread only).
nonisolated(unsafe) private var fmaSink: Float = 0

@inline(never)
private func fmaLoop(iterations: Int, seed: Float) -> Float {
    let m = Lanes(repeating: 0.999_999)
    let v = Lanes(repeating: 1e-7)
    var a0 = Lanes(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4
    var a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9
    for _ in 0..<iterations {
        a0 = v.addingProduct(a0, m); a1 = v.addingProduct(a1, m); a2 = v.addingProduct(a2, m)
        a3 = v.addingProduct(a3, m); a4 = v.addingProduct(a4, m); a5 = v.addingProduct(a5, m)
        a6 = v.addingProduct(a6, m); a7 = v.addingProduct(a7, m); a8 = v.addingProduct(a8, m)
        a9 = v.addingProduct(a9, m)
    }
    return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9).sum()
}
