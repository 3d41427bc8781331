import Graph
import Spec

// Small SIMD helpers for the memory-bound kernels. Swift does not vectorize conditional selects
// or float reductions on its own (reductions would reorder additions), so these spell it out:
// eight lanes at a time, then a scalar tail.

typealias Lanes = SIMD8<Float>

@inline(__always)
func loadLanes(_ pointer: UnsafePointer<Float>) -> Lanes {
    UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self)
}

/// a·b + c: one fused multiply-add instruction (one rounding) where the build targets a CPU with
/// FMA (`CNNC_FMA`, set by Package.swift), else a multiply and an add. Swift never contracts
/// `a * b + c` into an FMA by itself, so the compute-bound kernels spell it out with this.
@inline(__always)
func multiplyAdd(_ a: Lanes, _ b: Lanes, _ c: Lanes) -> Lanes {
    #if CNNC_FMA
    c.addingProduct(a, b)
    #else
    a * b + c
    #endif
}

@inline(__always)
func storeLanes(_ value: Lanes, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Lanes.self)
}

/// Copies `count` floats, eight at a time: inlined, for the short rows (a conv's output width)
/// where a call to memmove costs more than the copy.
/// - from, to: [count], not overlapping
@inline(__always)
func laneCopy(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        storeLanes(loadLanes(from + i), to + i)
        i += 8
    }
    while i < count {
        to[i] = from[i]
        i += 1
    }
}

/// Sets `count` floats to zero, eight at a time (short rows, as `laneCopy`).
/// - to: [count]
@inline(__always)
func laneZero(_ to: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        storeLanes(Lanes(), to + i)
        i += 8
    }
    while i < count {
        to[i] = 0
        i += 1
    }
}

/// to += from, elementwise, eight at a time.
/// - from, to: [count], not overlapping
@inline(__always)
func laneAccumulate(_ from: UnsafePointer<Float>, into to: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        storeLanes(loadLanes(to + i) + loadLanes(from + i), to + i)
        i += 8
    }
    while i < count {
        to[i] += from[i]
        i += 1
    }
}

/// Σ values, accumulated in 16 float lanes.
/// - values: [count]
@inline(__always)
func laneSum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var a = Lanes()
    var b = Lanes()
    var i = 0
    while i + 16 <= count {
        a += loadLanes(values + i)
        b += loadLanes(values + i + 8)
        i += 16
    }
    var total = (a + b).sum()
    while i < count {
        total += values[i]
        i += 1
    }
    return total
}

/// Σ (values − center)², accumulated in 16 float lanes.
/// - values: [count]
@inline(__always)
func laneSquaredDeviation(_ values: UnsafePointer<Float>, count: Int, center: Float) -> Float {
    var a = Lanes()
    var b = Lanes()
    let c = Lanes(repeating: center)
    var i = 0
    while i + 16 <= count {
        let x = loadLanes(values + i) - c
        let y = loadLanes(values + i + 8) - c
        a += x * x
        b += y * y
        i += 16
    }
    var total = (a + b).sum()
    while i < count {
        let d = values[i] - center
        total += d * d
        i += 1
    }
    return total
}

/// output = input · scale + shift, elementwise; may run in place.
/// - input, output: [count]
@inline(__always)
func laneAffine(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float) {
    let s = Lanes(repeating: scale)
    let t = Lanes(repeating: shift)
    var i = 0
    while i + 8 <= count {
        storeLanes(loadLanes(input + i) * s + t, output + i)
        i += 8
    }
    while i < count {
        output[i] = input[i] * scale + shift
        i += 1
    }
}

/// output = max(0, input · scale + shift), elementwise; may run in place.
/// - input, output: [count]
@inline(__always)
func laneAffineReLU(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, scale: Float,
                    shift: Float) {
    let s = Lanes(repeating: scale)
    let t = Lanes(repeating: shift)
    let zero = Lanes()
    var i = 0
    while i + 8 <= count {
        let y = loadLanes(input + i) * s + t
        storeLanes(y.replacing(with: zero, where: y .< zero), output + i)
        i += 8
    }
    while i < count {
        output[i] = max(input[i] * scale + shift, 0)
        i += 1
    }
}
