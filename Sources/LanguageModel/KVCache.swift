import Numerics

/// Keys and values of every layer for the tokens seen so far, one slot per token.
///
/// Keys are stored after RoPE, so a slot's position id matters only when it is
/// written. Slots `0..<count` are filled; `capacity` bounds them. A speculative
/// decoder writes a whole candidate tree after the prefix, then keeps only the
/// accepted path (`keep(_:after:)`) or drops everything new (`truncate(to:)`).
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let kvDim: Int
    public let capacity: Int
    public let keys: Tensor     // (L, capacity, kvDim)
    public let values: Tensor   // (L, capacity, kvDim)
    /// Number of filled slots.
    public internal(set) var count = 0

    /// An empty cache for `config` with room for `capacity` slots (default: the context length).
    public init(config: ModelConfig, capacity: Int? = nil) {
        layers = config.layers
        kvDim = config.kvDim
        self.capacity = capacity ?? config.maxSequenceLength
        keys = Tensor(zeros: [layers, self.capacity, kvDim])
        values = Tensor(zeros: [layers, self.capacity, kvDim])
    }

    /// Keys of layer `layer`, slot `slot` (`kvDim` floats).
    @inlinable public func key(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        keys.pointer + (layer * capacity + slot) * kvDim
    }

    /// Values of layer `layer`, slot `slot` (`kvDim` floats).
    @inlinable public func value(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        values.pointer + (layer * capacity + slot) * kvDim
    }

    /// Marks the next `n` slots as filled, after their keys and values were written through `key`/`value`
    /// (for layers outside `Transformer` that keep their own cache, such as Hydra++'s prefix attention).
    public func advance(by n: Int = 1) {
        precondition(n >= 0 && count + n <= capacity, "cannot advance a cache of \(count)/\(capacity) slots by \(n)")
        count += n
    }

    /// Forgets every slot from `newCount` on.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "cannot truncate a cache of \(count) to \(newCount)")
        count = newCount
    }

    /// Keeps the slots `kept` (strictly increasing, each at least `prefix`), moved to
    /// consecutive slots `prefix, prefix+1, ...`; drops every other slot after `prefix`.
    ///
    /// This is the KV-cache compaction after a speculative step (reference §4): the
    /// accepted path's entries follow the prefix, the rest of the tree is gone.
    public func keep(_ kept: [Int], after prefix: Int) {
        precondition(prefix >= 0 && prefix <= count, "prefix \(prefix) outside a cache of \(count)")
        var previous = prefix - 1
        for s in kept {
            precondition(s > previous && s < count, "kept slots must be increasing, at least \(prefix) and below \(count): \(kept)")
            previous = s
        }
        for layer in 0..<layers {
            for (i, s) in kept.enumerated() where s != prefix + i {
                key(layer: layer, slot: prefix + i).update(from: key(layer: layer, slot: s), count: kvDim)
                value(layer: layer, slot: prefix + i).update(from: value(layer: layer, slot: s), count: kvDim)
            }
        }
        count = prefix + kept.count
    }
}
