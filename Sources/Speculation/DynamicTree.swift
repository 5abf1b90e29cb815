import Foundation
import DraftHeads
import LanguageModel
import Numerics

/// A candidate tree grown anew at every step from the heads' own confidences (reference §3, "Dynamic trees",
/// after EAGLE-2, Li et al. 2024, §4).
///
/// Depth 1 takes head 1's top `width` tokens. At each further depth the `width` frontier nodes with the
/// highest cumulative log-probability are expanded (Hydra: each with its own head pass, batched; Medusa:
/// one pass on `h`, the same children for every parent), each getting its top `width` children. Then all
/// candidates are reranked by cumulative log-probability and the best `budget` kept. The kept set is a
/// connected tree: a child's value never exceeds its parent's, and ties keep the parent (created first).
public final class DynamicTreeProposer: CandidateProposer {
    public let heads: DraftHeadSet
    /// The heads' matrices as this proposer streams them (fp32 or an fp16 copy).
    public let drafting: DraftingHeads
    /// Nodes kept per step, the root not counted.
    public let budget: Int
    /// Children per expanded node and frontier nodes expanded per depth.
    public let width: Int
    public let depth: Int
    public var maxDepth: Int { depth }
    let embedding: Tensor
    let inputs: [Tensor]                 // per head: (width, inputWidth)
    let activations: [HeadActivations]

    public var maxNodeCount: Int { budget + 1 }
    public var treeName: String { "dynamic:\(budget):\(width)" }

    public var draftingHeads: DraftingHeads? { drafting }

    public init(heads: DraftHeadSet, embedding: Tensor, budget: Int, width: Int = 4, maxDepth: Int? = nil,
                precision: WeightPrecision = .single) throws {
        guard budget >= 1 else { throw TreeError("a dynamic tree needs a budget of at least 1 node, got \(budget)") }
        guard budget < CandidateTree.maxNodes else {
            throw TreeError("a dynamic tree's budget must be below \(CandidateTree.maxNodes) nodes, got \(budget)")
        }
        guard width >= 1 && width <= heads.config.vocabularySize else {
            throw TreeError("a dynamic tree's width must be in 1...\(heads.config.vocabularySize), got \(width)")
        }
        self.heads = heads
        drafting = heads.drafting(precision)
        self.budget = budget
        self.width = width
        self.embedding = embedding
        depth = min(maxDepth ?? heads.config.heads, heads.config.heads)
        let rows = heads.config.kind.isSequential ? width : 1
        inputs = (0..<depth).map { Tensor(zeros: [rows, heads.heads[$0].inputWidth]) }
        activations = (0..<depth).map { HeadActivations(head: heads.heads[$0], rows: rows) }
        topTokens = [Int](repeating: 0, count: rows * width)
        topProbabilities = [Float](repeating: 0, count: rows * width)
        // Depth 1 makes `width` candidates (its one expansion), every further depth at most `width` expansions of `width`.
        let most = width + max(depth - 1, 0) * width * width
        candidates.reserveCapacity(most)
        pathScratch.reserveCapacity(depth + 1)
        frontier.reserveCapacity(width)
        level.reserveCapacity(width * width)
        ranking.reserveCapacity(most)
        nodeOfCandidate.reserveCapacity(most)
    }

    /// `(rows, width)` top-k tokens and probabilities of the depth being drafted, candidates and a path buffer:
    /// reused every step.
    var topTokens: [Int]
    var topProbabilities: [Float]
    var candidates: [Candidate] = []
    var pathScratch: [Int] = []
    /// Candidate indices: the frontier to expand (-1: the root), the depth just drafted, and every candidate ranked.
    var frontier: [Int] = []
    var level: [Int] = []
    var ranking: [Int] = []
    /// Per candidate: its node index in the proposal (-1: not kept).
    var nodeOfCandidate: [Int] = []

    struct Candidate {
        var token: Int
        var parent: Int          // candidate index, -1 for children of the root
        var depth: Int
        var rank: Int
        var probability: Float
        var value: Double        // cumulative log-probability
    }

    public func propose(root: Int, state h: UnsafePointer<Float>) -> [DraftNode] {
        var nodes: [DraftNode] = []
        propose(root: root, state: h, into: &nodes)
        return nodes
    }

    /// Grows this step's tree into `nodes` (root first, then by depth, creation order within a depth), allocating
    /// nothing when `nodes` has room for `maxNodeCount`: candidates and rankings live in reused buffers, and the best
    /// frontier and kept sets are partial selections (a heap), not sorts of everything.
    public func propose(root: Int, state h: UnsafePointer<Float>, into nodes: inout [DraftNode]) {
        let V = heads.config.vocabularySize
        let sequential = heads.config.kind.isSequential
        candidates.removeAll(keepingCapacity: true)
        frontier.removeAll(keepingCapacity: true)
        frontier.append(-1)
        let k = min(width, V)
        for d in 1...depth {
            let expanded = sequential ? frontier.count : 1
            draftDepth(heads: drafting, depth: d, rows: expanded, root: root, hidden: h, embedding: embedding, input: inputs[d - 1],
                       activations: activations[d - 1], scratch: &pathScratch, k: k, width: width,
                       tokens: &topTokens, probabilities: &topProbabilities) { row, path in
                // Walk up through the candidates (Medusa reads h alone).
                var c = sequential ? frontier[row] : -1
                while c >= 0 { path.append(candidates[c].token); c = candidates[c].parent }
            }
            level.removeAll(keepingCapacity: true)
            for i in frontier.indices {
                let parent = frontier[i]
                let base = parent < 0 ? 0 : candidates[parent].value
                let row = sequential ? i : 0
                for rank in 0..<k {
                    let p = topProbabilities[row * width + rank]
                    level.append(candidates.count)
                    candidates.append(Candidate(token: topTokens[row * width + rank], parent: parent, depth: d, rank: rank, probability: p,
                                                value: base + Foundation.log(Double(max(p, .leastNormalMagnitude)))))
                }
            }
            // Expand the most promising nodes of this depth next (ties: created first).
            let next = min(width, level.count)
            candidates.withUnsafeBufferPointer { c in
                level.withUnsafeMutableBufferPointer { level in IndexHeap.sortFirst(next, of: level) { Self.likelier(c[$0], $0, than: c[$1], $1) } }
            }
            frontier.removeAll(keepingCapacity: true)
            frontier.append(contentsOf: level[..<next])
        }
        // Keep the best `budget` candidates, then order them by depth (parents first), creation order within.
        let kept = min(budget, candidates.count)
        ranking.removeAll(keepingCapacity: true)
        ranking.append(contentsOf: candidates.indices)
        candidates.withUnsafeBufferPointer { c in
            ranking.withUnsafeMutableBufferPointer { all in
                IndexHeap.sortFirst(kept, of: all) { Self.likelier(c[$0], $0, than: c[$1], $1) }
                IndexHeap.sortFirst(kept, of: UnsafeMutableBufferPointer(rebasing: all[..<kept])) {
                    c[$0].depth != c[$1].depth ? c[$0].depth < c[$1].depth : $0 < $1
                }
            }
        }
        nodeOfCandidate.removeAll(keepingCapacity: true)
        nodeOfCandidate.append(contentsOf: repeatElement(-1, count: candidates.count))
        nodes.removeAll(keepingCapacity: true)
        nodes.append(DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1))
        for c in ranking[..<kept] {
            let candidate = candidates[c]
            // The kept set is connected: a kept candidate's parent is kept, and (one depth up) already placed.
            let parent = candidate.parent < 0 ? 0 : nodeOfCandidate[candidate.parent]
            precondition(parent >= 0, "dynamic tree: candidate \(c) kept without its parent \(candidate.parent)")
            nodeOfCandidate[c] = nodes.count
            nodes.append(DraftNode(token: candidate.token, parent: parent, depth: candidate.depth,
                                   rank: candidate.rank, draftProbability: candidate.probability))
        }
    }

    /// The ranking order of candidates: higher cumulative log-probability first, ties by creation (lower index) first.
    @inline(__always)
    static func likelier(_ a: Candidate, _ i: Int, than b: Candidate, _ j: Int) -> Bool {
        a.value != b.value ? a.value > b.value : i < j
    }
}
