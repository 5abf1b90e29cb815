import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel
import Numerics

/// `hydrasim train heads`: draft heads on a frozen base model (reference §2).
struct TrainHeadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heads",
        abstract: "Train Medusa or Hydra draft heads on a frozen base model.",
        discussion: """
        The base runs once over the corpus; its hidden states are reused by every step. Head k at
        position t reads h_t (Hydra: and the embeddings of the true tokens t+1..t+k) and is scored
        against token t+k+1. Writes the heads file atomically (and OUT.state, for --resume).
        """
    )

    @OptionGroup var baseOptions: BaseModelOptions
    @Option(name: .long, help: "medusa, hydra, or hydra++ (= hydra with --teacher --prefix-attention --layers 4 --dropout 0.2).")
    var kind: DraftHeadKind
    @Option(name: .long, help: "Number of heads K.") var heads = 4
    @Option(name: .long, help: "Residual blocks per head (default 1; hydra++: 4).") var layers: Int?
    @Flag(name: .long, help: "Distil the base model's distribution instead of the ground-truth token (Hydra++ ingredient).") var teacher = false
    @Flag(name: .customLong("prefix-attention"), help: "Add the prefix-attention layer under the heads (Hydra++ ingredient).")
    var prefixAttention = false
    @Flag(name: .customLong("shared-classifier"),
          help: "End every head in the base model's own classifier, frozen (not trained, not stored in the heads file).")
    var sharedClassifier = false
    @Option(name: .long, help: "Dropout on each block's SiLU branch during training (default 0; hydra++: 0.2).") var dropout: Float?
    @Option(name: .long, help: "Input noise alpha on the token embeddings during training (0: none).") var noise: Float = 0
    @Option(name: .customLong("data"), help: "What the heads learn from: corpus (the training split as written) or greedy (the base model's own greedy continuations of training-split prompts, each to the base context: the text decoding verifies).")
    var dataSource = "corpus"
    @Option(name: .customLong("greedy-prompts"), help: "With --data greedy: prompts of 32 training-split tokens, each continued greedily.")
    var greedyPrompts = 1000
    @Option(name: .long, help: "Optimisation steps.") var steps = 1500
    @Option(name: .long, help: "Positions per batch.") var batch = 256
    @OptionGroup var optimizer: OptimizerOptions
    @Option(name: .customLong("eval-interval"), help: "Report validation loss and save every N steps.") var evalInterval = 250
    @Option(name: .long, help: "Random seed (batches).") var seed: UInt64 = 1
    @Option(name: .long, help: "Output heads file.") var out: String
    @Flag(name: .long, help: "Continue the run saved in OUT.state (same options required).") var resume = false
    @Flag(name: .long, help: "Replace an existing --out heads file.") var force = false
    @OptionGroup var threads: ThreadOptions

    struct Summary: Encodable {
        var out: String
        var kind: String
        var heads: Int
        var blocks: Int
        var sharedClassifier: Bool
        var parameters: Int
        var steps: Int
        var seconds: Double
        var validationLoss: [Float]
        var validationTop1: [Double]
        var validationTop5: [Double]
    }

    /// The recipe after applying hydra++'s defaults.
    var blocks: Int { layers ?? (kind == .hydraPlusPlus ? 4 : 1) }
    var recipe: TrainingRecipe {
        TrainingRecipe(teacher: teacher || kind == .hydraPlusPlus, dropout: dropout ?? (kind == .hydraPlusPlus ? 0.2 : 0), noise: noise,
                       data: dataSource == "corpus" ? nil : dataSource)
    }
    var usesPrefixAttention: Bool { prefixAttention || kind == .hydraPlusPlus }

    func validate() throws {
        if let dropout, !(dropout >= 0 && dropout < 1) { throw CLIError("--dropout must be in [0, 1), got \(dropout)") }
        if !(noise >= 0) { throw CLIError("--noise must be at least 0, got \(noise)") }
        if !["corpus", "greedy"].contains(dataSource) { throw CLIError("--data must be corpus or greedy, got \(dataSource)") }
        if !(1...100_000).contains(greedyPrompts) { throw CLIError("--greedy-prompts must be between 1 and 100000, got \(greedyPrompts)") }
        for (name, value) in [("--heads", heads), ("--layers", blocks), ("--steps", steps), ("--batch", batch), ("--eval-interval", evalInterval)]
        where value < 1 { throw CLIError("\(name) must be at least 1, got \(value)") }
    }

    func run() throws {
        threads.apply()
        let statePath = out + ".state"
        let fm = FileManager.default
        if !resume && fm.fileExists(atPath: statePath) {
            throw CLIError("\(statePath) holds an interrupted run: pass --resume to continue it, or delete it to start again")
        }
        if resume && !fm.fileExists(atPath: statePath) { throw CLIError("\(statePath): no head-training run to resume") }
        if !resume && !force && fm.fileExists(atPath: out) {
            throw CLIError("\(out) already exists: choose another --out, or pass --force to replace it")
        }
        let (weights, _, data) = try baseOptions.load()
        // Sizes from the command line, checked against memory before the heads and their activations are allocated.
        let c = weights.config
        let shape = DraftHeadsConfig(kind: kind, heads: heads, blocks: blocks, dim: c.dim, vocabularySize: c.vocabularySize, baseFingerprint: "",
                                     prefix: usesPrefixAttention ? { var p = c; p.layers = 1; return p }() : nil, sharedClassifier: sharedClassifier)
        let perRow = CheckedInt.sum([CheckedInt.mul(3, c.vocabularySize), CheckedInt.mul(CheckedInt.sum([heads, 1]), c.dim), CheckedInt.mul(4, blocks, c.dim)])
        guard DraftHeadsFile.tensorCount(shape, atMost: ModelConfig.memoryLimit / 16) != nil,
              let activations = CheckedInt.mul(4, batch, heads, perRow), activations <= ModelConfig.memoryLimit else {
            throw CLIError("--heads \(heads) × --layers \(blocks) × --batch \(batch) for this base (dim \(c.dim), vocabulary \(c.vocabularySize)) needs more than half this machine's memory")
        }
        let window = weights.config.maxSequenceLength
        if usesPrefixAttention && batch % window != 0 {
            throw CLIError("with prefix attention the batch must be whole windows of the base context: a multiple of \(window), got --batch \(batch)")
        }
        let model = Transformer(weights: weights)
        let settings = HeadTrainingSettings(kind: kind, heads: heads, blocks: blocks, batchSize: batch, steps: steps,
                                            optimizer: optimizer.settings(defaults: OptimizerSettings(warmupSteps: 50, weightDecay: 0)), seed: seed,
                                            recipe: recipe, prefixAttention: usesPrefixAttention, sharedClassifier: sharedClassifier)
        var trainTokens = data.train
        if dataSource == "greedy" {
            // Whole context windows (prompt + continuation), so each window's hidden states see only its own text.
            let T = weights.config.maxSequenceLength, promptLength = min(32, max(1, T / 4))
            guard data.train.count > T else { throw CLIError("the training split is too short for --data greedy (\(data.train.count) tokens)") }
            trainTokens = try HeadsCommand.Accuracy.greedyContinuations(model, validation: data.train, prompts: greedyPrompts,
                                                                      promptLength: promptLength, continuation: T - promptLength)
            guard trainTokens.count == greedyPrompts * T else {
                throw CLIError("greedy continuations came out \(trainTokens.count) tokens, expected \(greedyPrompts) windows of \(T)")
            }
        }
        let train = hiddenStates(model, tokens: trainTokens, label: "base hidden states (train)")
        let validation = hiddenStates(model, tokens: data.validation, label: "base hidden states (validation)")
        let trainer = resume ? try HeadTrainer.resume(from: statePath, settings: settings, base: weights, data: train)
                             : try HeadTrainer(settings: settings, base: weights, data: train)
        printError("\(kind.rawValue): \(heads) heads × \(blocks) blocks\(usesPrefixAttention ? " + prefix attention" : "")\(sharedClassifier ? ", shared classifier" : ""), \(trainer.heads.namedTensors.reduce(0) { $0 + $1.tensor.count }) parameters")
        var bar = ProgressBar(total: steps, label: "step")
        let start = ContinuousClock.now
        while trainer.step < steps {
            let report = trainer.trainStep()
            bar.update(trainer.step, status: String(format: "loss %.3f lr %.1e", report.loss, report.learningRate))
            if trainer.step % evalInterval == 0 || trainer.step == steps {
                let losses = trainer.validationLoss(validation, limit: 8192)
                printError("step \(trainer.step): validation loss per head " + losses.map { String(format: "%.3f", $0) }.joined(separator: " "))
                try DraftHeadsFile.write(trainer.heads, to: out)
                try trainer.saveState(to: statePath)
            }
        }
        let seconds = (ContinuousClock.now - start).seconds
        try DraftHeadsFile.write(trainer.heads, to: out)
        try? fm.removeItem(atPath: statePath)
        let accuracy = HeadAccuracy.measure(trainer.heads, data: validation, embedding: weights.tokenEmbedding, top: 5)
        try printJSON(Summary(out: out, kind: kind.rawValue, heads: heads, blocks: blocks, sharedClassifier: sharedClassifier,
                              parameters: trainer.heads.namedTensors.reduce(0) { $0 + $1.tensor.count }, steps: trainer.step,
                              seconds: seconds, validationLoss: trainer.validationLoss(validation),
                              validationTop1: accuracy.topK.map { $0[0] }, validationTop5: accuracy.topK.map { $0[4] }))
    }
}
