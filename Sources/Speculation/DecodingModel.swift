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
    /// The same pass on buffers the caller owns (the session's verification pass every step): allocates nothing for a
    /// `Transformer`. The default copies them into arrays for `forward(tokens:parents:positions:cache:)`.
    func forward(tokens: UnsafeBufferPointer<Int>, parents: UnsafeBufferPointer<Int>, positions: UnsafeBufferPointer<Int>,
                 cache: any DecodingCache) -> DecodingOutput
}

extension DecodingModel {
    public func forward(tokens: UnsafeBufferPointer<Int>, parents: UnsafeBufferPointer<Int>, positions: UnsafeBufferPointer<Int>,
                        cache: any DecodingCache) -> DecodingOutput {
        forward(tokens: Array(tokens), parents: Array(parents), positions: Array(positions), cache: cache)
    }
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
        tokens.withUnsafeBufferPointer { t in
            parents.withUnsafeBufferPointer { p in
                positions.withUnsafeBufferPointer { forward(tokens: t, parents: p, positions: $0, cache: cache) }
            }
        }
    }

    /// Tree attention from `parents` (a chain's is causal attention), its bits written into the state's workspace.
    public func forward(tokens: UnsafeBufferPointer<Int>, parents: UnsafeBufferPointer<Int>, positions: UnsafeBufferPointer<Int>,
                        cache: any DecodingCache) -> DecodingOutput {
        guard let state = cache as? InferenceState else { preconditionFailure("a Transformer decodes with its own InferenceState") }
        let out = forward(tokens: tokens, positions: positions, parents: parents, state: state)
        return DecodingOutput(count: out.count, vocabularySize: out.vocabularySize, hiddenSize: out.dim,
                              logits: UnsafePointer(out.logits(0).baseAddress!), hidden: UnsafePointer(out.hidden(0).baseAddress!))
    }
}
