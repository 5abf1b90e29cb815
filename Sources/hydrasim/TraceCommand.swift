import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel
import Speculation
import Visualization

/// `hydrasim trace`: decode one prompt with several decoders, print the contrast, write diagrams and the HTML step-through.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace speculative decoding step by step: text traces, diagrams and an HTML step-through.",
        discussion: """
        Decodes --prompt with each decoder (medusa, hydra, hydra++ read <heads-dir>/<decoder>.heads; ar needs
        no heads) for --steps steps, prints the text trace of step 1 (the contrast when two decoders are
        given), and writes into --out (default Output/<timestamp>/), all at once (temporary folder, then rename):
          <decoder>.trace.json          the trace (read by `hydrasim diagram`)
          trace.txt                     text traces of every step
          <decoder>/step-NNN.dot, .svg  each step's candidate tree
          contrast-NNN.dot, .svg        the first two decoders' same step side by side
          mask.svg                      the tree attention mask of step 1
          index.html                    the step-through: open it in a browser (no network needed)
        Example:
          hydrasim trace --prompt "ROMEO:" --decoders medusa,hydra++ --steps 20
        """
    )

    @Option(name: .long, help: "Prompt text (BOS is added).")
    var prompt: String

    @Option(name: .long, help: "Comma-separated decoders: ar, medusa, hydra, hydra++ (the first two are contrasted).")
    var decoders = "medusa,hydra++"

    @Option(name: .long, help: "Steps to trace per decoder (fewer if the model ends the text).")
    var steps = 20

    @Option(name: .long, help: "Output folder (must not exist, or be empty). Default: Output/<timestamp>/.")
    var out: String?

    @Option(name: .customLong("heads-dir"), help: "Folder with <decoder>.heads files. Default: the base model's folder.")
    var headsDir: String?

    @Option(name: .long, help: "Folder with the base model.bin and tokenizer.bin. Default: the shipped house model.")
    var base: String?

    @OptionGroup var verification: VerificationOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var terminal: TerminalOptions
    @OptionGroup var threads: ThreadOptions

    var decoderList: [String] { decoders.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func validate() throws {
        if steps < 1 { throw CLIError("--steps must be at least 1, got \(steps)") }
        let list = decoderList
        if list.isEmpty || list.contains(where: \.isEmpty) { throw CLIError("--decoders: give names separated by commas, e.g. medusa,hydra++") }
        _ = try DecoderName.list(decoders, option: "--decoders")
        if Set(list).count != list.count { throw CLIError("--decoders: a decoder is listed twice") }
    }

    func run() throws {
        threads.apply()
        let folder = try Fixtures.baseFolder(base)
        let headsFolder = headsDir ?? folder
        // Refuse an occupied output folder before spending time decoding.
        let outFolder = out ?? defaultOut()
        if out == nil { try? FileManager.default.createDirectory(atPath: "Output", withIntermediateDirectories: true) }
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: outFolder), !contents.isEmpty {
            throw CLIError("\(outFolder) already exists and is not empty: choose another --out (nothing was written)")
        }
        let modelPath = "\(folder)/model.bin"
        let weights = try Checkpoint.read(modelPath)
        let tokenizer = try BPETokenizer(contentsOf: "\(folder)/tokenizer.bin", expectedVocabularySize: weights.config.vocabularySize)
        let model = Transformer(weights: weights)
        let promptTokens = tokenizer.encode(prompt, bos: true, eos: false)
        try AutoregressiveGenerator(model: model).checkPrompt(promptTokens)

        let acceptanceRule = try verification.acceptanceRule(sampling)
        var views: [TraceView] = []
        for name in try DecoderName.list(decoders, option: "--decoders") {
            let heads = name == .ar ? nil : try loadHeads("\(headsFolder)/\(name.rawValue).heads", for: name, model: model)
            let decoder = try verification.makeDecoder(model: model, heads: heads, rule: acceptanceRule, seed: sampling.seed, kind: name)
            // A step emits at most depth + 1 tokens, so `steps` steps fit in this budget; decoding stops after `steps` steps.
            let budget = min(steps * (decoder.proposer.maxDepth + 1), weights.config.maxSequenceLength)
            let result = try decoder.generate(prompt: promptTokens, maxTokens: budget, maxSteps: steps)
            let cut = result.steps.count == steps && result.stopReason == .maxTokens && result.tokens.count < budget
            let settings = decoder.traceSettings(checkpoint: modelPath, headsPath: heads?.path, maxTokens: budget)
            var trace = DecodingTrace(decoder: name.rawValue, settings: settings, prompt: prompt, promptTokens: promptTokens, result: result,
                                      tokenizer: tokenizer, timings: false)
            if cut { trace.stopReason = "max_steps" }
            views.append(TraceView(trace))
        }

        // Print step 1: the contrast of the first two decoders, or the one decoder's step.
        let printer = terminal.textTrace
        if views.count >= 2, views[0].stepCount >= 1, views[1].stepCount >= 1 {
            print(printer.contrast(try views[0].step(1), try views[1].step(1)))
        } else if let step = views[0].steps.first {
            print(printer.step(step))
        }
        for view in views {
            print(String(format: "%@: %d steps, %d tokens, tau %.2f", view.decoder, view.stepCount, view.trace.tokens.count, view.tau()))
        }
        let summary = try TraceBundle.write(views, to: outFolder, title: "HydraSim: \(TokenText.quoted(prompt)) · \(decoderList.joined(separator: " vs "))")
        print("\nWrote \(summary.files.count) files to \(summary.folder)/")
        print("Open the step-through in a browser: \(summary.html)")
    }

    /// `Output/<UTC timestamp>` in the current folder.
    func defaultOut() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "Output/trace-" + formatter.string(from: Date())
    }
}
