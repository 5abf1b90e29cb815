import Foundation
import Testing
import TestSupport
import Numerics
@testable import Speculation

/// The allocation-free pieces of a step give exactly what the sorting, array-building versions gave: the heap's
/// partial selection, the nucleus written in place, and a verifier workspace reused across trees of other sizes.
@Suite("Allocation-free step building blocks")
struct ScratchTests {
    @Test("the heap's first k equal a full sort's prefix (ties by index), for every k")
    func heapSelectionEqualsSort() {
        var random = XorShiftRandom(seed: 11)
        for n in [0, 1, 2, 3, 7, 64, 200] {
            // Few distinct values, so that many ties are broken by index.
            let values = (0..<n).map { _ in Float(random.nextUInt32() % 5) }
            func precedes(_ a: Int, _ b: Int) -> Bool { values[a] != values[b] ? values[a] > values[b] : a < b }
            let sorted = (0..<n).sorted(by: precedes)
            for k in Set([0, 1, n / 2, n]) where k <= n {
                var items = Array(0..<n)
                items.withUnsafeMutableBufferPointer { IndexHeap.sortFirst(k, of: $0, by: precedes) }
                #expect(Array(items[..<k]) == Array(sorted[..<k]), "n \(n), k \(k)")
                #expect(Set(items) == Set(0..<n), "n \(n), k \(k): a permutation")
            }
        }
    }

    /// The nucleus as it was defined before it was written in place: a stable sort of the whole vocabulary.
    static func sortedNucleus(_ logits: [Float], temperature: Float, topP: Float) -> [Float] {
        var p = logits.map { $0 / temperature }
        p.withUnsafeMutableBufferPointer { Ops.softmax($0.baseAddress!, n: $0.count) }
        let order = p.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
        var kept = [Float](repeating: 0, count: p.count)
        var mass: Float = 0
        for i in order {
            kept[i] = p[i]
            mass += p[i]
            if mass > topP { break }
        }
        return kept.map { $0 / mass }
    }

    @Test("the nucleus written in place has the bits of the sorted definition, ties included")
    func nucleusEqualsSortedDefinition() {
        var random = XorShiftRandom(seed: 5)
        for trial in 0..<40 {
            let V = [1, 2, 5, 64, 1024][trial % 5]
            // Quantised logits: many exact ties at the nucleus' edge.
            let logits = (0..<V).map { _ in Float(Int(random.nextUInt32() % 9) - 4) * 0.5 }
            for (temperature, topP) in [(Float(0.7), Float(0.9)), (1, 0.5), (2, 0.999), (0.3, 0.01)] {
                let target = SamplingTarget(temperature: temperature, topP: topP)
                let p = logits.withUnsafeBufferPointer { target.distribution($0.baseAddress!, count: V) }
                let expected = Self.sortedNucleus(logits, temperature: temperature, topP: topP)
                #expect(p.map(\.bitPattern) == expected.map(\.bitPattern), "V \(V), T \(temperature), top-p \(topP)")
            }
        }
    }

    /// A random tree of `n` nodes over `V` tokens (parents before children, ranks by sibling order).
    static func randomTree(_ n: Int, vocabularySize V: Int, random: inout XorShiftRandom) -> [DraftNode] {
        var nodes = [DraftNode(token: Int(random.nextUInt32()) % V, parent: -1, depth: 0, rank: 0, draftProbability: 1)]
        for i in 1..<n {
            let parent = Int(random.nextUInt32()) % i
            let rank = nodes.filter { $0.parent == parent }.count
            nodes.append(DraftNode(token: Int(random.nextUInt32()) % V, parent: parent, depth: nodes[parent].depth + 1, rank: rank,
                                   draftProbability: 1))
        }
        return nodes
    }

    @Test("a verifier workspace reused across trees of other sizes and rules gives a fresh one's verdicts")
    func reusedWorkspaceEqualsFresh() {
        let V = 6
        var random = XorShiftRandom(seed: 23)
        // Peaked rows, so that paths get accepted (row t: next-token logits after token t).
        let table = (0..<V).map { t in (0..<V).map { v in v == (t + 1) % V ? Float(3) : Float(Int(random.nextUInt32() % 3)) * 0.5 } }
        let rules: [AcceptanceRule] = [.greedy, .typical(TypicalAcceptance(epsilon: 0.2, delta: 0.5, temperature: 0.8)),
                                       .sample(SamplingTarget(temperature: 0.9)), .sample(SamplingTarget(temperature: 0.9, topP: 0.7))]
        let reused = TreeVerifier.Workspace()
        for trial in 0..<60 {
            let nodes = Self.randomTree([1, 2, 9, 30, 4, 17][trial % 6], vocabularySize: V, random: &random)
            let rule = rules[trial % rules.count]
            let flat = nodes.flatMap { table[$0.token] }
            flat.withUnsafeBufferPointer { logits in
                var a = XorShiftRandom(seed: UInt64(trial + 1)), b = a
                let fresh = TreeVerifier.verify(nodes: nodes, vocabularySize: V, rule: rule, rootProbability: 0.5, random: &a) {
                    logits.baseAddress! + $0 * V
                }
                reused.verify(nodes: nodes, vocabularySize: V, rule: rule, rootProbability: 0.5, random: &b) { logits.baseAddress! + $0 * V }
                #expect(reused.verdict == fresh, "trial \(trial), \(nodes.count) nodes, \(rule.name)")
                #expect(a.state == b.state, "trial \(trial): the same random draws")
            }
        }
    }
}
