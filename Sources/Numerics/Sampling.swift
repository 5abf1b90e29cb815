/// Chooses the next token from a vector of logits (one small protocol per concept).
public protocol TokenSampler {
    /// Picks a token id from `logits` (`count` = vocabulary size). May modify `logits` in place.
    mutating func sample(_ logits: UnsafeMutablePointer<Float>, count: Int) -> Int
}

/// Greedy decoding: always the most likely token (first on ties), as llama2.c with temperature 0.
public struct GreedySampler: TokenSampler, Sendable {
    public init() {}
    public mutating func sample(_ logits: UnsafeMutablePointer<Float>, count: Int) -> Int {
        Ops.argmax(logits, n: count)
    }
}

/// Temperature and nucleus (top-p) sampling, the algorithm of llama2.c's `sample` (Holtzman et al. 2020).
///
/// `p = softmax(logits / T)`; with `0 < topP < 1` only the smallest set of most
/// likely tokens whose mass exceeds `topP` is kept (ties sorted by id), and one
/// uniform draw picks from it. The draw sequence matches run.c's for the same seed.
public struct TemperatureSampler: TokenSampler, Sendable {
    public let temperature: Float
    public let topP: Float
    public private(set) var random: XorShiftRandom

    /// A sampler with temperature `T > 0` and nucleus mass `topP` (values outside (0, 1) mean plain sampling).
    public init(temperature: Float, topP: Float, seed: UInt64) {
        precondition(temperature > 0, "use GreedySampler for temperature 0")
        self.temperature = temperature
        self.topP = topP
        self.random = XorShiftRandom(seed: seed)
    }

    public mutating func sample(_ logits: UnsafeMutablePointer<Float>, count: Int) -> Int {
        for i in 0..<count { logits[i] /= temperature }
        Ops.softmax(logits, n: count)
        let coin = random.nextFloat()
        if topP <= 0 || topP >= 1 {
            return Self.sampleMultinomial(logits, count: count, coin: coin)
        }
        return Self.sampleTopP(logits, count: count, topP: topP, coin: coin)
    }

    /// Index where the cumulative probability first exceeds `coin` (the last index on rounding).
    public static func sampleMultinomial(_ probabilities: UnsafePointer<Float>, count: Int, coin: Float) -> Int {
        var cdf: Float = 0
        for i in 0..<count {
            cdf += probabilities[i]
            if coin < cdf { return i }
        }
        return count - 1
    }

    /// Nucleus sampling: keep the most likely tokens until their mass exceeds `topP`, renormalise, draw with `coin`.
    public static func sampleTopP(_ probabilities: UnsafePointer<Float>, count: Int, topP: Float, coin: Float) -> Int {
        // Tokens below (1 - topP) / (n - 1) can never be in the nucleus (run.c's cut-off), so skip them early.
        let cutoff = (1 - topP) / Float(count - 1)
        var candidates: [(index: Int, p: Float)] = []
        candidates.reserveCapacity(64)
        for i in 0..<count where probabilities[i] >= cutoff { candidates.append((i, probabilities[i])) }
        candidates.sort { $0.p != $1.p ? $0.p > $1.p : $0.index < $1.index }
        var cumulative: Float = 0
        var last = candidates.count - 1
        for (i, c) in candidates.enumerated() {
            cumulative += c.p
            if cumulative > topP { last = i; break }
        }
        let r = coin * cumulative
        var cdf: Float = 0
        for i in 0...last {
            cdf += candidates[i].p
            if r < cdf { return candidates[i].index }
        }
        return candidates[last].index
    }
}
