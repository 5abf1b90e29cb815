import Foundation
import LanguageModel
import Numerics

/// One head's matrices as drafting streams them (fp32, or an fp16 copy at half the bytes), and its forward pass.
///
/// Drafting reads every head it uses once per step, so the heads' bytes are part of every step's cost (reference §5:
/// a step costs one verification pass plus the heads' passes). In fp16 the heads take half the memory traffic, and
/// with the base model they fit this CPU's last-level cache; the base model still verifies every guess exactly, so
/// the decoded text does not change, only (slightly) which guesses are made. Biases and gains stay fp32.
///
/// A head that shares the base model's classifier has no output matrix of its own: it uses `sharedOutput`, the
/// classifier in fp32 as the verification pass reads it, whatever the heads' precision (one `KernelMatrix` for the
/// whole set, no copy).
public final class DraftingHead: @unchecked Sendable {
    public let head: HeadNetwork
    let projection: KernelMatrix?  // R (D, inputWidth)
    let blocks: [KernelMatrix]     // W_j (D, in_j)
    let output: KernelMatrix       // W_out (V, D): the head's own, or the set's shared classifier

    init(_ head: HeadNetwork, precision: WeightPrecision, sharedOutput: KernelMatrix? = nil) {
        precondition(head.sharesClassifier == (sharedOutput != nil), "a shared-classifier head drafts with the shared classifier")
        self.head = head
        let D = head.dim
        projection = head.projection.map { KernelMatrix($0, rows: D, columns: head.inputWidth, precision: precision) }
        blocks = head.blockWeights.enumerated().map { j, w in KernelMatrix(w, rows: D, columns: j == 0 ? head.inputWidth : D, precision: precision) }
        output = sharedOutput ?? KernelMatrix(head.outputWeight, rows: head.vocabularySize, columns: D, precision: precision)
    }

    /// The output matrix drafting multiplies by (for a shared classifier, the same object in every head of the set).
    public var outputMatrix: KernelMatrix { output }

    /// Bytes one forward pass streams beyond the base model's own weights: a shared classifier is not counted (the
    /// verification pass reads the same bytes every step).
    public var bytes: Int { (projection?.bytes ?? 0) + blocks.reduce(0) { $0 + $1.bytes } + (head.sharesClassifier ? 0 : output.bytes) }

    /// The head over `n` rows of input `x (n, inputWidth)` (no dropout): fills `acts`' block outputs and logits.
    /// In fp32 this is `HeadNetwork.forward` exactly (the same kernels in the same order).
    public func forward(_ x: UnsafePointer<Float>, rows n: Int, into acts: HeadActivations) {
        precondition(n <= acts.capacity, "\(n) rows for activations of \(acts.capacity)")
        let D = head.dim, V = head.vocabularySize
        let pool = KernelPool.shared
        for j in 0..<head.blocks {
            let input = j == 0 ? x : UnsafePointer(acts.output[j - 1].pointer)
            let width = j == 0 ? head.inputWidth : D
            let a = acts.preActivation[j].pointer, y = acts.output[j].pointer  // (n, D) each
            // a = input · W_jᵀ + b_j; y = residual(input) + SiLU(a), residual = input · Rᵀ (first Hydra block) or input.
            if j == 0, let projection {
                pool.matmul(input, n: n, in: width, KernelProduct(blocks[0], into: a, ldy: D), KernelProduct(projection, into: y, ldy: D))
            } else {
                pool.matmul(input, n: n, in: width, KernelProduct(blocks[j], into: a, ldy: D))
                y.update(from: input, count: n * D)
            }
            for r in 0..<n { Ops.add(a + r * D, head.blockBiases[j].pointer, n: D) }
            Ops.addSiLU(y, a, n: n * D)
        }
        let logits = acts.logits.pointer  // (n, V)
        pool.matmul(acts.output[head.blocks - 1].pointer, n: n, in: D, KernelProduct(output, into: logits, ldy: V))
        if let outputBias = head.outputBias { for r in 0..<n { Ops.add(logits + r * V, outputBias.pointer, n: V) } }
    }
}

/// Hydra++'s prefix-attention layer's matrices as drafting streams them.
public final class DraftingPrefixLayer: @unchecked Sendable {
    public let layer: PrefixAttentionLayer
    let wq, wk, wv, wo, w1, w2, w3: KernelMatrix

    public init(_ layer: PrefixAttentionLayer, precision: WeightPrecision) {
        self.layer = layer
        let c = layer.config
        let (D, KV, H) = (c.dim, c.kvDim, c.hiddenDim)
        wq = KernelMatrix(layer.wq, rows: D, columns: D, precision: precision)
        wk = KernelMatrix(layer.wk, rows: KV, columns: D, precision: precision)
        wv = KernelMatrix(layer.wv, rows: KV, columns: D, precision: precision)
        wo = KernelMatrix(layer.wo, rows: D, columns: D, precision: precision)
        w1 = KernelMatrix(layer.w1, rows: H, columns: D, precision: precision)
        w2 = KernelMatrix(layer.w2, rows: D, columns: H, precision: precision)
        w3 = KernelMatrix(layer.w3, rows: H, columns: D, precision: precision)
    }

    /// Bytes one pass streams.
    public var bytes: Int { [wq, wk, wv, wo, w1, w2, w3].reduce(0) { $0 + $1.bytes } }
}

/// A set of heads ready to draft: every head's and the prefix layer's matrices in one precision (made once per set
/// and precision; the copies do not follow later training of the set).
public final class DraftingHeads: @unchecked Sendable {
    /// The heads themselves (they keep their drafting copies, so this reference does not).
    public unowned let set: DraftHeadSet
    public let precision: WeightPrecision
    /// Head k (1-based) at index k - 1.
    public let heads: [DraftingHead]
    public let prefix: DraftingPrefixLayer?

    init(set: DraftHeadSet, precision: WeightPrecision) {
        self.set = set
        self.precision = precision
        // One fp32 view of a shared classifier for all heads (no copy: the base model's tensor itself).
        let shared = set.sharedClassifier.map { KernelMatrix($0, rows: set.config.vocabularySize, columns: set.config.dim, precision: .single) }
        heads = set.heads.map { DraftingHead($0, precision: precision, sharedOutput: shared) }
        prefix = set.prefix.map { DraftingPrefixLayer($0, precision: precision) }
    }

    /// Bytes of every head and the prefix layer as drafting streams them; a shared classifier is not counted (see
    /// `DraftingHead.bytes`).
    public var bytes: Int { heads.reduce(0) { $0 + $1.bytes } + (prefix?.bytes ?? 0) }
}

extension DraftHeadSet {
    /// The heads as drafting streams them in `precision` (made on first use, then shared).
    public func drafting(_ precision: WeightPrecision) -> DraftingHeads {
        draftingLock.lock()
        defer { draftingLock.unlock() }
        if let made = draftingCopies[precision] { return made }
        let made = DraftingHeads(set: self, precision: precision)
        draftingCopies[precision] = made
        return made
    }
}
