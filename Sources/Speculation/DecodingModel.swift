import Foundation
import LanguageModel

/// What speculative decoding needs from a base model: a batched forward over a tree of new tokens after a
/// cached prefix, returning logits and hidden states, and a cache it can cut back.
///
/// `Transformer` implements it; so do hand-made toy models (transition tables), which then run through the
/// same `DecodingSession` and `TreeVerifier` as the real model (one small protocol per concept).
public protocol DecodingModel: AnyObject {
    /// Tokens the model knows (`V`).
    var vocabularySize: Int { get }
    /// Width of the hidden state the draft heads read (`D`).
    var hiddenSize: Int { get }
    /// Positions the model can attend over (prompt + generated tokens).
    var contextLength: Int { get }
    /// The token that ends a text: decoding stops when the model's own next token is this one (BOS, id 1, for llama2.c models).
    var endToken: Int { get }
    /// A fresh, empty cache with room for `capacity` tokens.
    func makeCache(capacity: Int) -> any DecodingCache
    /// Runs `tokens` in the cache slots after its prefix (`cache.count ..< cache.count + n`) at position ids
    /// `positions`. Token `i` sees the whole prefix, itself and its ancestors (`parents[i] < i`, -1 for none),
    /// so a prompt is a chain (`parents[i] = i - 1`) and a candidate tree is its parent list (tree attention).
    /// Returns views of the logits `(n, V)` and hidden states `(n, D)` valid until the next call.
    func forward(tokens: [Int], parents: [Int], positions: [Int], cache: any DecodingCache) -> DecodingOutput
}

/// The per-sequence state of a `DecodingModel`: filled slots and the two ways a speculative step cuts them back.
public protocol DecodingCache: AnyObject {
    /// Filled slots (prompt + accepted tokens, plus a tree being verified).
    var count: Int { get }
    /// Forgets every slot from `count` on.
    func truncate(to count: Int)
    /// Keeps slots `kept` (increasing, each at least `prefix`) moved to `prefix, prefix + 1, ...`; drops the rest
    /// (KV compaction after verification).
    func keep(_ kept: [Int], after prefix: Int)
}

/// Logits and hidden states of the `count` tokens of one forward pass (views into the model's buffers).
public struct DecodingOutput {
    public let count: Int
    public let vocabularySize: Int
    public let hiddenSize: Int
    let logitsBase: UnsafePointer<Float>   // (n, V)
    let hiddenBase: UnsafePointer<Float>   // (n, D)

    public init(count: Int, vocabularySize: Int, hiddenSize: Int, logits: UnsafePointer<Float>, hidden: UnsafePointer<Float>) {
        self.count = count
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        logitsBase = logits
        hiddenBase = hidden
    }

    /// Next-token logits after token `i` `(V)`.
    public func logits(_ i: Int) -> UnsafePointer<Float> { logitsBase + i * vocabularySize }
    /// Hidden state of token `i` `(D)`.
    public func hidden(_ i: Int) -> UnsafePointer<Float> { hiddenBase + i * hiddenSize }
}

extension InferenceState: DecodingCache {
    public var count: Int { cache.count }
    public func truncate(to count: Int) { cache.truncate(to: count) }
    public func keep(_ kept: [Int], after prefix: Int) { cache.keep(kept, after: prefix) }
}

extension Transformer: DecodingModel {
    public var vocabularySize: Int { config.vocabularySize }
    public var hiddenSize: Int { config.dim }
    public var contextLength: Int { config.maxSequenceLength }
    /// llama2.c's convention: a model ends its text by producing BOS (id 1), as `run.c` stops.
    public var endToken: Int { 1 }

    public func makeCache(capacity: Int) -> any DecodingCache { makeState(cacheCapacity: capacity) }

    public func forward(tokens: [Int], parents: [Int], positions: [Int], cache: any DecodingCache) -> DecodingOutput {
        guard let state = cache as? InferenceState else { preconditionFailure("a Transformer decodes with its own InferenceState") }
        let prefix = state.cache.count
        let isChain = parents.enumerated().allSatisfy { $0.element == $0.offset - 1 }
        let mask: AttentionMask = isChain ? .causal(prefix: prefix, count: tokens.count) : .tree(prefix: prefix, parents: parents)
        let out = forward(tokens: tokens, positions: positions, mask: mask, state: state)
        return DecodingOutput(count: out.count, vocabularySize: out.vocabularySize, hiddenSize: out.dim,
                              logits: UnsafePointer(out.logits(0).baseAddress!), hidden: UnsafePointer(out.hidden(0).baseAddress!))
    }
}
