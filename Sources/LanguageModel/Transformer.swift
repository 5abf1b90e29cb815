import Numerics

/// A Llama-style decoder (llama2.c semantics, SPEC §6): RMSNorm, rotary attention with
/// grouped-query heads, SwiGLU feed-forward, tied or separate classifier.
///
/// Two forward passes share the weights:
/// - `forward(token:state:)`: one token at the next cache slot (autoregressive decoding);
/// - `forward(tokens:positions:mask:state:)`: `n` new tokens at once with an arbitrary
///   attention mask over (cached prefix + new tokens) and arbitrary position ids, one
///   sgemm per projection for all `n` tokens. Tree verification is exactly this call.
///
/// Both return logits and the final hidden states (after the final RMSNorm).
public final class Transformer: @unchecked Sendable {
    public let weights: TransformerWeights
    public var config: ModelConfig { weights.config }
    public let rope: RotaryEmbedding

    public init(weights: TransformerWeights) {
        self.weights = weights
        self.rope = RotaryEmbedding(headSize: weights.config.headSize)
    }

    /// Fresh per-sequence state (KV cache and scratch buffers) for this model.
    public func makeState(cacheCapacity: Int? = nil) -> InferenceState {
        InferenceState(config: config, cacheCapacity: cacheCapacity)
    }

    // MARK: One token

    /// Runs token `token` at position `position` (default: its cache slot), appends its keys
    /// and values to the cache, and returns the next-token logits `(V)`; `state.hidden` holds
    /// the final hidden state `(D)`. The buffers are reused by the next call.
    @discardableResult
    public func forward(token: Int, position: Int? = nil, state s: InferenceState) -> UnsafeMutableBufferPointer<Float> {
        let c = config
        let w = weights
        let cache = s.cache
        let (dim, kvDim, hidden, hs) = (c.dim, c.kvDim, c.hiddenDim, c.headSize)
        precondition(token >= 0 && token < c.vocabularySize, "token \(token) outside the vocabulary of \(c.vocabularySize)")
        let slot = cache.count
        precondition(slot < cache.capacity, "KV cache is full (\(cache.capacity) slots)")
        let x = s.x.pointer         // (D) residual stream
        let xb = s.xb.pointer       // (D) normed input / attention output
        let xb2 = s.xb2.pointer     // (D) projection output
        let q = s.q.pointer         // (D) queries
        let hb = s.hb.pointer       // (H) SwiGLU gate
        let hb2 = s.hb2.pointer     // (H) SwiGLU up
        let att = s.att.pointer     // (slot + 1) attention weights of one head
        rope.angles(position: position ?? slot, cos: s.cos.pointer, sin: s.sin.pointer)

        x.update(from: w.tokenEmbedding.pointer + token * dim, count: dim)
        let scale = 1 / Float(hs).squareRoot()
        let visible = slot + 1
        for l in 0..<c.layers {
            // Attention: xb = rmsnorm(x); q, k, v = Wq xb, Wk xb, Wv xb; RoPE on q and k.
            Ops.rmsNorm(xb, x, w.rmsAttention.slice(l), n: dim)
            let k = cache.key(layer: l, slot: slot)
            let v = cache.value(layer: l, slot: slot)
            BLAS.matvecSplit(w.wq.slice(l), xb, q, out: dim, in: dim)
            BLAS.matvecSplit(w.wk.slice(l), xb, k, out: kvDim, in: dim)
            BLAS.matvecSplit(w.wv.slice(l), xb, v, out: kvDim, in: dim)
            rope.rotate(q, heads: c.heads, cos: s.cos.pointer, sin: s.sin.pointer)
            rope.rotate(k, heads: c.kvHeads, cos: s.cos.pointer, sin: s.sin.pointer)
            // Per query head h (kv head g = h / groupSize): scores = K_g q_h / sqrt(hs), softmax, out = V_gᵀ att.
            let keys = cache.key(layer: l, slot: 0)       // (visible, kvDim)
            let values = cache.value(layer: l, slot: 0)   // (visible, kvDim)
            for h in 0..<c.heads {
                let g = h / c.groupSize
                BLAS.gemv(rows: visible, cols: hs, a: keys + g * hs, lda: kvDim, x: q + h * hs, y: att, alpha: scale)
                Ops.softmax(att, n: visible)
                BLAS.gemv(rows: visible, cols: hs, a: values + g * hs, lda: kvDim, x: att, y: xb + h * hs, transposed: true)
            }
            BLAS.matvecSplit(w.wo.slice(l), xb, xb2, out: dim, in: dim)
            Ops.add(x, xb2, n: dim)
            // Feed-forward: x += W2 (silu(W1 xn) * W3 xn), xn = rmsnorm(x).
            Ops.rmsNorm(xb, x, w.rmsFFN.slice(l), n: dim)
            BLAS.matvecSplit(w.w1.slice(l), xb, hb, out: hidden, in: dim)
            BLAS.matvecSplit(w.w3.slice(l), xb, hb2, out: hidden, in: dim)
            Ops.swiglu(hb, hb, hb2, n: hidden)
            BLAS.matvecSplit(w.w2.slice(l), hb, xb2, out: dim, in: hidden)
            Ops.add(x, xb2, n: dim)
        }
        cache.count = slot + 1
        Ops.rmsNorm(s.hidden.pointer, x, w.rmsFinal.pointer, n: dim)
        BLAS.matvecSplit(w.classifier.pointer, s.hidden.pointer, s.logits.pointer, out: c.vocabularySize, in: dim)
        return UnsafeMutableBufferPointer(start: s.logits.pointer, count: c.vocabularySize)
    }

    // MARK: Many tokens with a mask

    /// Runs `tokens` (written to cache slots `cache.count ..< cache.count + n`) at the given
    /// position ids, each attending to the cache slots its row of `mask` allows; returns the
    /// logits `(n, V)` and final hidden states `(n, D)` of every new token.
    ///
    /// `mask` must have `n` rows and `cache.count + n` columns. The output lives in
    /// `state`'s workspace until the next batched call.
    public func forward(tokens: [Int], positions: [Int], mask: AttentionMask, state s: InferenceState) -> BatchOutput {
        let c = config
        let w = weights
        let cache = s.cache
        let n = tokens.count
        let prefix = cache.count
        let total = prefix + n
        let (dim, kvDim, hidden, hs) = (c.dim, c.kvDim, c.hiddenDim, c.headSize)
        precondition(n > 0, "no tokens to run")
        precondition(positions.count == n, "\(positions.count) position ids for \(n) tokens")
        precondition(mask.rows == n && mask.columns == total, "mask is \(mask.rows)x\(mask.columns), expected \(n)x\(total)")
        precondition(total <= cache.capacity, "KV cache of \(cache.capacity) slots cannot take \(n) more after \(prefix)")
        let ws = s.workspace(tokens: n)
        let x = ws.x.pointer         // (n, D) residual stream
        let xb = ws.xb.pointer       // (n, D) normed input / attention output
        let xb2 = ws.xb2.pointer     // (n, D) projection output
        let q = ws.q.pointer         // (n, D) queries
        let hb = ws.hb.pointer       // (n, H) SwiGLU gate
        let hb2 = ws.hb2.pointer     // (n, H) SwiGLU up
        let scores = ws.scores.pointer // (n, total) attention weights of one head
        let cosines = ws.cos.pointer // (n, hs/2)
        let sines = ws.sin.pointer   // (n, hs/2)
        let half = hs / 2
        for i in 0..<n {
            precondition(tokens[i] >= 0 && tokens[i] < c.vocabularySize, "token \(tokens[i]) outside the vocabulary")
            x.advanced(by: i * dim).update(from: w.tokenEmbedding.pointer + tokens[i] * dim, count: dim)
            rope.angles(position: positions[i], cos: cosines + i * half, sin: sines + i * half)
        }
        // Additive mask in the workspace: 0 where allowed, -inf elsewhere (same for every layer and head).
        let bias = ws.maskBias.pointer // (n, total)
        for i in 0..<n * total { bias[i] = mask.allowed[i] ? 0 : -Float.infinity }

        let scale = 1 / Float(hs).squareRoot()
        for l in 0..<c.layers {
            for i in 0..<n { Ops.rmsNorm(xb + i * dim, x + i * dim, w.rmsAttention.slice(l), n: dim) }
            let keys = cache.key(layer: l, slot: 0)       // (total, kvDim) after the writes below
            let values = cache.value(layer: l, slot: 0)   // (total, kvDim)
            BLAS.matmulSplit(xb, w.wq.slice(l), q, n: n, out: dim, in: dim)
            BLAS.matmulSplit(xb, w.wk.slice(l), keys + prefix * kvDim, n: n, out: kvDim, in: dim)
            BLAS.matmulSplit(xb, w.wv.slice(l), values + prefix * kvDim, n: n, out: kvDim, in: dim)
            for i in 0..<n {
                rope.rotate(q + i * dim, heads: c.heads, cos: cosines + i * half, sin: sines + i * half)
                rope.rotate(keys + (prefix + i) * kvDim, heads: c.kvHeads, cos: cosines + i * half, sin: sines + i * half)
            }
            for h in 0..<c.heads {
                let g = h / c.groupSize
                // scores (n, total) = Q_h (n, hs) K_gᵀ (hs, total) / sqrt(hs) + mask
                BLAS.gemm(m: n, n: total, k: hs, a: q + h * hs, lda: dim, b: keys + g * hs, ldb: kvDim, transB: true,
                          c: scores, ldc: total, alpha: scale)
                Ops.add(scores, bias, n: n * total)
                for i in 0..<n { Ops.softmax(scores + i * total, n: total) }
                // out_h (n, hs) = scores (n, total) V_g (total, hs)
                BLAS.gemm(m: n, n: hs, k: total, a: scores, lda: total, b: values + g * hs, ldb: kvDim,
                          c: xb + h * hs, ldc: dim)
            }
            BLAS.matmulSplit(xb, w.wo.slice(l), xb2, n: n, out: dim, in: dim)
            Ops.add(x, xb2, n: n * dim)
            for i in 0..<n { Ops.rmsNorm(xb + i * dim, x + i * dim, w.rmsFFN.slice(l), n: dim) }
            BLAS.matmulSplit(xb, w.w1.slice(l), hb, n: n, out: hidden, in: dim)
            BLAS.matmulSplit(xb, w.w3.slice(l), hb2, n: n, out: hidden, in: dim)
            Ops.swiglu(hb, hb, hb2, n: n * hidden)
            BLAS.matmulSplit(hb, w.w2.slice(l), xb2, n: n, out: dim, in: hidden)
            Ops.add(x, xb2, n: n * dim)
        }
        cache.count = total
        let hiddenOut = ws.hidden.pointer // (n, D)
        for i in 0..<n { Ops.rmsNorm(hiddenOut + i * dim, x + i * dim, w.rmsFinal.pointer, n: dim) }
        BLAS.matmulSplit(hiddenOut, w.classifier.pointer, ws.logits.pointer, n: n, out: c.vocabularySize, in: dim)
        return BatchOutput(count: n, vocabularySize: c.vocabularySize, dim: dim, logitsBase: ws.logits.pointer, hiddenBase: hiddenOut)
    }

    /// Runs a prompt causally after the cached prefix (positions = cache slots) and returns
    /// the logits of its last token; `state.hidden` and `state.logits` then hold that
    /// token's hidden state and logits, as if it had been run with `forward(token:)`.
    @discardableResult
    public func prefill(_ tokens: [Int], state s: InferenceState) -> UnsafeMutableBufferPointer<Float> {
        precondition(!tokens.isEmpty, "empty prompt")
        let prefix = s.cache.count
        let out = forward(tokens: tokens, positions: Array(prefix..<prefix + tokens.count),
                          mask: .causal(prefix: prefix, count: tokens.count), state: s)
        s.logits.pointer.update(from: out.logits(tokens.count - 1).baseAddress!, count: config.vocabularySize)
        s.hidden.pointer.update(from: out.hidden(tokens.count - 1).baseAddress!, count: config.dim)
        return UnsafeMutableBufferPointer(start: s.logits.pointer, count: config.vocabularySize)
    }
}

/// Logits and final hidden states of the `count` tokens of one batched forward (views into the workspace).
public struct BatchOutput {
    public let count: Int
    public let vocabularySize: Int
    public let dim: Int
    let logitsBase: UnsafeMutablePointer<Float>   // (n, V)
    let hiddenBase: UnsafeMutablePointer<Float>   // (n, D)

    /// Next-token logits after new token `i` `(V)`.
    public func logits(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(i >= 0 && i < count)
        return UnsafeMutableBufferPointer(start: logitsBase + i * vocabularySize, count: vocabularySize)
    }

    /// Final hidden state (after the last RMSNorm) of new token `i` `(D)`.
    public func hidden(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(i >= 0 && i < count)
        return UnsafeMutableBufferPointer(start: hiddenBase + i * dim, count: dim)
    }
}

/// The per-sequence state of a `Transformer`: its KV cache and preallocated scratch buffers
/// (llama2.c's `RunState`), so decoding allocates nothing per token.
public final class InferenceState: @unchecked Sendable {
    public let config: ModelConfig
    public let cache: KVCache
    let x, xb, xb2, q, hb, hb2, att, cos, sin: Tensor
    /// Final hidden state `(D)` of the last token run with `forward(token:)` or `prefill`.
    public let hidden: Tensor
    /// Logits `(V)` of the last token run with `forward(token:)` or `prefill`.
    public let logits: Tensor
    private var batch: BatchWorkspace?

    init(config c: ModelConfig, cacheCapacity: Int?) {
        config = c
        cache = KVCache(config: c, capacity: cacheCapacity)
        x = Tensor(zeros: [c.dim])
        xb = Tensor(zeros: [c.dim])
        xb2 = Tensor(zeros: [c.dim])
        q = Tensor(zeros: [c.dim])
        hb = Tensor(zeros: [c.hiddenDim])
        hb2 = Tensor(zeros: [c.hiddenDim])
        att = Tensor(zeros: [cache.capacity])
        cos = Tensor(zeros: [c.headSize / 2])
        sin = Tensor(zeros: [c.headSize / 2])
        hidden = Tensor(zeros: [c.dim])
        logits = Tensor(zeros: [c.vocabularySize])
    }

    /// Scratch for a batched forward of up to `tokens` rows (grown on demand, never shrunk).
    func workspace(tokens: Int) -> BatchWorkspace {
        if let b = batch, b.tokens >= tokens { return b }
        let b = BatchWorkspace(config: config, tokens: tokens, columns: cache.capacity)
        batch = b
        return b
    }
}

/// Buffers of a batched forward pass, sized for up to `tokens` rows and `columns` attended slots.
final class BatchWorkspace {
    let tokens: Int
    let columns: Int
    let x, xb, xb2, q, hb, hb2, hidden, logits, cos, sin, scores, maskBias: Tensor

    init(config c: ModelConfig, tokens n: Int, columns: Int) {
        self.tokens = n
        self.columns = columns
        x = Tensor(zeros: [n, c.dim])
        xb = Tensor(zeros: [n, c.dim])
        xb2 = Tensor(zeros: [n, c.dim])
        q = Tensor(zeros: [n, c.dim])
        hb = Tensor(zeros: [n, c.hiddenDim])
        hb2 = Tensor(zeros: [n, c.hiddenDim])
        hidden = Tensor(zeros: [n, c.dim])
        logits = Tensor(zeros: [n, c.vocabularySize])
        cos = Tensor(zeros: [n, c.headSize / 2])
        sin = Tensor(zeros: [n, c.headSize / 2])
        scores = Tensor(zeros: [n * columns])
        maskBias = Tensor(zeros: [n * columns])
    }
}
