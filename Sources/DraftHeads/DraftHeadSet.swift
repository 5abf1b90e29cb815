import Foundation
import LanguageModel
import Numerics

/// Which draft-head design a set of heads follows (reference §2).
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

/// How a set of heads is trained: the Hydra++ ingredients, each switchable on its own (reference §2).
public struct TrainingRecipe: Codable, Equatable, Sendable {
    /// Distil the base model's distribution at the target position instead of the ground-truth token.
    public var teacher: Bool
    /// Dropout rate on each block's SiLU branch during training.
    public var dropout: Float
    /// Uniform noise `U(-1,1)·alpha/sqrt(k·D)` on head k's input token embeddings during training (0: none).
    public var noise: Float
    /// What the heads learned from: nil or "corpus" (the training split as written), "greedy" (the base model's own
    /// greedy continuations of training-split prompts: the text decoding verifies).
    public var data: String?

    public init(teacher: Bool = false, dropout: Float = 0, noise: Float = 0, data: String? = nil) {
        self.teacher = teacher
        self.dropout = dropout
        self.noise = noise
        self.data = data
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
    /// Shape of the Hydra++ prefix-attention layer (the base's, one layer), or nil without one.
    public var prefix: ModelConfig?
    /// Every head's output layer is the base model's own classifier, frozen and not stored in the heads file
    /// (absent from older files' headers, which read as false; written only when true).
    public var sharedClassifier: Bool

    public init(kind: DraftHeadKind, heads: Int, blocks: Int, dim: Int, vocabularySize: Int, baseFingerprint: String,
                recipe: TrainingRecipe = .plain, prefix: ModelConfig? = nil, sharedClassifier: Bool = false) {
        self.sharedClassifier = sharedClassifier
        self.recipe = recipe
        self.prefix = prefix
        self.kind = kind
        self.heads = heads
        self.blocks = blocks
        self.dim = dim
        self.vocabularySize = vocabularySize
        self.baseFingerprint = baseFingerprint
    }

    /// Input width of head `k` (1-based): `D` for Medusa, `(k+1)·D` for Hydra.
    public func inputWidth(head k: Int) -> Int { kind.isSequential ? (k + 1) * dim : dim }

    enum CodingKeys: String, CodingKey {
        case kind, heads, blocks, dim, vocabularySize, baseFingerprint, recipe, prefix, sharedClassifier
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(DraftHeadKind.self, forKey: .kind)
        heads = try c.decode(Int.self, forKey: .heads)
        blocks = try c.decode(Int.self, forKey: .blocks)
        dim = try c.decode(Int.self, forKey: .dim)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        baseFingerprint = try c.decode(String.self, forKey: .baseFingerprint)
        recipe = try c.decode(TrainingRecipe.self, forKey: .recipe)
        prefix = try c.decodeIfPresent(ModelConfig.self, forKey: .prefix)
        sharedClassifier = try c.decodeIfPresent(Bool.self, forKey: .sharedClassifier) ?? false
    }

    /// Writes the header as before this field existed unless the classifier is shared (old files keep their bytes).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(heads, forKey: .heads)
        try c.encode(blocks, forKey: .blocks)
        try c.encode(dim, forKey: .dim)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(baseFingerprint, forKey: .baseFingerprint)
        try c.encode(recipe, forKey: .recipe)
        try c.encodeIfPresent(prefix, forKey: .prefix)
        if sharedClassifier { try c.encode(true, forKey: .sharedClassifier) }
    }
}

/// K draft heads over one base model (reference §2), with their input assembly.
///
/// Head `k` (1-based, stored at index `k-1`) reads `h` (Medusa) or
/// `[h, E(x₁), ..., E(x_k)]` (Hydra), where `x₁` is the root (the base model's own next
/// token) and `x₂...x_k` the guesses on the path, `E` the base model's frozen embedding.
public final class DraftHeadSet: ParameterSet, @unchecked Sendable {
    public let config: DraftHeadsConfig
    public let heads: [HeadNetwork]
    /// Hydra++'s prefix-attention layer: its output replaces `h` in every head's input.
    public let prefix: PrefixAttentionLayer?
    /// The drafting copies made so far, per precision (`drafting(_:)`).
    let draftingLock = NSLock()
    var draftingCopies: [WeightPrecision: DraftingHeads] = [:]

    /// Zero heads of the configured shape. A shared-classifier configuration needs `baseClassifier`, the base
    /// model's `(V, D)` classifier, which every head then reads as its output weight (otherwise it is ignored).
    public init(config: DraftHeadsConfig, baseClassifier: Tensor? = nil) {
        precondition(!config.sharedClassifier || baseClassifier?.count == config.vocabularySize * config.dim,
                     "shared-classifier heads need the base model's (V, D) classifier")
        self.config = config
        prefix = config.prefix.map { PrefixAttentionLayer(zeros: $0) }
        let shared = config.sharedClassifier ? baseClassifier : nil
        heads = (1...config.heads).map { k in
            HeadNetwork(inputWidth: config.inputWidth(head: k), dim: config.dim, vocabularySize: config.vocabularySize,
                        blocks: config.blocks, projection: config.kind.isSequential, outputBias: config.kind.isSequential,
                        sharedClassifier: shared)
        }
    }

    /// The base model's classifier the heads share as their output weight, or nil when each head has its own.
    public var sharedClassifier: Tensor? { config.sharedClassifier ? heads[0].outputWeight : nil }

    /// Fresh heads for `base`: blocks zero, output projections copied from the base classifier (reference §2), or
    /// with `sharedClassifier` the base classifier itself, frozen. With `prefixAttention`, a randomly initialised
    /// prefix layer (seeded) shaped like one base block.
    public convenience init(kind: DraftHeadKind, heads: Int, blocks: Int, base: TransformerWeights, recipe: TrainingRecipe = .plain,
                            prefixAttention: Bool = false, seed: UInt64 = 1, sharedClassifier: Bool = false) {
        let c = base.config
        var layer = c
        layer.layers = 1
        self.init(config: DraftHeadsConfig(kind: kind, heads: heads, blocks: blocks, dim: c.dim, vocabularySize: c.vocabularySize,
                                           baseFingerprint: Fingerprint.of(base), recipe: recipe, prefix: prefixAttention ? layer : nil,
                                           sharedClassifier: sharedClassifier),
                  baseClassifier: base.classifier)
        for head in self.heads { head.initialise(fromClassifier: base.classifier) }
        if let prefix {
            let random = PrefixAttentionLayer(random: layer, seed: seed)
            for ((_, dst), (_, src)) in zip(prefix.namedTensors, random.namedTensors) { dst.pointer.update(from: src.pointer, count: src.count) }
        }
    }

    /// Zero tensors of the same shape (gradients, optimiser moments).
    public func zerosLike() -> DraftHeadSet { DraftHeadSet(config: config, baseClassifier: sharedClassifier) }

    public var namedTensors: [(name: String, tensor: Tensor)] {
        heads.enumerated().flatMap { k, head in head.namedTensors.map { ("head\(k + 1).\($0.name)", $0.tensor) } }
            + (prefix?.namedTensors.map { ("prefix.\($0.name)", $0.tensor) } ?? [])
    }

    /// Matrices decay; biases and gains do not.
    public func decays(_ name: String) -> Bool { !name.hasSuffix("bias") && !name.hasPrefix("prefix.rms_") }

    /// The states the heads read in place of `h`: `data` itself, or (with prefix attention) the prefix
    /// layer's causal outputs over consecutive windows of `window` positions.
    public func headStates(_ data: BaseHiddenStates, window: Int) -> BaseHiddenStates {
        guard let prefix else { return data }
        let D = config.dim, N = data.tokens.count
        let out = Tensor(zeros: [N, D])
        let windows = N / window
        let pass = PrefixAttentionPass(config: prefix.config, windows: 1, length: window)
        for w in 0..<windows {
            pass.setWindow(0, from: data.hidden.pointer + w * window * D)
            pass.forward(prefix)
            (out.pointer + w * window * D).update(from: pass.output.pointer, count: window * D)
        }
        // The tail shorter than a window, fed one state at a time.
        let state = PrefixAttentionState(layer: prefix, capacity: window)
        for t in windows * window..<N { (out.pointer + t * D).update(from: state.feed(data.hidden.pointer + t * D), count: D) }
        return BaseHiddenStates(tokens: data.tokens, hidden: out)
    }

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
