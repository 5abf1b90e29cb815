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
        var p = [Float](repeating: 0, count: count)
        var order = [Int](repeating: 0, count: isNucleus ? count : 0)
        p.withUnsafeMutableBufferPointer { p in
            order.withUnsafeMutableBufferPointer { distribution(logits, count: count, into: p.baseAddress!, order: $0.baseAddress) }
        }
        return p
    }

    /// `distribution(_:count:)` written into `p (count)`, allocating nothing. `order (count)` is scratch for a nucleus
    /// (top-p below 1); other rules do not touch it (nil is fine there).
    func distribution(_ logits: UnsafePointer<Float>, count: Int, into p: UnsafeMutablePointer<Float>, order: UnsafeMutablePointer<Int>?) {
        switch self {
        case .greedy: TreeVerifier.softmax(logits, count: count, temperature: 1, into: p)
        case .typical(let t): TreeVerifier.softmax(logits, count: count, temperature: t.temperature, into: p)
        case .sample(let target): target.distribution(logits, count: count, into: p, order: order)
        }
    }

    /// True when the rule's distribution is a top-p nucleus (which needs ordering scratch).
    var isNucleus: Bool { if case .sample(let target) = self { target.isNucleus } else { false } }
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
        p.withUnsafeBufferPointer { threshold($0.baseAddress!, count: $0.count) }
    }

    /// `threshold(_:)` of `p (count)`.
    public func threshold(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var entropy: Double = 0
        for i in 0..<count where p[i] > 0 { entropy -= Double(p[i]) * Foundation.log(Double(p[i])) }
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
        AcceptanceRule.sample(self).distribution(logits, count: count)
    }

    /// True when the target is restricted to a nucleus (`0 < topP < 1`).
    var isNucleus: Bool { topP > 0 && topP < 1 }

    /// `distribution(_:count:)` written into `p (count)`, allocating nothing; `order (count)` is scratch for the nucleus
    /// (not touched, and may be nil, without one).
    func distribution(_ logits: UnsafePointer<Float>, count: Int, into p: UnsafeMutablePointer<Float>, order: UnsafeMutablePointer<Int>?) {
        TreeVerifier.softmax(logits, count: count, temperature: temperature, into: p)
        guard isNucleus, let order else {
            precondition(!isNucleus, "a top-p target needs ordering scratch")
            return
        }
        // Keep the most likely tokens (ties by id) until their mass exceeds topP, then renormalise. A heap pops them in
        // that order (the order of a full sort, as the order is total), so only the nucleus is ever ordered.
        func precedes(_ a: Int, _ b: Int) -> Bool { p[a] != p[b] ? p[a] > p[b] : a < b }
        for i in 0..<count { order[i] = i }
        var heap = IndexHeap(order, count: count, by: precedes)
        var mass: Float = 0
        while heap.count > 0 {
            mass += p[heap.pop(by: precedes)]
            if mass > topP { break }
        }
        // The nucleus is order[heap.count...]; what is left in the heap is outside it.
        for i in heap.count..<count { p[order[i]] /= mass }
        for i in 0..<heap.count { p[order[i]] = 0 }
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
/// node, so fake models (transition tables) can drive it without weights. `verify` returns a `Verdict`; a decoding
/// session verifies with a `Workspace` instead, which allocates nothing once it has seen a tree of its size.
public enum TreeVerifier {
    /// Applies `rule` to `nodes` (root first, parents before children, siblings in rank order).
    /// `logits(i)` is the base model's `(V)` logits for the token after node `i`.
    public static func verify(nodes: [DraftNode], vocabularySize V: Int, rule: AcceptanceRule, rootProbability: Float,
                              random: inout XorShiftRandom, logits: (Int) -> UnsafePointer<Float>) -> Verdict {
        let workspace = Workspace()
        workspace.verify(nodes: nodes, vocabularySize: V, rule: rule, rootProbability: rootProbability, random: &random, logits: logits)
        return workspace.verdict
    }

    /// `softmax(logits / T)` written into `p (count)`.
    static func softmax(_ logits: UnsafePointer<Float>, count: Int, temperature: Float, into p: UnsafeMutablePointer<Float>) {
        for i in 0..<count { p[i] = logits[i] / temperature }
        Ops.softmax(p, n: count)
    }
}

extension TreeVerifier {
    /// Verification with buffers reused from tree to tree (a decoding session keeps one): after a tree of `n` nodes over
    /// a vocabulary of `V`, verifying trees of at most that size allocates nothing.
    ///
    /// The verdict of the last tree is read from `outcomes`, `baseProbabilities`, `thresholds`, `path`, `bonus` and
    /// `bonusProbability` (views into the workspace, valid until the next `verify` or `reserve`), or copied out as a
    /// `Verdict` with `verdict`.
    public final class Workspace {
        /// Nodes of the last verified tree.
        public private(set) var nodeCount = 0
        /// Accepted nodes of the last tree (the length of `path`).
        public private(set) var pathLength = 0
        /// The token after the last accepted node (see `Verdict.bonus`).
        public private(set) var bonus = 0
        /// The bonus token's probability (see `Verdict.bonusProbability`).
        public private(set) var bonusProbability: Float = 0

        /// Trees and vocabulary the buffers have room for.
        private var nodeCapacity = 0, vocabularyCapacity = 0
        /// Per node: outcome, base probability, the rule's bar, and (CSR) the children, in node order:
        /// `childList[childStart[i] ..< childStart[i + 1]]` (`childStart (n + 1)`, `childCursor (n)` fills it).
        private let outcomeBuffer = ScratchBuffer<NodeOutcome>(filler: .notReached)
        private let probabilityBuffer = ScratchBuffer<Float>(filler: 0)
        private let thresholdBuffer = ScratchBuffer<Float?>(filler: nil)
        private let childStart = ScratchBuffer<Int>(filler: 0)
        private let childCursor = ScratchBuffer<Int>(filler: 0)
        private let childList = ScratchBuffer<Int>(filler: 0)
        /// Accepted node indices, root first (`pathLength` of them).
        private let pathBuffer = ScratchBuffer<Int>(filler: 0)
        /// Per node: its row in `distributions`, or -1 when it has no children (no distribution kept).
        private let distributionRow = ScratchBuffer<Int>(filler: -1)
        /// `(rows, V)` the rule's distribution after every node that has children (at most n - 1), then one spare row:
        /// sampling's residual, or the distribution at a childless last node (the bonus probability's).
        private let distributions = ScratchBuffer<Float>(filler: 0)
        /// `(V)` ordering scratch for a top-p nucleus.
        private let order = ScratchBuffer<Int>(filler: 0)
        /// Typical acceptance, per node: passed its test (and its parent's), path length and sum of log p to it.
        private let passed = ScratchBuffer<Bool>(filler: false)
        private let length = ScratchBuffer<Int>(filler: 0)
        private let score = ScratchBuffer<Double>(filler: 0)

        public init() {}

        /// Per node of the last tree (root first): the outcome.
        public var outcomes: UnsafeBufferPointer<NodeOutcome> { outcomeBuffer.buffer(count: nodeCount) }
        /// Per node: the base model's probability of its token given its path (see `Verdict.baseProbabilities`).
        public var baseProbabilities: UnsafeBufferPointer<Float> { probabilityBuffer.buffer(count: nodeCount) }
        /// Per node: the rule's bar (see `Verdict.thresholds`).
        public var thresholds: UnsafeBufferPointer<Float?> { thresholdBuffer.buffer(count: nodeCount) }
        /// Accepted node indices, root first.
        public var path: UnsafeBufferPointer<Int> { pathBuffer.buffer(count: pathLength) }

        /// The last tree's verdict as a value (copies of the buffers).
        public var verdict: Verdict {
            Verdict(outcomes: Array(outcomes), baseProbabilities: Array(baseProbabilities), thresholds: Array(thresholds), path: Array(path),
                    bonus: bonus, bonusProbability: bonusProbability)
        }

        /// Makes room for trees of `nodes` nodes over a vocabulary of `vocabularySize` (verifying grows the buffers itself;
        /// reserving up front keeps the first steps from allocating).
        public func reserve(nodes n: Int, vocabularySize V: Int) {
            guard n > nodeCapacity || V > vocabularyCapacity else { return }
            nodeCapacity = max(n, nodeCapacity)
            vocabularyCapacity = max(V, vocabularyCapacity)
            let n = nodeCapacity, V = vocabularyCapacity
            outcomeBuffer.reserve(n)
            probabilityBuffer.reserve(n)
            thresholdBuffer.reserve(n)
            childStart.reserve(n + 1)
            childCursor.reserve(n)
            childList.reserve(n)
            pathBuffer.reserve(n)
            distributionRow.reserve(n)
            passed.reserve(n)
            length.reserve(n)
            score.reserve(n)
            // n - 1 nodes at most have children, plus the spare row.
            distributions.reserve(n * V)
            order.reserve(V)
        }

        /// The children of node `i`, in node order (which is rank order).
        private func children(of i: Int) -> UnsafeBufferPointer<Int> {
            UnsafeBufferPointer(start: childList.base + childStart[i], count: childStart[i + 1] - childStart[i])
        }

        /// Applies `rule` to `nodes` (root first, parents before children, siblings in rank order); `logits(i)` is the
        /// base model's `(V)` logits for the token after node `i`. The verdict is then in the workspace's properties.
        public func verify(nodes: [DraftNode], vocabularySize V: Int, rule: AcceptanceRule, rootProbability: Float,
                           random: inout XorShiftRandom, logits: (Int) -> UnsafePointer<Float>) {
            let n = nodes.count
            precondition(n >= 1, "a tree has at least its root")
            reserve(nodes: n, vocabularySize: V)
            nodeCount = n
            // Children lists (CSR): count per parent, prefix sums, then fill in node order.
            for i in 0...n { childStart[i] = 0 }
            for i in 1..<n {
                let parent = nodes[i].parent
                precondition(parent >= 0 && parent < i, "node \(i)'s parent \(parent) must be an earlier node")
                childStart[parent + 1] += 1
            }
            for i in 0..<n { childStart[i + 1] += childStart[i] }
            for i in 0..<n { childCursor[i] = childStart[i] }
            for i in 1..<n {
                let parent = nodes[i].parent
                childList[childCursor[parent]] = i
                childCursor[parent] += 1
            }
            for i in 0..<n {
                outcomeBuffer[i] = .notReached
                probabilityBuffer[i] = 0
                thresholdBuffer[i] = nil
            }
            outcomeBuffer[0] = .accepted
            probabilityBuffer[0] = rootProbability
            // The rule's distribution after every node that has children, and each child's probability under it.
            let nucleusOrder: UnsafeMutablePointer<Int>? = rule.isNucleus ? order.base : nil
            var rows = 0
            for i in 0..<n {
                guard childStart[i + 1] > childStart[i] else { distributionRow[i] = -1; continue }
                let p = distributions.base + rows * V
                rule.distribution(logits(i), count: V, into: p, order: nucleusOrder)
                for c in children(of: i) { probabilityBuffer[c] = p[nodes[c].token] }
                distributionRow[i] = rows
                rows += 1
            }
            let spare = distributions.base + rows * V
            /// The distribution after node `i`: its kept row, or (a childless node) computed into the spare row.
            func distribution(after i: Int) -> UnsafeMutablePointer<Float> {
                if distributionRow[i] >= 0 { return distributions.base + distributionRow[i] * V }
                rule.distribution(logits(i), count: V, into: spare, order: nucleusOrder)
                return spare
            }
            pathLength = 0
            switch rule {
            case .greedy:
                var node = 0
                while true {
                    pathBuffer[pathLength] = node
                    pathLength += 1
                    let best = Ops.argmax(logits(node), n: V)
                    var next = -1
                    for c in children(of: node) {
                        if next < 0 && nodes[c].token == best { outcomeBuffer[c] = .accepted; next = c } else { outcomeBuffer[c] = .rejected }
                    }
                    guard next >= 0 else {
                        bonus = best
                        bonusProbability = distribution(after: node)[best]
                        return
                    }
                    node = next
                }
            case .typical(let typical):
                // Test every node whose parent passed; then the longest passing path wins, ties by the sum of log p.
                for i in 0..<n { passed[i] = false; score[i] = 0; length[i] = 0 }
                passed[0] = true
                for i in 0..<n where passed[i] && distributionRow[i] >= 0 {
                    let p = distributions.base + distributionRow[i] * V
                    let bar = typical.threshold(p, count: V)
                    for c in children(of: i) {
                        thresholdBuffer[c] = bar
                        passed[c] = p[nodes[c].token] > bar
                        outcomeBuffer[c] = passed[c] ? .passed : .rejected
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
                // The path root first: its length is the winner's depth in passing nodes plus the root.
                pathLength = length[best] + 1
                var node = best
                for slot in stride(from: pathLength - 1, through: 0, by: -1) {
                    pathBuffer[slot] = node
                    outcomeBuffer[node] = .accepted
                    node = nodes[node].parent
                }
                bonus = Ops.argmax(logits(best), n: V)
                bonusProbability = distribution(after: best)[bonus]
            case .sample:
                // At each accepted node try its children in rank order: accept c with probability min(1, p(c)/q(c));
                // drafting is deterministic (q = 1 for the drafted token), so that is p(c); on refusal zero p(c) and
                // renormalise (in the spare row: the node's own distribution stays for the bonus probability). When every
                // child is refused, the bonus is drawn from what is left of p.
                var node = 0
                while true {
                    pathBuffer[pathLength] = node
                    pathLength += 1
                    let p = spare
                    if distributionRow[node] >= 0 {
                        p.update(from: distributions.base + distributionRow[node] * V, count: V)
                    } else {
                        rule.distribution(logits(node), count: V, into: p, order: nucleusOrder)
                    }
                    var next = -1
                    for c in children(of: node) {
                        let token = nodes[c].token
                        let chance = min(1, p[token])
                        thresholdBuffer[c] = chance
                        if random.nextFloat() < chance {
                            outcomeBuffer[c] = .accepted
                            next = c
                            break
                        }
                        outcomeBuffer[c] = .rejected
                        let rest = 1 - p[token]
                        p[token] = 0
                        if rest > 0 { for v in 0..<V { p[v] /= rest } }
                    }
                    guard next >= 0 else {
                        bonus = TemperatureSampler.sampleMultinomial(p, count: V, coin: random.nextFloat())
                        // The distribution at the node before any refusal: its kept row, or (childless) p as computed.
                        bonusProbability = distributionRow[node] >= 0 ? distributions[distributionRow[node] * V + bonus] : p[bonus]
                        return
                    }
                    node = next
                }
            }
        }
    }
}
