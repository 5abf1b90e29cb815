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
    static let weights = try! Checkpoint.read(folder.appendingPathComponent("model.bin").path)
    static let model = Transformer(weights: weights)
    static let tokenizer = try! BPETokenizer(contentsOf: folder.appendingPathComponent("tokenizer.bin").path,
                                             expectedVocabularySize: weights.config.vocabularySize)
    static let prompts = ["ROMEO:", "First Citizen:\nBefore we proceed any further, hear me speak."].map { tokenizer.encode($0, bos: true, eos: false) }
    static let length = 40
    static let expected: [[Int]] = prompts.map { prompt in
        var greedy = GreedySampler()
        return try! AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: length, sampler: &greedy).tokens
    }

    static func heads(_ name: String) throws -> DraftHeadSet {
        try DraftHeadsFile.read(folder.appendingPathComponent("\(name).heads").path, base: weights)
    }

    @Test("greedy speculation == greedy ar on the house model", arguments: [("medusa", "chain-3"), ("hydra", "fork-2x2"), ("hydra++", "mc_sim_7b_63"),
                                                                          ("hydra", "dynamic")])
    func equivalence(heads name: String, tree: String) throws {
        let set = try Self.heads(name)
        let proposer: CandidateProposer = tree == "dynamic"
            ? try DynamicTreeProposer(heads: set, embedding: Self.weights.tokenEmbedding, budget: 12, width: 3)
            : try TreeProposer(heads: set, tree: CandidateTree.load(tree, presetFolder: PackagePaths.trees), embedding: Self.weights.tokenEmbedding)
        let decoder = try SpeculativeDecoder(model: Self.model, heads: set, proposer: proposer)
        var steps = 0
        for (prompt, expected) in zip(Self.prompts, Self.expected) {
            let result = try decoder.generate(prompt: prompt, maxTokens: Self.length)
            #expect(result.tokens == expected, "\(name) on \(tree)")
            steps += result.steps.count
        }
        // Trained heads are right often enough that a step emits more than one token on average.
        let tau = Double(Self.expected.map(\.count).reduce(0, +)) / Double(steps)
        #expect(tau > 1.3, "\(name) on \(tree): tau \(tau)")
    }
}
