import CBLAS
import Graph
import Spec

/// Row-major single-precision GEMM, C = α·op(A)·op(B) + β·C, through BLAS.
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
