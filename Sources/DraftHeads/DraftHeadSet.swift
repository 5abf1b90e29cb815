import Foundation
import LanguageModel
import Numerics

/// Which draft-head design a set of heads follows (SPEC §2).
public enum DraftHeadKind: String, Codable, CaseIterable, Sendable {
    /// Sequentially independent: head k sees only the last hidden state `h`.
    case medusa
    /// Sequentially dependent: head k also sees the embeddings of the root and the k-1 guesses before it.
    case hydra
    /// Hydra with the Hydra++ recipe (teacher distillation, prefix attention, deeper heads).
    case hydraPlusPlus = "hydra++"

    /// True when a head's input includes the tokens on its path.
    public var isSequential: Bool { self != .medusa }
}

/// How a set of heads is trained: the Hydra++ ingredients, each switchable on its own (SPEC §2).
public struct TrainingRecipe: Codable, Equatable, Sendable {
    /// Distil the base model's distribution at the target position instead of the ground-truth token.
    public var teacher: Bool
    /// Dropout rate on each block's SiLU branch during training.
    public var dropout: Float
    /// Uniform noise `U(-1,1)·alpha/sqrt(k·D)` on head k's input token embeddings during training (0: none).
    public var noise: Float

    public init(teacher: Bool = false, dropout: Float = 0, noise: Float = 0) {
        self.teacher = teacher
        self.dropout = dropout
        self.noise = noise
    }

    /// Plain teacher-forced training with ground-truth targets (Medusa-1, Hydra).
    public static let plain = TrainingRecipe()
}

/// The shape and provenance of a set of K draft heads; stored in the heads file.
public struct DraftHeadsConfig: Codable, Equatable, Sendable {
    public var kind: DraftHeadKind
    /// Number of heads K; head k (1-based) guesses the token k+1 positions after the last accepted one.
    public var heads: Int
    /// Residual SiLU blocks per head.
    public var blocks: Int
    /// Base model width D and vocabulary V the heads were built for.
    public var dim: Int
    public var vocabularySize: Int
    /// FNV-1a 64 of the base checkpoint's bytes (hex): heads only run on the base they were trained for.
    public var baseFingerprint: String
    /// How the heads were trained (recorded; it does not change how they run).
    public var recipe: TrainingRecipe

    public init(kind: DraftHeadKind, heads: Int, blocks: Int, dim: Int, vocabularySize: Int, baseFingerprint: String,
                recipe: TrainingRecipe = .plain) {
        self.recipe = recipe
        self.kind = kind
        self.heads = heads
        self.blocks = blocks
        self.dim = dim
        self.vocabularySize = vocabularySize
        self.baseFingerprint = baseFingerprint
    }

    /// Input width of head `k` (1-based): `D` for Medusa, `(k+1)·D` for Hydra.
    public func inputWidth(head k: Int) -> Int { kind.isSequential ? (k + 1) * dim : dim }
}

/// K draft heads over one base model (SPEC §2), with their input assembly.
///
/// Head `k` (1-based, stored at index `k-1`) reads `h` (Medusa) or
/// `[h, E(x₁), ..., E(x_k)]` (Hydra), where `x₁` is the root (the base model's own next
/// token) and `x₂...x_k` the guesses on the path, `E` the base model's frozen embedding.
public final class DraftHeadSet: ParameterSet, @unchecked Sendable {
    public let config: DraftHeadsConfig
    public let heads: [HeadNetwork]

    /// Zero heads of the configured shape.
    public init(config: DraftHeadsConfig) {
        self.config = config
        heads = (1...config.heads).map { k in
            HeadNetwork(inputWidth: config.inputWidth(head: k), dim: config.dim, vocabularySize: config.vocabularySize,
                        blocks: config.blocks, projection: config.kind.isSequential, outputBias: config.kind.isSequential)
        }
    }

    /// Fresh heads for `base`: blocks zero, output projections copied from the base classifier (SPEC §2).
    public convenience init(kind: DraftHeadKind, heads: Int, blocks: Int, base: TransformerWeights, recipe: TrainingRecipe = .plain) {
        let c = base.config
        self.init(config: DraftHeadsConfig(kind: kind, heads: heads, blocks: blocks, dim: c.dim, vocabularySize: c.vocabularySize,
                                           baseFingerprint: Fingerprint.of(base), recipe: recipe))
        for head in self.heads { head.initialise(fromClassifier: base.classifier) }
    }

    /// Zero tensors of the same shape (gradients, optimiser moments).
    public func zerosLike() -> DraftHeadSet { DraftHeadSet(config: config) }

    public var namedTensors: [(name: String, tensor: Tensor)] {
        heads.enumerated().flatMap { k, head in head.namedTensors.map { ("head\(k + 1).\($0.name)", $0.tensor) } }
    }

    /// Matrices decay; biases do not.
    public func decays(_ name: String) -> Bool { !name.hasSuffix("bias") }

    /// Writes head `k`'s input for one position into `x` (`inputWidth(head: k)` floats):
    /// `h`, then (Hydra) the embeddings of `path[0..<k]` (root first).
    public func assembleInput(head k: Int, hidden h: UnsafePointer<Float>, path: [Int], embedding: Tensor,
                              into x: UnsafeMutablePointer<Float>) {
        let D = config.dim
        x.update(from: h, count: D)
        guard config.kind.isSequential else { return }
        precondition(path.count >= k, "head \(k) needs the root and \(k - 1) guesses, got \(path.count) tokens")
        for i in 0..<k { (x + (i + 1) * D).update(from: embedding.pointer + path[i] * D, count: D) }
    }

    /// Head `k`'s logits `(V)` for one position: `path` is the root followed by the guesses before head k
    /// (ignored by Medusa). Convenience for inspection and tests; decoding batches these.
    public func logits(head k: Int, hidden: [Float], path: [Int], embedding: Tensor) -> [Float] {
        let head = heads[k - 1]
        var x = [Float](repeating: 0, count: head.inputWidth)
        hidden.withUnsafeBufferPointer { h in
            x.withUnsafeMutableBufferPointer { assembleInput(head: k, hidden: h.baseAddress!, path: path, embedding: embedding, into: $0.baseAddress!) }
        }
        let acts = HeadActivations(head: head, rows: 1)
        head.forward(x, rows: 1, into: acts)
        return acts.logits.array
    }
}

/// Identifies a base model by its bytes, so heads are never run on another model.
public enum Fingerprint {
    /// FNV-1a 64 of the llama2.c encoding of `weights`, as 16 hex digits.
    public static func of(_ weights: TransformerWeights) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        Checkpoint.encode(weights).withUnsafeBytes { raw in
            for byte in raw { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        return String(format: "%016llx", hash)
    }
}
