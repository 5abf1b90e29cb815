import Foundation

/// The shape of a Llama-style decoder, as in the header of a llama2.c checkpoint (reference §6).
public struct ModelConfig: Equatable, Hashable, Codable, Sendable {
    /// Width of the residual stream (`dim`).
    public var dim: Int
    /// Width of the SwiGLU hidden layer (`hidden_dim`).
    public var hiddenDim: Int
    /// Number of transformer blocks (`n_layers`).
    public var layers: Int
    /// Number of query heads (`n_heads`).
    public var heads: Int
    /// Number of key/value heads (`n_kv_heads`); query head `h` uses kv head `h / (heads / kvHeads)`.
    public var kvHeads: Int
    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int
    /// Context length (`max_seq_len`).
    public var maxSequenceLength: Int
    /// True when the classifier reuses the token embedding table (positive `vocab_size` in the header).
    public var sharedClassifier: Bool

    public init(dim: Int, hiddenDim: Int, layers: Int, heads: Int, kvHeads: Int,
                vocabularySize: Int, maxSequenceLength: Int, sharedClassifier: Bool = true) {
        self.dim = dim
        self.hiddenDim = hiddenDim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.vocabularySize = vocabularySize
        self.maxSequenceLength = maxSequenceLength
        self.sharedClassifier = sharedClassifier
    }

    /// Width of one attention head.
    public var headSize: Int { dim / heads }
    /// Width of the keys (and values) of all kv heads: `dim * kvHeads / heads`.
    public var kvDim: Int { dim * kvHeads / heads }
    /// Query heads per kv head.
    public var groupSize: Int { heads / kvHeads }

    /// Number of trainable parameters (the shared table counted once).
    /// Only for a shape without a `problem` (which rules out overflow); see `checkedParameterCount`.
    public var parameterCount: Int {
        let perLayer = 2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * dim * hiddenDim
        return vocabularySize * dim + layers * perLayer + dim + (sharedClassifier ? 0 : vocabularySize * dim)
    }

    /// `parameterCount`, or nil when it does not fit in an `Int` (a corrupt or hostile header).
    public var checkedParameterCount: Int? {
        guard dim > 0, heads > 0, kvHeads >= 0, hiddenDim >= 0, layers >= 0, vocabularySize >= 0 else { return nil }
        let c = CheckedInt.self
        guard let kv = c.mul(dim, kvHeads).map({ $0 / heads }),
              let perLayer = c.sum([c.mul(2, dim), c.mul(2, dim, dim), c.mul(2, kv, dim), c.mul(3, dim, hiddenDim)]),
              let table = c.mul(vocabularySize, dim) else { return nil }
        return c.sum([table, c.mul(layers, perLayer), dim, sharedClassifier ? 0 : table])
    }

    /// Floats in the KV cache for the whole context (keys and values of every layer), or nil on overflow.
    public var checkedKVCacheCount: Int? {
        guard heads > 0 else { return nil }
        return CheckedInt.mul(2, layers, maxSequenceLength, dim * kvHeads / heads)
    }

    /// Largest number of bytes a model may need for its weights or its KV cache: half this machine's memory.
    public static var memoryLimit: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory / 2) }

    /// The first problem with these dimensions, or nil when a model of this shape can run.
    public var problem: String? {
        let named = [("dim", dim), ("hidden_dim", hiddenDim), ("n_layers", layers), ("n_heads", heads),
                     ("n_kv_heads", kvHeads), ("vocab_size", vocabularySize), ("max_seq_len", maxSequenceLength)]
        for (name, value) in named where value <= 0 { return "\(name) is \(value), must be positive" }
        if dim % heads != 0 { return "dim \(dim) is not divisible by n_heads \(heads)" }
        if heads % kvHeads != 0 { return "n_heads \(heads) is not divisible by n_kv_heads \(kvHeads)" }
        if headSize % 2 != 0 { return "head size \(headSize) is odd; rotary embeddings need pairs" }
        if vocabularySize < 3 { return "vocab_size \(vocabularySize) is too small (BOS is token 1)" }
        if checkedParameterCount == nil { return "the shape describes more parameters than a 64-bit count can hold" }
        return nil
    }

    /// The first reason a model of this (valid) shape cannot be held in memory here, or nil: weights or the
    /// KV cache for `max_seq_len` positions larger than `memoryLimit` bytes.
    public var memoryProblem: String? {
        if let problem { return problem }
        let limit = Self.memoryLimit
        let gib = { (bytes: Int) in String(format: "%.1f GiB", Double(bytes) / 1_073_741_824) }
        guard let weights = checkedParameterCount.flatMap({ CheckedInt.mul(4, $0) }), weights <= limit else {
            return "the weights would need \(checkedParameterCount.flatMap { CheckedInt.mul(4, $0) }.map(gib) ?? "more than 2^63 bytes"), more than half this machine's memory (\(gib(limit)))"
        }
        guard let cache = checkedKVCacheCount.flatMap({ CheckedInt.mul(4, $0) }), cache <= limit else {
            return "the KV cache for max_seq_len \(maxSequenceLength) would need \(checkedKVCacheCount.flatMap { CheckedInt.mul(4, $0) }.map(gib) ?? "more than 2^63 bytes"), more than half this machine's memory (\(gib(limit)))"
        }
        return nil
    }
}

/// Arithmetic on untrusted sizes (file headers, user options): nil instead of a trap on overflow.
public enum CheckedInt {
    /// The product, or nil when an operand is nil or the product overflows.
    public static func mul(_ values: Int?...) -> Int? { product(values) }

    /// The product of `values`, or nil when one is nil or the product overflows.
    public static func product(_ values: [Int?]) -> Int? {
        var result = 1
        for value in values {
            guard let value else { return nil }
            let (r, overflow) = result.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            result = r
        }
        return result
    }

    /// The sum, or nil when a term is nil or the sum overflows.
    public static func sum(_ values: [Int?]) -> Int? {
        var result = 0
        for value in values {
            guard let value else { return nil }
            let (r, overflow) = result.addingReportingOverflow(value)
            if overflow { return nil }
            result = r
        }
        return result
    }
}
