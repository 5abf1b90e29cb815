import COpenBLAS

/// Thin wrappers over OpenBLAS for the two products the model needs.
///
/// Matrices are row-major `(rows, cols)` with a leading dimension (row stride)
/// so strided views (one head's keys inside the KV cache) need no copies.
public enum BLAS {
    /// `y = alpha * A x + beta * y` with `A` of shape `(rows, cols)` (`transposed`: `y = alpha * Aᵀ x + beta * y`).
    @inlinable
    public static func gemv(
        rows: Int, cols: Int, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
        alpha: Float = 1, beta: Float = 0, transposed: Bool = false
    ) {
        cblas_sgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans,
                    blasint(rows), blasint(cols), alpha, a, blasint(lda), x, 1, beta, y, 1)
    }

    /// `C = alpha * op(A) op(B) + beta * C`, with `op(A)` of shape `(m, k)`, `op(B)` `(k, n)`, `C` `(m, n)`.
    @inlinable
    public static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// `y = W x` for a weight matrix `W` of shape `(out, in)` stored row-major (llama2.c's `matmul`).
    @inlinable
    public static func matvec(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, out: Int, in: Int) {
        gemv(rows: out, cols: `in`, a: w, lda: `in`, x: x, y: y)
    }

    /// `y = W x` with the rows of `W` split across `Parallel.workers` (each worker streams its own
    /// share of the weights). Small matrices, where a fork-join costs more than it saves, run whole.
    /// Runs on HydraSim's own kernels (`KernelPool.shared`), not OpenBLAS.
    @inlinable
    public static func matvecSplit(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, out: Int, in: Int) {
        KernelPool.shared.matmul(x, n: 1, in: `in`, w, rows: out, y)
    }

    /// `Y = X Wᵀ` for `n` row vectors `X` `(n, in)` and a weight matrix `W` `(out, in)`: one sgemm for all rows.
    @inlinable
    public static func matmul(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, out: Int, in: Int) {
        if n == 1 { matvec(w, x, y, out: out, in: `in`); return }
        gemm(m: n, n: out, k: `in`, a: x, lda: `in`, b: w, ldb: `in`, transB: true, c: y, ldc: out)
    }

    /// `Y = X Wᵀ` as `matmul`, with the rows of `W` (the output columns of `Y`) split across
    /// `Parallel.workers`: each worker streams its own share of the weights once for all `n` rows.
    /// Used where a batch of tokens is verified at once (tree verification, prompts, draft heads).
    /// Up to 64 rows run on HydraSim's own kernels (`KernelPool.shared`: each weight row streamed once for all
    /// rows); more rows (training) on OpenBLAS, which packs the weights and wins there.
    @inlinable
    public static func matmulSplit(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, out: Int, in: Int) {
        if n <= 64 { KernelPool.shared.matmul(x, n: n, in: `in`, w, rows: out, y); return }
        // For a few rows, one sgemm per 64 rows of W: OpenBLAS (SkylakeX) then takes its small-matrix kernel,
        // which reads W in place, where a whole-matrix sgemm first copies (packs) all of W. Measured on this
        // machine for the house model's matrices: 8 rows 3.6 ms instead of 5.5 ms (BENCHMARKS.md).
        if n <= 16 {
            let blocks = (out + 63) / 64
            Parallel.chunks(blocks) { range in
                for block in range {
                    let lower = block * 64, rows = min(64, out - lower)
                    gemm(m: n, n: rows, k: `in`, a: x, lda: `in`, b: w + lower * `in`, ldb: `in`, transB: true, c: y + lower, ldc: out)
                }
            }
            return
        }
        if Parallel.workers == 1 || out * `in` < 1 << 16 { matmul(x, w, y, n: n, out: out, in: `in`); return }
        Parallel.chunks(out, minimumChunk: 64) { rows in
            gemm(m: n, n: rows.count, k: `in`, a: x, lda: `in`, b: w + rows.lowerBound * `in`, ldb: `in`, transB: true,
                 c: y + rows.lowerBound, ldc: out)
        }
    }

    /// Number of threads OpenBLAS uses for one product.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}
