import ArgumentParser
import Foundation
import LanguageModel

/// `hydrasim tokenizer`: train a byte-level BPE tokenizer and use it (llama2.c's tokenizer.bin format).
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train, and encode or decode with, a byte-level BPE tokenizer (llama2.c format).",
        subcommands: [Train.self, Encode.self, Decode.self]
    )

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Train a BPE tokenizer on a UTF-8 text file.")

        @Option(name: .long, help: "Training text (UTF-8).") var corpus: String
        @Option(name: .customLong("vocab-size"), help: "Vocabulary size, at least 259 (3 specials + 256 bytes).") var vocabSize = 512
        @Option(name: .long, help: "Output tokenizer.bin.") var out: String
        @Option(name: .long, help: "text or json.") var format: OutputFormat = .text

        struct Report: Encodable {
            var out: String
            var vocabularySize: Int
            var corpusBytes: Int
            var corpusTokens: Int
            var bytesPerToken: Double
            var seconds: Double
        }

        func run() throws {
            let text = try readCorpus(corpus)
            var progress = ProgressBar(total: vocabSize - 259, label: "merges")
            let start = ContinuousClock.now
            let tokenizer = try BPETokenizer.train(text: text, vocabularySize: vocabSize) { done, total in
                if done % 16 == 0 || done == total { progress.update(done) }
            }
            let seconds = (ContinuousClock.now - start).seconds
            try tokenizer.write(to: out)
            let tokens = tokenizer.encode(text, bos: false, eos: false).count
            let report = Report(out: out, vocabularySize: tokenizer.vocabularySize, corpusBytes: text.utf8.count, corpusTokens: tokens,
                                bytesPerToken: Double(text.utf8.count) / Double(max(tokens, 1)), seconds: seconds)
            if format == .json { return try printJSON(report) }
            print(String(format: "wrote %@: %d tokens; the corpus is %d tokens, %.2f bytes per token (%.1f s)",
                         out, report.vocabularySize, tokens, report.bytesPerToken, seconds))
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the token ids of a text (BOS and the dummy-prefix space first).")

        @Option(name: .long, help: "Tokenizer .bin.") var tokenizer: String
        @Option(name: .long, help: "Text to encode.") var text: String
        @Flag(name: .customLong("no-bos"), help: "Do not add BOS (nor the dummy-prefix space).") var noBOS = false
        @Option(name: .long, help: "ids, text (one piece per line) or json.") var format: OutputFormat = .ids

        struct Report: Encodable {
            var ids: [Int]
            var pieces: [String]
        }

        func run() throws {
            let tok = try BPETokenizer(contentsOf: tokenizer)
            let ids = tok.encode(text, bos: !noBOS, eos: false)
            switch format {
            case .ids: print(ids.map(String.init).joined(separator: " "))
            case .json: try printJSON(Report(ids: ids, pieces: ids.map(tok.displayText)))
            case .text: for id in ids { print("\(id)\t\(tok.displayText(id).debugDescription)") }
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the text of token ids (as llama2.c's run.c prints it).")

        @Option(name: .long, help: "Tokenizer .bin.") var tokenizer: String
        @Option(name: .long, help: "Token ids, e.g. \"1 403 12\".") var ids: String

        func run() throws {
            let tok = try BPETokenizer(contentsOf: tokenizer)
            let list = try parseIDs(ids, option: "--ids")
            if let bad = list.first(where: { $0 < 0 || $0 >= tok.vocabularySize }) {
                throw CLIError("--ids: \(bad) is outside the vocabulary (0..<\(tok.vocabularySize))")
            }
            print(tok.decode(list))
        }
    }
}

/// Reads a training corpus, with one clear error for a missing, empty or non-UTF-8 file.
func readCorpus(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError("\(path): no such file or not readable")
    }
    guard !data.isEmpty else { throw CLIError("\(path): the corpus is empty") }
    guard let text = String(validating: data, as: UTF8.self) else {
        throw CLIError("\(path): not valid UTF-8 text")
    }
    return text
}
