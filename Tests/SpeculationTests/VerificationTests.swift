import Foundation
import Testing
import Numerics
import Speculation

/// A deterministic fake base model: the logits after a node depend only on the node's token
/// (a fixed transition table), so verification is tested without weights.
struct TransitionTable {
    /// `(V, V)`: row t holds the logits of the token after t.
    let logits: [[Float]]
    var vocabularySize: Int { logits.count }

    /// A table with the given next-token probabilities (logits = log p).
    init(probabilities: [[Float]]) {
        logits = probabilities.map { row in row.map { $0 > 0 ? Foundation.log($0) : -1e9 } }
    }

    func verify(_ nodes: [DraftNode], rule: AcceptanceRule, seed: UInt64 = 1) -> Verdict {
        var random = XorShiftRandom(seed: seed)
        return verify(nodes, rule: rule, random: &random)
    }

    func verify(_ nodes: [DraftNode], rule: AcceptanceRule, random: inout XorShiftRandom) -> Verdict {
        let rows = nodes.map { logits[$0.token] }
        let flat = rows.flatMap { $0 }
        return flat.withUnsafeBufferPointer { buffer in
            TreeVerifier.verify(nodes: nodes, vocabularySize: vocabularySize, rule: rule, rootProbability: 1, random: &random) {
                buffer.baseAddress! + $0 * vocabularySize
            }
        }
    }
}

/// Builds nodes from `(token, parent)` pairs after a root token; ranks count siblings in order.
func tree(root: Int, _ children: [(token: Int, parent: Int)]) -> [DraftNode] {
    var nodes = [DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1)]
    for (token, parent) in children {
        let rank = nodes.dropFirst().filter { $0.parent == parent }.count
        nodes.append(DraftNode(token: token, parent: parent, depth: nodes[parent].depth + 1, rank: rank, draftProbability: 1))
    }
    return nodes
}

@Suite("Tree verification with fake models")
struct VerificationTests {
    /// 0 -> 1 -> 2 -> 3 -> 0 is the greedy cycle; each row puts 0.5 on its successor.
    static let cycle = TransitionTable(probabilities: (0..<4).map { t in (0..<4).map { $0 == (t + 1) % 4 ? 0.5 : 0.5 / 3 } })

    @Test("greedy: a chain that follows the model is accepted in full, with the bonus after it")
    func fullAcceptance() {
        let nodes = tree(root: 0, [(1, 0), (2, 1), (3, 2)])
        let verdict = Self.cycle.verify(nodes, rule: .greedy)
        #expect(verdict.path == [0, 1, 2, 3])
        #expect(verdict.bonus == 0)
        #expect(verdict.outcomes == [.accepted, .accepted, .accepted, .accepted])
        #expect(abs(verdict.baseProbabilities[2] - 0.5) < 1e-6)
    }

    @Test("greedy: a wrong first guess is rejected and its subtree never reached")
    func immediateRejection() {
        let nodes = tree(root: 0, [(2, 0), (3, 1)])
        let verdict = Self.cycle.verify(nodes, rule: .greedy)
        #expect(verdict.path == [0])
        #expect(verdict.bonus == 1)
        #expect(verdict.outcomes == [.accepted, .rejected, .notReached])
    }

    @Test("greedy: acceptance on a non-first branch")
    func secondBranch() {
        // Root 0 has children 3 (rank 0, wrong) and 1 (rank 1, right); under 1: 0 (wrong), 2 (right).
        let nodes = tree(root: 0, [(3, 0), (1, 0), (0, 1), (0, 2), (2, 2)])
        let verdict = Self.cycle.verify(nodes, rule: .greedy)
        #expect(verdict.path == [0, 2, 5])
        #expect(verdict.bonus == 3)
        #expect(verdict.outcomes == [.accepted, .rejected, .accepted, .notReached, .rejected, .accepted])
    }

    @Test("typical: strictly above min(eps, delta·exp(-H)) passes; at the threshold it does not")
    func typicalBoundary() {
        // A uniform row over 4 tokens: H = ln 4, so delta · exp(-H) = delta / 4; p(c) = 0.25 exactly.
        let uniform = TransitionTable(probabilities: [[Float]](repeating: [0.25, 0.25, 0.25, 0.25], count: 4))
        let nodes = tree(root: 0, [(2, 0)])
        let at = TypicalAcceptance(epsilon: 0.25, delta: 1, temperature: 1)
        #expect(abs(at.threshold([0.25, 0.25, 0.25, 0.25]) - 0.25) < 1e-7)
        #expect(uniform.verify(nodes, rule: .typical(at)).path == [0])
        let below = TypicalAcceptance(epsilon: 0.2499, delta: 1, temperature: 1)
        #expect(uniform.verify(nodes, rule: .typical(below)).path == [0, 1])
        // The entropy term binds when it is smaller than eps: delta 0.9 gives 0.225 < eps 0.3, so 0.25 passes.
        let entropy = TypicalAcceptance(epsilon: 0.3, delta: 0.9, temperature: 1)
        #expect(uniform.verify(nodes, rule: .typical(entropy)).path == [0, 1])
        #expect(uniform.verify(nodes, rule: .typical(TypicalAcceptance(epsilon: 0.3, delta: 1.01, temperature: 1))).path == [0])
    }

    @Test("typical: the longest passing path wins; equal lengths go to the larger sum of log p")
    func typicalLongestPath() {
        // Root 0: tokens 1 (p .6) and 2 (p .3) pass, 3 (p .1) passes too at these thresholds; only 2 has a passing child.
        let table = TransitionTable(probabilities: [[0, 0.6, 0.3, 0.1], [0.9, 0, 0.05, 0.05], [0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]])
        let rule = AcceptanceRule.typical(TypicalAcceptance(epsilon: 0.09, delta: 0.3, temperature: 1))
        let nodes = tree(root: 0, [(1, 0), (2, 0), (3, 0), (3, 1), (1, 2)])
        let verdict = table.verify(nodes, rule: rule)
        #expect(verdict.path == [0, 2, 5])
        #expect(verdict.outcomes[1] == .passed)
        #expect(verdict.outcomes[4] == .rejected)
        #expect(verdict.bonus == 0)
        // Without the deeper node, the two one-token paths tie on length and the likelier (token 1) wins.
        let short = table.verify(tree(root: 0, [(1, 0), (2, 0)]), rule: rule)
        #expect(short.path == [0, 1])
        #expect(short.outcomes == [.accepted, .accepted, .passed])
    }

    /// Pearson's chi-square statistic of `counts` against probabilities `p` (cells with p = 0 must be empty).
    static func chiSquare(_ counts: [Int], _ p: [Double]) -> Double {
        let n = Double(counts.reduce(0, +))
        var statistic = 0.0
        for (c, q) in zip(counts, p) {
            if q == 0 { statistic += c == 0 ? 0 : .infinity; continue }
            statistic += (Double(c) - n * q) * (Double(c) - n * q) / (n * q)
        }
        return statistic
    }

    /// The base model: 5 tokens, an uneven next-token distribution that depends on the last token.
    static let toy = TransitionTable(probabilities: (0..<5).map { t in
        let w: [Float] = (0..<5).map { Float(1 + ($0 * 3 + t * 2) % 7) }
        let s = w.reduce(0, +)
        return w.map { $0 / s }
    })
    /// Expected probability of each 2-token continuation (x1, x2) after root 0: p(x1 | 0) · p(x2 | x1).
    static let expected: [Double] = (0..<25).map { cell in
        let probabilities = toy.logits.map { row in row.map { Double(Foundation.exp($0)) } }
        return probabilities[0][cell / 5] * probabilities[cell / 5][cell % 5]
    }
    /// Drafts: two guesses under the root, two under each of them (a 2x2 tree, deterministic top-k style).
    static let drafted = tree(root: 0, [(2, 0), (4, 0), (1, 1), (3, 1), (0, 2), (2, 2)])
    /// Chi-square critical value for 24 degrees of freedom at p = 0.001.
    static let critical = 51.18

    /// The first two tokens after the root: accepted guesses, then the bonus, then (if needed) a draw from the base.
    static func firstTwo(_ verdict: Verdict, random: inout XorShiftRandom) -> Int {
        var tokens = verdict.path.dropFirst().map { drafted[$0].token } + [verdict.bonus]
        if tokens.count < 2 {
            let p = toy.logits[tokens[0]].map { Foundation.exp($0) }
            tokens.append(p.withUnsafeBufferPointer { TemperatureSampler.sampleMultinomial($0.baseAddress!, count: 5, coin: random.nextFloat()) })
        }
        return tokens[0] * 5 + tokens[1]
    }

    @Test("lossless sampling: two-token continuations follow the base model (chi-square does not reject)")
    func losslessSampling() {
        var counts = [Int](repeating: 0, count: 25)
        var random = XorShiftRandom(seed: 2024)
        var accepted = 0
        for _ in 0..<40_000 {
            let verdict = Self.toy.verify(Self.drafted, rule: .sample(SamplingTarget()), random: &random)
            accepted += verdict.path.count - 1
            counts[Self.firstTwo(verdict, random: &random)] += 1
        }
        let statistic = Self.chiSquare(counts, Self.expected)
        #expect(statistic < Self.critical, "chi-square \(statistic) over 24 degrees of freedom")
        #expect(accepted > 10_000, "drafts should often be accepted: \(accepted)")
    }

    @Test("the same chi-square test rejects a biased rule (bonus drawn from p instead of the residual)")
    func biasedSamplingIsCaught() {
        // The classic bug: after refusing the drafted children, sample the bonus from the full p, not from
        // p with the refused tokens removed: refused tokens come back too often.
        var counts = [Int](repeating: 0, count: 25)
        var random = XorShiftRandom(seed: 2024)
        let p = { (t: Int) in Self.toy.logits[t].map { Foundation.exp($0) } }
        func draw(_ q: [Float]) -> Int { q.withUnsafeBufferPointer { TemperatureSampler.sampleMultinomial($0.baseAddress!, count: 5, coin: random.nextFloat()) } }
        for _ in 0..<40_000 {
            var tokens: [Int] = []
            var node = 0
            while tokens.count < 2 {
                let children = Self.drafted.indices.filter { Self.drafted[$0].parent == node }
                let row = p(Self.drafted[node].token)
                var accepted: Int?
                for c in children where random.nextFloat() < row[Self.drafted[c].token] { accepted = c; break }
                if let accepted {
                    tokens.append(Self.drafted[accepted].token)
                    node = accepted
                } else {
                    tokens.append(draw(row))
                    if tokens.count < 2 { tokens.append(draw(p(tokens[0]))) }
                }
            }
            counts[tokens[0] * 5 + tokens[1]] += 1
        }
        let statistic = Self.chiSquare(counts, Self.expected)
        #expect(statistic > Self.critical, "the biased rule should be rejected: chi-square \(statistic)")
    }

    @Test("lossless sampling with temperature and top-p reproduces the truncated target")
    func samplingTarget() {
        let target = SamplingTarget(temperature: 0.5, topP: 0.6)
        let logits: [Float] = [0, 1, 2, 0.5, -1]
        let p = logits.withUnsafeBufferPointer { target.distribution($0.baseAddress!, count: 5) }
        // T = 0.5 sharpens: softmax(2·logits) ≈ [.016, .117, .865, .043, .002]; the nucleus is token 2 alone.
        #expect(p[2] == 1)
        #expect(p.reduce(0, +) == 1)
        let wide = SamplingTarget(temperature: 2, topP: 0.6)
        let q = logits.withUnsafeBufferPointer { wide.distribution($0.baseAddress!, count: 5) }
        #expect(q.filter { $0 > 0 }.count == 2)  // .374 + .227 > .6
        #expect(abs(q.reduce(0, +) - 1) < 1e-6)
    }
}
