import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel

extension DraftHeadKind: ExpressibleByArgument {}

/// The base model (folder with model.bin and tokenizer.bin) and corpus that heads are trained or measured on.
struct BaseModelOptions: ParsableArguments {
    @Option(name: .long, help: "Folder with the base model.bin and tokenizer.bin. Default: the shipped house model.")
    var base: String?

    @Option(name: .long, help: "Text the heads learn from (split 90/10 as in base training). Default: the shipped Tiny Shakespeare.")
    var corpus: String?

    /// The base folder, or a clear error.
    func folder() throws -> String { try Fixtures.baseFolder(base) }

    func corpusPath() throws -> String { try Fixtures.corpus(corpus) }

    /// Loads the base weights, tokenizer and the tokenised 90/10 split.
    func load() throws -> (weights: TransformerWeights, tokenizer: BPETokenizer, data: TrainingData) {
        let dir = try folder()
        let weights = try Checkpoint.read("\(dir)/model.bin")
        let tokenizer = try BPETokenizer(contentsOf: "\(dir)/tokenizer.bin", expectedVocabularySize: weights.config.vocabularySize)
        let text = try CorpusCheck.read(try corpusPath())
        return (weights, tokenizer, TrainingData(text: text, tokenizer: tokenizer))
    }
}

/// The corpus whose validation split gives held-out prompts (benchmarks).
struct CorpusOptions: ParsableArguments {
    @Option(name: .long, help: "Text whose last 10% gives the held-out prompts. Default: the shipped Tiny Shakespeare.")
    var corpus: String?

    func corpusPath() throws -> String { try Fixtures.corpus(corpus) }
}

/// Runs the frozen base over a split once, with a progress bar.
func hiddenStates(_ model: Transformer, tokens: [Int32], label: String) -> BaseHiddenStates {
    var bar = ProgressBar(total: 1, label: label)
    let lock = NSLock()
    return BaseHiddenStates(model: model, tokens: tokens) { done, total in
        lock.lock()
        defer { lock.unlock() }
        bar = bar.total == total ? bar : ProgressBar(total: total, label: label)
        if done % 16 == 0 || done == total { bar.update(done) }
    }
}
