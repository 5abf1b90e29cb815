import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel

/// `hydrasim heads`: inspect draft heads.
struct HeadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heads",
        abstract: "Inspect draft heads.",
        subcommands: [Accuracy.self]
    )

    /// `hydrasim heads accuracy`: the teacher-forced top-k table (the shape of Medusa's published one).
    struct Accuracy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Teacher-forced top-1..top-N accuracy of each head on a split of the corpus.",
            discussion: "Rank-r accuracy is top(r+1) - top(r). The CSV has the shape of ../shared/reference/medusa_head_accuracy.csv."
        )

        @OptionGroup var baseOptions: BaseModelOptions
        @Option(name: .long, help: "Heads file.") var heads: String
        @Option(name: .long, help: "val or train.") var split = "val"
        @Option(name: .long, help: "Largest k of top-k.") var top = 10
        @Option(name: .long, help: "Evaluate only the first N positions.") var limit: Int?
        @Option(name: .long, help: "json, csv or text.") var format = "text"
        @OptionGroup var threads: ThreadOptions

        struct Report: Encodable {
            var heads: String
            var kind: String
            var split: String
            var positions: Int
            var topK: [[Double]]
        }

        func validate() throws {
            if !["val", "train"].contains(split) { throw CLIError("--split must be val or train, got \(split)") }
            if !["json", "csv", "text"].contains(format) { throw CLIError("--format must be json, csv or text, got \(format)") }
            if top < 1 { throw CLIError("--top must be at least 1") }
        }

        func run() throws {
            threads.apply()
            let (weights, _, data) = try baseOptions.load()
            let set = try DraftHeadsFile.read(heads, base: weights)
            let tokens = split == "val" ? data.validation : data.train
            let states = hiddenStates(Transformer(weights: weights), tokens: tokens, label: "base hidden states")
            let accuracy = HeadAccuracy.measure(set, data: states, embedding: weights.tokenEmbedding, top: top, limit: limit)
            switch format {
            case "json":
                try printJSON(Report(heads: heads, kind: set.config.kind.rawValue, split: split, positions: accuracy.positions, topK: accuracy.topK))
            case "csv":
                print("head," + (1...top).map { "top\($0)" }.joined(separator: ","))
                for (k, row) in accuracy.topK.enumerated() { print("\(k + 1)," + row.map { String(format: "%.4f", $0) }.joined(separator: ",")) }
            default:
                print("\(heads) (\(set.config.kind.rawValue)), \(split) split, \(accuracy.positions) positions")
                print("head " + (1...top).map { String(format: "%6@", "top\($0)") }.joined(separator: " "))
                for (k, row) in accuracy.topK.enumerated() {
                    print(String(format: "%4d ", k + 1) + row.map { String(format: "%5.1f%%", 100 * $0) }.joined(separator: " "))
                }
            }
        }
    }
}
