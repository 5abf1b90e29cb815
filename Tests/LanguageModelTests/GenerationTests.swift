import Foundation
import Testing
import LanguageModel
import Numerics

/// Stop conditions and input checks of plain autoregressive generation.
@Suite("Autoregressive generation")
struct GenerationTests {
    static let loaded = Loaded { Transformer(weights: try Checkpoint.read(TestPaths.stories260K)) }
    static var model: Transformer { get throws { try loaded.get() } }

    @Test("stops at --max-tokens, and greedy prefill + decode equals one-token decoding")
    func maxTokens() throws {
        let model = try Self.model
        var greedy = GreedySampler()
        let prompt = [1, 403, 281, 30]
        let result = try AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: 12, sampler: &greedy)
        #expect(result.tokens.count == 12)
        #expect(result.stopReason == .maxTokens)
        // The same continuation by argmax over one-token forwards.
        let state = model.makeState()
        var logits = Array(model.forward(token: prompt[0], state: state))
        for t in prompt.dropFirst() { logits = Array(model.forward(token: t, state: state)) }
        var expected: [Int] = []
        for _ in 0..<12 {
            let next = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
            expected.append(next)
            logits = Array(model.forward(token: next, state: state))
        }
        #expect(result.tokens == expected)
    }

    @Test("stops at BOS without emitting it")
    func stopsAtBOS() throws {
        let model = try Self.model
        // A sampler that emits 7, 8, then BOS.
        struct Scripted: TokenSampler {
            var script = [7, 8, 1, 9]
            mutating func sample(_ logits: UnsafeMutablePointer<Float>, count: Int) -> Int { script.removeFirst() }
        }
        var sampler = Scripted()
        let result = try AutoregressiveGenerator(model: model).generate(prompt: [1], maxTokens: 50, sampler: &sampler)
        #expect(result.tokens == [7, 8])
        #expect(result.stopReason == .bos)
    }

    @Test("stops at the context limit: at most maxSeq - prompt + 1 tokens, as run.c")
    func contextLimit() throws {
        let config = ModelConfig(dim: 16, hiddenDim: 32, layers: 1, heads: 2, kvHeads: 1, vocabularySize: 40, maxSequenceLength: 10)
        let model = Transformer(weights: TransformerWeights(random: config, seed: 3))
        struct NeverBOS: TokenSampler {
            mutating func sample(_ logits: UnsafeMutablePointer<Float>, count: Int) -> Int { 5 }
        }
        var sampler = NeverBOS()
        let result = try AutoregressiveGenerator(model: model).generate(prompt: [1, 2, 3], maxTokens: 100, sampler: &sampler)
        #expect(result.tokens.count == 10 - 3 + 1)
        #expect(result.stopReason == .contextLimit)
    }

    @Test("bad prompts give one clear error")
    func badPrompts() throws {
        let model = try Self.model
        var greedy = GreedySampler()
        let generator = AutoregressiveGenerator(model: model)
        let cases: [([Int], String)] = [
            ([], "the prompt is empty"),
            ([Int](repeating: 5, count: 513), "the prompt has 513 tokens but the model's context is 512"),
            ([1, 512], "prompt token 512 is outside the vocabulary (0..<512)"),
            ([1, -1], "prompt token -1 is outside the vocabulary"),
        ]
        for (prompt, message) in cases {
            do {
                _ = try generator.generate(prompt: prompt, maxTokens: 5, sampler: &greedy)
                Issue.record("accepted a bad prompt: \(message)")
            } catch {
                #expect("\(error)".hasPrefix(message), "got: \(error)")
            }
        }
    }

    @Test("temperature sampling is deterministic for a seed and differs across seeds")
    func sampledDeterminism() throws {
        let model = try Self.model
        let generator = AutoregressiveGenerator(model: model)
        func run(_ seed: UInt64) throws -> [Int] {
            var s = TemperatureSampler(temperature: 1.0, topP: 0.9, seed: seed)
            return try generator.generate(prompt: [1], maxTokens: 40, sampler: &s).tokens
        }
        #expect(try run(42) == run(42))
        #expect(try run(42) != run(43))
    }
}
