import CBLAS
import Graph
import Spec

/// Row-major single-precision GEMM, C = α·op(A)·op(B) + β·C, through BLAS (im2col convolutions;
/// the smaller products use this runtime's own kernels below).
///
/// It is issued as the equivalent column-major product Cᵀ = op(B)ᵀ·op(A)ᵀ: same operands, same
/// result. OpenBLAS sends small row-major, β = 0 products down a "direct" path that allocates
/// on every call; the column-major form takes the packed path, whose buffers are allocated once,
/// so training steps stay allocation-free.
/// - a: op(A) is [m, k]; b: op(B) is [k, n]; c: [m, n] with leading dimension ldc
@inline(__always)
func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
          beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasColMajor, transposeB ? CblasTrans : CblasNoTrans, transposeA ? CblasTrans : CblasNoTrans,
                Int32(n), Int32(m), Int32(k), alpha, b, Int32(ldb), a, Int32(lda), beta, c, Int32(ldc))
}

/// C (+)= A·B without packing (B stays in L1/L2), for the small products of this runtime (the
/// Winograd tile-element products, Linear's gradients): 6×16 blocks of C in 12 vector
/// accumulators, then single rows, an 8-column strip and single columns; fused multiply-adds
/// (`multiplyAdd`). A is read through strides, so A and Aᵀ share the kernel (the Winograd
/// forward's V[ξ]·U[ξ] and weight gradient's V[ξ]ᵀ·Z[ξ]; Linear's dY·W and dYᵀ·X).
/// Nothing is allocated (OpenBLAS's small-matrix path allocates per call on AVX-512 machines).
/// - a: A [rows, depth], element (r, k) at `a[r·rowStride + k·depthStride]`
/// - b: [depth, columns] (ldb)
/// - c: [rows, columns] (ldc), overwritten, or added to with `accumulate`
@inline(never)
func multiplyStrided(_ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int,
                      _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
                      rows: Int, columns: Int, depth: Int, accumulate: Bool) {
    @inline(__always) func start(_ p: UnsafeMutablePointer<Float>) -> Lanes { accumulate ? loadLanes(p) : Lanes() }
    var o = 0
    while o + 16 <= columns {
        var t = 0
        while t + 6 <= rows {
            let pc = c + t * ldc + o
            let (q0, q1, q2, q3, q4, q5) = (pc, pc + ldc, pc + 2 * ldc, pc + 3 * ldc, pc + 4 * ldc, pc + 5 * ldc)
            var (c00, c01, c10, c11) = (start(q0), start(q0 + 8), start(q1), start(q1 + 8))
            var (c20, c21, c30, c31) = (start(q2), start(q2 + 8), start(q3), start(q3 + 8))
            var (c40, c41, c50, c51) = (start(q4), start(q4 + 8), start(q5), start(q5 + 8))
            let p0 = a + t * rowStride
            let (p1, p2, p3, p4, p5) = (p0 + rowStride, p0 + 2 * rowStride, p0 + 3 * rowStride, p0 + 4 * rowStride,
                                        p0 + 5 * rowStride)
            var pb = b + o
            var k = 0
            for _ in 0..<depth {
                let b0 = loadLanes(pb), b1 = loadLanes(pb + 8)
                var x = Lanes(repeating: p0[k])
                c00 = multiplyAdd(x, b0, c00); c01 = multiplyAdd(x, b1, c01)
                x = Lanes(repeating: p1[k])
                c10 = multiplyAdd(x, b0, c10); c11 = multiplyAdd(x, b1, c11)
                x = Lanes(repeating: p2[k])
                c20 = multiplyAdd(x, b0, c20); c21 = multiplyAdd(x, b1, c21)
                x = Lanes(repeating: p3[k])
                c30 = multiplyAdd(x, b0, c30); c31 = multiplyAdd(x, b1, c31)
                x = Lanes(repeating: p4[k])
                c40 = multiplyAdd(x, b0, c40); c41 = multiplyAdd(x, b1, c41)
                x = Lanes(repeating: p5[k])
                c50 = multiplyAdd(x, b0, c50); c51 = multiplyAdd(x, b1, c51)
                pb += ldb
                k &+= depthStride
            }
            storeLanes(c00, q0); storeLanes(c01, q0 + 8)
            storeLanes(c10, q1); storeLanes(c11, q1 + 8)
            storeLanes(c20, q2); storeLanes(c21, q2 + 8)
            storeLanes(c30, q3); storeLanes(c31, q3 + 8)
            storeLanes(c40, q4); storeLanes(c41, q4 + 8)
            storeLanes(c50, q5); storeLanes(c51, q5 + 8)
            t += 6
        }
        while t < rows {
            let pc = c + t * ldc + o
            var (c0, c1, d0, d1) = (start(pc), start(pc + 8), Lanes(), Lanes())
            let pa = a + t * rowStride
            var pb = b + o
            var k = 0
            var remaining = depth
            while remaining >= 2 {
                let x = Lanes(repeating: pa[k]), y = Lanes(repeating: pa[k &+ depthStride])
                c0 = multiplyAdd(x, loadLanes(pb), c0); c1 = multiplyAdd(x, loadLanes(pb + 8), c1)
                d0 = multiplyAdd(y, loadLanes(pb + ldb), d0); d1 = multiplyAdd(y, loadLanes(pb + ldb + 8), d1)
                pb += 2 * ldb
                k &+= 2 &* depthStride
                remaining -= 2
            }
            if remaining > 0 {
                let x = Lanes(repeating: pa[k])
                c0 = multiplyAdd(x, loadLanes(pb), c0); c1 = multiplyAdd(x, loadLanes(pb + 8), c1)
            }
            storeLanes(c0 + d0, pc); storeLanes(c1 + d1, pc + 8)
            t += 1
        }
        o += 16
    }
    if o + 8 <= columns {
        var t = 0
        while t + 6 <= rows {
            let pc = c + t * ldc + o
            let (q0, q1, q2, q3, q4, q5) = (pc, pc + ldc, pc + 2 * ldc, pc + 3 * ldc, pc + 4 * ldc, pc + 5 * ldc)
            var (c0, c1, c2, c3, c4, c5) = (start(q0), start(q1), start(q2), start(q3), start(q4), start(q5))
            let p0 = a + t * rowStride
            let (p1, p2, p3, p4, p5) = (p0 + rowStride, p0 + 2 * rowStride, p0 + 3 * rowStride, p0 + 4 * rowStride,
                                        p0 + 5 * rowStride)
            var pb = b + o
            var k = 0
            for _ in 0..<depth {
                let b0 = loadLanes(pb)
                c0 = multiplyAdd(Lanes(repeating: p0[k]), b0, c0)
                c1 = multiplyAdd(Lanes(repeating: p1[k]), b0, c1)
                c2 = multiplyAdd(Lanes(repeating: p2[k]), b0, c2)
                c3 = multiplyAdd(Lanes(repeating: p3[k]), b0, c3)
                c4 = multiplyAdd(Lanes(repeating: p4[k]), b0, c4)
                c5 = multiplyAdd(Lanes(repeating: p5[k]), b0, c5)
                pb += ldb
                k &+= depthStride
            }
            storeLanes(c0, q0); storeLanes(c1, q1); storeLanes(c2, q2)
            storeLanes(c3, q3); storeLanes(c4, q4); storeLanes(c5, q5)
            t += 6
        }
        while t < rows {
            let pc = c + t * ldc + o
            var c0 = start(pc)
            let pa = a + t * rowStride
            var pb = b + o
            var k = 0
            for _ in 0..<depth {
                c0 = multiplyAdd(Lanes(repeating: pa[k]), loadLanes(pb), c0)
                pb += ldb
                k &+= depthStride
            }
            storeLanes(c0, pc)
            t += 1
        }
        o += 8
    }
    // The last columns (fewer than 8) one at a time.
    for column in o..<columns {
        for t in 0..<rows {
            let pa = a + t * rowStride
            var pb = b + column
            var total: Float = accumulate ? c[t * ldc + column] : 0
            var k = 0
            for _ in 0..<depth {
                total += pa[k] * pb.pointee
                pb += ldb
                k &+= depthStride
            }
            c[t * ldc + column] = total
        }
    }
}

/// C = A·Bᵀ: every entry a dot product of a row of A and a row of B (both contiguous), 2 × 4 of
/// them at a time in eight vector accumulators, summed across lanes at the end (Linear's forward,
/// X·Wᵀ, with no transposed copy of W). Nothing is allocated.
/// - a: [rows, depth] (lda); b: [columns, depth] (ldb); c: [rows, columns] (ldc), overwritten
@inline(never)
func multiplyTransposed(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int, depth: Int) {
    var r = 0
    while r < rows {
        // A last odd row is computed twice over (the same row in both slots), stored once.
        let (a0, a1) = (a + r * lda, a + min(r + 1, rows - 1) * lda)
        var j = 0
        while j < columns {
            @inline(__always) func row(_ i: Int) -> UnsafePointer<Float> { b + min(j + i, columns - 1) * ldb }
            let (b0, b1, b2, b3) = (row(0), row(1), row(2), row(3))
            var (s00, s01, s02, s03) = (Lanes(), Lanes(), Lanes(), Lanes())
            var (s10, s11, s12, s13) = (Lanes(), Lanes(), Lanes(), Lanes())
            var p = 0
            while p + 8 <= depth {
                let x0 = loadLanes(a0 + p), x1 = loadLanes(a1 + p)
                var y = loadLanes(b0 + p)
                s00 = multiplyAdd(x0, y, s00); s10 = multiplyAdd(x1, y, s10)
                y = loadLanes(b1 + p)
                s01 = multiplyAdd(x0, y, s01); s11 = multiplyAdd(x1, y, s11)
                y = loadLanes(b2 + p)
                s02 = multiplyAdd(x0, y, s02); s12 = multiplyAdd(x1, y, s12)
                y = loadLanes(b3 + p)
                s03 = multiplyAdd(x0, y, s03); s13 = multiplyAdd(x1, y, s13)
                p += 8
            }
            var sums = (s00.sum(), s01.sum(), s02.sum(), s03.sum(), s10.sum(), s11.sum(), s12.sum(), s13.sum())
            while p < depth {
                let (x0, x1) = (a0[p], a1[p])
                sums.0 += x0 * b0[p]; sums.1 += x0 * b1[p]; sums.2 += x0 * b2[p]; sums.3 += x0 * b3[p]
                sums.4 += x1 * b0[p]; sums.5 += x1 * b1[p]; sums.6 += x1 * b2[p]; sums.7 += x1 * b3[p]
                p += 1
            }
            let count = min(4, columns - j)
            let first = c + r * ldc + j
            withUnsafeBytes(of: sums) { raw in
                let s = raw.assumingMemoryBound(to: Float.self)
                for i in 0..<count { first[i] = s[i] }
                if r + 1 < rows { for i in 0..<count { first[ldc + i] = s[4 + i] } }
            }
            j += 4
        }
        r += 2
    }
}
