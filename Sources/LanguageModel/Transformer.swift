import Numerics

/// A Llama-style decoder (llama2.c semantics, reference §6): RMSNorm, rotary attention with
/// grouped-query heads, SwiGLU feed-forward, tied or separate classifier.
///
/// One forward pass serves 1 and `n` tokens: `forward(token:state:)` is the `n = 1` case of
/// `forward(tokens:positions:mask:state:)`. The matrix products go through `KernelPool` (every weight
/// row streamed once for all `n` rows; wq|wk|wv and w1|w3 fused into one pass over their shared input)
/// and attention reads the mask's compact form (shared prefix + bits per row). Every step of a row is
/// the same sequence of floating-point operations whatever `n` and the thread count, so row `i` of a
/// batched pass is bit-identical to running that token alone with the same visible context.
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
        precondition(token >= 0 && token < c.vocabularySize, "token \(token) outside the vocabulary of \(c.vocabularySize)")
        let slot = s.cache.count
        precondition(slot < s.cache.capacity, "KV cache is full (\(s.cache.capacity) slots)")
        var tokenValue = token, positionValue = position ?? slot, noBits: UInt64 = 0
        // The n = 1 case of the batched pass: every cached slot and itself visible.
        withUnsafePointer(to: &tokenValue) { t in
            withUnsafePointer(to: &positionValue) { p in
                withUnsafePointer(to: &noBits) { b in
                    let visible = AttentionBits(rows: 1, columns: slot + 1, sharedPrefix: slot + 1, wordsPerRow: 0, bits: b)
                    pass(tokens: t, positions: p, visible: visible, state: s, hiddenOut: s.hidden.pointer, logitsOut: s.logits.pointer)
                }
            }
        }
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
        let n = tokens.count
        let prefix = s.cache.count
        precondition(n > 0, "no tokens to run")
        precondition(positions.count == n, "\(positions.count) position ids for \(n) tokens")
        precondition(mask.rows == n && mask.columns == prefix + n, "mask is \(mask.rows)x\(mask.columns), expected \(n)x\(prefix + n)")
        precondition(prefix + n <= s.cache.capacity, "KV cache of \(s.cache.capacity) slots cannot take \(n) more after \(prefix)")
        for t in tokens { precondition(t >= 0 && t < config.vocabularySize, "token \(t) outside the vocabulary") }
        // n >= 1 and the shared prefix leaves at least n columns, so every row has at least one word.
        let ws = tokens.withUnsafeBufferPointer { t in
            positions.withUnsafeBufferPointer { p in
                mask.bits.withUnsafeBufferPointer { b in
                    let visible = AttentionBits(rows: n, columns: mask.columns, sharedPrefix: mask.sharedPrefix,
                                                wordsPerRow: mask.wordsPerRow, bits: b.baseAddress!)
                    return pass(tokens: t.baseAddress!, positions: p.baseAddress!, visible: visible, state: s)
                }
            }
        }
        return BatchOutput(count: n, vocabularySize: config.vocabularySize, dim: config.dim,
                           logitsBase: ws.logits.pointer, hiddenBase: ws.hidden.pointer)
    }

    /// Runs a tree of new tokens after the cached prefix: the same pass as `forward(tokens:positions:mask:state:)` with
    /// `mask = .tree(prefix: cache.count, parents: parents)` (for a chain, `parents[i] = i - 1`, that is `.causal`), without
    /// building the mask: its bits are written into the state's workspace. Allocates nothing once the workspace has
    /// room for `tokens.count` rows (tree verification every step).
    ///
    /// `parents[i] < i` is token `i`'s parent among the new tokens (-1: the prefix only); token `i` sees the prefix, itself
    /// and its ancestors. The output lives in `state`'s workspace until the next batched call.
    public func forward(tokens: UnsafeBufferPointer<Int>, positions: UnsafeBufferPointer<Int>, parents: UnsafeBufferPointer<Int>,
                        state s: InferenceState) -> BatchOutput {
        let n = tokens.count
        let prefix = s.cache.count
        precondition(n > 0, "no tokens to run")
        precondition(positions.count == n, "\(positions.count) position ids for \(n) tokens")
        precondition(parents.count == n, "\(parents.count) parents for \(n) tokens")
        precondition(prefix + n <= s.cache.capacity, "KV cache of \(s.cache.capacity) slots cannot take \(n) more after \(prefix)")
        for t in tokens { precondition(t >= 0 && t < config.vocabularySize, "token \(t) outside the vocabulary") }
        // The workspace `pass` takes (the same object: it has room for n rows on these threads).
        let ws = s.workspace(tokens: n, threads: (s.kernelPool ?? KernelPool.shared).threads)
        AttentionMask.writeTreeBits(parents: parents, into: ws.treeBits)
        let visible = AttentionBits(rows: n, columns: prefix + n, sharedPrefix: prefix, wordsPerRow: (n + 63) / 64, bits: ws.treeBits)
        pass(tokens: tokens.baseAddress!, positions: positions.baseAddress!, visible: visible, state: s)
        return BatchOutput(count: n, vocabularySize: config.vocabularySize, dim: config.dim,
                           logitsBase: ws.logits.pointer, hiddenBase: ws.hidden.pointer)
    }

    /// The forward pass of `visible.rows` tokens written after the cached prefix: final hidden states to
    /// `hiddenOut (n, D)`, logits to `logitsOut (n, V)` (default: the returned workspace's `hidden` and
    /// `logits`). Inputs are checked by the callers.
    @discardableResult
    func pass(tokens: UnsafePointer<Int>, positions: UnsafePointer<Int>, visible: AttentionBits, state s: InferenceState,
              hiddenOut: UnsafeMutablePointer<Float>? = nil, logitsOut: UnsafeMutablePointer<Float>? = nil) -> BatchWorkspace {
        let c = config
        let w = weights
        let cache = s.cache
        let pool = s.kernelPool ?? KernelPool.shared
        let n = visible.rows
        let prefix = cache.count
        let (dim, kvDim, hidden, hs) = (c.dim, c.kvDim, c.hiddenDim, c.headSize)
        let ws = s.workspace(tokens: n, threads: pool.threads)
        let x = ws.x.pointer         // (n, D) residual stream
        let xb = ws.xb.pointer       // (n, D) normed input / attention output
        let xb2 = ws.xb2.pointer     // (n, D) projection output
        let q = ws.q.pointer         // (n, D) queries
        let hb = ws.hb.pointer       // (n, H) SwiGLU gate
        let hb2 = ws.hb2.pointer     // (n, H) SwiGLU up
        let cosines = ws.cos.pointer // (n, hs/2)
        let sines = ws.sin.pointer   // (n, hs/2)
        let scores = ws.scores.pointer // (threads, KernelPool.attentionScratch(columns:)) attention scores and slot lists, one per thread
        let hiddenOut = hiddenOut ?? ws.hidden.pointer // (n, D)
        let logitsOut = logitsOut ?? ws.logits.pointer // (n, V)
        let half = hs / 2
        for i in 0..<n {
            x.advanced(by: i * dim).update(from: w.tokenEmbedding.pointer + tokens[i] * dim, count: dim)
            rope.angles(position: positions[i], cos: cosines + i * half, sin: sines + i * half)
        }
        for l in 0..<c.layers {
            for i in 0..<n { Ops.rmsNorm(xb + i * dim, x + i * dim, w.rmsAttention.slice(l), n: dim) }
            let keys = cache.key(layer: l, slot: 0)       // (prefix + n, kvDim) after the writes below
            let values = cache.value(layer: l, slot: 0)   // (prefix + n, kvDim)
            // q, k, v = xb Wqᵀ, xb Wkᵀ, xb Wvᵀ in one pass; k and v straight into the cache slots.
            pool.matmul(xb, n: n, in: dim,
                        WeightSegment(w.wq.slice(l), rows: dim, into: q, ldy: dim),
                        WeightSegment(w.wk.slice(l), rows: kvDim, into: keys + prefix * kvDim, ldy: kvDim),
                        WeightSegment(w.wv.slice(l), rows: kvDim, into: values + prefix * kvDim, ldy: kvDim))
            for i in 0..<n {
                rope.rotate(q + i * dim, heads: c.heads, cos: cosines + i * half, sin: sines + i * half)
                rope.rotate(keys + (prefix + i) * kvDim, heads: c.kvHeads, cos: cosines + i * half, sin: sines + i * half)
            }
            pool.attention(q: q, ldq: dim, out: xb, ldo: dim, keys: keys, values: values, kvStride: kvDim,
                           heads: c.heads, kvHeads: c.kvHeads, headSize: hs, mask: visible, scratch: scores)
            // x += xb Woᵀ, each chunk of the product added as the threads compute it.
            pool.matmulAdd(xb, n: n, in: dim, w.wo.slice(l), rows: dim, xb2, addTo: x, ldo: dim)
            // Feed-forward: x += W2 (silu(W1 xn) * W3 xn), xn = rmsnorm(x); W1 and W3 in one pass, gated chunk by chunk.
            for i in 0..<n { Ops.rmsNorm(xb + i * dim, x + i * dim, w.rmsFFN.slice(l), n: dim) }
            pool.matmulSwiGLU(xb, n: n, in: dim, gate: w.w1.slice(l), up: w.w3.slice(l), rows: hidden, hb, hb2)
            pool.matmulAdd(hb, n: n, in: hidden, w.w2.slice(l), rows: dim, xb2, addTo: x, ldo: dim)
        }
        cache.count = prefix + n
        for i in 0..<n { Ops.rmsNorm(hiddenOut + i * dim, x + i * dim, w.rmsFinal.pointer, n: dim) }
        pool.matmul(hiddenOut, n: n, in: dim, w.classifier.pointer, rows: c.vocabularySize, logitsOut)
        return ws
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
    /// Final hidden state `(D)` of the last token run with `forward(token:)` or `prefill`.
    public let hidden: Tensor
    /// Logits `(V)` of the last token run with `forward(token:)` or `prefill`.
    public let logits: Tensor
    /// The threads and kernels this sequence runs on (nil: `KernelPool.shared`, which follows `Parallel.workers`).
    public var kernelPool: KernelPool?
    private var batch: BatchWorkspace?

    init(config c: ModelConfig, cacheCapacity: Int?) {
        config = c
        cache = KVCache(config: c, capacity: cacheCapacity)
        hidden = Tensor(zeros: [c.dim])
        logits = Tensor(zeros: [c.vocabularySize])
    }

    /// Scratch for a forward of up to `tokens` rows on `threads` threads (grown on demand, never shrunk).
    func workspace(tokens: Int, threads: Int = 1) -> BatchWorkspace {
        if let b = batch, b.tokens >= tokens, b.threads >= threads { return b }
        let b = BatchWorkspace(config: config, tokens: max(tokens, batch?.tokens ?? 0), threads: max(threads, batch?.threads ?? 1),
                               columns: cache.capacity)
        batch = b
        return b
    }
}

/// Buffers of a forward pass, sized for up to `tokens` rows, `threads` threads and `columns` attended slots.
final class BatchWorkspace {
    let tokens: Int
    let threads: Int
    let x, xb, xb2, q, hb, hb2, hidden, logits, cos, sin, scores: Tensor
    /// `(n, (n + 63) / 64)` tree attention bits of a tree pass (`Transformer.forward(tokens:positions:parents:state:)`).
    let treeBits: UnsafeMutablePointer<UInt64>

    init(config c: ModelConfig, tokens n: Int, threads: Int, columns: Int) {
        self.tokens = n
        self.threads = threads
        treeBits = .allocate(capacity: max(n * ((n + 63) / 64), 1))
        treeBits.initialize(repeating: 0, count: max(n * ((n + 63) / 64), 1))
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
        scores = Tensor(zeros: [threads, KernelPool.attentionScratch(columns: columns)])
    }

    deinit { treeBits.deallocate() }
}
