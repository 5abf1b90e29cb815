import Foundation
import Testing
import LanguageModel
import Numerics

/// HydraSim's transformer against the independent numpy reference (float64, full causal attention, no cache).
@Suite("Transformer vs numpy reference", .serialized)
struct TransformerReferenceTests {
    /// A fixed, varied token sequence: BOS then a deterministic pseudo-random walk through the vocabulary.
    static func tokens(count: Int, vocab: Int, seed: UInt64) -> [Int] {
        var rng = XorShiftRandom(seed: seed)
        return [1] + (1..<count).map { _ in Int(rng.nextUInt32() % UInt32(vocab)) }
    }

    /// Checks logits and hidden states at every position, for both the one-token and the batched path.
    func check(checkpoint: String, length: Int, seed: UInt64) throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = Transformer(weights: try Checkpoint.read(checkpoint))
        let c = model.config
        let tokens = Self.tokens(count: length, vocab: c.vocabularySize, seed: seed)
        let reference = try NumpyReference.logits(checkpoint: checkpoint, tokens: tokens, folder: folder)
        #expect(reference.logits.count == length * c.vocabularySize)

        let sequential = sequentialForward(model, tokens: tokens)
        let sequentialLogits = sequential.logits.flatMap { $0 }
        let logitError = maxAbsDiff(sequentialLogits, reference.logits)
        #expect(logitError < 1e-4, "one-token logits differ from the reference by \(logitError)")
        #expect(maxAbsDiff(sequential.hidden.flatMap { $0 }, reference.hidden) < 1e-4)

        let state = model.makeState()
        let batch = model.forward(tokens: tokens, positions: Array(0..<length), mask: .causal(prefix: 0, count: length), state: state)
        let batchLogits = (0..<length).flatMap { Array(batch.logits($0)) }
        let batchError = maxAbsDiff(batchLogits, reference.logits)
        #expect(batchError < 1e-4, "batched logits differ from the reference by \(batchError)")
        #expect(maxAbsDiff((0..<length).flatMap { Array(batch.hidden($0)) }, reference.hidden) < 1e-4)
        // The reference's logits are not trivially small: the comparison has teeth.
        #expect(reference.logits.map(abs).max()! > 1)
    }

    @Test("stories260K: logits at every position agree to 1e-4")
    func stories260K() throws {
        try check(checkpoint: TestPaths.stories260K, length: 96, seed: 7)
    }

    @Test("random GQA checkpoint (8 query heads, 2 kv heads), tied classifier")
    func randomGQA() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try NumpyReference.randomCheckpoint(dim: 64, hidden: 160, layers: 3, heads: 8, kvHeads: 2, vocab: 96,
                                                       seqLen: 64, untied: false, seed: 11, in: folder)
        try check(checkpoint: path, length: 48, seed: 3)
    }

    @Test("random checkpoint with an untied classifier and multi-query attention")
    func randomUntied() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try NumpyReference.randomCheckpoint(dim: 48, hidden: 128, layers: 2, heads: 4, kvHeads: 1, vocab: 80,
                                                       seqLen: 40, untied: true, seed: 12, in: folder)
        let weights = try Checkpoint.read(path)
        #expect(!weights.config.sharedClassifier)
        #expect(weights.classifier !== weights.tokenEmbedding)
        try check(checkpoint: path, length: 40, seed: 4)
    }

    @Test("greedy decoding from BOS for 200 tokens on stories260K gives exactly the reference's ids")
    func greedyStories() throws {
        let model = Transformer(weights: try Checkpoint.read(TestPaths.stories260K))
        var sampler = GreedySampler()
        let ours = try AutoregressiveGenerator(model: model).generate(prompt: [1], maxTokens: 200, sampler: &sampler)
        let reference = try NumpyReference.greedy(checkpoint: TestPaths.stories260K, prompt: [1], steps: 200)
        #expect(ours.tokens.count > 50, "a real story, not an immediate stop")
        #expect(ours.tokens == reference)
    }
}
