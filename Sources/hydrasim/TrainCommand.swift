import ArgumentParser
import Foundation
import LanguageModel
import Numerics

/// `hydrasim train`: training in Swift (base models now; draft heads build on it).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train models in Swift.",
        subcommands: [TrainBaseCommand.self, TrainHeadsCommand.self]
    )
}

/// `hydrasim train base`: a Llama-style decoder from scratch on a text corpus.
struct TrainBaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "base",
        abstract: "Train a base model (and its tokenizer, unless one is given) on a corpus.",
        discussion: """
        Splits the corpus 90/10 (train/validation), evaluates periodically, writes model.bin,
        tokenizer.bin and train_state.bin to --out atomically, and resumes with --resume.
        The defaults train the shipped house model (see Fixtures/models/house/MODEL_CARD.md).
        """
    )

    @Option(name: .long, help: "Training text (UTF-8). Default: the shipped Tiny Shakespeare.") var corpus: String?
    @Option(name: .long, help: "Use this tokenizer instead of training one.") var tokenizer: String?
    @Option(name: .customLong("vocab-size"), help: "Vocabulary size of the trained tokenizer.") var vocabSize = 1024
    @Option(name: .long, help: "Residual width.") var dim = 256
    @Option(name: .customLong("hidden-dim"), help: "SwiGLU width (default: about 8/3 dim, multiple of 32).") var hiddenDim: Int?
    @Option(name: .long, help: "Transformer blocks.") var layers = 6
    @Option(name: .long, help: "Query heads.") var heads = 8
    @Option(name: .customLong("kv-heads"), help: "Key/value heads (default: half the query heads when even, else all).") var kvHeads: Int?
    @Option(name: .long, help: "Context length (training sequence length).") var context = 256
    @Option(name: .long, help: "Optimisation steps.") var steps = 700
    @Option(name: .long, help: "Sequences per batch.") var batch = 16
    @OptionGroup var optimizer: OptimizerOptions
    @Option(name: .customLong("eval-interval"), help: "Evaluate and save every N steps.") var evalInterval = 100
    @Option(name: .customLong("eval-batches"), help: "Validation batches per periodic evaluation.") var evalBatches = 8
    @Option(name: .long, help: "Random seed (initialisation and batches).") var seed: UInt64 = 1337
    @Option(name: .long, help: "Output folder.") var out: String
    @Flag(name: .long, help: "Continue the run saved in --out (same options required).") var resume = false
    @Flag(name: .long, help: "Write into an --out folder that already holds other files (they may be overwritten).") var force = false
    @OptionGroup var threads: ThreadOptions

    struct Summary: Encodable {
        var out: String
        var config: ModelConfig
        var parameters: Int
        var steps: Int
        var tokensSeen: Int
        /// Wall-clock seconds of this invocation's training loop (steps, evaluations, saves).
        var seconds: Double
        /// Training tokens per second of optimisation-step time alone (no evaluation or saving).
        var tokensPerSecond: Double
        var achievedGflops: Double
        var sgemmGflops: Double
        /// The last step's training loss (for a resumed run with no step left, the last evaluation's; nil if none).
        var finalTrainLoss: Float?
        var validationLossPerToken: Float
        var validationLossPerCharacter: Double
        var validationCharactersPerToken: Double
        var bigramValidationLossPerToken: Double
        var bigramValidationLossPerCharacter: Double
        /// The evaluation with the lowest validation loss (its weights are in best.bin).
        var best: EvaluationRecord?
        var history: [EvaluationRecord]
    }

    func validate() throws {
        for (name, value) in [("--dim", dim), ("--layers", layers), ("--heads", heads), ("--context", context), ("--steps", steps),
                              ("--batch", batch), ("--eval-interval", evalInterval), ("--eval-batches", evalBatches)] where value < 1 {
            throw CLIError("\(name) must be at least 1, got \(value)")
        }
        if vocabSize < BPETokenizer.minimumVocabularySize {
            throw CLIError("--vocab-size \(vocabSize) is smaller than \(BPETokenizer.minimumVocabularySize) (3 special tokens + 256 bytes)")
        }
        // Sizes are checked before anything is read, trained or allocated.
        let shape = try checkedModelShape(dim: dim, hiddenDim: hiddenDim, layers: layers, heads: heads, kvHeads: kvHeads,
                                          vocabularySize: vocabSize, context: context, sharedClassifier: true)
        if let problem = shape.problem { throw CLIError(problem) }
        try checkTrainingMemory(shape, batch: batch, context: context)
    }

    func run() throws {
        threads.apply()
        let fm = FileManager.default
        let corpusPath = try corpus ?? Fixtures.root.map { "\($0)/data/tinyshakespeare.txt" }
            ?? { throw CLIError("no --corpus given and no shipped corpus found (Fixtures/data/tinyshakespeare.txt)") }()
        let statePath = "\(out)/train_state.bin"
        let tokenizerPath = "\(out)/tokenizer.bin"
        if !resume && fm.fileExists(atPath: statePath) {
            throw CLIError("\(out) already holds a training run: pass --resume to continue it, or choose another --out")
        }
        if resume && !fm.fileExists(atPath: statePath) {
            throw CLIError("\(out) holds no training run to resume (no train_state.bin): drop --resume to start one")
        }
        if !resume && !force, let contents = try? fm.contentsOfDirectory(atPath: out), !contents.isEmpty {
            throw CLIError("\(out) already exists and is not empty: choose another --out, or pass --force to write into it")
        }
        let text = try CorpusCheck.read(corpusPath)
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)

        // Tokenizer: given, resumed, or trained on the training split only.
        let tok: BPETokenizer
        if resume {
            tok = try BPETokenizer(contentsOf: tokenizerPath)
            if let tokenizer, try BPETokenizer(contentsOf: tokenizer) != tok {
                throw CLIError("--tokenizer \(tokenizer) is not the tokenizer of the run in \(out); drop --tokenizer to resume")
            }
        } else if let tokenizer {
            tok = try BPETokenizer(contentsOf: tokenizer)
        } else {
            // Trained on the training split only, so validation text stays unseen.
            let trainText = TrainingData.split(text).train
            var bar = ProgressBar(total: vocabSize - BPETokenizer.minimumVocabularySize, label: "tokenizer merges")
            tok = try BPETokenizer.train(text: trainText, vocabularySize: vocabSize) { done, total in
                if done % 32 == 0 || done == total { bar.update(done) }
            }
        }
        let model = try checkedModelShape(dim: dim, hiddenDim: hiddenDim, layers: layers, heads: heads, kvHeads: kvHeads,
                                          vocabularySize: tok.vocabularySize, context: context, sharedClassifier: true)
        if let problem = model.problem { throw CLIError(problem) }
        let settings = BaseTrainingSettings(model: model, batchSize: batch, steps: steps,
                                            optimizer: optimizer.settings(defaults: OptimizerSettings(warmupSteps: 100, weightDecay: 0.1)),
                                            evalInterval: evalInterval, evalBatches: evalBatches, seed: seed)
        let data = TrainingData(text: text, tokenizer: tok)
        let trainer = resume ? try BaseTrainer.resume(from: statePath, settings: settings, data: data)
                             : try BaseTrainer(settings: settings, data: data)
        if resume && trainer.step >= steps {
            throw CLIError("\(out): this run already finished its \(steps) steps, so there is nothing to resume")
        }
        // Only now, with every input checked, write into --out.
        if !resume { try tok.write(to: tokenizerPath) }
        printError("model: \(model.parameterCount) parameters; data: \(data.train.count) train / \(data.validation.count) validation tokens")

        let tokensPerStep = batch * context
        var bar = ProgressBar(total: steps, label: "step")
        let start = ContinuousClock.now
        let firstStep = trainer.step
        var lastLoss: Float = .nan
        var best = trainer.history.min { $0.validationLoss < $1.validationLoss }
        var stepSeconds = 0.0
        func save() throws {
            try Checkpoint.write(trainer.weights, to: "\(out)/model.bin")
            try trainer.saveState(to: statePath)
        }
        while trainer.step < steps {
            let stepStart = ContinuousClock.now
            let report = trainer.trainStep()
            stepSeconds += (ContinuousClock.now - stepStart).seconds
            lastLoss = report.loss
            let rate = Double((trainer.step - firstStep) * tokensPerStep) / stepSeconds
            bar.update(trainer.step, status: String(format: "loss %.3f lr %.1e %.0f tok/s", report.loss, report.learningRate, rate))
            if trainer.step % evalInterval == 0 || trainer.step == steps {
                let validation = trainer.evaluate(batches: evalBatches)
                let record = EvaluationRecord(step: trainer.step, trainLoss: report.loss, validationLoss: validation)
                trainer.history.append(record)
                printError(String(format: "step %d: train loss %.4f, validation loss %.4f", trainer.step, report.loss, validation))
                try save()
                if best.map({ validation < $0.validationLoss }) ?? true {
                    // The lowest-validation weights so far, kept apart in case later steps overfit.
                    best = record
                    try Checkpoint.write(trainer.weights, to: "\(out)/best.bin")
                }
            }
        }
        let seconds = (ContinuousClock.now - start).seconds
        let stepsDone = trainer.step - firstStep
        let validation = trainer.evaluate()
        let bigram = BigramBaseline.validationLoss(train: data.train, validation: data.validation, vocabularySize: model.vocabularySize)
        let cpt = data.validationCharactersPerToken
        let flops = Double(Self.flopsPerToken(model) * tokensPerStep * stepsDone)
        try printJSON(Summary(
            out: out, config: model, parameters: model.parameterCount, steps: trainer.step, tokensSeen: trainer.step * tokensPerStep,
            seconds: seconds, tokensPerSecond: Double(stepsDone * tokensPerStep) / max(stepSeconds, 1e-9),
            achievedGflops: flops / max(stepSeconds, 1e-9) / 1e9, sgemmGflops: Self.measureSGEMM(),
            finalTrainLoss: lastLoss.isNaN ? trainer.history.last?.trainLoss : lastLoss, validationLossPerToken: validation, validationLossPerCharacter: Double(validation) / cpt,
            validationCharactersPerToken: cpt, bigramValidationLossPerToken: bigram.loss,
            bigramValidationLossPerCharacter: bigram.loss / cpt, best: best, history: trainer.history))
    }

    /// Floating-point operations of one training token (forward + backward, attention computed over full T×T blocks).
    static func flopsPerToken(_ c: ModelConfig) -> Int {
        let matmul = c.layers * (2 * c.dim * c.dim + 2 * c.kvDim * c.dim + 3 * c.dim * c.hiddenDim) + c.vocabularySize * c.dim
        let attention = c.layers * 4 * c.maxSequenceLength * c.dim
        return 6 * matmul + 3 * attention
    }

    /// sgemm throughput (GFLOP/s) on a training-sized product with the current thread setting.
    static func measureSGEMM() -> Double {
        let (m, n, k) = (4096, 768, 256)
        let a = Tensor(shape: [m, k], repeating: 0.5), b = Tensor(shape: [n, k], repeating: 0.25), c = Tensor(zeros: [m, n])
        BLAS.matmul(a.pointer, b.pointer, c.pointer, n: m, out: n, in: k)
        let start = ContinuousClock.now
        var runs = 0
        while (ContinuousClock.now - start).seconds < 1 {
            BLAS.matmul(a.pointer, b.pointer, c.pointer, n: m, out: n, in: k)
            runs += 1
        }
        return Double(2 * m * n * k * runs) / (ContinuousClock.now - start).seconds / 1e9
    }
}
