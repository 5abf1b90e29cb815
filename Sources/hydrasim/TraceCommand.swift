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
        With two or more decoders the first leads: before each of its steps the others draft and verify the same
        prefix (an aligned contrast: their traces record those steps, and say whose prefix they drafted on);
        --independent lets each decode on its own and pairs steps by number.
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

    @Flag(name: .long, help: "Let every decoder run on its own and pair steps by number (the default: the first decoder leads and the others draft its prefix at every step).")
    var independent = false

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
        var decoders: [(name: DecoderName, decoder: SpeculativeDecoder, headsPath: String?, budget: Int)] = []
        for name in try DecoderName.list(self.decoders, option: "--decoders") {
            let heads = name == .ar ? nil : try loadHeads("\(headsFolder)/\(name.rawValue).heads", for: name, model: model)
            let decoder = try verification.makeDecoder(model: model, heads: heads, rule: acceptanceRule, seed: sampling.seed, kind: name)
            // A step emits at most depth + 1 tokens, so `steps` steps fit in this budget; decoding stops after `steps` steps.
            let budget = min(steps * (decoder.proposer.maxDepth + 1), weights.config.maxSequenceLength)
            decoders.append((name, decoder, heads?.path, budget))
        }
        func trace(_ d: (name: DecoderName, decoder: SpeculativeDecoder, headsPath: String?, budget: Int), _ result: SpeculativeResult) -> DecodingTrace {
            let settings = d.decoder.traceSettings(checkpoint: modelPath, headsPath: d.headsPath, maxTokens: d.budget)
            return DecodingTrace(decoder: d.name.rawValue, settings: settings, prompt: prompt, promptTokens: promptTokens, result: result,
                                 tokenizer: tokenizer, timings: false)
        }
        // Each decoder on its own (its free-running tau).
        var views = try decoders.map { d in TraceView(trace(d, try d.decoder.generate(prompt: promptTokens, maxTokens: d.budget, maxSteps: steps))) }
        if decoders.count >= 2 && !independent {
            // Aligned: the first decoder leads; the others draft and verify its prefix before each of its steps.
            let lead = decoders[0]
            let aligned = try AlignedDecoding.run(model: model, leader: lead.decoder.drafter, followers: decoders.dropFirst().map(\.decoder.drafter),
                                                  prompt: promptTokens, seed: sampling.seed, maxTokens: lead.budget, maxSteps: steps)
            views = [TraceView(trace(lead, aligned.leader))] + zip(decoders.dropFirst(), aligned.followers).enumerated().map { i, pair in
                var t = trace(pair.0, pair.1)
                t.leader = lead.name.rawValue
                t.tokenTexts = t.tokens.map { tokenizer.pieceText($0) }
                t.freeRunningTau = views[i + 1].tau()
                t.tau = pair.1.steps.isEmpty ? 0 : Double(pair.1.steps.map(\.emitted.count).reduce(0, +)) / Double(pair.1.steps.count)
                return TraceView(t)
            }
        }

        // Print step 1: the contrast of the first two decoders, or the one decoder's step.
        let printer = terminal.textTrace
        if views.count >= 2, views[0].stepCount >= 1, views[1].stepCount >= 1 {
            print(printer.contrast(try views[0].step(1), try views[1].step(1)))
        } else if let step = views[0].steps.first {
            print(printer.step(step))
        }
        for view in views {
            if let leader = view.trace.leader {
                print(String(format: "%@ on %@'s prefixes: %d steps, tau %.2f (on its own: tau %.2f)", view.decoder, leader, view.stepCount, view.tau(),
                             view.trace.freeRunningTau ?? 0))
            } else {
                print(String(format: "%@: %d steps, %d tokens, tau %.2f", view.decoder, view.stepCount, view.trace.tokens.count, view.tau()))
            }
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
