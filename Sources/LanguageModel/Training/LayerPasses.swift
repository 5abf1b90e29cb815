import Foundation
import Numerics

/// Forward/backward pairs of plain functions for every layer of the decoder (llm.c style).
///
/// Buffers are row-major; `n` is the number of token rows (B*T). Each backward quotes
/// the forward line it differentiates. Backward functions *accumulate* (`+=`) into
/// parameter gradients, and into input gradients where the comment says so.
public enum LayerPasses {
    // MARK: Matmul

    /// Forward: `y (n, out) = x (n, in) · Wᵀ`, `W` `(out, in)`.
    @inlinable
    public static func matmulForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                     n: Int, in inDim: Int, out: Int) {
        // Few rows (drafting a tree): split the weight rows instead, so every core streams its share once.
        if n < 128 { BLAS.matmulSplit(x, w, y, n: n, out: out, in: inDim); return }
        Parallel.chunks(n, minimumChunk: 64) { rows in
            BLAS.gemm(m: rows.count, n: out, k: inDim, a: x + rows.lowerBound * inDim, lda: inDim, b: w, ldb: inDim, transB: true,
                      c: y + rows.lowerBound * out, ldc: out)
        }
    }

    /// Backward of `y = x · Wᵀ`: `dx (n, in) (+)= dy · W`, `dW (out, in) += dyᵀ · x`.
    @inlinable
    public static func matmulBackward(dx: UnsafeMutablePointer<Float>?, accumulateDX: Bool = false, dw: UnsafeMutablePointer<Float>,
                                      dy: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                      n: Int, in inDim: Int, out: Int) {
        if let dx { matmulBackwardInput(dx: dx, accumulate: accumulateDX, dy: dy, w: w, n: n, in: inDim, out: out) }
        // Split over rows of dW (output features): each worker reduces over all n rows of its own features.
        Parallel.chunks(out, minimumChunk: 16) { features in
            BLAS.gemm(m: features.count, n: inDim, k: n, a: dy + features.lowerBound, lda: out, transA: true, b: x, ldb: inDim,
                      c: dw + features.lowerBound * inDim, ldc: inDim, beta: 1)
        }
    }

    /// Input half of `matmulBackward`, for a frozen `W`: `dx (n, in) (+)= dy · W`, no weight gradient.
    @inlinable
    public static func matmulBackwardInput(dx: UnsafeMutablePointer<Float>, accumulate: Bool = false, dy: UnsafePointer<Float>,
                                           w: UnsafePointer<Float>, n: Int, in inDim: Int, out: Int) {
        Parallel.chunks(n, minimumChunk: 64) { rows in
            BLAS.gemm(m: rows.count, n: inDim, k: out, a: dy + rows.lowerBound * out, lda: out, b: w, ldb: inDim,
                      c: dx + rows.lowerBound * inDim, ldc: inDim, beta: accumulate ? 1 : 0)
        }
    }

    // MARK: RMSNorm

    /// Forward: `y = x · rstd · w` per row, `rstd = 1 / sqrt(mean(x²) + eps)`; stores `rstd (n)`.
    @inlinable
    public static func rmsNormForward(_ y: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                      _ w: UnsafePointer<Float>, n: Int, dim: Int) {
        Parallel.chunks(n, minimumChunk: 64) { rows in for r in rows {
            let xr = x + r * dim, yr = y + r * dim
            var ss: Float = 0
            for i in 0..<dim { ss += xr[i] * xr[i] }
            let s = 1 / (ss / Float(dim) + Ops.rmsEpsilon).squareRoot()
            rstd[r] = s
            for i in 0..<dim { yr[i] = w[i] * (s * xr[i]) }
        } }
    }

    /// Backward of `y = w · (x · rstd)`: `dx += rstd · (dy·w − x̂ · mean(dy·w·x̂))` with `x̂ = x · rstd`; `dw += Σ dy · x̂`.
    @inlinable
    public static func rmsNormBackward(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                       x: UnsafePointer<Float>, w: UnsafePointer<Float>, rstd: UnsafePointer<Float>, n: Int, dim: Int) {
        Parallel.chunks(n, minimumChunk: 64) { rows in for r in rows {
            let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
            let s = rstd[r]
            var dot: Float = 0   // Σ (dy·w)·x̂
            for i in 0..<dim { dot += dyr[i] * w[i] * xr[i] * s }
            let mean = dot / Float(dim)
            for i in 0..<dim { dxr[i] += s * (dyr[i] * w[i] - xr[i] * s * mean) }
        } }
        // dw is a reduction over rows: one pass, in row order, so the result never depends on the worker count.
        for r in 0..<n {
            let xr = x + r * dim, dyr = dy + r * dim, s = rstd[r]
            for i in 0..<dim { dw[i] += dyr[i] * xr[i] * s }
        }
    }

    // MARK: RoPE

    /// Forward: rotate each adjacent pair of every head of every row by the angle of its position.
    /// `cos`, `sin` are `(T, hs/2)`; row `r` has position `r % T`.
    @inlinable
    public static func ropeForward(_ x: UnsafeMutablePointer<Float>, n: Int, width: Int, headSize: Int, T: Int,
                                   cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = headSize / 2
        Parallel.chunks(n, minimumChunk: 256) { rows in for r in rows {
            let c = cos + (r % T) * half, s = sin + (r % T) * half
            let row = x + r * width
            for h in stride(from: 0, to: width, by: headSize) {
                for i in 0..<half {
                    let a = row[h + 2 * i], b = row[h + 2 * i + 1]
                    row[h + 2 * i] = a * c[i] - b * s[i]
                    row[h + 2 * i + 1] = a * s[i] + b * c[i]
                }
            }
        } }
    }

    /// Backward of `(a, b) -> (a cos − b sin, a sin + b cos)`: the transposed rotation, in place on the gradient.
    @inlinable
    public static func ropeBackward(_ dx: UnsafeMutablePointer<Float>, n: Int, width: Int, headSize: Int, T: Int,
                                    cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = headSize / 2
        Parallel.chunks(n, minimumChunk: 256) { rows in for r in rows {
            let c = cos + (r % T) * half, s = sin + (r % T) * half
            let row = dx + r * width
            for h in stride(from: 0, to: width, by: headSize) {
                for i in 0..<half {
                    let da = row[h + 2 * i], db = row[h + 2 * i + 1]
                    row[h + 2 * i] = da * c[i] + db * s[i]
                    row[h + 2 * i + 1] = -da * s[i] + db * c[i]
                }
            }
        } }
    }

    // MARK: Causal attention (grouped-query)

    /// Shapes of one attention call.
    public struct AttentionShape {
        public let B: Int, T: Int, heads: Int, kvHeads: Int, headSize: Int
        public init(B: Int, T: Int, heads: Int, kvHeads: Int, headSize: Int) {
            self.B = B; self.T = T; self.heads = heads; self.kvHeads = kvHeads; self.headSize = headSize
        }
        var dim: Int { heads * headSize }
        var kvDim: Int { kvHeads * headSize }
        var groupSize: Int { heads / kvHeads }
    }

    /// Forward: for each sequence b and head h, `P = softmax(Q Kᵀ / sqrt(hs))` (causal) and `out = P V`.
    /// `q (B*T, D)`, `k, v (B*T, KV)`; stores `att (B, H, T, T)` (zero above the diagonal); `out (B*T, D)`.
    public static func attentionForward(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
                                        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        shape s: AttentionShape) {
        let (T, hs, D, KV) = (s.T, s.headSize, s.dim, s.kvDim)
        let scale = 1 / Float(hs).squareRoot()
        Parallel.forEach(s.B) { b in
            for h in 0..<s.heads {
                let g = h / s.groupSize
                let p = att + (b * s.heads + h) * T * T                      // (T, T)
                let qh = q + b * T * D + h * hs                                 // (T, hs), ld D
                let kg = k + b * T * KV + g * hs                                // (T, hs), ld KV
                let vg = v + b * T * KV + g * hs                                // (T, hs), ld KV
                BLAS.gemm(m: T, n: T, k: hs, a: qh, lda: D, b: kg, ldb: KV, transB: true, c: p, ldc: T, alpha: scale)
                for t in 0..<T {
                    let row = p + t * T
                    Ops.softmax(row, n: t + 1)
                    for j in (t + 1)..<T { row[j] = 0 }
                }
                BLAS.gemm(m: T, n: hs, k: T, a: p, lda: T, b: vg, ldb: KV, c: out + b * T * D + h * hs, ldc: D)
            }
        }
    }

    /// Backward of `out = P V`, `P = softmax(S)`, `S = Q Kᵀ / sqrt(hs)` (causal):
    /// `dP = dout Vᵀ`, `dV += Pᵀ dout`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS K / sqrt(hs)`, `dK += dSᵀ Q / sqrt(hs)`.
    /// Writes `dq (B*T, D)`; accumulates `dk, dv (B*T, KV)` (zero them first). `scratch` holds `B*T*T` floats.
    public static func attentionBackward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                         dout: UnsafePointer<Float>, att: UnsafePointer<Float>,
                                         q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                         scratch: UnsafeMutablePointer<Float>, shape s: AttentionShape) {
        let (T, hs, D, KV) = (s.T, s.headSize, s.dim, s.kvDim)
        let scale = 1 / Float(hs).squareRoot()
        Parallel.forEach(s.B) { b in
            let scratch = scratch + b * T * T                                   // (T, T) this sequence's dP / dS
            for h in 0..<s.heads {
                let g = h / s.groupSize
                let p = att + (b * s.heads + h) * T * T
                let dO = dout + b * T * D + h * hs
                let qh = q + b * T * D + h * hs
                let kg = k + b * T * KV + g * hs
                let vg = v + b * T * KV + g * hs
                // dP (T, T) = dout (T, hs) · Vᵀ
                BLAS.gemm(m: T, n: T, k: hs, a: dO, lda: D, b: vg, ldb: KV, transB: true, c: scratch, ldc: T)
                // dV (T, hs) += Pᵀ · dout
                BLAS.gemm(m: T, n: hs, k: T, a: p, lda: T, transA: true, b: dO, ldb: D, c: dv + b * T * KV + g * hs, ldc: KV, beta: 1)
                // dS = P ⊙ (dP − Σ_j dP·P), causal part only; zero above the diagonal.
                for t in 0..<T {
                    let pr = p + t * T, dr = scratch + t * T
                    var dot: Float = 0
                    for j in 0...t { dot += dr[j] * pr[j] }
                    for j in 0...t { dr[j] = pr[j] * (dr[j] - dot) }
                    for j in (t + 1)..<T { dr[j] = 0 }
                }
                // dQ (T, hs) = dS · K / sqrt(hs);  dK (T, hs) += dSᵀ · Q / sqrt(hs)
                BLAS.gemm(m: T, n: hs, k: T, a: scratch, lda: T, b: kg, ldb: KV, c: dq + b * T * D + h * hs, ldc: D, alpha: scale)
                BLAS.gemm(m: T, n: hs, k: T, a: scratch, lda: T, transA: true, b: qh, ldb: D, c: dk + b * T * KV + g * hs, ldc: KV,
                          alpha: scale, beta: 1)
            }
        }
    }

    // MARK: SwiGLU

    /// Forward: `g = silu(a) * c` element-wise over `count` values.
    @inlinable
    public static func swigluForward(_ g: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, c: UnsafePointer<Float>, count: Int) {
        Parallel.chunks(count, minimumChunk: 4096) { range in
            Ops.swiglu(g + range.lowerBound, a + range.lowerBound, c + range.lowerBound, n: range.count)
        }
    }

    /// Backward of `g = silu(a) * c`: `da = dg · c · σ(a)(1 + a(1 − σ(a)))`, `dc = dg · silu(a)`.
    @inlinable
    public static func swigluBackward(da: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>, dg: UnsafePointer<Float>,
                                      a: UnsafePointer<Float>, c: UnsafePointer<Float>, count: Int) {
        Parallel.chunks(count, minimumChunk: 4096) { range in
            var i = range.lowerBound
            while i < range.upperBound {
                if i + 8 <= range.upperBound {
                    let va = FastMath.load(a + i), vc = FastMath.load(c + i), vg = FastMath.load(dg + i)
                    let sig = FastMath.sigmoid(va)
                    FastMath.store(vg * vc * sig * (1 + va * (1 - sig)), da + i)
                    FastMath.store(vg * va * sig, dc + i)
                    i += 8
                } else {
                    let sig = 1 / (1 + expf(-a[i]))
                    da[i] = dg[i] * c[i] * sig * (1 + a[i] * (1 - sig))
                    dc[i] = dg[i] * a[i] * sig
                    i += 1
                }
            }
        }
    }

    // MARK: Embedding

    /// Forward: `x[r] = E[tokens[r]]`.
    @inlinable
    public static func embeddingForward(_ x: UnsafeMutablePointer<Float>, tokens: [Int32], table: UnsafePointer<Float>, dim: Int) {
        for (r, t) in tokens.enumerated() { (x + r * dim).update(from: table + Int(t) * dim, count: dim) }
    }

    /// Backward of `x[r] = E[tokens[r]]`: `dE[tokens[r]] += dx[r]`.
    @inlinable
    public static func embeddingBackward(dTable: UnsafeMutablePointer<Float>, dx: UnsafePointer<Float>, tokens: [Int32], dim: Int) {
        for (r, t) in tokens.enumerated() { Ops.add(dTable + Int(t) * dim, dx + r * dim, n: dim) }
    }

    // MARK: Softmax cross-entropy

    /// Forward: turns `logits (n, V)` into probabilities in place; returns the summed `−log p[target]`.
    @inlinable
    public static func crossEntropyForward(_ logits: UnsafeMutablePointer<Float>, targets: [Int32], vocabularySize V: Int) -> Double {
        var losses = [Double](repeating: 0, count: targets.count)
        losses.withUnsafeMutableBufferPointer { out in
            Parallel.chunks(targets.count, minimumChunk: 64) { rows in for r in rows {
                let row = logits + r * V
                Ops.softmax(row, n: V)
                out[r] = -Foundation.log(Double(max(row[Int(targets[r])], Float.leastNormalMagnitude)))
            } }
        }
        return losses.reduce(0, +)
    }

    /// Backward of `mean_r −log softmax(logits_r)[target_r]`: `dlogits = (p − onehot) / n`, in place on the probabilities.
    @inlinable
    public static func crossEntropyBackward(_ probs: UnsafeMutablePointer<Float>, targets: [Int32], vocabularySize V: Int) {
        let scale = 1 / Float(targets.count)
        Parallel.chunks(targets.count, minimumChunk: 64) { rows in for r in rows {
            let row = probs + r * V
            row[Int(targets[r])] -= 1
            for i in 0..<V { row[i] *= scale }
        } }
    }
}
