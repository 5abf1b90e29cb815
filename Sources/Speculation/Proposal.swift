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
    /// `propose(root:state:)` written into `nodes` (emptied first, its capacity kept): what a decoding session calls
    /// every step. The proposers with heads allocate nothing here once `nodes` has room for `maxNodeCount`; the default
    /// assigns `propose(root:state:)`'s array.
    func propose(root: Int, state h: UnsafePointer<Float>, into nodes: inout [DraftNode])
    /// The attention mask for verifying `nodes` after `prefix` cached tokens (reference §3).
    func mask(prefix: Int, nodes: [DraftNode]) -> AttentionMask
    /// The heads' matrices as this proposer streams them (nil: it drafts without heads).
    var draftingHeads: DraftingHeads? { get }
}

extension CandidateProposer {
    public var draftingHeads: DraftingHeads? { nil }

    public func propose(root: Int, state h: UnsafePointer<Float>, into nodes: inout [DraftNode]) {
        nodes = propose(root: root, state: h)
    }

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
    public func propose(root: Int, state h: UnsafePointer<Float>, into nodes: inout [DraftNode]) {
        nodes.removeAll(keepingCapacity: true)
        nodes.append(DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1))
    }
    public func mask(prefix: Int, nodes: [DraftNode]) -> AttentionMask { .causal(prefix: prefix, count: 1) }
}

/// Drafts a static candidate tree's tokens from the heads (reference §3, "Proposals").
///
/// - Independent (Medusa): every head runs once on `h`; node `[r1, ..., rk]` carries `topk(head_k)[rk]`.
/// - Sequential (Hydra, Hydra++): heads run depth by depth, batched over the parents expanded at that
///   depth; node `[r1, ..., rk]` carries `topk(head_k(h, root, tokens on its path))[rk]`.
///
/// Everything a step needs is allocated once here (inputs, activations, top-k buffers, the mask's tree
/// part); `propose(root:state:into:)` allocates nothing (the top-k of each head is a partial selection),
/// `propose(root:state:)` only the array it returns.
public final class TreeProposer: CandidateProposer {
    public let heads: DraftHeadSet
    /// The heads' matrices as this proposer streams them (fp32 or an fp16 copy).
    public let drafting: DraftingHeads
    public let tree: CandidateTree
    public let treeName: String
    public var maxNodeCount: Int { tree.nodeCount }
    public var maxDepth: Int { tree.depth }
    /// The tree part of the verification mask (prefix 0); moved to each step's prefix in O(nodes).
    let treeMask: AttentionMask
    let embedding: Tensor
    /// Candidates kept per expanded node: the largest rank in the tree plus one.
    public let width: Int
    let inputs: [Tensor]                 // per head: (parents at that depth, inputWidth)
    let activations: [HeadActivations]
    /// Node indices per depth 1...depth, and for each depth the distinct parents expanded there (in node order).
    let nodesAtDepth: [[Int]]
    let parentsAtDepth: [[Int]]
    /// Per node: parent, rank, and the row of its parent among the rows run at its depth (0 for Medusa).
    let parentOf: [Int]
    let rankOf: [Int]
    let rowOf: [Int]
    /// `(rows, width)` top-k tokens and probabilities of the depth being drafted (reused every depth and step).
    var topTokens: [Int]
    var topProbabilities: [Float]
    /// Tokens root first on the path being assembled (reused).
    var pathScratch: [Int]

    public init(heads: DraftHeadSet, tree: CandidateTree, embedding: Tensor, name: String? = nil, precision: WeightPrecision = .single) throws {
        guard tree.depth <= heads.config.heads else {
            throw TreeError("the tree is \(tree.depth) deep but there are only \(heads.config.heads) heads")
        }
        // Checked before `width` sizes anything: a rank indexes one head's candidates, one per vocabulary entry.
        if let rank = tree.paths.flatMap({ $0 }).max(), rank >= heads.config.vocabularySize {
            throw TreeError("the tree uses rank \(rank), but the vocabulary has only \(heads.config.vocabularySize) tokens (ranks 0..<\(heads.config.vocabularySize))")
        }
        self.heads = heads
        drafting = heads.drafting(precision)
        self.tree = tree
        self.embedding = embedding
        treeName = name ?? "\(tree.nodeCount - 1)-node tree"
        let parents = tree.parents
        treeMask = .tree(prefix: 0, parents: parents)
        width = (tree.paths.flatMap { $0 }.max() ?? 0) + 1
        nodesAtDepth = (1...max(tree.depth, 1)).map { d in (1..<tree.nodeCount).filter { tree.paths[$0 - 1].count == d } }
        parentsAtDepth = nodesAtDepth.map { nodes in Array(Set(nodes.map { parents[$0] })).sorted() }
        let sequential = heads.config.kind.isSequential
        let rows = sequential ? parentsAtDepth.map { max($0.count, 1) } : [Int](repeating: 1, count: max(tree.depth, 1))
        inputs = (0..<max(tree.depth, 1)).map { Tensor(zeros: [rows[$0], heads.heads[$0].inputWidth]) }
        activations = (0..<max(tree.depth, 1)).map { HeadActivations(head: heads.heads[$0], rows: rows[$0]) }
        parentOf = parents
        rankOf = [0] + tree.paths.map { $0.last! }
        var rowOf = [Int](repeating: 0, count: tree.nodeCount)
        for (d, nodes) in nodesAtDepth.enumerated() where sequential {
            for node in nodes { rowOf[node] = parentsAtDepth[d].firstIndex(of: parents[node])! }
        }
        self.rowOf = rowOf
        topTokens = [Int](repeating: 0, count: (rows.max() ?? 1) * width)
        topProbabilities = [Float](repeating: 0, count: (rows.max() ?? 1) * width)
        pathScratch = []
        pathScratch.reserveCapacity(tree.depth + 1)
    }

    /// Drafts every node below `root` from the state `h (D)` the heads read (the base's last hidden state,
    /// or the prefix layer's output). Returns the nodes in tree order, root first.
    public func propose(root: Int, state h: UnsafePointer<Float>) -> [DraftNode] {
        var nodes: [DraftNode] = []
        propose(root: root, state: h, into: &nodes)
        return nodes
    }

    /// Drafts every node below `root` into `nodes` (tree order, root first), allocating nothing when `nodes` has room.
    public func propose(root: Int, state h: UnsafePointer<Float>, into nodes: inout [DraftNode]) {
        nodes.removeAll(keepingCapacity: true)
        nodes.append(contentsOf: repeatElement(DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1), count: tree.nodeCount))
        let sequential = heads.config.kind.isSequential
        for d in 1...tree.depth {
            let expanded = sequential ? parentsAtDepth[d - 1].count : 1
            draftDepth(heads: drafting, depth: d, rows: expanded, root: root, hidden: h, embedding: embedding, input: inputs[d - 1],
                       activations: activations[d - 1], scratch: &pathScratch, k: width, width: width,
                       tokens: &topTokens, probabilities: &topProbabilities) { row, path in
                // Walk up from the parent (Medusa reads h alone; any path will do).
                var node = sequential ? parentsAtDepth[d - 1][row] : 0
                while node > 0 { path.append(nodes[node].token); node = parentOf[node] }
            }
            for node in nodesAtDepth[d - 1] {
                let choice = rowOf[node] * width + rankOf[node]
                nodes[node] = DraftNode(token: topTokens[choice], parent: parentOf[node], depth: d, rank: rankOf[node],
                                        draftProbability: topProbabilities[choice])
            }
        }
    }

    public func mask(prefix: Int, nodes: [DraftNode]) -> AttentionMask {
        nodes.count == tree.nodeCount ? treeMask.withPrefix(prefix) : .tree(prefix: prefix, parents: nodes.map(\.parent))
    }

    public var draftingHeads: DraftingHeads? { drafting }

    /// The `k` most likely tokens of `softmax(logits)` (ties by lower id), most likely first, written to
    /// `tokens (k)` and `probabilities (k)`: a partial selection over the logits, then one pass for the
    /// normaliser (the softmax of the other tokens is never stored). `logits` is left as it is.
    static func topSoftmax(_ logits: UnsafePointer<Float>, count: Int, k: Int,
                           tokens: UnsafeMutablePointer<Int>, probabilities: UnsafeMutablePointer<Float>) {
        let k = min(k, count)
        var kept = 0
        for v in 0..<count {
            let x = logits[v]
            if kept == k && !(x > logits[tokens[k - 1]]) { continue }
            var i = kept == k ? k - 1 : kept
            while i > 0 && logits[tokens[i - 1]] < x { tokens[i] = tokens[i - 1]; i -= 1 }
            tokens[i] = v
            if kept < k { kept += 1 }
        }
        // softmax: p = exp(x - max) / sum exp(. - max), the sum in eight lanes as Ops.softmax does.
        let top = logits[tokens[0]]
        var sum: Float = 0
        var lanes = SIMD8<Float>(repeating: 0)
        var v = 0
        let shift = SIMD8<Float>(repeating: top)
        while v + 8 <= count { lanes += FastMath.exp(FastMath.load(logits + v) - shift); v += 8 }
        sum = lanes.sum()
        while v < count { sum += Foundation.exp(logits[v] - top); v += 1 }
        for i in 0..<kept { probabilities[i] = Foundation.exp(logits[tokens[i]] - top) / sum }
    }
}

/// Runs head `d` over `rows` parents in one batched pass and writes each row's `k` most likely tokens and their
/// probabilities at stride `width` into `tokens` and `probabilities` (the step both proposers share).
///
/// `walkUp(row, &path)` appends the tokens on row `row`'s parent path newest first, without the root; the path is
/// then completed with the root, padded with it to depth `d` (Medusa's heads ignore it) and reversed.
func draftDepth(heads drafting: DraftingHeads, depth d: Int, rows: Int, root: Int, hidden h: UnsafePointer<Float>, embedding: Tensor,
                input: Tensor, activations: HeadActivations, scratch path: inout [Int], k: Int, width: Int,
                tokens: inout [Int], probabilities: inout [Float], walkUp: (Int, inout [Int]) -> Void) {
    let heads = drafting.set
    let head = heads.heads[d - 1]
    let V = heads.config.vocabularySize
    for row in 0..<rows {
        path.removeAll(keepingCapacity: true)
        walkUp(row, &path)
        path.append(root)
        while path.count < d { path.append(root) }
        path.reverse()
        heads.assembleInput(head: d, hidden: h, path: path, embedding: embedding, into: input.pointer + row * head.inputWidth)
    }
    drafting.heads[d - 1].forward(input.pointer, rows: rows, into: activations)
    tokens.withUnsafeMutableBufferPointer { t in
        probabilities.withUnsafeMutableBufferPointer { p in
            for row in 0..<rows {
                TreeProposer.topSoftmax(activations.logits.pointer + row * V, count: V, k: k,
                                        tokens: t.baseAddress! + row * width, probabilities: p.baseAddress! + row * width)
            }
        }
    }
}
