import Foundation
import Numerics

/// All parameters of a Llama-style decoder, stored as in a llama2.c checkpoint (reference §6).
///
/// Per-layer tensors are stacked along a leading layer dimension; matrices are
/// row-major `(out, in)`. When the classifier is shared, `classifier` is the
/// same object as `tokenEmbedding`.
public final class TransformerWeights: @unchecked Sendable {
    public let config: ModelConfig
    public let tokenEmbedding: Tensor   // (V, D)
    public let rmsAttention: Tensor     // (L, D)
    public let wq: Tensor               // (L, D, D)
    public let wk: Tensor               // (L, KV, D)
    public let wv: Tensor               // (L, KV, D)
    public let wo: Tensor               // (L, D, D)
    public let rmsFFN: Tensor           // (L, D)
    public let w1: Tensor               // (L, H, D)
    public let w2: Tensor               // (L, D, H)
    public let w3: Tensor               // (L, H, D)
    public let rmsFinal: Tensor         // (D)
    public let classifier: Tensor       // (V, D); === tokenEmbedding when shared
    /// The legacy RoPE tables (cos then sin, `2 * maxSeq * headSize/2` floats) exactly as read, so a
    /// read checkpoint writes back byte for byte. Nil for new models: the writer computes them.
    public var legacyRopeTables: [Float]?

    /// Zero-filled weights of the given shape (norm weights too: fill them before use).
    public init(zeros config: ModelConfig) {
        let c = config
        self.config = c
        tokenEmbedding = Tensor(zeros: [c.vocabularySize, c.dim])
        rmsAttention = Tensor(zeros: [c.layers, c.dim])
        wq = Tensor(zeros: [c.layers, c.dim, c.dim])
        wk = Tensor(zeros: [c.layers, c.kvDim, c.dim])
        wv = Tensor(zeros: [c.layers, c.kvDim, c.dim])
        wo = Tensor(zeros: [c.layers, c.dim, c.dim])
        rmsFFN = Tensor(zeros: [c.layers, c.dim])
        w1 = Tensor(zeros: [c.layers, c.hiddenDim, c.dim])
        w2 = Tensor(zeros: [c.layers, c.dim, c.hiddenDim])
        w3 = Tensor(zeros: [c.layers, c.hiddenDim, c.dim])
        rmsFinal = Tensor(zeros: [c.dim])
        classifier = c.sharedClassifier ? tokenEmbedding : Tensor(zeros: [c.vocabularySize, c.dim])
    }

    /// Randomly initialised weights for training from scratch (seeded, deterministic).
    ///
    /// GPT-2 style: N(0, 0.02) for every matrix, with the two residual output
    /// projections (`wo`, `w2`) scaled by `1/sqrt(2L)`; RMSNorm weights 1.
    public convenience init(random config: ModelConfig, seed: UInt64) {
        self.init(zeros: config)
        var rng = XorShiftRandom(seed: seed)
        let residualScale = 0.02 / Float(2 * config.layers).squareRoot()
        for (name, t) in namedTensors {
            switch name {
            case "rms_att", "rms_ffn", "rms_final":
                t.pointer.update(repeating: 1, count: t.count)
            default:
                let std: Float = (name == "wo" || name == "w2") ? residualScale : 0.02
                for i in 0..<t.count { t[i] = rng.nextGaussian() * std }
            }
        }
    }

    /// The tensors in checkpoint order with llama2.c's names (the classifier only when not shared).
    public var namedTensors: [(name: String, tensor: Tensor)] {
        var list: [(String, Tensor)] = [
            ("token_embedding", tokenEmbedding), ("rms_att", rmsAttention), ("wq", wq), ("wk", wk), ("wv", wv),
            ("wo", wo), ("rms_ffn", rmsFFN), ("w1", w1), ("w2", w2), ("w3", w3), ("rms_final", rmsFinal),
        ]
        if !config.sharedClassifier { list.append(("wcls", classifier)) }
        return list
    }
}
