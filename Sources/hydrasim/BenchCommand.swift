import ArgumentParser
import Foundation
import LanguageModel
import Numerics

/// `hydrasim bench`: measured decoding speed (tokens/s), as ratios from one run on one machine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure greedy decoding speed (tokens/s) for thread counts, interleaved so noise hits all alike.",
        discussion: """
        Each round runs every configuration once in turn; the report gives the median and the
        spread over rounds. Example (BENCHMARKS.md):
          hydrasim bench --checkpoint Fixtures/models/stories260K/model.bin --threads-list 1,2 --tokens 256 --rounds 7
        """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .customLong("decoders"), help: "Decoders to compare (for now: ar).")
    var decoders = "ar"

    @Option(name: .customLong("threads-list"), help: "OpenBLAS thread counts to compare, e.g. 1,2.")
    var threadsList = "1,2"

    @Option(name: .long, help: "Tokens to generate per run (greedy from BOS, run to this length even past BOS).")
    var tokens = 256

    @Option(name: .long, help: "Rounds (each runs every configuration once).")
    var rounds = 5

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .text

    struct Row: Encodable {
        var decoder: String
        var threads: Int
        var tokens: Int
        var tokensPerSecondMedian: Double
        var tokensPerSecondMin: Double
        var tokensPerSecondMax: Double
        var microsecondsPerTokenMedian: Double
    }

    struct Report: Encodable {
        var checkpoint: String
        var parameters: Int
        var config: ModelConfig
        var rounds: Int
        var rows: [Row]
    }

    func validate() throws {
        if decoders.split(separator: ",").contains(where: { $0 != "ar" }) {
            throw CLIError("--decoders: only 'ar' exists so far (speculative decoders come with the draft heads)")
        }
        if tokens < 1 || rounds < 1 { throw CLIError("--tokens and --rounds must be at least 1") }
    }

    func run() throws {
        let threadCounts = try threadsList.split(separator: ",").map { part -> Int in
            guard let t = Int(part), t >= 1 else { throw CLIError("--threads-list: '\(part)' is not a thread count") }
            return t
        }
        let path = try model.checkpointPath()
        let transformer = try model.loadModel()
        let length = min(tokens, transformer.config.maxSequenceLength - 1)
        var samples = [[Double]](repeating: [], count: threadCounts.count)
        var progress = ProgressBar(total: rounds * threadCounts.count, label: "bench")
        progress.update(0)
        for round in 0..<rounds {
            for (i, t) in threadCounts.enumerated() {
                BLAS.threads = 1
                Parallel.workers = t
                samples[i].append(Self.decodeSpeed(transformer, tokens: length))
                progress.update(round * threadCounts.count + i + 1, status: String(format: "%.0f tok/s", samples[i].last!))
            }
        }
        let rows = zip(threadCounts, samples).map { t, s -> Row in
            let sorted = s.sorted()
            let median = sorted[sorted.count / 2]
            return Row(decoder: "ar", threads: t, tokens: length, tokensPerSecondMedian: median,
                       tokensPerSecondMin: sorted.first!, tokensPerSecondMax: sorted.last!, microsecondsPerTokenMedian: 1e6 / median)
        }
        let report = Report(checkpoint: path, parameters: transformer.config.parameterCount, config: transformer.config,
                            rounds: rounds, rows: rows)
        if format == .json { return try printJSON(report) }
        print("\(path): \(report.parameters) parameters, \(length) tokens per run, \(rounds) rounds")
        print("decoder  threads  tok/s (median)   min     max    us/token")
        for r in rows {
            print(r.decoder.padding(toLength: 8, withPad: " ", startingAt: 0) + String(format: " %7d  %14.0f %7.0f %7.0f %10.1f", r.threads, r.tokensPerSecondMedian,
                         r.tokensPerSecondMin, r.tokensPerSecondMax, r.microsecondsPerTokenMedian))
        }
    }

    /// Tokens/s of greedy decoding from BOS for `tokens` tokens (BOS does not stop it, so runs have equal length).
    static func decodeSpeed(_ model: Transformer, tokens: Int) -> Double {
        let state = model.makeState()
        var token = 1
        let start = ContinuousClock.now
        for _ in 0..<tokens {
            let logits = model.forward(token: token, state: state)
            token = Ops.argmax(logits.baseAddress!, n: logits.count)
        }
        return Double(tokens) / (ContinuousClock.now - start).seconds
    }
}
