import Foundation
import DraftHeads
import LanguageModel
import Numerics

/// One node of a drafted candidate tree (node 0 is the root).
public struct DraftNode: Codable, Equatable, Sendable {
    /// The token this node proposes.
    public var token: Int
    /// Parent node index (-1 for the root).
    public var parent: Int
    /// Depth: 0 for the root, k for a guess of head k.
    public var depth: Int
    /// Rank of the token among its head's candidates (0 = most likely); the root's is 0.
    public var rank: Int
    /// Probability the head gave this token (for Hydra, conditioned on the path to the node); 1 for the root.
    public var draftProbability: Float

    public init(token: Int, parent: Int, depth: Int, rank: Int, draftProbability: Float) {
        self.token = token
        self.parent = parent
        self.depth = depth
        self.rank = rank
        self.draftProbability = draftProbability
    }
}

/// Drafts a candidate tree below a root (one small protocol per concept).
public protocol CandidateProposer: AnyObject {
    /// The most nodes a proposal can have, the root included (the KV cache keeps room for them).
    var maxNodeCount: Int { get }
    /// What the tree is, for traces and reports (`mc_sim_7b_63`, `dynamic:24`, ...).
    var treeName: String { get }
    /// The deepest node a proposal can have (tokens per step are at most this plus one).
    var maxDepth: Int { get }
    /// Drafts the nodes below `root` from the state `h (D)` the heads read. Root first, parents before
    /// children, siblings in rank order.
    func propose(root: Int, state h: UnsafePointer<Float>) -> [DraftNode]
    /// The attention mask for verifying `nodes` after `prefix` cached tokens (SPEC §3).
    func mask(prefix: Int, nodes: [DraftNode]) -> AttentionMask
}

extension CandidateProposer {
    public func mask(prefix: Int, nodes: [DraftNode]) -> AttentionMask {
        .tree(prefix: prefix, parents: nodes.map(\.parent))
    }
}

/// No drafting: the root alone (autoregressive decoding, recorded as steps).
public final class RootOnlyProposer: CandidateProposer {
    public init() {}
    public var maxNodeCount: Int { 1 }
    public var treeName: String { "none" }
    public var maxDepth: Int { 0 }
    public func propose(root: Int, state h: UnsafePointer<Float>) -> [DraftNode] {
        [DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1)]
    }
    public func mask(prefix: Int, nodes: [DraftNode]) -> AttentionMask { .causal(prefix: prefix, count: 1) }
}

/// Drafts a static candidate tree's tokens from the heads (SPEC §3, "Proposals").
///
/// - Independent (Medusa): every head runs once on `h`; node `[r1, ..., rk]` carries `topk(head_k)[rk]`.
/// - Sequential (Hydra, Hydra++): heads run depth by depth, batched over the parents expanded at that
///   depth; node `[r1, ..., rk]` carries `topk(head_k(h, root, tokens on its path))[rk]`.
public final class TreeProposer: CandidateProposer {
    public let heads: DraftHeadSet
    public let tree: CandidateTree
    public let treeName: String
    public var maxNodeCount: Int { tree.nodeCount }
    public var maxDepth: Int { tree.depth }
    let template: AttentionMask.TreeTemplate
    let embedding: Tensor
    /// Candidates kept per expanded node: the largest rank in the tree plus one.
    public let width: Int
    let inputs: [Tensor]                 // per head: (parents at that depth, inputWidth)
    let activations: [HeadActivations]
    /// Node indices per depth 1...depth, and for each depth the distinct parents expanded there (in node order).
    let nodesAtDepth: [[Int]]
    let parentsAtDepth: [[Int]]

    public init(heads: DraftHeadSet, tree: CandidateTree, embedding: Tensor, name: String? = nil) throws {
        guard tree.depth <= heads.config.heads else {
            throw TreeError("the tree is \(tree.depth) deep but there are only \(heads.config.heads) heads")
        }
        // Checked before `width` sizes anything: a rank indexes one head's candidates, one per vocabulary entry.
        if let rank = tree.paths.flatMap({ $0 }).max(), rank >= heads.config.vocabularySize {
            throw TreeError("the tree uses rank \(rank), but the vocabulary has only \(heads.config.vocabularySize) tokens (ranks 0..<\(heads.config.vocabularySize))")
        }
        self.heads = heads
        self.tree = tree
        self.embedding = embedding
        treeName = name ?? "\(tree.nodeCount - 1)-node tree"
        template = AttentionMask.TreeTemplate(tree.attentionMask)
        width = (tree.paths.flatMap { $0 }.max() ?? 0) + 1
        let parents = tree.parents
        nodesAtDepth = (1...max(tree.depth, 1)).map { d in (1..<tree.nodeCount).filter { tree.paths[$0 - 1].count == d } }
        parentsAtDepth = nodesAtDepth.map { nodes in Array(Set(nodes.map { parents[$0] })).sorted() }
        let rows = heads.config.kind.isSequential ? parentsAtDepth.map { max($0.count, 1) } : [Int](repeating: 1, count: max(tree.depth, 1))
        inputs = (0..<max(tree.depth, 1)).map { Tensor(zeros: [rows[$0], heads.heads[$0].inputWidth]) }
        activations = (0..<max(tree.depth, 1)).map { HeadActivations(head: heads.heads[$0], rows: rows[$0]) }
    }

    /// Drafts every node below `root` from the state `h (D)` the heads read (the base's last hidden state,
    /// or the prefix layer's output). Returns the nodes in tree order, root first.
    public func propose(root: Int, state h: UnsafePointer<Float>) -> [DraftNode] {
        let parents = tree.parents
        var nodes = [DraftNode](repeating: DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1), count: tree.nodeCount)
        // Token path (root first) of every node, filled as depths are drafted.
        var pathTokens = [[Int]](repeating: [root], count: tree.nodeCount)
        let V = heads.config.vocabularySize
        for d in 1...tree.depth {
            let head = heads.heads[d - 1]
            let sequential = heads.config.kind.isSequential
            let expanded = sequential ? parentsAtDepth[d - 1] : [0]
            for (row, parent) in expanded.enumerated() {
                // Medusa reads h alone, so one row serves every parent at this depth.
                let path = sequential ? pathTokens[parent] : Array(repeating: root, count: d)
                heads.assembleInput(head: d, hidden: h, path: path, embedding: embedding, into: inputs[d - 1].pointer + row * head.inputWidth)
            }
            head.forward(inputs[d - 1].pointer, rows: expanded.count, into: activations[d - 1])
            var candidates: [Int: [(token: Int, p: Float)]] = [:]
            for (row, parent) in expanded.enumerated() {
                let logits = activations[d - 1].logits.pointer + row * V
                Ops.softmax(logits, n: V)
                candidates[parent] = Self.top(logits, count: V, k: width)
            }
            for node in nodesAtDepth[d - 1] {
                let rank = tree.paths[node - 1].last!
                let parent = parents[node]
                let choice = candidates[sequential ? parent : 0]![rank]
                nodes[node] = DraftNode(token: choice.token, parent: parent, depth: d, rank: rank, draftProbability: choice.p)
                pathTokens[node] = pathTokens[parent] + [choice.token]
            }
        }
        return nodes
    }

    public func mask(prefix: Int, nodes: [DraftNode]) -> AttentionMask {
        nodes.count == tree.nodeCount ? template.mask(prefix: prefix) : .tree(prefix: prefix, parents: nodes.map(\.parent))
    }

    /// The `k` most likely tokens (ties by lower id), most likely first.
    static func top(_ p: UnsafePointer<Float>, count: Int, k: Int) -> [(token: Int, p: Float)] {
        var best: [(token: Int, p: Float)] = []
        best.reserveCapacity(k + 1)
        for v in 0..<count {
            if best.count == k, let last = best.last, p[v] <= last.p { continue }
            var i = best.count
            while i > 0 && best[i - 1].p < p[v] { i -= 1 }
            best.insert((v, p[v]), at: i)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
