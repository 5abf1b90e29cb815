import ArgumentParser
import Foundation
import LanguageModel
import Numerics

/// `hydrasim generate`: plain autoregressive decoding (llama2.c's `run.c generate`).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with the model, one token per forward pass.",
        discussion: """
        Stops when the model produces BOS (id 1), after --max-tokens, or at the context limit.
        Examples:
          hydrasim generate --prompt "ROMEO:" --max-tokens 100
          hydrasim generate --checkpoint m.bin --prompt-ids "1" --greedy --format ids
        """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var threads: ThreadOptions

    @Option(name: .long, help: "Prompt text (needs a tokenizer). BOS is added.")
    var prompt: String?

    @Option(name: .customLong("prompt-ids"), help: "Prompt as token ids, e.g. \"1 403 12\" (BOS included if wanted).")
    var promptIDs: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.")
    var maxTokens = 256

    @Option(name: .long, help: "Output: text (streamed), json (tokens, text, speed) or ids (generated ids on one line).")
    var format: OutputFormat = .text

    func validate() throws {
        if prompt != nil && promptIDs != nil { throw CLIError("give either --prompt or --prompt-ids, not both") }
        if maxTokens < 0 { throw CLIError("--max-tokens must be at least 0, got \(maxTokens)") }
    }

    struct Report: Encodable {
        var checkpoint: String
        var promptTokens: [Int]
        var tokens: [Int]
        var text: String?
        var stopReason: String
        var promptSeconds: Double
        var generationSeconds: Double
        var tokensPerSecond: Double
        var sampling: String
    }

    func run() throws {
        threads.apply()
        let checkpointPath = try model.checkpointPath()
        let transformer = try model.loadModel()
        let tokenizer = try model.loadTokenizer(vocabularySize: transformer.config.vocabularySize)
        let promptTokens: [Int]
        if let promptIDs {
            promptTokens = try parseIDs(promptIDs, option: "--prompt-ids")
        } else if let prompt {
            guard let tokenizer else {
                throw CLIError("--prompt needs a tokenizer: pass --tokenizer, or use --prompt-ids with a checkpoint that has none")
            }
            promptTokens = tokenizer.encode(prompt, bos: true, eos: false)
        } else {
            promptTokens = [1]
        }

        let generator = AutoregressiveGenerator(model: transformer)
        try generator.checkPrompt(promptTokens)
        var previous = promptTokens.last ?? 1
        let stream = format == .text
        if stream {
            if let tokenizer {
                writeOut(tokenizer.decode(promptTokens))
            } else {
                printError("(no tokenizer: printing token ids)")
            }
        }
        let onToken: (Int) -> Void = { id in
            guard stream else { return }
            if let tokenizer {
                FileHandle.standardOutput.write(Data(tokenizer.pieceBytes(id, after: previous)))
            } else {
                writeOut("\(id) ")
            }
            previous = id
        }
        let result: GenerationResult
        let samplingDescription: String
        if sampling.isGreedy {
            var sampler = GreedySampler()
            samplingDescription = "greedy"
            result = try generator.generate(prompt: promptTokens, maxTokens: maxTokens, sampler: &sampler, onToken: onToken)
        } else {
            var sampler = TemperatureSampler(temperature: sampling.temperature!, topP: sampling.topP, seed: sampling.seed)
            samplingDescription = "temperature \(sampling.temperature!), top-p \(sampling.topP), seed \(sampling.seed)"
            result = try generator.generate(prompt: promptTokens, maxTokens: maxTokens, sampler: &sampler, onToken: onToken)
        }

        switch format {
        case .text:
            writeOut("\n")
            printError(String(format: "%d tokens, %.1f tokens/s; stopped: %@", result.tokens.count, result.tokensPerSecond,
                              result.stopReason.explanation))
        case .ids:
            print(result.tokens.map(String.init).joined(separator: " "))
            if result.stopReason == .contextLimit { printError("stopped: \(result.stopReason.explanation)") }
        case .json:
            try printJSON(Report(
                checkpoint: checkpointPath, promptTokens: promptTokens, tokens: result.tokens,
                text: tokenizer.map { continuation(result.tokens, after: promptTokens.last ?? 1, tokenizer: $0) },
                stopReason: result.stopReason.rawValue, promptSeconds: result.promptSeconds,
                generationSeconds: result.generationSeconds, tokensPerSecond: result.tokensPerSecond,
                sampling: samplingDescription))
        }
    }
}

/// The text of `tokens` as run.c prints it after `previous` (the last prompt token).
func continuation(_ tokens: [Int], after previous: Int, tokenizer: some Tokenizer) -> String {
    var bytes: [UInt8] = []
    var prev = previous
    for id in tokens {
        bytes += tokenizer.pieceBytes(id, after: prev)
        prev = id
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes text to standard output without a newline, flushing so tokens appear as they come.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
