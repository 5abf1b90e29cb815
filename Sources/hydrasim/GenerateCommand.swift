import ArgumentParser
import Foundation
import LanguageModel
import Numerics
import Speculation

/// `hydrasim generate`: autoregressive decoding (llama2.c's `run.c generate`) or speculative decoding with draft heads.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text: one token per forward pass (ar), or speculatively with Medusa, Hydra or Hydra++ heads.",
        discussion: """
        Stops when the model produces BOS (id 1), after --max-tokens, or at the context limit (a prompt
        of P tokens leaves room for at most context - P + 1 tokens; --max-tokens beyond the context is an error).
        Greedy speculative decoding gives exactly the tokens of greedy ar decoding; --rule sample gives
        text distributed as sampling from the base model; --rule typical is Medusa's faster,
        not distribution-preserving rule.
        Examples:
          hydrasim generate --prompt "ROMEO:" --max-tokens 100
          hydrasim generate --decoder hydra++ --prompt "ROMEO:" --trace Output/romeo.json
          hydrasim generate --decoder medusa --tree chain-3 --rule typical --temperature 0.7
          hydrasim generate --checkpoint m.bin --prompt-ids "1" --greedy --format ids
        """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var speculation: SpeculationOptions
    @OptionGroup var threads: ThreadOptions

    @Option(name: .long, help: "Save the step-by-step trace (versioned JSON) to this file.")
    var trace: String?

    @Flag(name: .long, help: "Include wall-clock timings in the trace (they make traces differ from run to run).")
    var timings = false

    @Option(name: .long, help: "Prompt text (needs a tokenizer). BOS is added.")
    var prompt: String?

    @Option(name: .customLong("prompt-ids"), help: "Prompt as token ids, e.g. \"1 403 12\" (BOS included if wanted).")
    var promptIDs: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate, at most the context (default 256; generation also stops at the context limit).")
    var maxTokensOption: Int?

    /// The default number of tokens to generate.
    static let defaultMaxTokens = 256
    /// --max-tokens, or the default (generation also stops at the context limit).
    var maxTokens: Int { maxTokensOption ?? Self.defaultMaxTokens }

    @Option(name: .long, help: "Output: text (streamed), json (tokens, text, speed) or ids (generated ids on one line).")
    var format: OutputFormat = .text

    func validate() throws {
        if prompt != nil && promptIDs != nil { throw CLIError("give either --prompt or --prompt-ids, not both") }
        if let maxTokensOption, maxTokensOption < 0 { throw CLIError("--max-tokens must be at least 0, got \(maxTokensOption)") }
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
        var decoder: String
        var steps: Int?
        var tau: Double?
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
        let context = transformer.config.maxSequenceLength
        if let maxTokensOption, maxTokensOption > context {
            throw CLIError("--max-tokens \(maxTokensOption) is beyond the model's context of \(context) tokens (after this \(promptTokens.count)-token prompt at most \(context - promptTokens.count + 1) can be generated)")
        }
        if speculation.decoder != .ar || trace != nil {
            return try runSpeculative(transformer, checkpoint: checkpointPath, tokenizer: tokenizer, promptTokens: promptTokens)
        }
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

        try report(checkpoint: checkpointPath, tokenizer: tokenizer, promptTokens: promptTokens, tokens: result.tokens, stopReason: result.stopReason,
               promptSeconds: result.promptSeconds, generationSeconds: result.generationSeconds, description: samplingDescription, steps: nil)
    }

    /// Prints the result in --format: the end of the streamed text and a summary line, the ids, or JSON.
    func report(checkpoint: String, tokenizer: BPETokenizer?, promptTokens: [Int], tokens: [Int], stopReason: StopReason,
                promptSeconds: Double, generationSeconds: Double, description: String, steps: Int?, trace: String? = nil) throws {
        let speed = generationSeconds > 0 ? Double(tokens.count) / generationSeconds : 0
        let tau = steps.map { Double(tokens.count) / Double(max($0, 1)) }
        switch format {
        case .text:
            writeOut("\n")
            let stepsText = steps.map { String(format: " in %d steps (tau %.2f)", $0, tau!) } ?? ""
            printError(String(format: "%d tokens%@, %.1f tokens/s; stopped: %@", tokens.count, stepsText, speed, stopReason.explanation))
            if let trace { printError("trace: \(trace)") }
        case .ids:
            print(tokens.map(String.init).joined(separator: " "))
            if stopReason == .contextLimit { printError("stopped: \(stopReason.explanation)") }
        case .json:
            try printJSON(Report(
                checkpoint: checkpoint, promptTokens: promptTokens, tokens: tokens,
                text: tokenizer.map { $0.decode(tokens, after: promptTokens.last ?? 1) },
                stopReason: stopReason.rawValue, promptSeconds: promptSeconds, generationSeconds: generationSeconds,
                tokensPerSecond: speed, sampling: description, decoder: speculation.decoder.rawValue, steps: steps, tau: tau))
        }
    }

    /// Decoding through `SpeculativeDecoder` (any decoder, ar included when a trace is wanted).
    func runSpeculative(_ transformer: Transformer, checkpoint: String, tokenizer: BPETokenizer?, promptTokens: [Int]) throws {
        let rule = try speculation.verification.acceptanceRule(sampling)
        let made = try speculation.makeDecoder(speculation.decoder, model: transformer, checkpoint: checkpoint, rule: rule, seed: sampling.seed)
        let decoder = made.decoder
        if trace != nil && tokenizer == nil { throw CLIError("--trace needs a tokenizer for token texts: pass --tokenizer") }
        let stream = format == .text
        var previous = promptTokens.last ?? 1
        if stream {
            if let tokenizer { writeOut(tokenizer.decode(promptTokens)) } else { printError("(no tokenizer: printing token ids)") }
        }
        let result = try decoder.generate(prompt: promptTokens, maxTokens: maxTokens) { step in
            guard stream else { return }
            for id in step.emitted {
                if let tokenizer { FileHandle.standardOutput.write(Data(tokenizer.pieceBytes(id, after: previous))) } else { writeOut("\(id) ") }
                previous = id
            }
        }
        if let trace, let tokenizer {
            let record = DecodingTrace(decoder: speculation.decoder.rawValue,
                                       settings: decoder.traceSettings(checkpoint: checkpoint, headsPath: made.heads?.path, maxTokens: maxTokens),
                                       prompt: tokenizer.decode(promptTokens), promptTokens: promptTokens, result: result,
                                       tokenizer: tokenizer, timings: timings)
            try record.write(to: trace)
        }
        try report(checkpoint: checkpoint, tokenizer: tokenizer, promptTokens: promptTokens, tokens: result.tokens, stopReason: result.stopReason,
                   promptSeconds: result.promptSeconds, generationSeconds: result.generationSeconds,
                   description: "\(speculation.decoder.rawValue), \(rule.name), tree \(decoder.proposer.treeName)", steps: result.steps.count, trace: trace)
    }
}

/// Writes text to standard output without a newline, flushing so tokens appear as they come.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
