import Foundation
import Numerics

/// How verification decides which drafted tokens to keep (reference §4).
public enum AcceptanceRule: Codable, Equatable, Sendable {
    /// Accept a token while it equals the base model's argmax at its parent. Output equals greedy decoding.
    case greedy
    /// Medusa's typical acceptance: accept `c` when `p(c) > min(eps, delta · exp(-H(p)))`.
    /// Not distribution-preserving: it trades exactness for longer acceptance.
    case typical(TypicalAcceptance)
    /// Lossless tree speculative sampling: the output is distributed exactly as sampling from the base model.
    case sample(SamplingTarget)

    /// `greedy`, `typical` or `sample`.
    public var name: String {
        switch self {
        case .greedy: "greedy"
        case .typical: "typical"
        case .sample: "sample"
        }
    }

    /// True when the rule draws random numbers (roots and bonus tokens are sampled).
    public var isRandom: Bool { if case .sample = self { true } else { false } }

    /// The base distribution the rule judges tokens by: `softmax(logits)` for greedy, `softmax(logits / T)`
    /// for typical, the sampling target (temperature and nucleus) for sample.
    public func distribution(_ logits: UnsafePointer<Float>, count: Int) -> [Float] {
        switch self {
        case .greedy: TreeVerifier.softmax(logits, count: count, temperature: 1)
        case .typical(let t): TreeVerifier.softmax(logits, count: count, temperature: t.temperature)
        case .sample(let target): target.distribution(logits, count: count)
        }
    }
}

/// Medusa's typical acceptance thresholds (Cai et al. 2024, §2.3.1; reference §4).
public struct TypicalAcceptance: Codable, Equatable, Sendable {
    /// Hard threshold `eps` (Medusa: `posterior_threshold`, default 0.09).
    public var epsilon: Float
    /// Entropy-scaled threshold `delta` (Medusa: `posterior_alpha`, default 0.3, about sqrt(eps)).
    public var delta: Float
    /// Temperature of the base distribution the thresholds are applied to (> 0).
    public var temperature: Float

    public init(epsilon: Float = 0.09, delta: Float = 0.3, temperature: Float = 0.7) {
        self.epsilon = epsilon
        self.delta = delta
        self.temperature = temperature
    }

    /// The probability a token must exceed under `p`: `min(eps, delta · exp(-H(p)))`, with `H` in nats.
    public func threshold(_ p: [Float]) -> Float {
        var entropy: Double = 0
        for x in p where x > 0 { entropy -= Double(x) * Foundation.log(Double(x)) }
        return min(epsilon, delta * Float(Foundation.exp(-entropy)))
    }

    /// Whether `p(token)` passes: strictly above the threshold (Medusa's `>`).
    public func accepts(_ token: Int, under p: [Float]) -> Bool { p[token] > threshold(p) }
}

/// The distribution lossless sampling reproduces: `softmax(logits / T)`, restricted to the top-p nucleus.
public struct SamplingTarget: Codable, Equatable, Sendable {
    public var temperature: Float
    /// Nucleus mass in (0, 1]; 1 keeps every token.
    public var topP: Float

    public init(temperature: Float = 1, topP: Float = 1) {
        self.temperature = temperature
        self.topP = topP
    }

    /// The target distribution for `logits (V)`: the same tokens and weights `TemperatureSampler` draws from.
    public func distribution(_ logits: UnsafePointer<Float>, count: Int) -> [Float] {
        var p = [Float](repeating: 0, count: count)
        for i in 0..<count { p[i] = logits[i] / temperature }
        p.withUnsafeMutableBufferPointer { Ops.softmax($0.baseAddress!, n: count) }
        guard topP > 0 && topP < 1 else { return p }
        // Keep the most likely tokens (ties by id) until their mass exceeds topP, then renormalise.
        let order = (0..<count).sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
        var kept = [Float](repeating: 0, count: count)
        var mass: Float = 0
        for i in order {
            kept[i] = p[i]
            mass += p[i]
            if mass > topP { break }
        }
        return kept.map { $0 / mass }
    }
}

/// What verification decided for a node.
public enum NodeOutcome: String, Codable, Sendable {
    /// On the accepted path: the base model keeps its token.
    case accepted
    /// Passed the typical-acceptance test, but a longer (or likelier) path won.
    case passed
    /// Its parent was in the running, but the base model refused its token.
    case rejected
    /// An ancestor was refused (or, when sampling, a sibling was accepted first), so it was never tested.
    case notReached = "not_reached"
}

/// The verdict on one drafted tree.
public struct Verdict: Equatable, Sendable {
    /// Per node (root first): the outcome.
    public var outcomes: [NodeOutcome]
    /// Per node: the base model's probability of its token given its path (the rule's distribution at the
    /// parent: greedy uses temperature 1, typical its temperature, sampling its target). The root's comes
    /// from the caller.
    public var baseProbabilities: [Float]
    /// Per node: the rule's bar: typical's threshold, sampling's acceptance probability `min(1, p/q)` as
    /// tested (after earlier siblings were refused); nil for greedy and untested nodes.
    public var thresholds: [Float?]
    /// Accepted node indices, root first.
    public var path: [Int]
    /// The token after the last accepted node: argmax (greedy, typical) or a draw from the residual (sample).
    public var bonus: Int
    /// The bonus token's probability under the rule's distribution at the last accepted node (before any
    /// refused siblings were removed): the next step's root probability.
    public var bonusProbability: Float
}

/// Verifies a drafted tree against the base model's logits at every node (reference §4).
///
/// Pure: it sees the nodes' tokens and parents and a function giving the base model's logits after each
/// node, so fake models (transition tables) can drive it without weights.
public enum TreeVerifier {
    /// Applies `rule` to `nodes` (root first, parents before children, siblings in rank order).
    /// `logits(i)` is the base model's `(V)` logits for the token after node `i`.
    public static func verify(nodes: [DraftNode], vocabularySize V: Int, rule: AcceptanceRule, rootProbability: Float,
                              random: inout XorShiftRandom, logits: (Int) -> UnsafePointer<Float>) -> Verdict {
        let n = nodes.count
        var children = [[Int]](repeating: [], count: n)
        for i in 1..<max(n, 1) { children[nodes[i].parent].append(i) }
        var outcomes = [NodeOutcome](repeating: .notReached, count: n)
        var probabilities = [Float](repeating: 0, count: n)
        var thresholds = [Float?](repeating: nil, count: n)
        outcomes[0] = .accepted
        probabilities[0] = rootProbability
        // The rule's distribution after every node that has children, and each child's probability under it.
        var distributions = [[Float]?](repeating: nil, count: n)
        for i in 0..<n where !children[i].isEmpty {
            let p = rule.distribution(logits(i), count: V)
            for c in children[i] { probabilities[c] = p[nodes[c].token] }
            distributions[i] = p
        }
        /// The verdict for `path` and `bonus`, with the bonus probability from the distribution at the path's end.
        func verdict(_ path: [Int], _ bonus: Int) -> Verdict {
            let last = path.last!
            let p = distributions[last] ?? rule.distribution(logits(last), count: V)
            return Verdict(outcomes: outcomes, baseProbabilities: probabilities, thresholds: thresholds, path: path, bonus: bonus,
                           bonusProbability: p[bonus])
        }
        switch rule {
        case .greedy:
            var path = [0]
            var node = 0
            while true {
                let l = logits(node)
                let best = Ops.argmax(l, n: V)
                var next: Int?
                for c in children[node] {
                    if next == nil && nodes[c].token == best { outcomes[c] = .accepted; next = c } else { outcomes[c] = .rejected }
                }
                guard let next else { return verdict(path, best) }
                path.append(next)
                node = next
            }
        case .typical(let typical):
            // Test every node whose parent passed; then the longest passing path wins, ties by the sum of log p.
            var passed = [Bool](repeating: false, count: n)
            passed[0] = true
            var score = [Double](repeating: 0, count: n)
            var length = [Int](repeating: 0, count: n)
            for i in 0..<n where passed[i] && !children[i].isEmpty {
                let p = distributions[i]!
                let bar = typical.threshold(p)
                for c in children[i] {
                    thresholds[c] = bar
                    passed[c] = p[nodes[c].token] > bar
                    outcomes[c] = passed[c] ? .passed : .rejected
                    if passed[c] {
                        score[c] = score[i] + Foundation.log(Double(max(p[nodes[c].token], .leastNormalMagnitude)))
                        length[c] = length[i] + 1
                    }
                }
            }
            var best = 0
            for i in 1..<max(n, 1) where passed[i] {
                if length[i] > length[best] || (length[i] == length[best] && score[i] > score[best]) { best = i }
            }
            var path: [Int] = []
            var node = best
            while node >= 0 { path.append(node); outcomes[node] = .accepted; node = node == 0 ? -1 : nodes[node].parent }
            path.reverse()
            return verdict(path, Ops.argmax(logits(best), n: V))
        case .sample(let target):
            // At each accepted node try its children in rank order: accept c with probability min(1, p(c)/q(c));
            // drafting is deterministic (q = 1 for the drafted token), so that is p(c); on refusal zero p(c) and
            // renormalise. When every child is refused, the bonus is drawn from what is left of p.
            var path = [0]
            var node = 0
            while true {
                var p = distributions[node] ?? target.distribution(logits(node), count: V)
                var next: Int?
                for c in children[node] {
                    let token = nodes[c].token
                    let chance = min(1, p[token])
                    thresholds[c] = chance
                    if random.nextFloat() < chance {
                        outcomes[c] = .accepted
                        next = c
                        break
                    }
                    outcomes[c] = .rejected
                    let rest = 1 - p[token]
                    p[token] = 0
                    if rest > 0 { for v in 0..<V { p[v] /= rest } }
                }
                guard let next else {
                    let bonus = p.withUnsafeBufferPointer {
                        TemperatureSampler.sampleMultinomial($0.baseAddress!, count: V, coin: random.nextFloat())
                    }
                    return verdict(path, bonus)
                }
                path.append(next)
                node = next
            }
        }
    }

    /// `softmax(logits / T)`.
    static func softmax(_ logits: UnsafePointer<Float>, count: Int, temperature: Float) -> [Float] {
        var p = [Float](repeating: 0, count: count)
        for i in 0..<count { p[i] = logits[i] / temperature }
        p.withUnsafeMutableBufferPointer { Ops.softmax($0.baseAddress!, n: count) }
        return p
    }
}
