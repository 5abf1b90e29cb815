import Foundation
import LanguageModel
import Numerics

/// One draft head: residual SiLU blocks on its input, then an output projection (reference §2).
///
/// - Medusa head (Cai et al. 2024, §2.1.1): input `h` (width D); every block is
///   `y = y + SiLU(W y + b)` with `W`, `b` zero-initialised; `logits = W_out y`, `W_out`
///   a copy of the base classifier. A fresh head therefore *is* the base LM head.
/// - Hydra head (Ankner et al. 2024, §3): input `x = [h, E(x₁), ..., E(x_k)]` (width
///   `(k+1)D`); the first block is `y = R x + SiLU(W₁ x + b₁)` with a learned residual
///   projection `R` (initialised to `[I | 0]`, so a fresh head also starts as the base LM
///   head: *choice*), further blocks `y = y + SiLU(W y + b)`, each with its own weights;
///   `logits = W_out y + b_out`.
/// - Shared classifier (either kind, after EAGLE's reuse of the base LM head): `W_out` *is* the base model's
///   classifier `C_base`, frozen: `logits = y · C_baseᵀ (+ b_out)`. The head holds a reference to the base's
///   tensor, lists it in no `namedTensors` (never saved, trained or decayed) and backward only passes `dy` through it.
public final class HeadNetwork: @unchecked Sendable {
    /// Input width (`D` for Medusa, `(k+1)D` for Hydra head k).
    public let inputWidth: Int
    public let dim: Int
    public let vocabularySize: Int
    /// Number of residual SiLU blocks.
    public let blocks: Int
    /// `R (D, inputWidth)` of the first block, or nil when the residual is the identity.
    public let projection: Tensor?
    /// Per block `j`: `W_j (D, in_j)` with `in_0 = inputWidth`, `in_j = D` after.
    public let blockWeights: [Tensor]
    /// Per block `j`: `b_j (D)`.
    public let blockBiases: [Tensor]
    /// `W_out (V, D)`: the head's own, or (`sharesClassifier`) the base model's frozen classifier itself.
    public let outputWeight: Tensor
    /// True when `outputWeight` is the base model's classifier: frozen, and not in `namedTensors`.
    public let sharesClassifier: Bool
    /// `b_out (V)`, or nil (Medusa has none).
    public let outputBias: Tensor?

    /// A head with all weights zero (gradients and optimiser moments use this shape too). With `sharedClassifier`
    /// (the base model's `(V, D)` classifier), the head's output weight is that tensor, shared and never written.
    public init(inputWidth: Int, dim: Int, vocabularySize: Int, blocks: Int, projection: Bool, outputBias: Bool,
                sharedClassifier: Tensor? = nil) {
        precondition(blocks >= 1, "a head has at least one block")
        precondition(projection || inputWidth == dim, "an identity residual needs input width = dim")
        self.inputWidth = inputWidth
        self.dim = dim
        self.vocabularySize = vocabularySize
        self.blocks = blocks
        self.projection = projection ? Tensor(zeros: [dim, inputWidth]) : nil
        blockWeights = (0..<blocks).map { Tensor(zeros: [dim, $0 == 0 ? inputWidth : dim]) }
        blockBiases = (0..<blocks).map { _ in Tensor(zeros: [dim]) }
        if let sharedClassifier {
            precondition(sharedClassifier.count == vocabularySize * dim, "the shared classifier is not (V, D)")
            outputWeight = sharedClassifier
        } else {
            outputWeight = Tensor(zeros: [vocabularySize, dim])
        }
        sharesClassifier = sharedClassifier != nil
        self.outputBias = outputBias ? Tensor(zeros: [vocabularySize]) : nil
    }

    /// A head of the same shape, all zero. A shared classifier stays shared (the copy refers to the same frozen
    /// tensor, allocates nothing for it, and `backward` never writes a gradient for it).
    public func zerosLike() -> HeadNetwork {
        HeadNetwork(inputWidth: inputWidth, dim: dim, vocabularySize: vocabularySize, blocks: blocks,
                    projection: projection != nil, outputBias: outputBias != nil, sharedClassifier: sharesClassifier ? outputWeight : nil)
    }

    /// The initial head of reference §2: zero blocks, `R = [I | 0]`, `W_out` = the base classifier
    /// (a copy; a shared-classifier head already reads `classifier` itself).
    public func initialise(fromClassifier classifier: Tensor) {
        precondition(classifier.count == outputWeight.count, "classifier shape does not match the head")
        precondition(!sharesClassifier || classifier === outputWeight, "a shared-classifier head reads the classifier it was built with")
        for (_, t) in namedTensors { t.zero() }
        if !sharesClassifier { outputWeight.pointer.update(from: classifier.pointer, count: classifier.count) }
        if let projection { for i in 0..<dim { projection[i * inputWidth + i] = 1 } }
    }

    /// Parameter tensors with stable names (the heads file stores them in this order); a shared classifier is not one.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        var list: [(String, Tensor)] = []
        if let projection { list.append(("projection", projection)) }
        for j in 0..<blocks {
            list.append(("block\(j).weight", blockWeights[j]))
            list.append(("block\(j).bias", blockBiases[j]))
        }
        if !sharesClassifier { list.append(("output.weight", outputWeight)) }
        if let outputBias { list.append(("output.bias", outputBias)) }
        return list
    }

    /// Number of parameters.
    public var parameterCount: Int { namedTensors.reduce(0) { $0 + $1.tensor.count } }
}

/// Activations of one head's forward pass over `n` rows, kept for the backward pass.
public final class HeadActivations {
    public let capacity: Int
    let preActivation: [Tensor]   // per block: (n, D) a_j = W_j y_{j-1} + b_j
    let output: [Tensor]          // per block: (n, D) y_j
    let dropMask: [Tensor]        // per block: (n, D) 0 or 1/(1-p) when trained with dropout, else unused
    /// `(n, V)` logits, turned into probabilities by the loss.
    public let logits: Tensor

    /// Output `(n, D)` of block `j`.
    public func blockOutput(_ j: Int) -> UnsafeMutablePointer<Float> { output[j].pointer }

    public init(head: HeadNetwork, rows: Int) {
        capacity = rows
        preActivation = (0..<head.blocks).map { _ in Tensor(zeros: [rows, head.dim]) }
        output = (0..<head.blocks).map { _ in Tensor(zeros: [rows, head.dim]) }
        dropMask = (0..<head.blocks).map { _ in Tensor(shape: [rows, head.dim], repeating: 1) }
        logits = Tensor(zeros: [rows, head.vocabularySize])
    }
}

extension HeadNetwork {
    /// Forward over `n` rows of input `x (n, inputWidth)`: fills `acts` (block outputs and logits).
    ///
    /// With `dropout` (training only: rate `p` and a generator), each block's SiLU branch is
    /// `dropout(SiLU(a))`: zeroed with probability `p`, scaled by `1/(1-p)` otherwise (Hydra++, reference §2).
    public func forward(_ x: UnsafePointer<Float>, rows n: Int, into acts: HeadActivations,
                        dropout: (rate: Float, random: UnsafeMutablePointer<XorShiftRandom>)? = nil) {
        precondition(n <= acts.capacity, "\(n) rows for activations of \(acts.capacity)")
        let D = dim
        for j in 0..<blocks {
            let input = j == 0 ? x : UnsafePointer(acts.output[j - 1].pointer)
            let width = j == 0 ? inputWidth : D
            let a = acts.preActivation[j].pointer, y = acts.output[j].pointer
            // a = input · W_jᵀ + b_j; y = residual(input) + SiLU(a), residual = input (identity) or input · Rᵀ
            // (first Hydra block). Drafting's few rows: W_j and R in one pass over the input (HydraSim's kernels).
            let fused = j == 0 && projection != nil && n <= 64
            if fused, let projection {
                KernelPool.shared.matmul(input, n: n, in: width, WeightSegment(blockWeights[j].pointer, rows: D, into: a, ldy: D),
                                         WeightSegment(projection.pointer, rows: D, into: y, ldy: D))
            } else {
                LayerPasses.matmulForward(a, input, blockWeights[j].pointer, n: n, in: width, out: D)
            }
            for r in 0..<n { Ops.add(a + r * D, blockBiases[j].pointer, n: D) }
            if fused {
                // y holds input · Rᵀ already.
            } else if j == 0, let projection {
                LayerPasses.matmulForward(y, input, projection.pointer, n: n, in: width, out: D)
            } else {
                y.update(from: input, count: n * D)
            }
            if let dropout, dropout.rate > 0 {
                let mask = acts.dropMask[j].pointer, keep = 1 / (1 - dropout.rate)
                for i in 0..<n * D { mask[i] = dropout.random.pointee.nextFloat() < dropout.rate ? 0 : keep }
                for i in 0..<n * D { y[i] += Ops.silu(a[i]) * mask[i] }
            } else {
                acts.dropMask[j].pointer.update(repeating: 1, count: n * D)
                Ops.addSiLU(y, a, n: n * D)
            }
        }
        // logits = y · W_outᵀ + b_out
        LayerPasses.matmulForward(acts.logits.pointer, acts.output[blocks - 1].pointer, outputWeight.pointer, n: n, in: D, out: vocabularySize)
        if let outputBias { for r in 0..<n { Ops.add(acts.logits.pointer + r * vocabularySize, outputBias.pointer, n: vocabularySize) } }
    }

    /// Backward from `dlogits (n, V)` (in place in `acts.logits` is fine): accumulates into `grads`;
    /// writes `dx (n, inputWidth)` when given (for a layer below the head, e.g. Hydra++'s prefix attention).
    public func backward(_ x: UnsafePointer<Float>, rows n: Int, acts: HeadActivations, dlogits: UnsafePointer<Float>,
                         grads: HeadNetwork, dx: UnsafeMutablePointer<Float>?, scratch: HeadScratch) {
        let D = dim, V = vocabularySize
        precondition(grads.sharesClassifier == sharesClassifier, "gradients of another head shape")
        let dy = scratch.dy.pointer, da = scratch.da.pointer  // (n, D) each
        // logits = y · W_outᵀ + b_out
        if let gb = grads.outputBias { for r in 0..<n { Ops.add(gb.pointer, dlogits + r * V, n: V) } }
        if sharesClassifier {
            // W_out = C_base, frozen: dy = dlogits · C_base, and no gradient for it.
            LayerPasses.matmulBackwardInput(dx: dy, dy: dlogits, w: outputWeight.pointer, n: n, in: D, out: V)
        } else {
            LayerPasses.matmulBackward(dx: dy, dw: grads.outputWeight.pointer, dy: dlogits, x: acts.output[blocks - 1].pointer,
                                       w: outputWeight.pointer, n: n, in: D, out: V)
        }
        for j in stride(from: blocks - 1, through: 0, by: -1) {
            let input = j == 0 ? x : UnsafePointer(acts.output[j - 1].pointer)
            let width = j == 0 ? inputWidth : D
            let a = acts.preActivation[j].pointer
            // y = residual(input) + SiLU(a) · mask: da = dy · mask · SiLU'(a), SiLU'(a) = σ(a)(1 + a(1 − σ(a)))
            let mask = acts.dropMask[j].pointer
            for i in 0..<n * D {
                let s = 1 / (1 + expf(-a[i]))
                da[i] = dy[i] * mask[i] * s * (1 + a[i] * (1 - s))
            }
            // a = input · W_jᵀ + b_j
            for r in 0..<n { Ops.add(grads.blockBiases[j].pointer, da + r * D, n: D) }
            if j > 0 {
                // d input = da · W_j + dy (identity residual); becomes dy of block j-1.
                let dInput = scratch.dyPrevious.pointer
                LayerPasses.matmulBackward(dx: dInput, dw: grads.blockWeights[j].pointer, dy: da, x: input, w: blockWeights[j].pointer,
                                           n: n, in: width, out: D)
                Ops.add(dInput, dy, n: n * D)
                dy.update(from: dInput, count: n * D)
            } else {
                LayerPasses.matmulBackward(dx: dx, dw: grads.blockWeights[0].pointer, dy: da, x: input, w: blockWeights[0].pointer,
                                           n: n, in: width, out: D)
                if let projection, let gR = grads.projection {
                    // residual = input · Rᵀ
                    LayerPasses.matmulBackward(dx: dx, accumulateDX: true, dw: gR.pointer, dy: dy, x: input, w: projection.pointer,
                                               n: n, in: width, out: D)
                } else if let dx {
                    Ops.add(dx, dy, n: n * D)
                }
            }
        }
    }
}

/// Scratch buffers for a head's backward pass over up to `capacity` rows.
public final class HeadScratch {
    let dy: Tensor, da: Tensor, dyPrevious: Tensor
    public init(dim: Int, rows: Int) {
        dy = Tensor(zeros: [rows, dim])
        da = Tensor(zeros: [rows, dim])
        dyPrevious = Tensor(zeros: [rows, dim])
    }
}
