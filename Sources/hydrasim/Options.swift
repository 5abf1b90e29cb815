import ArgumentParser
import Foundation
import LanguageModel
import Numerics

/// Which model and tokenizer to load (shared by every command that runs the model).
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "llama2.c checkpoint (.bin). Default: the shipped model in Fixtures/.")
    var checkpoint: String?

    @Option(name: .long, help: "llama2.c tokenizer (.bin). Default: tokenizer.bin next to the checkpoint, if present.")
    var tokenizer: String?

    /// The checkpoint path to use, or a clear error when none is given or shipped.
    func checkpointPath() throws -> String {
        if let checkpoint { return checkpoint }
        if let shipped = Fixtures.defaultCheckpoint { return shipped }
        throw CLIError("no --checkpoint given and no shipped model found (looked for Fixtures/models/; set HYDRASIM_FIXTURES)")
    }

    /// Loads the model.
    func loadModel() throws -> Transformer {
        Transformer(weights: try Checkpoint.read(checkpointPath()))
    }

    /// Loads the tokenizer: the one given, or tokenizer.bin beside the checkpoint, or nil.
    func loadTokenizer(vocabularySize: Int) throws -> BPETokenizer? {
        if let tokenizer { return try BPETokenizer(contentsOf: tokenizer, expectedVocabularySize: vocabularySize) }
        let beside = URL(fileURLWithPath: try checkpointPath()).deletingLastPathComponent().appendingPathComponent("tokenizer.bin").path
        guard FileManager.default.fileExists(atPath: beside) else { return nil }
        return try BPETokenizer(contentsOf: beside, expectedVocabularySize: vocabularySize)
    }
}

/// Greedy or temperature/top-p sampling.
struct SamplingOptions: ParsableArguments {
    @Flag(name: .long, help: "Always take the most likely token (the default unless --temperature is given).")
    var greedy = false

    @Option(name: .long, help: "Sampling temperature (> 0). 0 means greedy.")
    var temperature: Float?

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass in (0, 1]; 1 samples from the whole distribution.")
    var topP: Float = 0.9

    @Option(name: .long, help: "Random seed for sampling (same seed, same output).")
    var seed: UInt64 = 42

    func validate() throws {
        if greedy, let t = temperature, t != 0 { throw CLIError("--greedy and --temperature \(t) contradict each other") }
        if let t = temperature, !(t >= 0) || !t.isFinite { throw CLIError("--temperature must be a finite number >= 0, got \(t)") }
        if !(topP > 0 && topP <= 1) { throw CLIError("--top-p must be in (0, 1], got \(topP)") }
    }

    /// True when decoding is greedy.
    var isGreedy: Bool { greedy || (temperature ?? 0) == 0 }
}

/// How a command prints its result.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, ids
}

/// Threads for HydraSim's kernels (and the row splits around OpenBLAS).
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for matrix products (default: all cores). HYDRASIM_KERNEL=avx512|avx2|portable picks the kernels, HYDRASIM_PIN=1 pins the workers.")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw CLIError("--threads must be at least 1, got \(threads)") }
        if let threads, threads > 1024 { throw CLIError("--threads must be at most 1024, got \(threads)") }
    }

    /// HydraSim's kernel pool (`KernelPool.shared`) runs decoding's products on `threads` threads; training's
    /// large products split their rows across `threads` workers with OpenBLAS on one thread in each (its own
    /// threads spin between the many small products).
    func apply() {
        BLAS.threads = 1
        if let threads { Parallel.workers = threads }
    }
}

/// Prints `value` as pretty, key-sorted JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Parses "1 2 3" (spaces or commas) into ids, with a clear error naming the bad piece.
func parseIDs(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" })
    return try parts.map { part in
        guard let id = Int(part) else { throw CLIError("\(option): '\(part)' is not a token id") }
        return id
    }
}

/// A problem with the user's input or files: printed as one `Error: ...` line, exit status 1.
struct CLIError: Error, CustomStringConvertible, LocalizedError {
    let description: String
    init(_ description: String) { self.description = description }
    var errorDescription: String? { description }
}

/// AdamW, schedule and clipping options shared by the training commands; each command supplies its defaults.
struct OptimizerOptions: ParsableArguments {
    @Option(name: .customLong("lr"), help: "Peak learning rate (default 1e-3).") var learningRate: Float?
    @Option(name: .long, help: "Warm-up steps (default: base 100, heads 50).") var warmup: Int?
    @Option(name: .customLong("weight-decay"), help: "AdamW weight decay on matrices (default: base 0.1, heads 0).") var weightDecay: Float?
    @Option(name: .long, help: "Gradient clipping, global norm (default 1).") var clip: Float?

    func validate() throws {
        if let learningRate, !(learningRate > 0) { throw CLIError("--lr must be positive, got \(learningRate)") }
        if let warmup, warmup < 0 { throw CLIError("--warmup must be at least 0, got \(warmup)") }
        if let weightDecay, !(weightDecay >= 0) { throw CLIError("--weight-decay must be at least 0, got \(weightDecay)") }
        if let clip, !(clip > 0) { throw CLIError("--clip must be positive, got \(clip)") }
    }

    /// The settings: given options over the command's `defaults`.
    func settings(defaults: OptimizerSettings) -> OptimizerSettings {
        let rate = learningRate ?? defaults.learningRate
        return OptimizerSettings(learningRate: rate, minLearningRate: rate / 10, warmupSteps: warmup ?? defaults.warmupSteps,
                                 weightDecay: weightDecay ?? defaults.weightDecay, gradientClip: clip ?? defaults.gradientClip)
    }
}

/// A model shape from command-line sizes, checked before anything is allocated: every size fits llama2.c's
/// 32-bit header fields, the default hidden width is computed without overflow, and the weights and KV cache
/// fit in this machine's memory.
func checkedModelShape(dim: Int, hiddenDim: Int?, layers: Int, heads: Int, kvHeads: Int?, vocabularySize: Int, context: Int,
                       sharedClassifier: Bool) throws -> ModelConfig {
    for (name, value) in [("--dim", dim), ("--hidden-dim", hiddenDim ?? 1), ("--layers", layers), ("--heads", heads), ("--kv-heads", kvHeads ?? 1),
                          ("--vocab-size", vocabularySize), ("--context", context)] {
        guard value >= 1 else { throw CLIError("\(name) must be at least 1, got \(value)") }
        guard value <= Int(Int32.max) else { throw CLIError("\(name) \(value) does not fit a llama2.c checkpoint's 32-bit header field") }
    }
    let hidden = hiddenDim ?? ((8 * dim / 3 + 31) / 32 * 32)
    let config = ModelConfig(dim: dim, hiddenDim: hidden, layers: layers, heads: heads, kvHeads: kvHeads ?? (heads % 2 == 0 ? heads / 2 : heads),
                             vocabularySize: vocabularySize, maxSequenceLength: context, sharedClassifier: sharedClassifier)
    if let problem = config.memoryProblem { throw CLIError(problem) }
    return config
}

/// Throws when training `batch` sequences of `context` tokens of `config` would need more activation memory than
/// this machine has (a rough count: per position, every layer's activations and the logits).
func checkTrainingMemory(_ config: ModelConfig, batch: Int, context: Int) throws {
    let perPosition = CheckedInt.sum([CheckedInt.mul(config.layers, CheckedInt.sum([CheckedInt.mul(16, config.dim), CheckedInt.mul(4, config.hiddenDim)])),
                                      CheckedInt.mul(3, config.vocabularySize)])
    guard let bytes = CheckedInt.mul(4, batch, context, perPosition), bytes <= ModelConfig.memoryLimit else {
        throw CLIError("--batch \(batch) × --context \(context) needs more activation memory than half this machine's memory; use a smaller batch or context")
    }
}
