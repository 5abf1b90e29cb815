/// The shape of a Llama-style decoder, as in the header of a llama2.c checkpoint (SPEC §6).
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
    public var parameterCount: Int {
        let perLayer = 2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * dim * hiddenDim
        return vocabularySize * dim + layers * perLayer + dim + (sharedClassifier ? 0 : vocabularySize * dim)
    }

    /// The first problem with these dimensions, or nil when a model of this shape can run.
    public var problem: String? {
        let named = [("dim", dim), ("hidden_dim", hiddenDim), ("n_layers", layers), ("n_heads", heads),
                     ("n_kv_heads", kvHeads), ("vocab_size", vocabularySize), ("max_seq_len", maxSequenceLength)]
        for (name, value) in named where value <= 0 { return "\(name) is \(value), must be positive" }
        if dim % heads != 0 { return "dim \(dim) is not divisible by n_heads \(heads)" }
        if heads % kvHeads != 0 { return "n_heads \(heads) is not divisible by n_kv_heads \(kvHeads)" }
        if headSize % 2 != 0 { return "head size \(headSize) is odd; rotary embeddings need pairs" }
        if vocabularySize < 3 { return "vocab_size \(vocabularySize) is too small (BOS is token 1)" }
        return nil
    }
}
