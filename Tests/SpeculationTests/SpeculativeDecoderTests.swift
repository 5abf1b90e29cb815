import Foundation
import Testing
import TestSupport
import DraftHeads
import LanguageModel
import Numerics
import Speculation

/// The project's most important property: greedy speculative output equals greedy autoregressive output.
@Suite("Speculative decoding", .serialized)
struct SpeculativeDecoderTests {
    static let loaded = Loaded { () throws -> (TransformerWeights, Transformer) in
        let weights = try Checkpoint.read(PackagePaths.fixture("models/stories260K/model.bin"))
        return (weights, Transformer(weights: weights))
    }
    static var stories: TransformerWeights { get throws { try loaded.get().0 } }
    static var model: Transformer { get throws { try loaded.get().1 } }

    static func autoregressive(_ prompt: [Int], _ n: Int) throws -> [Int] {
        var greedy = GreedySampler()
        return try AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: n, sampler: &greedy).tokens
    }

    /// Heads of `kind` for stories260K: fresh (zero-initialised) or randomly perturbed so proposals vary.
    static func heads(_ kind: DraftHeadKind, perturbed: Bool, prefix: Bool = false) throws -> DraftHeadSet {
        let set = DraftHeadSet(kind: kind, heads: 4, blocks: 1, base: try stories, prefixAttention: prefix)
        if perturbed {
            var rng = XorShiftRandom(seed: 17)
            for (name, t) in set.namedTensors where !name.contains("rms_") { for i in 0..<t.count { t[i] += 0.05 * rng.nextGaussian() } }
        }
        return set
    }

    // Kept small: the suite runs as a debug build, where a step over mc_sim_7b_63 takes tens of milliseconds.
    static let prompts: [[Int]] = [[1], [1, 22, 15, 90, 117, 9, 300, 45, 61, 7]]
    static let length = 64
    /// Plain greedy continuations of the prompts: the reference every decoder must reproduce.
    static let expectedLoaded = Loaded { try prompts.map { try autoregressive($0, length) } }
    static var expected: [[Int]] { get throws { try expectedLoaded.get() } }
    static let presets = PackagePaths.trees

    @Test("speculative == autoregressive, token for token, for every head kind and tree",
          arguments: ["chain-1", "chain-4", "binary-3", "mc_sim_7b_63"])
    func equivalence(treeName: String) throws {
        let tree = try CandidateTree.load(treeName, presetFolder: Self.presets)
        for (kind, perturbed, prefix) in [(DraftHeadKind.medusa, false, false), (.medusa, true, false), (.hydra, true, false), (.hydraPlusPlus, true, true)] {
            let decoder = try SpeculativeDecoder(model: Self.model, heads: Self.heads(kind, perturbed: perturbed, prefix: prefix), tree: tree)
            for (prompt, expected) in zip(Self.prompts, try Self.expected) {
                let result = try decoder.generate(prompt: prompt, maxTokens: Self.length)
                #expect(result.tokens == expected, "\(treeName), \(kind), perturbed \(perturbed), prompt \(prompt)")
                // A step emits at most one token per tree level plus the root, along a root-to-node chain of the tree.
                #expect(result.steps.allSatisfy { $0.emitted.count <= tree.depth + 1 })
                for step in result.steps {
                    #expect(step.acceptedPath.enumerated().dropFirst().allSatisfy { step.nodes[$0.element].parent == step.acceptedPath[$0.offset - 1] })
                }
            }
        }
    }

    @Test("fresh Medusa heads predict the base's next token, so on a chain their first guess is often accepted")
    func freshMedusaAcceptance() throws {
        // A fresh head k returns the base's next-token distribution at t, i.e. it guesses x_{t+1} for x_{t+k+1}:
        // accepted exactly when the text repeats a token, which stories260K's greedy output does (e.g. "431 431 431").
        let decoder = try SpeculativeDecoder(model: Self.model, heads: Self.heads(.medusa, perturbed: false), tree: try .chain(1))
        let result = try decoder.generate(prompt: [1], maxTokens: 200)
        let greedy = try Self.autoregressive([1], 200)
        #expect(result.tokens == greedy)
        #expect(result.meanAcceptance > 1.05)
        // Checked against plain greedy decoding, not against what the decoder records about itself: the guess is the
        // root token again, and it is accepted exactly when greedy decoding repeats that token.
        var position = 0
        for step in result.steps where position + 1 < greedy.count {
            #expect(step.nodes.count == 2 && step.nodes[1].token == step.nodes[0].token, "step \(step.step)")
            #expect((step.emitted.count == 2) == (greedy[position + 1] == greedy[position]), "step \(step.step)")
            position += step.emitted.count
        }
    }

    @Test("running to the context limit emits exactly what autoregressive decoding emits")
    func contextLimit() throws {
        let config = ModelConfig(dim: 16, hiddenDim: 32, layers: 1, heads: 2, kvHeads: 1, vocabularySize: 40, maxSequenceLength: 24)
        let weights = TransformerWeights(random: config, seed: 3)
        // Large embeddings so that the random model is not stuck on one token and never says BOS.
        var rng = XorShiftRandom(seed: 2)
        for i in 0..<weights.tokenEmbedding.count { weights.tokenEmbedding[i] = rng.nextGaussian() }
        for i in 0..<config.dim { weights.tokenEmbedding[config.dim + i] = -5 }
        let model = Transformer(weights: weights)
        var greedy = GreedySampler()
        let ar = try AutoregressiveGenerator(model: model).generate(prompt: [1, 5, 6], maxTokens: 100, sampler: &greedy)
        let heads = DraftHeadSet(kind: .hydra, heads: 3, blocks: 1, base: weights)
        let spec = try SpeculativeDecoder(model: model, heads: heads, tree: try CandidateTree.load("binary-3", presetFolder: nil))
            .generate(prompt: [1, 5, 6], maxTokens: 100)
        #expect(spec.tokens == ar.tokens)
        #expect(spec.stopReason == ar.stopReason)
    }

    @Test("typical acceptance with an unreachable bar accepts nothing, so it decodes exactly as greedy ar; a low bar accepts more")
    func typicalLimits() throws {
        let tree = try CandidateTree.load("binary-3", presetFolder: nil)
        let heads = try Self.heads(.hydra, perturbed: true)
        let strict = try SpeculativeDecoder(model: Self.model, heads: heads, tree: tree,
                                            rule: .typical(TypicalAcceptance(epsilon: 1, delta: 100, temperature: 1)))
        let result = try strict.generate(prompt: Self.prompts[1], maxTokens: Self.length)
        #expect(result.tokens == (try Self.expected[1]))
        #expect(result.meanAcceptance == 1)
        let loose = try SpeculativeDecoder(model: Self.model, heads: heads, tree: tree,
                                           rule: .typical(TypicalAcceptance(epsilon: 0.001, delta: 0.001, temperature: 1)))
        let looser = try loose.generate(prompt: Self.prompts[1], maxTokens: Self.length)
        #expect(looser.meanAcceptance > 1.2)
        for step in looser.steps {
            for node in step.nodes where node.outcome == .accepted && node.depth > 0 { #expect(node.baseProbability > node.threshold!) }
        }
    }

    @Test("sampling: the same seed gives the same tokens, another seed other tokens; every step's nodes are consistent")
    func samplingDeterminism() throws {
        let tree = try CandidateTree.load("fork-2x2", presetFolder: nil)
        let heads = try Self.heads(.hydra, perturbed: true)
        let rule = AcceptanceRule.sample(SamplingTarget(temperature: 1, topP: 1))
        let a = try SpeculativeDecoder(model: Self.model, heads: heads, tree: tree, rule: rule, seed: 3).generate(prompt: [1], maxTokens: 48)
        let b = try SpeculativeDecoder(model: Self.model, heads: heads, tree: tree, rule: rule, seed: 3).generate(prompt: [1], maxTokens: 48)
        let c = try SpeculativeDecoder(model: Self.model, heads: heads, tree: tree, rule: rule, seed: 4).generate(prompt: [1], maxTokens: 48)
        let untimed = { (steps: [StepRecord]) in steps.map { var s = $0; s.draftSeconds = nil; s.verifySeconds = nil; return s } }
        #expect(a.tokens == b.tokens && untimed(a.steps) == untimed(b.steps))
        #expect(a.tokens != c.tokens)
        for step in a.steps {
            // At most one child per node is accepted, and the accepted path is a chain from the root.
            for (i, index) in step.acceptedPath.enumerated().dropFirst() { #expect(step.nodes[index].parent == step.acceptedPath[i - 1]) }
            #expect(step.nodes.filter { $0.outcome == .accepted }.count == step.acceptedPath.count)
        }
    }
}
