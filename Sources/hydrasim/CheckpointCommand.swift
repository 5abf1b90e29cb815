import ArgumentParser
import Foundation
import LanguageModel

/// `hydrasim checkpoint`: inspect llama2.c checkpoints and create new ones.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Inspect or create llama2.c checkpoints.",
        subcommands: [Info.self, Init.self]
    )

    /// `hydrasim checkpoint info F`: the header, parameter count and validation result.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a checkpoint and print its configuration.")

        @Argument(help: "The checkpoint (.bin).")
        var path: String

        @Option(name: .long, help: "text or json.")
        var format: OutputFormat = .text

        struct Report: Encodable {
            var path: String
            var config: ModelConfig
            var parameters: Int
            var bytes: Int
        }

        func run() throws {
            let weights = try Checkpoint.read(path)
            let c = weights.config
            let report = Report(path: path, config: c, parameters: c.parameterCount, bytes: Checkpoint.fileSize(c))
            if format == .json { return try printJSON(report) }
            print("""
            \(path): valid llama2.c checkpoint, \(c.parameterCount) parameters
              dim \(c.dim), hidden \(c.hiddenDim), layers \(c.layers), heads \(c.heads) (kv heads \(c.kvHeads), head size \(c.headSize))
              vocabulary \(c.vocabularySize), context \(c.maxSequenceLength), classifier \(c.sharedClassifier ? "shared with the embedding" : "separate")
            """)
        }
    }

    /// `hydrasim checkpoint init`: a randomly initialised model of a chosen shape.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a randomly initialised checkpoint (for benchmarks, tests, or as a training start)."
        )

        @Option(name: .long, help: "Residual width.") var dim = 256
        @Option(name: .customLong("hidden-dim"), help: "SwiGLU hidden width (default: llama2.c's rule, about 8/3 dim rounded to 32).") var hiddenDim: Int?
        @Option(name: .long, help: "Transformer blocks.") var layers = 6
        @Option(name: .long, help: "Query heads.") var heads = 8
        @Option(name: .customLong("kv-heads"), help: "Key/value heads (default: = heads).") var kvHeads: Int?
        @Option(name: .customLong("vocab-size"), help: "Vocabulary size.") var vocabSize = 512
        @Option(name: .long, help: "Context length.") var context = 256
        @Flag(name: .long, help: "Give the classifier its own weights instead of sharing the embedding.") var untied = false
        @Option(name: .long, help: "Random seed.") var seed: UInt64 = 1
        @Option(name: .long, help: "Output checkpoint.") var out: String

        func run() throws {
            let config = try checkedModelShape(dim: dim, hiddenDim: hiddenDim, layers: layers, heads: heads, kvHeads: kvHeads ?? heads,
                                               vocabularySize: vocabSize, context: context, sharedClassifier: !untied)
            if let problem = config.problem { throw CLIError(problem) }
            try Checkpoint.write(TransformerWeights(random: config, seed: seed), to: out)
            print("wrote \(out): \(config.parameterCount) parameters")
        }
    }
}
