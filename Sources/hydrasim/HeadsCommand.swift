import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel
import Numerics
import Speculation

/// `hydrasim heads`: inspect draft heads.
struct HeadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heads",
        abstract: "Inspect draft heads.",
        subcommands: [Accuracy.self]
    )

    /// `hydrasim heads accuracy`: the teacher-forced top-k table (the shape of Medusa's published one).
    struct Accuracy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Teacher-forced top-1..top-N accuracy of each head on a split of the corpus.",
            discussion: "Rank-r accuracy is top(r+1) - top(r). The CSV has the shape of ../shared/reference/medusa_head_accuracy.csv."
        )

        @OptionGroup var baseOptions: BaseModelOptions
        @Option(name: .long, help: "Heads file.") var heads: String
        @Option(name: .long, help: "val, train, greedy (the base model's own greedy continuations of validation prompts: what decoding sees) or bench (the same on the prompts `hydrasim bench` decodes).")
        var split = "val"
        @Option(name: .long, help: "With --split greedy or bench: number of prompts (32 validation tokens each, continued greedily for 96).") var prompts = 48
        @Option(name: .customLong("prompt-length"), help: "With --split bench: tokens per prompt (BOS included), as bench's --prompt-length.")
        var promptLength = 32
        @Option(name: .customLong("max-tokens"), help: "With --split bench: tokens generated per prompt, as bench's --max-tokens.") var maxTokens = 96
        @Option(name: .long, help: "Largest k of top-k.") var top = 10
        @Option(name: .long, help: "Evaluate only the first N positions.") var limit: Int?
        @Option(name: .long, help: "json, csv or text.") var format = "text"
        @OptionGroup var threads: ThreadOptions

        struct Report: Encodable {
            var heads: String
            var kind: String
            var split: String
            var positions: Int
            var topK: [[Double]]
            /// Joint acceptance of rank paths (what `tree optimize` values nodes by).
            var paths: [HeadAccuracy.PathAcceptance]
            /// Each head's rank of its target at every position, in text order (-1: outside the top N): decoding replays on it.
            var sequences: [[[Int]]]
        }

        func validate() throws {
            if !["val", "train", "greedy", "bench"].contains(split) { throw CLIError("--split must be val, train, greedy or bench, got \(split)") }
            if prompts < 1 { throw CLIError("--prompts must be at least 1") }
            if maxTokens < 1 { throw CLIError("--max-tokens must be at least 1, got \(maxTokens)") }
            if promptLength < 2 { throw CLIError("--prompt-length must be at least 2 (BOS and one token), got \(promptLength)") }
            if !["json", "csv", "text"].contains(format) { throw CLIError("--format must be json, csv or text, got \(format)") }
            if top < 1 { throw CLIError("--top must be at least 1") }
        }

        func run() throws {
            threads.apply()
            let (weights, _, data) = try baseOptions.load()
            let set = try DraftHeadsFile.read(heads, base: weights)
            if top > weights.config.vocabularySize {
                throw CLIError("--top \(top) is larger than the vocabulary (\(weights.config.vocabularySize) tokens)")
            }
            let model = Transformer(weights: weights)
            let accuracy: HeadAccuracy
            if split == "bench" {
                // bench's prompts (BOS and promptLength - 1 tokens after a newline), each continued greedily for --max-tokens.
                let (segment, overflow) = promptLength.addingReportingOverflow(maxTokens)
                guard !overflow, segment <= weights.config.maxSequenceLength else {
                    throw CLIError("--max-tokens \(maxTokens) after a \(promptLength)-token prompt is beyond the model's context of \(weights.config.maxSequenceLength) tokens")
                }
                let promptList = try SpeculativeBench.prompts(validation: data.validation, count: prompts, length: promptLength, room: maxTokens)
                let tokens = try Self.greedyContinuations(model, prompts: promptList, continuation: maxTokens)
                let states = BaseHiddenStates(model: model, tokens: tokens, window: segment)
                accuracy = HeadAccuracy.measure(set, data: states, embedding: weights.tokenEmbedding, top: top, limit: limit, segment: segment,
                                                skipping: promptLength - 1)
            } else if split == "greedy" {
                // Sequences of 128 tokens (or the context, if shorter): a quarter prompt, the rest greedy continuation.
                let segment = min(128, weights.config.maxSequenceLength)
                guard data.validation.count > segment else { throw CLIError("the validation split is too short for --split greedy") }
                let tokens = try Self.greedyContinuations(model, validation: data.validation, prompts: prompts, promptLength: segment / 4,
                                                          continuation: segment - segment / 4)
                let states = BaseHiddenStates(model: model, tokens: tokens, window: segment)
                // Only positions decoding drafts from: the last prompt token and the continuation (the targets all greedy).
                accuracy = HeadAccuracy.measure(set, data: states, embedding: weights.tokenEmbedding, top: top, limit: limit, segment: segment,
                                                skipping: segment / 4 - 1)
            } else {
                let states = hiddenStates(model, tokens: split == "val" ? data.validation : data.train, label: "base hidden states")
                accuracy = HeadAccuracy.measure(set, data: states, embedding: weights.tokenEmbedding, top: top, limit: limit)
            }
            switch format {
            case "json":
                try printJSON(Report(heads: heads, kind: set.config.kind.rawValue, split: split, positions: accuracy.positions, topK: accuracy.topK,
                                     paths: accuracy.paths, sequences: accuracy.sequences))
            case "csv":
                print("head," + (1...top).map { "top\($0)" }.joined(separator: ","))
                for (k, row) in accuracy.topK.enumerated() { print("\(k + 1)," + row.map { String(format: "%.4f", $0) }.joined(separator: ",")) }
            default:
                print("\(heads) (\(set.config.kind.rawValue)), \(split) split, \(accuracy.positions) positions")
                print("head " + (1...top).map { String(repeating: " ", count: max(0, 6 - "top\($0)".count)) + "top\($0)" }.joined(separator: " "))
                for (k, row) in accuracy.topK.enumerated() {
                    print(String(format: "%4d ", k + 1) + row.map { String(format: "%5.1f%%", 100 * $0) }.joined(separator: " "))
                }
                // What dependence between heads is worth: chains valued jointly (measured) and as if independent.
                let joint = HeadAccuracyTable(topK: accuracy.topK, joint: Dictionary(uniqueKeysWithValues: accuracy.paths.map { ($0.path, $0.accepted) }),
                                              sequences: accuracy.sequences)
                print("tau of chain-k: greedy decoding replayed on these ranks / mean over positions, paths measured jointly / as if heads were independent")
                for k in 1...accuracy.topK.count {
                    let chain = (1...k).map { [Int](repeating: 0, count: $0) }
                    let tauJoint = 1 + chain.reduce(0) { $0 + joint.value($1) }
                    let tauIndependent = 1 + chain.reduce(0) { $0 + joint.independent.value($1) }
                    let replayed = GreedyTreeSearch.replayedTau(chain, joint) ?? .nan
                    print(String(format: "  chain-%d  %.3f / %.3f / %.3f", k, replayed, tauJoint, tauIndependent))
                }
            }
        }

        /// `prompts` sequences of `promptLength` validation tokens, each followed by the base model's own greedy
        /// continuation (`continuation` tokens, BOS never chosen), concatenated.
        static func greedyContinuations(_ model: Transformer, validation: [Int32], prompts: Int, promptLength: Int, continuation: Int) throws -> [Int32] {
            let stride = max(1, (validation.count - promptLength) / prompts)
            let list = (0..<prompts).map { p in validation[p * stride..<p * stride + promptLength].map(Int.init) }
            return try greedyContinuations(model, prompts: list, continuation: continuation)
        }

        /// Each prompt followed by the base model's own greedy continuation (`continuation` tokens, BOS never chosen), concatenated.
        static func greedyContinuations(_ model: Transformer, prompts: [[Int]], continuation: Int) throws -> [Int32] {
            struct GreedyWithoutBOS: TokenSampler {
                mutating func sample(_ logits: UnsafeMutablePointer<Float>, count: Int) -> Int {
                    logits[1] = -.infinity
                    return Ops.argmax(logits, n: count)
                }
            }
            var out: [Int32] = []
            var bar = ProgressBar(total: prompts.count, label: "greedy continuations")
            for (p, prompt) in prompts.enumerated() {
                var sampler = GreedyWithoutBOS()
                let result = try AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: continuation, sampler: &sampler)
                out += (prompt + result.tokens).map(Int32.init)
                bar.update(p + 1)
            }
            return out
        }
    }
}
