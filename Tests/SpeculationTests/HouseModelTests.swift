import Foundation
import Testing
import TestSupport
import DraftHeads
import LanguageModel
import Numerics
import Speculation

/// The shipped house model with its shipped heads: every decoder reproduces greedy decoding, and the
/// trained heads are accepted more often than untrained ones would be.
@Suite("House model with the shipped heads", .serialized)
struct HouseModelTests {
    static let folder = PackagePaths.fixtures.appendingPathComponent("models/house")
    static let loaded = Loaded { () throws -> (TransformerWeights, Transformer, BPETokenizer, [[Int]], [[Int]]) in
        let weights = try Checkpoint.read(folder.appendingPathComponent("model.bin").path)
        let model = Transformer(weights: weights)
        let tokenizer = try BPETokenizer(contentsOf: folder.appendingPathComponent("tokenizer.bin").path,
                                         expectedVocabularySize: weights.config.vocabularySize)
        let prompts = ["ROMEO:", "First Citizen:\nBefore we proceed any further, hear me speak."].map { tokenizer.encode($0, bos: true, eos: false) }
        let expected = try prompts.map { prompt in
            var greedy = GreedySampler()
            return try AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: length, sampler: &greedy).tokens
        }
        return (weights, model, tokenizer, prompts, expected)
    }
    static var weights: TransformerWeights { get throws { try loaded.get().0 } }
    static var model: Transformer { get throws { try loaded.get().1 } }
    static var tokenizer: BPETokenizer { get throws { try loaded.get().2 } }
    static var prompts: [[Int]] { get throws { try loaded.get().3 } }
    static let length = 40
    /// Plain greedy continuations of the prompts.
    static var expected: [[Int]] { get throws { try loaded.get().4 } }

    static func heads(_ name: String) throws -> DraftHeadSet {
        try DraftHeadsFile.read(folder.appendingPathComponent("\(name).heads").path, base: weights)
    }

    @Test("greedy speculation == greedy ar on the house model, heads drafting in f32 and in f16",
          arguments: [("medusa", "chain-3", WeightPrecision.single), ("hydra", "fork-2x2", .single), ("hydra++", "mc_sim_7b_63", .single),
                      ("hydra", "dynamic", .single), ("medusa", "chain-3", .half), ("hydra", "fork-2x2", .half),
                      ("hydra++", "mc_sim_7b_63", .half), ("hydra++", "dynamic", .half)])
    func equivalence(heads name: String, tree: String, precision: WeightPrecision) throws {
        let set = try Self.heads(name)
        let proposer: CandidateProposer = tree == "dynamic"
            ? try DynamicTreeProposer(heads: set, embedding: Self.weights.tokenEmbedding, budget: 12, width: 3, precision: precision)
            : try TreeProposer(heads: set, tree: CandidateTree.load(tree, presetFolder: PackagePaths.trees), embedding: Self.weights.tokenEmbedding,
                               precision: precision)
        let decoder = try SpeculativeDecoder(model: Self.model, heads: set, proposer: proposer)
        var steps = 0
        for (prompt, expected) in zip(try Self.prompts, try Self.expected) {
            let result = try decoder.generate(prompt: prompt, maxTokens: Self.length)
            #expect(result.tokens == expected, "\(name) on \(tree) in \(precision)")
            steps += result.steps.count
        }
        // Trained heads are right often enough that a step emits more than one token on average.
        let tau = Double(try Self.expected.map(\.count).reduce(0, +)) / Double(steps)
        #expect(tau > 1.3, "\(name) on \(tree): tau \(tau)")
    }
}
