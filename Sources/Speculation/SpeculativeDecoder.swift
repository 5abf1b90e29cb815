import Foundation
import DraftHeads
import LanguageModel
import Numerics

/// A drafted node with what the base model made of it.
public struct NodeRecord: Codable, Equatable, Sendable {
    /// The token this node proposes.
    public var token: Int
    /// The token's text (filled in by traces; nil in raw records).
    public var text: String?
    /// Parent node index (-1 for the root).
    public var parent: Int
    /// 0 for the root, k for a guess of head k.
    public var depth: Int
    /// Rank among its head's candidates (0 = most likely).
    public var rank: Int
    /// The probability the head gave this token (Hydra: conditioned on the path); 1 for the root.
    public var draftProbability: Float
    /// The base model's probability of this token given its path, under the rule's distribution (SPEC §4).
    public var baseProbability: Float
    /// The rule's bar for this node: typical's threshold or sampling's acceptance probability; nil otherwise.
    public var threshold: Float?
    public var outcome: NodeOutcome

    public init(node: DraftNode, baseProbability: Float, threshold: Float?, outcome: NodeOutcome) {
        token = node.token
        parent = node.parent
        depth = node.depth
        rank = node.rank
        draftProbability = node.draftProbability
        self.baseProbability = baseProbability
        self.threshold = threshold
        self.outcome = outcome
    }
}

/// Everything about one draft-and-verify step (SPEC §1: a step emits at least one token).
public struct StepRecord: Codable, Equatable, Sendable {
    public var step: Int
    /// Cache length before the step (prompt + tokens emitted so far, minus the pending root).
    public var prefixLength: Int
    /// The tree's nodes, root first, parents before children.
    public var nodes: [NodeRecord]
    /// Accepted node indices, root first.
    public var acceptedPath: [Int]
    /// Tokens emitted by this step: the root and the accepted guesses (tau = their count).
    public var emitted: [Int]
    /// The base model's own next token after the last accepted node: the next step's root.
    public var bonus: Int
    /// The base model's probability of the bonus token (rule's distribution).
    public var bonusProbability: Float
    /// Wall-clock seconds spent drafting and verifying (nil in traces saved without timings).
    public var draftSeconds: Double?
    public var verifySeconds: Double?

    /// Tokens emitted by this step (tau for the step).
    public var acceptance: Int { emitted.count }
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

/// Speculative decoding with draft heads (SPEC §3-4): draft a candidate tree below the base model's
/// next token, verify every node in one batched forward pass under a tree attention mask, keep the path
/// the acceptance rule allows, and compact the KV cache to it. With the greedy rule the output equals
/// plain greedy decoding token for token; with `sample` it is distributed as sampling from the base.
public final class SpeculativeDecoder {
    public let model: Transformer
    /// The draft heads (nil: autoregressive decoding through the same machinery, one node per step).
    public let heads: DraftHeadSet?
    public let proposer: CandidateProposer
    public let rule: AcceptanceRule
    public let seed: UInt64
    /// Called after every step with the model's state (KV cache compacted to the accepted path), for tests
    /// and tools that inspect the cache.
    public var inspectState: ((StepRecord, InferenceState) -> Void)?

    public init(model: Transformer, heads: DraftHeadSet?, proposer: CandidateProposer, rule: AcceptanceRule = .greedy, seed: UInt64 = 42) throws {
        if let heads { try DraftHeadsFile.check(heads, fits: model.weights, path: "heads") }
        self.model = model
        self.heads = heads
        self.proposer = proposer
        self.rule = rule
        self.seed = seed
    }

    /// A decoder over a static tree.
    public convenience init(model: Transformer, heads: DraftHeadSet, tree: CandidateTree, rule: AcceptanceRule = .greedy, seed: UInt64 = 42) throws {
        let proposer = try TreeProposer(heads: heads, tree: tree, embedding: model.weights.tokenEmbedding)
        try self.init(model: model, heads: heads, proposer: proposer, rule: rule, seed: seed)
    }

    /// Decodes up to `maxTokens` tokens (and at most `maxSteps` steps) after `prompt`; `onStep` sees every step as it completes.
    public func generate(prompt: [Int], maxTokens: Int, maxSteps: Int = .max, onStep: ((StepRecord) -> Void)? = nil) throws -> SpeculativeResult {
        let config = model.config
        try AutoregressiveGenerator(model: model).checkPrompt(prompt)
        let clock = ContinuousClock()
        let start = clock.now
        let maxNodes = proposer.maxNodeCount
        // Room for a whole tree after the longest prefix.
        let state = model.makeState(cacheCapacity: config.maxSequenceLength + maxNodes)
        let prefixState = heads?.prefix.map { PrefixAttentionState(layer: $0, capacity: config.maxSequenceLength + maxNodes) }
        let D = config.dim, V = config.vocabularySize
        let promptOut = model.forward(tokens: prompt, positions: Array(0..<prompt.count), mask: .causal(prefix: 0, count: prompt.count), state: state)
        let logits = Array(promptOut.logits(prompt.count - 1))
        var hidden = Array(promptOut.hidden(prompt.count - 1))
        if let prefixState { for i in 0..<prompt.count { prefixState.feed(promptOut.hidden(i).baseAddress!) } }
        let promptEnd = clock.now

        var random = XorShiftRandom(seed: seed)
        var tokens: [Int] = []
        var steps: [StepRecord] = []
        var reason = StopReason.maxTokens
        var (root, rootProbability) = pickRoot(logits, random: &random)
        generation: while tokens.count < maxTokens && steps.count < maxSteps {
            // The base model's own next token ends the text (as BOS does in run.c): no step is drafted for it.
            if root == 1 { reason = .bos; break }
            let prefix = state.cache.count
            let stepStart = clock.now
            // Draft (or, when no tree fits in the context any more, verify the root alone).
            let fits = prefix + maxNodes <= config.maxSequenceLength
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
                                    mask: proposer.mask(prefix: prefix, nodes: nodes), state: state)
            let verdict = TreeVerifier.verify(nodes: nodes, vocabularySize: V, rule: rule, rootProbability: rootProbability,
                                              random: &random) { UnsafePointer(out.logits($0).baseAddress!) }
            let path = verdict.path
            let last = path.last!
            hidden = Array(out.hidden(last))
            // Keep the accepted path's keys and values right after the prefix.
            state.cache.keep(path.map { prefix + $0 }, after: prefix)
            if let prefixState { for i in path { prefixState.feed(out.hidden(i).baseAddress!) } }
            let bonusProbability = verdict.bonusProbability
            let verifyEnd = clock.now
            var emitted = path.map { nodes[$0].token }
            if let bos = emitted.firstIndex(of: 1) { emitted = Array(emitted[..<bos]); reason = .bos }
            emitted = Array(emitted.prefix(maxTokens - tokens.count))
            let records = nodes.indices.map {
                NodeRecord(node: nodes[$0], baseProbability: verdict.baseProbabilities[$0], threshold: verdict.thresholds[$0], outcome: verdict.outcomes[$0])
            }
            let record = StepRecord(step: steps.count + 1, prefixLength: prefix, nodes: records, acceptedPath: path, emitted: emitted,
                                    bonus: verdict.bonus, bonusProbability: bonusProbability,
                                    draftSeconds: (draftEnd - stepStart).seconds, verifySeconds: (verifyEnd - draftEnd).seconds)
            steps.append(record)
            inspectState?(record, state)
            onStep?(record)
            tokens += emitted
            if reason == .bos { break generation }
            root = verdict.bonus
            rootProbability = bonusProbability
        }
        let end = clock.now
        return SpeculativeResult(tokens: tokens, steps: steps, stopReason: reason,
                                 promptSeconds: (promptEnd - start).seconds, generationSeconds: (end - promptEnd).seconds)
    }

    /// Autoregressive decoding recorded as steps of one node each (for traces; `AutoregressiveGenerator` is faster).
    public static func autoregressive(model: Transformer, rule: AcceptanceRule = .greedy, seed: UInt64 = 42) throws -> SpeculativeDecoder {
        try SpeculativeDecoder(model: model, heads: nil, proposer: RootOnlyProposer(), rule: rule, seed: seed)
    }

    /// The first root: the argmax (greedy, typical) or a draw from the sampling target, with its probability.
    func pickRoot(_ logits: [Float], random: inout XorShiftRandom) -> (Int, Float) {
        let V = logits.count
        let p = logits.withUnsafeBufferPointer { rule.distribution($0.baseAddress!, count: V) }
        if case .sample = rule {
            let token = p.withUnsafeBufferPointer { TemperatureSampler.sampleMultinomial($0.baseAddress!, count: V, coin: random.nextFloat()) }
            return (token, p[token])
        }
        let token = Ops.argmax(logits, n: V)
        return (token, p[token])
    }

}

extension AttentionMask {
    /// A tree's `(n, n)` mask, expanded to `(n, prefix + n)` for any prefix length.
    public struct TreeTemplate: Sendable {
        let tree: [[Bool]]
        public init(_ tree: [[Bool]]) { self.tree = tree }
        public func mask(prefix: Int) -> AttentionMask { .tree(prefix: prefix, tree) }
    }
}
