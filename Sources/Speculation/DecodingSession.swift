import Foundation
import DraftHeads
import LanguageModel
import Numerics

/// What a proposer may read when it drafts: the base model's hidden state after the last accepted token, and the
/// tokens so far (prompt and emitted), for drafters that look at the text itself (toy transition tables).
public struct DraftContext {
    /// `(D)` the state the heads read: the base model's last hidden state, or Hydra++'s prefix-attention output.
    public let hidden: UnsafePointer<Float>
    /// Prompt and emitted tokens, oldest first (the pending root not included).
    public let tokens: [Int]
}

/// A step-by-step speculative decoding of one prompt that can go back and try other decoders on the same prefix.
///
/// `step()` runs one draft-and-verify step (reference §3-4 as the lessons tell it: draft a tree below the pending root,
/// verify it in one pass under tree attention, keep the path the rule accepts, compact the cache to it) and returns
/// its `StepRecord`. Because compaction leaves the accepted prefix in consecutive cache slots, the state before any
/// step is just a cache length, the pending root, the random generator and the emitted tokens: `back(n)` and
/// `goto(_:)` restore it by truncation, without decoding again (going forward re-runs the steps, which gives the
/// same records). `draft(with:)` drafts and verifies the current prefix with another decoder and then truncates
/// back, so the session's next step is unchanged. `SpeculativeDecoder.generate` is a loop over `step()`.
public final class DecodingSession {
    public let model: any DecodingModel
    public let prompt: [Int]
    /// The random seed of sampled roots and bonus tokens (the sampling rule).
    public let seed: UInt64
    /// Tokens to emit at most.
    public let maxTokens: Int
    /// The decoder that runs the next step (changing it keeps the steps taken so far; the recorded future is dropped).
    public var drafter: Drafter { didSet { future.removeAll() } }
    /// The steps taken, in order (`steps.count` is the position).
    public private(set) var steps: [StepRecord] = []
    /// Emitted tokens so far.
    public private(set) var tokens: [Int] = []
    /// Why decoding stopped, once it has (nil while it can step).
    public private(set) var stopReason: StopReason?
    /// Seconds spent on the prompt's forward pass.
    public private(set) var promptSeconds: Double = 0

    /// Steps that were taken and then gone back over, still reachable with `goto` (dropped when settings change).
    public private(set) var future: [StepRecord] = []
    /// When true, every step keeps `StepDetails` (the base model's top tokens after every node, the drafter and the
    /// state its heads read), for tools that explain a step (the REPL's `node` and `probs`). Off for plain runs.
    public var capturesDetails = false
    /// Details of the steps taken (aligned with `steps` when `capturesDetails`), and of the last `draft(with:)`.
    public private(set) var details: [StepDetails] = []
    public private(set) var lastDraftDetails: StepDetails?
    private var futureDetails: [StepDetails] = []
    private let cache: any DecodingCache
    /// `(T, D)` the base hidden state of every token in the cache (prompt + accepted), for the heads and to rebuild
    /// Hydra++'s prefix-attention state for any heads.
    private var acceptedHidden: [Float] = []
    private var pending: Pending
    private var snapshots: [Pending] = []
    private var prefixStates: [ObjectIdentifier: PrefixAttentionState] = [:]
    private let capacity: Int
    private var lastRunDetails: StepDetails?

    // Scratch a step reuses (sized at the start, grown when a larger drafter runs), so that a step allocates only its record.
    /// Prompt and emitted tokens, oldest first (`context`, what drafters that read the text see).
    private var contextTokens: [Int]
    /// `(D)` the state the heads read this step.
    private let headStateBuffer: Tensor
    /// The drafted tree of the step being run, root first.
    private var proposal: [DraftNode] = []
    /// `(n)` the tree's tokens, parents and position ids, as the verification pass reads them.
    private var verifyTokens: [Int] = []
    private var verifyParents: [Int] = []
    private var verifyPositions: [Int] = []
    /// Cache slots of the accepted path, for KV compaction.
    private var keptSlots: [Int] = []
    private let verifier = TreeVerifier.Workspace()

    /// The state between steps: what `back` restores.
    struct Pending {
        var root: Int
        var rootProbability: Float
        var random: XorShiftRandom
        var cacheCount: Int
        var tokenCount: Int
        var stopReason: StopReason?
    }

    /// A session on `prompt` (BOS included if wanted) that runs `drafter`; the prompt's forward pass runs here.
    /// `extraCapacity` reserves cache room for larger trees tried later with `draft(with:)` or a new `drafter`.
    public init(model: any DecodingModel, drafter: Drafter, prompt: [Int], seed: UInt64 = 42, maxTokens: Int = .max,
                extraCapacity: Int = 256) throws {
        guard !prompt.isEmpty else { throw GenerationError("the prompt is empty: give at least one token (BOS is 1)") }
        guard prompt.count <= model.contextLength else {
            throw GenerationError("the prompt has \(prompt.count) tokens but the model's context is \(model.contextLength)")
        }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= model.vocabularySize }) {
            throw GenerationError("prompt token \(bad) is outside the vocabulary (0..<\(model.vocabularySize))")
        }
        guard maxTokens >= 0 else { throw GenerationError("max tokens must be at least 0, got \(maxTokens)") }
        self.model = model
        self.prompt = prompt
        self.seed = seed
        self.maxTokens = maxTokens
        self.drafter = drafter
        capacity = model.contextLength + max(drafter.proposer.maxNodeCount, extraCapacity)
        cache = model.makeCache(capacity: capacity)
        let D = model.hiddenSize
        headStateBuffer = Tensor(zeros: [D])
        // Every step adds at least one token to the cache, which holds at most the context: room for all steps up front.
        let mostSteps = model.contextLength + 1
        contextTokens = prompt
        contextTokens.reserveCapacity(prompt.count + mostSteps)
        tokens.reserveCapacity(mostSteps)
        steps.reserveCapacity(mostSteps)
        snapshots.reserveCapacity(mostSteps + 1)
        acceptedHidden.reserveCapacity(capacity * D)
        let clock = ContinuousClock()
        let start = clock.now
        let out = model.forward(tokens: prompt, parents: prompt.indices.map { $0 - 1 }, positions: Array(prompt.indices), cache: cache)
        for i in 0..<prompt.count { acceptedHidden.append(contentsOf: UnsafeBufferPointer(start: out.hidden(i), count: D)) }
        var random = XorShiftRandom(seed: seed)
        let (root, p) = Self.pickRoot(out.logits(prompt.count - 1), vocabularySize: model.vocabularySize, rule: drafter.rule, random: &random)
        pending = Pending(root: root, rootProbability: p, random: random, cacheCount: cache.count, tokenCount: 0, stopReason: nil)
        promptSeconds = (clock.now - start).seconds
        if maxTokens == 0 { pending.stopReason = .maxTokens }
        if root == model.endToken { pending.stopReason = .bos }
        stopReason = pending.stopReason
        snapshots.append(pending)
        reserveScratch(for: drafter)
    }

    /// Sizes the step's scratch for `d`'s largest tree (a no-op once it has room).
    private func reserveScratch(for d: Drafter) {
        let n = d.proposer.maxNodeCount
        proposal.reserveCapacity(n)
        verifyTokens.reserveCapacity(n)
        verifyParents.reserveCapacity(n)
        verifyPositions.reserveCapacity(n)
        keptSlots.reserveCapacity(n)
        verifier.reserve(nodes: n, vocabularySize: model.vocabularySize)
    }

    /// The model's cache (for tools that inspect it: the REPL's `kv`, tests).
    public var decodingCache: any DecodingCache { cache }
    /// The cache's capacity: the context plus room for the largest tree.
    public var cacheCapacity: Int { capacity }

    /// Steps taken so far (the position in the history).
    public var position: Int { steps.count }
    /// The base model's own next token, which the next step's tree grows from.
    public var pendingRoot: Int { pending.root }
    /// Tokens in the cache: prompt + emitted (the pending root is not in it yet).
    public var prefixLength: Int { pending.cacheCount }
    /// Prompt and emitted tokens so far.
    public var context: [Int] { contextTokens }
    /// Mean tokens per step so far (tau).
    public var meanAcceptance: Double { steps.isEmpty ? 0 : Double(tokens.count) / Double(steps.count) }

    // MARK: Moving

    /// Runs one draft-and-verify step with the current drafter; nil when decoding has stopped.
    @discardableResult
    public func step() throws -> StepRecord? {
        guard pending.stopReason == nil else { return nil }
        if pending.cacheCount == model.contextLength {
            // The cache is full: the pending root is the last token, as in run.c (no step verifies it).
            tokens.append(pending.root)
            contextTokens.append(pending.root)
            stopReason = .contextLimit
            pending.stopReason = .contextLimit
            pending.tokenCount = tokens.count
            future.removeAll()
            return nil
        }
        var random = pending.random
        let record = try run(drafter, number: steps.count + 1, random: &random, advance: true)
        steps.append(record)
        if let d = lastRunDetails { details.append(d) }
        if let next = future.first, Self.sameOutcome(next, record) {
            future.removeFirst()
            if !futureDetails.isEmpty { futureDetails.removeFirst() }
        } else {
            future.removeAll()
            futureDetails.removeAll()
        }
        snapshots.append(pending)
        stopReason = pending.stopReason
        return record
    }

    /// Goes back `n` steps (restores the state before the last `n` steps); the steps gone back over stay reachable with `goto`.
    public func back(_ n: Int = 1) throws {
        guard n >= 0 else { throw SessionError("back takes a number of steps of at least 0, got \(n)") }
        guard n <= steps.count else {
            throw SessionError(steps.isEmpty ? "already at the start: no step to go back over"
                                             : "cannot go back \(n) steps: only \(steps.count) taken (back \(steps.count) returns to the start)")
        }
        try restore(to: steps.count - n)
    }

    /// Moves to the position after step `k` (0: the start, before any step): back by truncation, forward by re-running
    /// the recorded steps (which gives the same records).
    public func goto(_ k: Int) throws {
        let reachable = steps.count + future.count
        guard k >= 0 && k <= reachable else {
            throw SessionError("step \(k) is not in the history: positions 0...\(reachable) (0 is the start\(future.isEmpty ? "" : ", \(steps.count + 1)...\(reachable) were stepped before going back"))")
        }
        if k <= steps.count { try restore(to: k); return }
        while steps.count < k { guard try step() != nil else { break } }
    }

    /// Back to the start (the prompt's pending root), keeping every step taken reachable with `goto`.
    public func restart() throws { try restore(to: 0) }

    private func restore(to k: Int) throws {
        precondition(k >= 0 && k <= steps.count)
        future = Array(steps[k...]) + future
        steps.removeSubrange(k...)
        if k < details.count {
            futureDetails = Array(details[k...]) + futureDetails
            details.removeSubrange(k...)
        }
        snapshots.removeSubrange((k + 1)...)
        pending = snapshots[k]
        tokens.removeSubrange(pending.tokenCount...)
        contextTokens.removeSubrange((prompt.count + pending.tokenCount)...)
        cache.truncate(to: pending.cacheCount)
        acceptedHidden.removeSubrange((pending.cacheCount * model.hiddenSize)...)
        stopReason = pending.stopReason
    }

    /// Draws sampled roots and bonus tokens from a generator seeded with `seed` from here on (the history stays).
    public func reseed(_ seed: UInt64) {
        pending.random = XorShiftRandom(seed: seed)
        snapshots[snapshots.count - 1] = pending
        future.removeAll()
        futureDetails.removeAll()
    }

    // MARK: Trying

    /// Drafts and verifies the current prefix with `other` (another decoder, heads, tree or rule) without advancing:
    /// the cache is cut back afterwards, and the session's random generator is not used, so the next `step()` is unchanged.
    public func draft(with other: Drafter) throws -> StepRecord {
        if let reason = pending.stopReason { throw SessionError("decoding has stopped (\(reason.explanation)): nothing to draft") }
        guard pending.cacheCount < model.contextLength else { throw SessionError("the context is full: nothing to draft") }
        var random = pending.random
        let saved = pending
        defer {
            cache.truncate(to: saved.cacheCount)
            acceptedHidden.removeSubrange((saved.cacheCount * model.hiddenSize)...)
            pending = saved
        }
        let record = try run(other, number: steps.count + 1, random: &random, advance: false)
        lastDraftDetails = lastRunDetails
        return record
    }

    // MARK: The step

    /// One step with `d`: draft, verify in one pass, accept, compact; updates `pending` when `advance`.
    ///
    /// Drafting, verification and compaction run on the session's scratch (and the proposer's, the verifier's and the
    /// model's): after the first step a step allocates only its record, one array each for the nodes' records, the
    /// accepted path and the emitted tokens (`AllocationTests` holds it to that).
    private func run(_ d: Drafter, number: Int, random: inout XorShiftRandom, advance: Bool) throws -> StepRecord {
        let clock = ContinuousClock()
        let stepStart = clock.now
        let prefix = pending.cacheCount
        let D = model.hiddenSize, V = model.vocabularySize
        let root = pending.root
        let maxNodes = d.proposer.maxNodeCount
        guard prefix + maxNodes <= capacity else {
            throw SessionError("a tree of \(maxNodes) nodes does not fit after \(prefix) tokens (the cache holds \(capacity))")
        }
        reserveScratch(for: d)
        // Draft (or, when no tree fits in the context any more, verify the root alone).
        let fits = prefix + maxNodes <= model.contextLength
        if fits {
            // The state the heads read (also kept in the step's details) is in `headStateBuffer`.
            let heads = try writeHeadState(d, count: prefix)
            d.proposer.propose(root: root, context: DraftContext(hidden: heads, tokens: contextTokens), into: &proposal)
        } else {
            proposal.removeAll(keepingCapacity: true)
            proposal.append(DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1))
        }
        let draftEnd = clock.now
        // Verify every node in one forward pass: tree attention after the prefix, positions prefix + depth.
        verifyTokens.removeAll(keepingCapacity: true)
        verifyParents.removeAll(keepingCapacity: true)
        verifyPositions.removeAll(keepingCapacity: true)
        for node in proposal {
            verifyTokens.append(node.token)
            verifyParents.append(node.parent)
            verifyPositions.append(prefix + node.depth)
        }
        let out = verifyTokens.withUnsafeBufferPointer { tokens in
            verifyParents.withUnsafeBufferPointer { parents in
                verifyPositions.withUnsafeBufferPointer { model.forward(tokens: tokens, parents: parents, positions: $0, cache: cache) }
            }
        }
        verifier.verify(nodes: proposal, vocabularySize: V, rule: d.rule, rootProbability: pending.rootProbability, random: &random) {
            out.logits($0)
        }
        let path = verifier.path
        lastRunDetails = nil
        if capturesDetails {
            let baseTop = proposal.indices.map { i in
                d.rule.distribution(out.logits(i), count: V).withUnsafeBufferPointer { TokenProbability.top($0.baseAddress!, count: V, k: StepDetails.topCount) }
            }
            lastRunDetails = StepDetails(drafter: d, headState: fits ? headStateBuffer.array : [], baseTop: baseTop)
        }
        // Keep the accepted path's keys and values right after the prefix.
        keptSlots.removeAll(keepingCapacity: true)
        for i in path { keptSlots.append(prefix + i) }
        cache.keep(keptSlots, after: prefix)
        for i in path { acceptedHidden.append(contentsOf: UnsafeBufferPointer(start: out.hidden(i), count: D)) }
        let verifyEnd = clock.now
        // Emitted: the accepted tokens before any end token, at most what is left of maxTokens.
        var emittedCount = path.count
        var reason: StopReason?
        if let end = path.firstIndex(where: { proposal[$0].token == model.endToken }) { emittedCount = end; reason = .bos }
        emittedCount = min(emittedCount, maxTokens - tokens.count)
        if reason == nil && tokens.count + emittedCount >= maxTokens { reason = .maxTokens }
        if reason == nil && verifier.bonus == model.endToken { reason = .bos }
        // The record: one array each for the nodes, the accepted path and the emitted tokens.
        let outcomes = verifier.outcomes, baseProbabilities = verifier.baseProbabilities, thresholds = verifier.thresholds
        let records = proposal.indices.map {
            NodeRecord(node: proposal[$0], baseProbability: baseProbabilities[$0], threshold: thresholds[$0], outcome: outcomes[$0])
        }
        let emitted = path[..<emittedCount].map { proposal[$0].token }
        let record = StepRecord(step: number, prefixLength: prefix, nodes: records, acceptedPath: Array(path), emitted: emitted,
                                bonus: verifier.bonus, bonusProbability: verifier.bonusProbability,
                                draftSeconds: (draftEnd - stepStart).seconds, verifySeconds: (verifyEnd - draftEnd).seconds)
        if advance {
            tokens += emitted
            contextTokens += emitted
            pending = Pending(root: verifier.bonus, rootProbability: verifier.bonusProbability, random: random, cacheCount: cache.count,
                              tokenCount: tokens.count, stopReason: reason)
        }
        return record
    }

    /// Writes the `(D)` state `d`'s heads read after `count` cached tokens into `headStateBuffer` and returns it: the
    /// last hidden state, or for heads with a prefix-attention layer (Hydra++) that layer's output, its cache kept in
    /// step with the accepted tokens (fed the tokens accepted since, in one pass). Allocates nothing once the layer's
    /// state exists.
    private func writeHeadState(_ d: Drafter, count: Int) throws -> UnsafePointer<Float> {
        let D = model.hiddenSize
        guard count >= 1 else { throw SessionError("no token in the cache to draft from") }
        guard let heads = d.heads, heads.prefix != nil else {
            acceptedHidden.withUnsafeBufferPointer { headStateBuffer.pointer.update(from: $0.baseAddress! + (count - 1) * D, count: D) }
            return UnsafePointer(headStateBuffer.pointer)
        }
        // The prefix layer in the precision the proposer drafts in (its own state per copy of the weights).
        let drafting = d.proposer.draftingHeads.flatMap { $0.set === heads ? $0.prefix : nil } ?? heads.drafting(.single).prefix!
        let key = ObjectIdentifier(drafting)
        let state: PrefixAttentionState
        if let made = prefixStates[key] {
            state = made
        } else {
            state = PrefixAttentionState(drafting: drafting, capacity: capacity)
            // A step feeds the tokens the last one accepted: at most the deepest path and the root.
            state.reserve(rows: d.proposer.maxDepth + 1)
            prefixStates[key] = state
        }
        // Cut back to one before the end and re-feed the last accepted state, so `output` is at position count - 1.
        if state.cache.count >= count { state.cache.truncate(to: count - 1) }
        acceptedHidden.withUnsafeBufferPointer { all in
            // Every accepted state not fed yet, in one pass (bit-identical to feeding them one at a time).
            let fed = state.cache.count
            state.feed(consecutive: all.baseAddress! + fed * D, count: count - fed)
        }
        headStateBuffer.pointer.update(from: state.output.pointer, count: D)
        return UnsafePointer(headStateBuffer.pointer)
    }

    /// The `(D)` state the heads of `heads` read after the first `count` cached tokens (`count` at most the cache length):
    /// the base hidden state of token `count - 1`, or the prefix-attention layer's output there.
    public func headState(for drafter: Drafter, afterTokens count: Int) throws -> [Float] {
        guard count >= 1 && count <= pending.cacheCount else { throw SessionError("no state after \(count) tokens: the cache holds \(pending.cacheCount)") }
        return Array(UnsafeBufferPointer(start: try writeHeadState(drafter, count: count), count: model.hiddenSize))
    }

    /// The first root: the argmax (greedy, typical) or a draw from the sampling target, with its probability.
    static func pickRoot(_ logits: UnsafePointer<Float>, vocabularySize V: Int, rule: AcceptanceRule, random: inout XorShiftRandom) -> (Int, Float) {
        let p = rule.distribution(logits, count: V)
        if case .sample = rule {
            let token = p.withUnsafeBufferPointer { TemperatureSampler.sampleMultinomial($0.baseAddress!, count: V, coin: random.nextFloat()) }
            return (token, p[token])
        }
        let token = Ops.argmax(logits, n: V)
        return (token, p[token])
    }

    /// Two records of the same step agree on everything but wall-clock time.
    static func sameOutcome(_ a: StepRecord, _ b: StepRecord) -> Bool {
        var a = a, b = b
        a.draftSeconds = nil; a.verifySeconds = nil
        b.draftSeconds = nil; b.verifySeconds = nil
        return a == b
    }

    /// The run so far as a result (for traces and `generate`).
    public func result(generationSeconds: Double = 0) -> SpeculativeResult {
        SpeculativeResult(tokens: tokens, steps: steps, stopReason: stopReason ?? .maxSteps, promptSeconds: promptSeconds,
                          generationSeconds: generationSeconds)
    }
}

/// A session command that cannot be done (going back past the start, a step not in the history): one line.
public struct SessionError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

extension CandidateProposer {
    /// Drafts below `root` from a `DraftContext` (the default reads its hidden state).
    public func propose(root: Int, context: DraftContext) -> [DraftNode] {
        if let contextual = self as? ContextualProposer { return contextual.propose(root: root, tokens: context.tokens) }
        return propose(root: root, state: context.hidden)
    }

    /// `propose(root:context:)` written into `nodes` (emptied first, its capacity kept): what a session calls every step.
    public func propose(root: Int, context: DraftContext, into nodes: inout [DraftNode]) {
        if let contextual = self as? ContextualProposer { contextual.propose(root: root, tokens: context.tokens, into: &nodes); return }
        propose(root: root, state: context.hidden, into: &nodes)
    }
}

/// A proposer that drafts from the tokens so far rather than from a hidden state (toy heads given as transition tables).
public protocol ContextualProposer: CandidateProposer {
    func propose(root: Int, tokens: [Int]) -> [DraftNode]
    /// `propose(root:tokens:)` written into `nodes`; the default assigns its array.
    func propose(root: Int, tokens: [Int], into nodes: inout [DraftNode])
}

extension ContextualProposer {
    public func propose(root: Int, tokens: [Int], into nodes: inout [DraftNode]) {
        nodes = propose(root: root, tokens: tokens)
    }
}

/// A token and its probability.
public struct TokenProbability: Codable, Equatable, Sendable {
    public var token: Int
    public var probability: Float
    public init(token: Int, probability: Float) {
        self.token = token
        self.probability = probability
    }

    /// The `k` most likely tokens of `p (count)`, most likely first, ties by lower id (partial selection, no full sort).
    public static func top(_ p: UnsafePointer<Float>, count: Int, k: Int) -> [TokenProbability] {
        var best: [TokenProbability] = []
        best.reserveCapacity(k + 1)
        for v in 0..<count {
            if best.count == k, let last = best.last, p[v] <= last.probability { continue }
            var i = best.count
            while i > 0 && best[i - 1].probability < p[v] { i -= 1 }
            best.insert(TokenProbability(token: v, probability: p[v]), at: i)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}

/// What explains a step beyond its record: the drafter that drafted it, the state its heads read, and the base model's
/// most likely tokens after every node (under the rule's distribution), kept when `capturesDetails` is on.
public struct StepDetails {
    /// How many of the base model's top tokens are kept per node.
    public static let topCount = 8
    public var drafter: Drafter
    /// `(D)` the state the heads read for this step.
    public var headState: [Float]
    /// Per node: the base model's `topCount` most likely next tokens after it.
    public var baseTop: [[TokenProbability]]
}

/// An aligned contrast: one decoder leads, and before each of its steps every follower drafts and verifies the same
/// prefix (a fork), so each step compares the heads on one prefix, the contrast the Hydra paper is about.
public enum AlignedDecoding {
    /// The leader's run, and per follower its forks (one per leader step, same step numbers and prefix lengths) as a
    /// result whose `tokens` are the leader's text.
    public static func run(model: any DecodingModel, leader: Drafter, followers: [Drafter], prompt: [Int], seed: UInt64,
                           maxTokens: Int, maxSteps: Int) throws -> (leader: SpeculativeResult, followers: [SpeculativeResult]) {
        let extra = followers.map(\.proposer.maxNodeCount).max() ?? 0
        let session = try DecodingSession(model: model, drafter: leader, prompt: prompt, seed: seed, maxTokens: maxTokens,
                                          extraCapacity: max(256, extra))
        var forks = [[StepRecord]](repeating: [], count: followers.count)
        while session.stopReason == nil && session.steps.count < maxSteps {
            guard session.prefixLength < model.contextLength else { try session.step(); break }
            let drafted = try followers.map { try session.draft(with: $0) }
            guard try session.step() != nil else { break }
            for i in followers.indices { forks[i].append(drafted[i]) }
        }
        let lead = session.result()
        let others = forks.map {
            SpeculativeResult(tokens: lead.tokens, steps: $0, stopReason: lead.stopReason, promptSeconds: 0, generationSeconds: 0)
        }
        return (lead, others)
    }
}
