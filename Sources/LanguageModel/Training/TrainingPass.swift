import Foundation
import Numerics

/// The forward pass with stored activations, and the backward pass, of a whole decoder over
/// a batch of `B` sequences of `T` tokens (positions `0..<T`, causal attention).
///
/// Gradients accumulate into `gradients`, a `TransformerWeights` of the same shape (a tied
/// classifier's gradient lands in the embedding's, since they are the same tensor).
public final class TrainingPass {
    public let config: ModelConfig
    public let B: Int
    public let T: Int
    /// Gradients of the mean loss, one tensor per parameter tensor.
    public let gradients: TransformerWeights

    // Activations (N = B*T rows).
    let residual: Tensor      // (L, N, D) input of each block
    let ln1: Tensor           // (L, N, D)
    let ln1Rstd: Tensor       // (L, N)
    let q: Tensor             // (L, N, D) after RoPE
    let k: Tensor             // (L, N, KV) after RoPE
    let v: Tensor             // (L, N, KV)
    let att: Tensor           // (L, B, H, T, T) attention probabilities
    let attOut: Tensor        // (L, N, D) before wo
    let residualMid: Tensor   // (L, N, D) after the attention residual
    let ln2: Tensor           // (L, N, D)
    let ln2Rstd: Tensor       // (L, N)
    let h1: Tensor            // (L, N, H) w1 pre-activation
    let h3: Tensor            // (L, N, H) w3
    let gated: Tensor         // (L, N, H) silu(h1) * h3
    let residualFinal: Tensor // (N, D)
    let lnf: Tensor           // (N, D)
    let lnfRstd: Tensor       // (N)
    let probs: Tensor         // (N, V) logits, then probabilities, then dlogits
    let ropeCos: Tensor       // (T, hs/2)
    let ropeSin: Tensor       // (T, hs/2)
    // Backward scratch.
    let dResidual: Tensor     // (N, D)
    let dNormed: Tensor       // (N, D)
    let dAttOut: Tensor       // (N, D)
    let dq: Tensor            // (N, D)
    let dk: Tensor            // (N, KV)
    let dv: Tensor            // (N, KV)
    let dh1: Tensor           // (N, H)
    let dh3: Tensor           // (N, H)
    let dGated: Tensor        // (N, H)
    let dScores: Tensor       // (B, T, T)

    public init(config c: ModelConfig, batchSize: Int, sequenceLength: Int) {
        precondition(sequenceLength <= c.maxSequenceLength, "sequence length \(sequenceLength) exceeds the context \(c.maxSequenceLength)")
        config = c
        B = batchSize
        T = sequenceLength
        let N = B * T, L = c.layers
        gradients = TransformerWeights(zeros: c)
        residual = Tensor(zeros: [L, N, c.dim])
        ln1 = Tensor(zeros: [L, N, c.dim])
        ln1Rstd = Tensor(zeros: [L, N])
        q = Tensor(zeros: [L, N, c.dim])
        k = Tensor(zeros: [L, N, c.kvDim])
        v = Tensor(zeros: [L, N, c.kvDim])
        att = Tensor(zeros: [L, B, c.heads, T, T])
        attOut = Tensor(zeros: [L, N, c.dim])
        residualMid = Tensor(zeros: [L, N, c.dim])
        ln2 = Tensor(zeros: [L, N, c.dim])
        ln2Rstd = Tensor(zeros: [L, N])
        h1 = Tensor(zeros: [L, N, c.hiddenDim])
        h3 = Tensor(zeros: [L, N, c.hiddenDim])
        gated = Tensor(zeros: [L, N, c.hiddenDim])
        residualFinal = Tensor(zeros: [N, c.dim])
        lnf = Tensor(zeros: [N, c.dim])
        lnfRstd = Tensor(zeros: [N])
        probs = Tensor(zeros: [N, c.vocabularySize])
        let rope = RotaryEmbedding(headSize: c.headSize)
        ropeCos = Tensor(zeros: [T, c.headSize / 2])
        ropeSin = Tensor(zeros: [T, c.headSize / 2])
        for t in 0..<T { rope.angles(position: t, cos: ropeCos.pointer + t * c.headSize / 2, sin: ropeSin.pointer + t * c.headSize / 2) }
        dResidual = Tensor(zeros: [N, c.dim])
        dNormed = Tensor(zeros: [N, c.dim])
        dAttOut = Tensor(zeros: [N, c.dim])
        dq = Tensor(zeros: [N, c.dim])
        dk = Tensor(zeros: [N, c.kvDim])
        dv = Tensor(zeros: [N, c.kvDim])
        dh1 = Tensor(zeros: [N, c.hiddenDim])
        dh3 = Tensor(zeros: [N, c.hiddenDim])
        dGated = Tensor(zeros: [N, c.hiddenDim])
        dScores = Tensor(zeros: [B, T, T])
    }

    var shape: LayerPasses.AttentionShape {
        .init(B: B, T: T, heads: config.heads, kvHeads: config.kvHeads, headSize: config.headSize)
    }

    /// Sets every gradient to zero.
    public func zeroGradients() {
        for (_, g) in gradients.namedTensors { g.zero() }
    }

    /// Runs the model on `inputs` (`B*T` ids) and returns the mean cross-entropy against `targets`.
    /// Keeps the activations for `backward`.
    @discardableResult
    public func forward(_ w: TransformerWeights, inputs: [Int32], targets: [Int32]) -> Float {
        let c = config, N = B * T
        precondition(inputs.count == N && targets.count == N, "need \(N) inputs and targets")
        let (D, KV, H) = (c.dim, c.kvDim, c.hiddenDim)
        var x = residual.slice(0)
        LayerPasses.embeddingForward(x, tokens: inputs, table: w.tokenEmbedding.pointer, dim: D)
        for l in 0..<c.layers {
            x = residual.slice(l)
            let mid = residualMid.slice(l)
            LayerPasses.rmsNormForward(ln1.slice(l), rstd: ln1Rstd.slice(l), x, w.rmsAttention.slice(l), n: N, dim: D)
            LayerPasses.matmulForward(q.slice(l), ln1.slice(l), w.wq.slice(l), n: N, in: D, out: D)
            LayerPasses.matmulForward(k.slice(l), ln1.slice(l), w.wk.slice(l), n: N, in: D, out: KV)
            LayerPasses.matmulForward(v.slice(l), ln1.slice(l), w.wv.slice(l), n: N, in: D, out: KV)
            LayerPasses.ropeForward(q.slice(l), n: N, width: D, headSize: c.headSize, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
            LayerPasses.ropeForward(k.slice(l), n: N, width: KV, headSize: c.headSize, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
            LayerPasses.attentionForward(out: attOut.slice(l), att: att.slice(l), q: q.slice(l), k: k.slice(l), v: v.slice(l), shape: shape)
            // mid = x + attOut · Woᵀ
            LayerPasses.matmulForward(mid, attOut.slice(l), w.wo.slice(l), n: N, in: D, out: D)
            Ops.add(mid, x, n: N * D)
            LayerPasses.rmsNormForward(ln2.slice(l), rstd: ln2Rstd.slice(l), mid, w.rmsFFN.slice(l), n: N, dim: D)
            LayerPasses.matmulForward(h1.slice(l), ln2.slice(l), w.w1.slice(l), n: N, in: D, out: H)
            LayerPasses.matmulForward(h3.slice(l), ln2.slice(l), w.w3.slice(l), n: N, in: D, out: H)
            LayerPasses.swigluForward(gated.slice(l), a: h1.slice(l), c: h3.slice(l), count: N * H)
            // next = mid + gated · W2ᵀ
            let next = l + 1 < c.layers ? residual.slice(l + 1) : residualFinal.pointer
            LayerPasses.matmulForward(next, gated.slice(l), w.w2.slice(l), n: N, in: H, out: D)
            Ops.add(next, mid, n: N * D)
        }
        LayerPasses.rmsNormForward(lnf.pointer, rstd: lnfRstd.pointer, residualFinal.pointer, w.rmsFinal.pointer, n: N, dim: D)
        LayerPasses.matmulForward(probs.pointer, lnf.pointer, w.classifier.pointer, n: N, in: D, out: c.vocabularySize)
        let total = LayerPasses.crossEntropyForward(probs.pointer, targets: targets, vocabularySize: c.vocabularySize)
        return Float(total / Double(N))
    }

    /// Backpropagates the mean loss of the last `forward` into `gradients` (accumulating).
    public func backward(_ w: TransformerWeights, inputs: [Int32], targets: [Int32]) {
        let c = config, N = B * T, g = gradients
        let (D, KV, H, V) = (c.dim, c.kvDim, c.hiddenDim, c.vocabularySize)
        let dx = dResidual.pointer
        // loss = mean −log softmax(logits)[target]
        LayerPasses.crossEntropyBackward(probs.pointer, targets: targets, vocabularySize: V)
        // logits = lnf · Wclsᵀ
        LayerPasses.matmulBackward(dx: dNormed.pointer, dw: g.classifier.pointer, dy: probs.pointer, x: lnf.pointer,
                                   w: w.classifier.pointer, n: N, in: D, out: V)
        // lnf = rmsnorm(residualFinal, rmsFinal)
        dResidual.zero()
        LayerPasses.rmsNormBackward(dx: dx, dw: g.rmsFinal.pointer, dy: dNormed.pointer, x: residualFinal.pointer,
                                    w: w.rmsFinal.pointer, rstd: lnfRstd.pointer, n: N, dim: D)
        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            // next = mid + gated · W2ᵀ  (dx flows to mid unchanged)
            LayerPasses.matmulBackward(dx: dGated.pointer, dw: g.w2.slice(l), dy: dx, x: gated.slice(l), w: w.w2.slice(l), n: N, in: H, out: D)
            // gated = silu(h1) * h3
            LayerPasses.swigluBackward(da: dh1.pointer, dc: dh3.pointer, dg: dGated.pointer, a: h1.slice(l), c: h3.slice(l), count: N * H)
            // h1 = ln2 · W1ᵀ, h3 = ln2 · W3ᵀ
            LayerPasses.matmulBackward(dx: dNormed.pointer, dw: g.w1.slice(l), dy: dh1.pointer, x: ln2.slice(l), w: w.w1.slice(l), n: N, in: D, out: H)
            LayerPasses.matmulBackward(dx: dNormed.pointer, accumulateDX: true, dw: g.w3.slice(l), dy: dh3.pointer, x: ln2.slice(l),
                                       w: w.w3.slice(l), n: N, in: D, out: H)
            // ln2 = rmsnorm(mid, rmsFFN)
            LayerPasses.rmsNormBackward(dx: dx, dw: g.rmsFFN.slice(l), dy: dNormed.pointer, x: residualMid.slice(l),
                                        w: w.rmsFFN.slice(l), rstd: ln2Rstd.slice(l), n: N, dim: D)
            // mid = x + attOut · Woᵀ  (dx flows to x unchanged)
            LayerPasses.matmulBackward(dx: dAttOut.pointer, dw: g.wo.slice(l), dy: dx, x: attOut.slice(l), w: w.wo.slice(l), n: N, in: D, out: D)
            // attOut = attention(q, k, v)
            dk.zero()
            dv.zero()
            LayerPasses.attentionBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dAttOut.pointer, att: att.slice(l),
                                          q: q.slice(l), k: k.slice(l), v: v.slice(l), scratch: dScores.pointer, shape: shape)
            // q = rope(ln1 · Wqᵀ), k = rope(ln1 · Wkᵀ)
            LayerPasses.ropeBackward(dq.pointer, n: N, width: D, headSize: c.headSize, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
            LayerPasses.ropeBackward(dk.pointer, n: N, width: KV, headSize: c.headSize, T: T, cos: ropeCos.pointer, sin: ropeSin.pointer)
            LayerPasses.matmulBackward(dx: dNormed.pointer, dw: g.wq.slice(l), dy: dq.pointer, x: ln1.slice(l), w: w.wq.slice(l), n: N, in: D, out: D)
            LayerPasses.matmulBackward(dx: dNormed.pointer, accumulateDX: true, dw: g.wk.slice(l), dy: dk.pointer, x: ln1.slice(l),
                                       w: w.wk.slice(l), n: N, in: D, out: KV)
            LayerPasses.matmulBackward(dx: dNormed.pointer, accumulateDX: true, dw: g.wv.slice(l), dy: dv.pointer, x: ln1.slice(l),
                                       w: w.wv.slice(l), n: N, in: D, out: KV)
            // ln1 = rmsnorm(x, rmsAtt)
            LayerPasses.rmsNormBackward(dx: dx, dw: g.rmsAttention.slice(l), dy: dNormed.pointer, x: residual.slice(l),
                                        w: w.rmsAttention.slice(l), rstd: ln1Rstd.slice(l), n: N, dim: D)
        }
        // x = E[inputs]
        LayerPasses.embeddingBackward(dTable: g.tokenEmbedding.pointer, dx: dx, tokens: inputs, dim: D)
    }
}
