import Foundation
import DraftHeads
import LanguageModel
import Numerics
import Speculation

/// One decoder configuration in a speculative benchmark: a decoder, its heads and a tree.
struct BenchConfiguration {
    var label: String
    var headsPath: String?
    var tree: String
    var speculative: SpeculativeDecoder?
    var treeNodes: Int
    /// Rows each head runs per step (for the cost model): Medusa 1 per depth, Hydra the parents expanded.
    var draftRows: [Int]
    /// The precision the heads stream in while drafting (nil for ar).
    var headPrecision: WeightPrecision? = nil
}

/// Measurements of one configuration over all prompts.
struct BenchMeasurement {
    var tokens = 0
    var steps = 0
    var seconds = 0.0
    var draftSeconds = 0.0
    var verifySeconds = 0.0
    var histogram: [Int: Int] = [:]
    var identical = true
}

/// The speculative benchmark: every configuration on the same held-out prompts, interleaved prompt by
/// prompt so that machine noise hits all alike; speedups are ratios to AR measured in the same run.
enum SpeculativeBench {
    /// `count` prompts of `length` tokens from the validation split, each starting after a newline.
    static func prompts(validation: [Int32], count: Int, length: Int, room: Int) throws -> [[Int]] {
        let usable = validation.count - length - room
        guard usable > count else { throw CLIError("the validation split is too short for \(count) prompts of \(length) tokens") }
        return (0..<count).map { i in
            var start = 1 + i * usable / count
            let newline = 13
            if let next = validation[start..<min(start + 200, usable)].firstIndex(of: Int32(newline)) { start = next + 1 }
            return [1] + validation[start..<start + length - 1].map(Int.init)
        }
    }

    /// Draft rows per depth for a static tree: Medusa runs each head once; Hydra once per expanded parent.
    static func draftRows(_ proposer: CandidateProposer, sequential: Bool) -> [Int] {
        if let tree = (proposer as? TreeProposer)?.tree {
            let parents = tree.parents
            return (1...max(tree.depth, 1)).map { d in
                sequential ? Set((1..<tree.nodeCount).filter { tree.paths[$0 - 1].count == d }.map { parents[$0] }).count : 1
            }
        }
        if let dynamic = proposer as? DynamicTreeProposer {
            return (1...dynamic.depth).map { $0 == 1 || !sequential ? 1 : dynamic.width }
        }
        return []
    }

    /// How plain decoding picks its tokens: greedy, or sampled (the speculative decoders then run a sampling rule).
    enum PlainSampling {
        case greedy
        case temperature(Float, topP: Float, seed: UInt64)
    }

    static func run(model: Transformer, configurations: [BenchConfiguration], prompts: [[Int]], maxTokens: Int,
                    plain: PlainSampling = .greedy, onProgress: (Int, Int, String) -> Void) throws -> [BenchMeasurement] {
        var results = [BenchMeasurement](repeating: BenchMeasurement(), count: configurations.count)
        let total = prompts.count * configurations.count
        var done = 0
        for prompt in prompts {
            var greedy = GreedySampler()
            var reference: [Int]?
            for (i, configuration) in configurations.enumerated() {
                let tokens: [Int]
                if let decoder = configuration.speculative {
                    let result = try decoder.generate(prompt: prompt, maxTokens: maxTokens)
                    tokens = result.tokens
                    results[i].steps += result.steps.count
                    results[i].seconds += result.generationSeconds
                    for step in result.steps {
                        results[i].draftSeconds += step.draftSeconds ?? 0
                        results[i].verifySeconds += step.verifySeconds ?? 0
                        results[i].histogram[step.emitted.count, default: 0] += 1
                    }
                } else {
                    let result: GenerationResult
                    switch plain {
                    case .greedy:
                        result = try AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: maxTokens, sampler: &greedy)
                    case .temperature(let t, let topP, let seed):
                        var sampler = TemperatureSampler(temperature: t, topP: topP, seed: seed)
                        result = try AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: maxTokens, sampler: &sampler)
                    }
                    tokens = result.tokens
                    results[i].steps += result.tokens.count
                    results[i].seconds += result.generationSeconds
                    results[i].verifySeconds += result.generationSeconds
                    results[i].histogram[1, default: 0] += result.tokens.count
                }
                results[i].tokens += tokens.count
                if let reference { results[i].identical = results[i].identical && tokens == reference } else { reference = tokens }
                done += 1
                onProgress(done, total, configuration.label)
            }
        }
        return results
    }
}
