import Foundation
import LanguageModel
import Numerics

/// Hydra++'s prefix-attention layer (Ankner et al. 2024, §4; reference §2): one extra decoder layer
/// (RMSNorm, rotary grouped-query attention, RMSNorm, SwiGLU, both residual) that runs causally
/// over the base model's final hidden states of the *accepted* tokens only. Its output at the
/// last accepted position replaces `h_t` in every head's input.
///
/// Shapes follow the base model (D, heads, kv heads, hidden width). Randomly initialised as a
/// base block is (N(0, 0.02), residual projections scaled down, gains 1).
public final class PrefixAttentionLayer: ParameterSet, @unchecked Sendable {
    public let config: ModelConfig
    public let rmsAttention: Tensor   // (D)
    public let wq: Tensor             // (D, D)
    public let wk: Tensor             // (KV, D)
    public let wv: Tensor             // (KV, D)
    public let wo: Tensor             // (D, D)
    public let rmsFFN: Tensor         // (D)
    public let w1: Tensor             // (H, D)
    public let w2: Tensor             // (D, H)
    public let w3: Tensor             // (H, D)

    /// Zero weights shaped after `config` (its dim, heads, kv heads and hidden width; one layer).
    public init(zeros config: ModelConfig) {
        self.config = config
        let (D, KV, H) = (config.dim, config.kvDim, config.hiddenDim)
        rmsAttention = Tensor(zeros: [D])
        wq = Tensor(zeros: [D, D])
        wk = Tensor(zeros: [KV, D])
        wv = Tensor(zeros: [KV, D])
        wo = Tensor(zeros: [D, D])
        rmsFFN = Tensor(zeros: [D])
        w1 = Tensor(zeros: [H, D])
        w2 = Tensor(zeros: [D, H])
        w3 = Tensor(zeros: [H, D])
    }

    /// Randomly initialised weights (seeded).
    public convenience init(random config: ModelConfig, seed: UInt64) {
        self.init(zeros: config)
        var rng = XorShiftRandom(seed: seed)
        for (name, t) in namedTensors {
            if name.hasPrefix("rms_") { t.pointer.update(repeating: 1, count: t.count); continue }
            let std: Float = (name == "wo" || name == "w2") ? 0.02 / Float(2).squareRoot() : 0.02
            for i in 0..<t.count { t[i] = rng.nextGaussian() * std }
        }
    }

    public var namedTensors: [(name: String, tensor: Tensor)] {
        [("rms_att", rmsAttention), ("wq", wq), ("wk", wk), ("wv", wv), ("wo", wo), ("rms_ffn", rmsFFN), ("w1", w1), ("w2", w2), ("w3", w3)]
    }

    public func decays(_ name: String) -> Bool { !name.hasPrefix("rms_") }
}

/// Training forward/backward of the prefix layer over `B` windows of `T` consecutive hidden states.
public final class PrefixAttentionPass {
    public let B: Int, T: Int
    let config: ModelConfig
    let input: Tensor      // (N, D) base hidden states
    let ln1: Tensor, ln1Rstd: Tensor, q: Tensor, k: Tensor, v: Tensor, att: Tensor, attOut: Tensor
    let mid: Tensor, ln2: Tensor, ln2Rstd: Tensor, h1: Tensor, h3: Tensor, gated: Tensor
    /// `(N, D)` the layer's output, which replaces `h` in the heads' inputs.
    public let output: Tensor
    let ropeCos: Tensor, ropeSin: Tensor
    let dMid: Tensor, dNormed: Tensor, dAttOut: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, dh1: Tensor, dh3: Tensor, dGated: Tensor, dScores: Tensor

    public init(config c: ModelConfig, windows: Int, length: Int) {
        config = c
        B = windows
        T = length
        let N = B * T, D = c.dim, KV = c.kvDim, H = c.hiddenDim
        input = Tensor(zeros: [N, D])
        ln1 = Tensor(zeros: [N, D]); ln1Rstd = Tensor(zeros: [N])
        q = Tensor(zeros: [N, D]); k = Tensor(zeros: [N, KV]); v = Tensor(zeros: [N, KV])
        att = Tensor(zeros: [B, c.heads, T, T]); attOut = Tensor(zeros: [N, D])
        mid = Tensor(zeros: [N, D]); ln2 = Tensor(zeros: [N, D]); ln2Rstd = Tensor(zeros: [N])
        h1 = Tensor(zeros: [N, H]); h3 = Tensor(zeros: [N, H]); gated = Tensor(zeros: [N, H])
        output = Tensor(zeros: [N, D])
        let rope = RotaryEmbedding(headSize: c.headSize)
        ropeCos = Tensor(zeros: [T, c.headSize / 2]); ropeSin = Tensor(zeros: [T, c.headSize / 2])
        for t in 0..<T { rope.angles(position: t, cos: ropeCos.pointer + t * c.headSize / 2, sin: ropeSin.pointer + t * c.headSize / 2) }
        dMid = Tensor(zeros: [N, D]); dNormed = Tensor(zeros: [N, D]); dAttOut = Tensor(zeros: [N, D])
        dq = Tensor(zeros: [N, D]); dk = Tensor(zeros: [N, KV]); dv = Tensor(zeros: [N, KV])
        dh1 = Tensor(zeros: [N, H]); dh3 = Tensor(zeros: [N, H]); dGated = Tensor(zeros: [N, H])
        dScores = Tensor(zeros: [B, T, T])
    }

    var shape: LayerPasses.AttentionShape { .init(B: B, T: T, heads: config.heads, kvHeads: config.kvHeads, headSize: config.headSize) }

    /// Loads window `b` (T rows of `D` floats) of base hidden states.
    public func setWindow(_ b: Int, from rows: UnsafePointer<Float>) {
        (input.pointer + b * T * config.dim).update(from: rows, count: T * config.dim)
    }

    /// `output = mid + W2(silu(W1 ln2) * W3 ln2)`, `mid = input + Wo attention(rope(Wq ln1), rope(Wk ln1), Wv ln1)`.
    public func forward(_ w: PrefixAttentionLayer) {
        let N = B * T, D = config.dim, KV = config.kvDim, H = config.hiddenDim, hs = config.headSize
        LayerPasses.rmsNormForward(ln1.pointer, rstd: ln1Rstd.pointer, input.pointer, w.rmsAttention.pointer, n: N, dim: D)
        LayerPasses.matmulForward(q.pointer, ln1.pointer, w.wq.pointer, n: N, in: D, out: D)
        LayerPasses.matmulForward(k.pointer, ln1.pointer, w.wk.pointer, n: N, in: D, out: KV)
        LayerPasses.matmulForward(v.pointer, ln1.pointer, w.wv.pointer, n: N, in: D, out: KV)
        LayerPasses.ropeForward(q.pointer, n: N, width: D, headSize: hs, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
        LayerPasses.ropeForward(k.pointer, n: N, width: KV, headSize: hs, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
        LayerPasses.attentionForward(out: attOut.pointer, att: att.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape)
        LayerPasses.matmulForward(mid.pointer, attOut.pointer, w.wo.pointer, n: N, in: D, out: D)
        Ops.add(mid.pointer, input.pointer, n: N * D)
        LayerPasses.rmsNormForward(ln2.pointer, rstd: ln2Rstd.pointer, mid.pointer, w.rmsFFN.pointer, n: N, dim: D)
        LayerPasses.matmulForward(h1.pointer, ln2.pointer, w.w1.pointer, n: N, in: D, out: H)
        LayerPasses.matmulForward(h3.pointer, ln2.pointer, w.w3.pointer, n: N, in: D, out: H)
        LayerPasses.swigluForward(gated.pointer, a: h1.pointer, c: h3.pointer, count: N * H)
        LayerPasses.matmulForward(output.pointer, gated.pointer, w.w2.pointer, n: N, in: H, out: D)
        Ops.add(output.pointer, mid.pointer, n: N * D)
    }

    /// Backpropagates `dOutput (N, D)` into `grads` (accumulating). The input (the frozen base's states) gets no gradient.
    public func backward(_ w: PrefixAttentionLayer, dOutput: UnsafePointer<Float>, grads g: PrefixAttentionLayer) {
        let N = B * T, D = config.dim, KV = config.kvDim, H = config.hiddenDim, hs = config.headSize
        // output = mid + gated · W2ᵀ
        dMid.pointer.update(from: dOutput, count: N * D)
        LayerPasses.matmulBackward(dx: dGated.pointer, dw: g.w2.pointer, dy: dOutput, x: gated.pointer, w: w.w2.pointer, n: N, in: H, out: D)
        // gated = silu(h1) * h3
        LayerPasses.swigluBackward(da: dh1.pointer, dc: dh3.pointer, dg: dGated.pointer, a: h1.pointer, c: h3.pointer, count: N * H)
        // h1 = ln2 · W1ᵀ, h3 = ln2 · W3ᵀ
        LayerPasses.matmulBackward(dx: dNormed.pointer, dw: g.w1.pointer, dy: dh1.pointer, x: ln2.pointer, w: w.w1.pointer, n: N, in: D, out: H)
        LayerPasses.matmulBackward(dx: dNormed.pointer, accumulateDX: true, dw: g.w3.pointer, dy: dh3.pointer, x: ln2.pointer, w: w.w3.pointer,
                                   n: N, in: D, out: H)
        // ln2 = rmsnorm(mid)
        LayerPasses.rmsNormBackward(dx: dMid.pointer, dw: g.rmsFFN.pointer, dy: dNormed.pointer, x: mid.pointer, w: w.rmsFFN.pointer,
                                    rstd: ln2Rstd.pointer, n: N, dim: D)
        // mid = input + attOut · Woᵀ
        LayerPasses.matmulBackward(dx: dAttOut.pointer, dw: g.wo.pointer, dy: dMid.pointer, x: attOut.pointer, w: w.wo.pointer, n: N, in: D, out: D)
        dk.zero()
        dv.zero()
        LayerPasses.attentionBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dAttOut.pointer, att: att.pointer,
                                      q: q.pointer, k: k.pointer, v: v.pointer, scratch: dScores.pointer, shape: shape)
        LayerPasses.ropeBackward(dq.pointer, n: N, width: D, headSize: hs, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
        LayerPasses.ropeBackward(dk.pointer, n: N, width: KV, headSize: hs, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
        LayerPasses.matmulBackward(dx: dNormed.pointer, dw: g.wq.pointer, dy: dq.pointer, x: ln1.pointer, w: w.wq.pointer, n: N, in: D, out: D)
        LayerPasses.matmulBackward(dx: dNormed.pointer, accumulateDX: true, dw: g.wk.pointer, dy: dk.pointer, x: ln1.pointer, w: w.wk.pointer,
                                   n: N, in: D, out: KV)
        LayerPasses.matmulBackward(dx: dNormed.pointer, accumulateDX: true, dw: g.wv.pointer, dy: dv.pointer, x: ln1.pointer, w: w.wv.pointer,
                                   n: N, in: D, out: KV)
        // ln1 = rmsnorm(input): only the gain's gradient matters (the input is frozen); dx goes to scratch.
        dMid.zero()
        LayerPasses.rmsNormBackward(dx: dMid.pointer, dw: g.rmsAttention.pointer, dy: dNormed.pointer, x: input.pointer,
                                    w: w.rmsAttention.pointer, rstd: ln1Rstd.pointer, n: N, dim: D)
    }
}

/// Incremental inference of the prefix layer with its own KV cache: feed accepted hidden states, read the last output.
///
/// `feed(rows:)` runs the accepted tokens of a step in one pass (every weight streamed once for all of
/// them, causal attention read as a shared prefix plus bits); its result has the bits of feeding them one
/// at a time with `feed(_:)`.
public final class PrefixAttentionState {
    let layer: PrefixAttentionLayer
    /// The layer's matrices in the precision this state streams them.
    let matrices: DraftingPrefixLayer
    let rope: RotaryEmbedding
    /// Keys and values of the accepted positions (one layer).
    public let cache: KVCache
    /// Buffers for up to `rows` tokens a pass (grown on demand).
    var rows = 0
    var xb = Tensor(zeros: [0]), q = Tensor(zeros: [0]), hb = Tensor(zeros: [0]), hb2 = Tensor(zeros: [0])
    var mid = Tensor(zeros: [0]), out = Tensor(zeros: [0]), cos = Tensor(zeros: [0]), sin = Tensor(zeros: [0])
    /// `(rows, words)` causal bits of the rows of one pass.
    var bits: [UInt64] = []
    /// `(threads, KernelPool.attentionScratch(columns: capacity))` attention scores and slot lists (grown to the kernel pool's threads).
    var scratch: Tensor
    /// `(D)` the output at the last fed position.
    public let output: Tensor

    /// A state that runs `layer` in fp32.
    public convenience init(layer: PrefixAttentionLayer, capacity: Int) {
        self.init(drafting: DraftingPrefixLayer(layer, precision: .single), capacity: capacity)
    }

    /// A state that runs the layer with `drafting`'s matrices (fp32 or an fp16 copy).
    public init(drafting: DraftingPrefixLayer, capacity: Int) {
        let layer = drafting.layer
        self.layer = layer
        matrices = drafting
        var one = layer.config
        one.layers = 1
        cache = KVCache(config: one, capacity: capacity)
        rope = RotaryEmbedding(headSize: layer.config.headSize)
        scratch = Tensor(zeros: [1, KernelPool.attentionScratch(columns: capacity)])
        output = Tensor(zeros: [layer.config.dim])
        reserve(rows: 1)
    }

    /// Makes room for passes of `n` rows (a longer pass grows the buffers itself; reserving up front keeps later passes
    /// from allocating).
    public func reserve(rows n: Int) {
        guard n > rows else { return }
        let c = layer.config
        xb = Tensor(zeros: [n, c.dim]); q = Tensor(zeros: [n, c.dim]); mid = Tensor(zeros: [n, c.dim]); out = Tensor(zeros: [n, c.dim])
        hb = Tensor(zeros: [n, c.hiddenDim]); hb2 = Tensor(zeros: [n, c.hiddenDim])
        cos = Tensor(zeros: [n, c.headSize / 2]); sin = Tensor(zeros: [n, c.headSize / 2])
        let words = (n + 63) / 64
        bits = [UInt64](repeating: 0, count: n * words)
        for r in 0..<n {
            for w in 0...(r / 64) { bits[r * words + w] = w < r / 64 || r % 64 == 63 ? ~0 : (1 << UInt64(r % 64 + 1)) - 1 }
        }
        rows = n
    }

    /// Feeds the base hidden state `h (D)` of the next accepted token (position = cache slot); returns the output `(D)`.
    @discardableResult
    public func feed(_ h: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        pass(count: 1) { _ in h }
    }

    /// Feeds the base hidden states `(D)` of the next accepted tokens, in order, in one pass; returns the
    /// output `(D)` at the last one (bit-identical to feeding them one at a time).
    @discardableResult
    public func feed(rows hidden: [UnsafePointer<Float>]) -> UnsafeMutablePointer<Float> {
        guard !hidden.isEmpty else { return output.pointer }
        return pass(count: hidden.count) { hidden[$0] }
    }

    /// Feeds `count` consecutive base hidden states `rows (count, D)` of the next accepted tokens in one pass, as
    /// `feed(rows:)` does, without a list of row pointers: allocates nothing once `reserve(rows: count)` was made.
    @discardableResult
    public func feed(consecutive rows: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        guard count > 0 else { return output.pointer }
        let D = layer.config.dim
        return pass(count: count) { rows + $0 * D }
    }

    /// The layer over `n` new rows `row(i) (D)` at the next cache slots.
    func pass(count n: Int, row: (Int) -> UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let c = layer.config, w = layer, m = matrices
        let (D, KV, H, hs) = (c.dim, c.kvDim, c.hiddenDim, c.headSize)
        let slot = cache.count
        precondition(slot + n <= cache.capacity, "prefix-attention cache is full")
        reserve(rows: n)
        let half = hs / 2
        let xb = xb.pointer, q = q.pointer, mid = mid.pointer, out = out.pointer  // (n, D)
        let hb = hb.pointer, hb2 = hb2.pointer                                  // (n, H)
        let cos = cos.pointer, sin = sin.pointer                                // (n, hs/2)
        for i in 0..<n {
            rope.angles(position: slot + i, cos: cos + i * half, sin: sin + i * half)
            Ops.rmsNorm(xb + i * D, row(i), w.rmsAttention.pointer, n: D)
        }
        let k = cache.key(layer: 0, slot: slot), v = cache.value(layer: 0, slot: slot)  // (n, KV) each
        // The base model's kernels: q | k | v in one pass over xb, causal attention, w1 | w3 fused.
        let pool = KernelPool.shared
        pool.matmul(xb, n: n, in: D, KernelProduct(m.wq, into: q, ldy: D), KernelProduct(m.wk, into: k, ldy: KV),
                    KernelProduct(m.wv, into: v, ldy: KV))
        for i in 0..<n {
            rope.rotate(q + i * D, heads: c.heads, cos: cos + i * half, sin: sin + i * half)
            rope.rotate(k + i * KV, heads: c.kvHeads, cos: cos + i * half, sin: sin + i * half)
        }
        let keys = cache.key(layer: 0, slot: 0), values = cache.value(layer: 0, slot: 0)
        let perThread = KernelPool.attentionScratch(columns: cache.capacity)
        if scratch.count < pool.threads * perThread { scratch = Tensor(zeros: [pool.threads, perThread]) }
        bits.withUnsafeBufferPointer { b in
            pool.attention(q: q, ldq: D, out: xb, ldo: D, keys: keys, values: values, kvStride: KV,
                           heads: c.heads, kvHeads: c.kvHeads, headSize: hs,
                           mask: AttentionBits(rows: n, columns: slot + n, sharedPrefix: slot, wordsPerRow: (n + 63) / 64, bits: b.baseAddress!),
                           scratch: scratch.pointer)
        }
        pool.matmul(xb, n: n, in: D, KernelProduct(m.wo, into: mid, ldy: D))
        for i in 0..<n {
            Ops.add(mid + i * D, row(i), n: D)
            Ops.rmsNorm(xb + i * D, mid + i * D, w.rmsFFN.pointer, n: D)
        }
        pool.matmulSwiGLU(xb, n: n, in: D, gate: KernelProduct(m.w1, into: hb, ldy: H), up: KernelProduct(m.w3, into: hb2, ldy: H))
        pool.matmul(hb, n: n, in: H, KernelProduct(m.w2, into: out, ldy: D))
        for i in 0..<n { Ops.add(out + i * D, mid + i * D, n: D) }
        cache.advance(by: n)
        output.pointer.update(from: out + (n - 1) * D, count: D)
        return output.pointer
    }
}
