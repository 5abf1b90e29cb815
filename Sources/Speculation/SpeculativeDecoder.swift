import Foundation
import DraftHeads
import LanguageModel
import Numerics

/// What verification decided for a node.
public enum NodeOutcome: String, Codable, Sendable {
    /// On the accepted path: its token is what the base model would have produced.
    case accepted
    /// Its parent was accepted, but the base model wanted another token.
    case rejected
    /// An ancestor was rejected, so the node was never in the running.
    case notReached = "not_reached"
}

/// A drafted node with what the base model made of it.
public struct NodeRecord: Codable, Equatable, Sendable {
    public var node: DraftNode
    /// The base model's probability of this node's token given its path (softmax of the parent's logits).
    public var baseProbability: Float
    public var outcome: NodeOutcome
}

/// Everything about one draft-and-verify step (SPEC §1: a step emits at least one token).
public struct StepRecord: Codable, Equatable, Sendable {
    public var step: Int
    /// Cache length before the step (prompt + tokens emitted so far, minus the pending root).
    public var prefixLength: Int
    /// The tree's nodes, root first, in tree order.
    public var nodes: [NodeRecord]
    /// Accepted node indices, root first.
    public var acceptedPath: [Int]
    /// Tokens emitted by this step: the root and the accepted guesses (tau = their count).
    public var emitted: [Int]
    /// The base model's own next token after the last accepted node: the next step's root.
    public var bonus: Int
    public var draftSeconds: Double
    public var verifySeconds: Double
}

/// The result of a speculative run.
public struct SpeculativeResult: Sendable {
    public var tokens: [Int]
    public var steps: [StepRecord]
    public var stopReason: StopReason
    public var promptSeconds: Double
    public var generationSeconds: Double
    /// Mean tokens per step (tau).
    public var meanAcceptance: Double { steps.isEmpty ? 0 : Double(tokens.count) / Double(steps.count) }
}

/// Greedy speculative decoding with draft heads and a static tree (SPEC §3-4): draft the tree,
/// verify it in one batched forward pass, keep the longest path whose every token equals the
/// base model's argmax, compact the KV cache to it. Output equals plain greedy decoding.
public final class SpeculativeDecoder {
    public let model: Transformer
    public let heads: DraftHeadSet
    public let tree: CandidateTree
    let proposer: TreeProposer
    let treeMask: AttentionMask.TreeTemplate

    public init(model: Transformer, heads: DraftHeadSet, tree: CandidateTree) throws {
        try DraftHeadsFile.check(heads, fits: model.weights, path: "heads")
        self.model = model
        self.heads = heads
        self.tree = tree
        proposer = try TreeProposer(heads: heads, tree: tree, embedding: model.weights.tokenEmbedding)
        treeMask = AttentionMask.TreeTemplate(tree.attentionMask)
    }

    /// Decodes up to `maxTokens` tokens after `prompt`; `onStep` sees every step as it completes.
    public func generate(prompt: [Int], maxTokens: Int, onStep: ((StepRecord) -> Void)? = nil) throws -> SpeculativeResult {
        let config = model.config
        try AutoregressiveGenerator(model: model).checkPrompt(prompt)
        let clock = ContinuousClock()
        let start = clock.now
        // Room for a whole tree after the longest prefix.
        let state = model.makeState(cacheCapacity: config.maxSequenceLength + tree.nodeCount)
        let prefixState = heads.prefix.map { PrefixAttentionState(layer: $0, capacity: config.maxSequenceLength + tree.nodeCount) }
        let D = config.dim, V = config.vocabularySize
        let promptOut = model.forward(tokens: prompt, positions: Array(0..<prompt.count), mask: .causal(prefix: 0, count: prompt.count), state: state)
        var logits = Array(promptOut.logits(prompt.count - 1))
        var hidden = Array(promptOut.hidden(prompt.count - 1))
        if let prefixState { for i in 0..<prompt.count { prefixState.feed(promptOut.hidden(i).baseAddress!) } }
        let promptEnd = clock.now

        var tokens: [Int] = []
        var steps: [StepRecord] = []
        var reason = StopReason.maxTokens
        var root = Ops.argmax(logits, n: V)
        var rootProbability = Self.probability(of: root, logits: logits)
        generation: while tokens.count < maxTokens {
            // The base model's own next token ends the text (as BOS does in run.c): no step is drafted for it.
            if root == 1 { reason = .bos; break }
            let prefix = state.cache.count
            let stepStart = clock.now
            // Draft (or, when no tree fits in the context any more, verify the root alone).
            let fits = prefix + tree.nodeCount <= config.maxSequenceLength
            var nodes: [DraftNode]
            if fits {
                let h = prefixState.map { Array(UnsafeBufferPointer(start: $0.output.pointer, count: D)) } ?? hidden
                nodes = h.withUnsafeBufferPointer { proposer.propose(root: root, state: $0.baseAddress!) }
            } else {
                nodes = [DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1)]
            }
            let draftEnd = clock.now
            if prefix == config.maxSequenceLength {
                // The cache is full: the pending root is the last token, as in run.c.
                tokens.append(root)
                reason = .contextLimit
                break
            }
            // Verify every node in one forward pass: tree mask after the prefix, positions prefix + depth.
            let out = model.forward(tokens: nodes.map(\.token), positions: nodes.map { prefix + $0.depth },
                                    mask: fits ? treeMask.mask(prefix: prefix) : .causal(prefix: prefix, count: 1), state: state)
            let argmax = (0..<nodes.count).map { Ops.argmax(out.logits($0).baseAddress!, n: V) }
            // Greedy: a node is accepted when its parent is and its token is the parent's argmax.
            var outcome = [NodeOutcome](repeating: .notReached, count: nodes.count)
            outcome[0] = .accepted
            var path = [0]
            for i in 1..<nodes.count where outcome[nodes[i].parent] == .accepted {
                outcome[i] = nodes[i].token == argmax[nodes[i].parent] ? .accepted : .rejected
                if outcome[i] == .accepted { path.append(i) }
            }
            // The base distribution at each expanded node, computed once however many children it has.
            var distributions: [Int: [Float]] = [:]
            let records = (0..<nodes.count).map { i -> NodeRecord in
                guard i > 0 else { return NodeRecord(node: nodes[0], baseProbability: rootProbability, outcome: outcome[0]) }
                let parent = nodes[i].parent
                if distributions[parent] == nil { distributions[parent] = Self.softmax(Array(out.logits(parent))) }
                return NodeRecord(node: nodes[i], baseProbability: distributions[parent]![nodes[i].token], outcome: outcome[i])
            }
            let last = path.last!
            let bonus = argmax[last]
            logits = Array(out.logits(last))
            hidden = Array(out.hidden(last))
            // Keep the accepted path's keys and values right after the prefix.
            state.cache.keep(path.map { prefix + $0 }, after: prefix)
            if let prefixState { for i in path { prefixState.feed(out.hidden(i).baseAddress!) } }
            let verifyEnd = clock.now
            var emitted = path.map { nodes[$0].token }
            if let bos = emitted.firstIndex(of: 1) { emitted = Array(emitted[..<bos]); reason = .bos }
            emitted = Array(emitted.prefix(maxTokens - tokens.count))
            let record = StepRecord(step: steps.count + 1, prefixLength: prefix, nodes: records, acceptedPath: path, emitted: emitted,
                                    bonus: bonus, draftSeconds: (draftEnd - stepStart).seconds, verifySeconds: (verifyEnd - draftEnd).seconds)
            steps.append(record)
            onStep?(record)
            tokens += emitted
            if reason == .bos { break generation }
            root = bonus
            rootProbability = Self.probability(of: root, logits: logits)
        }
        let end = clock.now
        return SpeculativeResult(tokens: tokens, steps: steps, stopReason: reason,
                                 promptSeconds: (promptEnd - start).seconds, generationSeconds: (end - promptEnd).seconds)
    }

    /// `softmax(logits)`.
    static func softmax(_ logits: [Float]) -> [Float] {
        var p = logits
        p.withUnsafeMutableBufferPointer { Ops.softmax($0.baseAddress!, n: $0.count) }
        return p
    }

    /// `softmax(logits)[token]`.
    static func probability(of token: Int, logits: [Float]) -> Float { softmax(logits)[token] }
}

extension AttentionMask {
    /// A tree's `(n, n)` mask, expanded to `(n, prefix + n)` for any prefix length.
    public struct TreeTemplate: Sendable {
        let tree: [[Bool]]
        public init(_ tree: [[Bool]]) { self.tree = tree }
        public func mask(prefix: Int) -> AttentionMask { .tree(prefix: prefix, tree) }
    }
}
