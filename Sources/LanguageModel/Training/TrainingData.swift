import Foundation

/// A corpus split 90/10 into training and validation text, tokenised (reference §7).
public struct TrainingData: Sendable {
    public let train: [Int32]
    public let validation: [Int32]
    /// Characters (Unicode scalars, as Python counts them) of each split.
    public let trainCharacters: Int
    public let validationCharacters: Int

    /// Splits `text` at 90% of its characters (the first 90% train) and encodes each part
    /// as one document (BOS + text, as llama2.c's `run.c` feeds a prompt).
    public init(text: String, tokenizer: some Tokenizer, trainFraction: Double = 0.9) {
        let (trainText, validationText) = Self.split(text, trainFraction: trainFraction)
        train = tokenizer.encode(trainText, bos: true, eos: false).map(Int32.init)
        validation = tokenizer.encode(validationText, bos: true, eos: false).map(Int32.init)
        trainCharacters = trainText.unicodeScalars.count
        validationCharacters = validationText.unicodeScalars.count
    }

    /// The first `trainFraction` of the characters, and the rest.
    public static func split(_ text: String, trainFraction: Double = 0.9) -> (train: String, validation: String) {
        let scalars = text.unicodeScalars
        let cut = scalars.index(scalars.startIndex, offsetBy: Int(Double(scalars.count) * trainFraction))
        return (String(scalars[..<cut]), String(scalars[cut...]))
    }

    /// Validation characters per validation token (to turn nats/token into nats/character).
    public var validationCharactersPerToken: Double { Double(validationCharacters) / Double(max(validation.count - 1, 1)) }
}

/// Checks a training corpus: one clear error for empty, too short or non-UTF-8 input.
public enum CorpusCheck {
    /// Reads `path` as UTF-8 text of at least `minimumCharacters` characters.
    public static func read(_ path: String, minimumCharacters: Int = 1000) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError("\(path): no such file or not readable")
        }
        guard !data.isEmpty else { throw TrainingError("\(path): the corpus is empty") }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw TrainingError("\(path): not valid UTF-8 text")
        }
        guard text.unicodeScalars.count >= minimumCharacters else {
            throw TrainingError("\(path): the corpus has \(text.unicodeScalars.count) characters; at least \(minimumCharacters) are needed for a 90/10 split")
        }
        return text
    }
}

/// A training run cannot start or continue: one line naming the problem.
public struct TrainingError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

/// A bigram model with add-k smoothing: the baseline a trained model must beat.
public enum BigramBaseline {
    /// Mean validation cross-entropy (nats/token) of `p(next | previous)` estimated on `train`
    /// with add-`k` smoothing; `k` is chosen from a small grid on the validation split itself
    /// (which flatters the baseline, never the model).
    public static func validationLoss(train: [Int32], validation: [Int32], vocabularySize V: Int) -> (loss: Double, k: Double) {
        var counts = [Double](repeating: 0, count: V * V)
        var rowTotals = [Double](repeating: 0, count: V)
        for i in 0..<(train.count - 1) {
            counts[Int(train[i]) * V + Int(train[i + 1])] += 1
            rowTotals[Int(train[i])] += 1
        }
        var best = (loss: Double.infinity, k: 0.0)
        for k in [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0] {
            var total = 0.0
            for i in 0..<(validation.count - 1) {
                let a = Int(validation[i]), b = Int(validation[i + 1])
                total -= log((counts[a * V + b] + k) / (rowTotals[a] + k * Double(V)))
            }
            let loss = total / Double(validation.count - 1)
            if loss < best.loss { best = (loss, k) }
        }
        return best
    }
}
