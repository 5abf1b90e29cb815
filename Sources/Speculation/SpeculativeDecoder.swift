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
    /// The base model's probability of this token given its path, under the rule's distribution (reference §4).
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

/// Everything about one draft-and-verify step (reference §1: a step emits at least one token).
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
    /// The bonus token's text (filled in by traces, like the nodes' texts; nil in raw records).
    public var bonusText: String?
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

    public init(tokens: [Int], steps: [StepRecord], stopReason: StopReason, promptSeconds: Double, generationSeconds: Double) {
        self.tokens = tokens
        self.steps = steps
        self.stopReason = stopReason
        self.promptSeconds = promptSeconds
        self.generationSeconds = generationSeconds
    }
}

/// Speculative decoding with draft heads: draft a candidate tree below the base model's next token, verify every
/// node in one batched forward pass under a tree attention mask, keep the path the acceptance rule allows, and
/// compact the KV cache to it (lessons 2-4). With the greedy rule the output equals plain greedy decoding token for
/// token; with `sample` it is distributed as sampling from the base. A run is a loop over a `DecodingSession`.
public final class SpeculativeDecoder {
    public let model: any DecodingModel
    /// The draft heads (nil: autoregressive decoding through the same machinery, one node per step).
    public var heads: DraftHeadSet? { drafter.heads }
    public var proposer: CandidateProposer { drafter.proposer }
    public var rule: AcceptanceRule { drafter.rule }
    public let drafter: Drafter
    public let seed: UInt64
    /// Called after every step with the model's state (KV cache compacted to the accepted path), for tests
    /// and tools that inspect the cache (when the model is a `Transformer`).
    public var inspectState: ((StepRecord, InferenceState) -> Void)?

    /// A decoder running `drafter` on `model`.
    public init(model: any DecodingModel, drafter: Drafter, seed: UInt64 = 42) throws {
        if let heads = drafter.heads, let transformer = model as? Transformer {
            try DraftHeadsFile.check(heads, fits: transformer.weights, path: drafter.headsPath ?? "heads")
        }
        self.model = model
        self.drafter = drafter
        self.seed = seed
    }

    public convenience init(model: Transformer, heads: DraftHeadSet?, proposer: CandidateProposer, rule: AcceptanceRule = .greedy, seed: UInt64 = 42) throws {
        let kind: DecoderKind = switch heads?.config.kind {
        case nil: .ar
        case .medusa?: .medusa
        case .hydra?: .hydra
        case .hydraPlusPlus?: .hydraPlusPlus
        }
        let spec = DecoderSpec(decoder: kind, tree: proposer.treeName)
        try self.init(model: model, drafter: Drafter(spec: spec, heads: heads, headsPath: nil, proposer: proposer, rule: rule), seed: seed)
    }

    /// A decoder over a static tree.
    public convenience init(model: Transformer, heads: DraftHeadSet, tree: CandidateTree, rule: AcceptanceRule = .greedy, seed: UInt64 = 42) throws {
        let proposer = try TreeProposer(heads: heads, tree: tree, embedding: model.weights.tokenEmbedding)
        try self.init(model: model, heads: heads, proposer: proposer, rule: rule, seed: seed)
    }

    /// A session on `prompt` with this decoder (to step through it).
    public func session(prompt: [Int], maxTokens: Int = .max) throws -> DecodingSession {
        try DecodingSession(model: model, drafter: drafter, prompt: prompt, seed: seed, maxTokens: maxTokens)
    }

    /// Decodes up to `maxTokens` tokens (and at most `maxSteps` steps) after `prompt`; `onStep` sees every step as it completes.
    public func generate(prompt: [Int], maxTokens: Int, maxSteps: Int = .max, onStep: ((StepRecord) -> Void)? = nil) throws -> SpeculativeResult {
        let clock = ContinuousClock()
        let session = try session(prompt: prompt, maxTokens: maxTokens)
        let start = clock.now
        while session.stopReason == nil && session.steps.count < maxSteps {
            guard let record = try session.step() else { break }
            if let inspectState, let state = session.decodingCache as? InferenceState { inspectState(record, state) }
            onStep?(record)
        }
        return session.result(generationSeconds: (clock.now - start).seconds)
    }

    /// Autoregressive decoding recorded as steps of one node each (for traces; `AutoregressiveGenerator` is faster).
    public static func autoregressive(model: any DecodingModel, rule: AcceptanceRule = .greedy, seed: UInt64 = 42) throws -> SpeculativeDecoder {
        try SpeculativeDecoder(model: model, drafter: .autoregressive(rule: rule), seed: seed)
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
