import ArgumentParser
import Foundation
import DraftHeads
import LanguageModel
import Numerics
import Speculation

/// `hydrasim bench`: measured decoding speed (tokens/s), as ratios from one run on one machine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure decoding speed and acceptance: ar against medusa, hydra and hydra++, interleaved so noise hits all alike.",
        discussion: """
        With speculative decoders: greedy decoding of held-out prompts from the validation split, every
        decoder and tree on each prompt in turn; per decoder tau (mean and histogram), tokens/s, draft and
        verify time per step, speedup over ar in the same run, the cost model's projection, and whether the
        output equals ar's token for token. A decoder may name its heads: hydra=path/to/hydra-teacher.heads.
        With --decoders ar alone: autoregressive speed for each of --threads-list.
        Examples (BENCHMARKS.md):
          hydrasim bench --decoders ar,medusa,hydra,hydra++ --tree mc_sim_7b_63 --prompts 16 --max-tokens 128
          hydrasim bench --decoders ar,hydra++ --trees chain-1,chain-2,chain-3,chain-4,fork-2x2,mc_sim_7b_63
          hydrasim bench --checkpoint Fixtures/models/stories260K/model.bin --threads-list 1,2 --tokens 256 --rounds 7
        """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var baseOptions: CorpusOptions

    @Option(name: .customLong("decoders"), help: "Decoders to compare: ar, medusa, hydra, hydra++, or name=HEADS-FILE.")
    var decoders = "ar"

    @Option(name: .long, help: "Tree for every speculative decoder (see generate --tree).")
    var tree = "mc_sim_7b_63"

    @Option(name: .long, help: "Several trees to compare (comma-separated); overrides --tree.")
    var trees: String?

    @Option(name: .customLong("head-precision"), help: "Precision of the heads' weights while drafting: f16, f32, or both to compare (f16,f32).")
    var headPrecision = "f16"

    @Option(name: .long, help: "Acceptance rule of the speculative decoders: greedy (exact, the default), typical or sample (lossless); with typical or sample, plain decoding samples at --temperature too.")
    var rule: RuleName?

    /// --temperature (typical or sample: plain decoding samples at it too), --top-p, --seed, --greedy.
    @OptionGroup var sampling: SamplingOptions

    @Option(name: .long, help: "Held-out prompts from the validation split.")
    var prompts = 16

    @Option(name: .customLong("prompt-length"), help: "Tokens per prompt (BOS included).")
    var promptLength = 32

    @Option(name: .customLong("max-tokens"), help: "Tokens to generate per prompt.")
    var maxTokens = 128

    @Option(name: .long, help: "Threads (HydraSim's own row split; default: all cores).")
    var threads: Int?

    @Option(name: .customLong("threads-list"), help: "OpenBLAS thread counts to compare, e.g. 1,2.")
    var threadsList = "1,2"

    @Option(name: .long, help: "Tokens to generate per run (greedy from BOS, run to this length even past BOS).")
    var tokens = 256

    @Option(name: .long, help: "Rounds (each runs every configuration once).")
    var rounds = 5

    /// How the report prints.
    enum Format: String, ExpressibleByArgument { case table, text, json }

    @Option(name: .long, help: "table (or text) or json.")
    var format: Format = .table

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
        if tokens < 1 || rounds < 1 { throw CLIError("--tokens and --rounds must be at least 1") }
        if prompts < 1 || maxTokens < 1 || promptLength < 2 { throw CLIError("--prompts and --max-tokens must be at least 1, --prompt-length at least 2") }
        if let threads, threads < 1 { throw CLIError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let specs = decoders.split(separator: ",").map(String.init)
        if specs.contains(where: { $0 != "ar" }) { return try runSpeculative(specs) }
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

    struct SpeculativeRow: Encodable {
        var decoder: String
        var heads: String?
        var tree: String
        var treeNodes: Int
        /// f16 or f32: the precision the heads' weights streamed in while drafting (nil for ar).
        var headPrecision: String?
        /// Bytes of heads (and prefix layer) streamed per step at that precision, all heads (nil for ar).
        var headBytes: Int?
        var tokens: Int
        var steps: Int
        var tau: Double
        var tauHistogram: [String: Int]
        var tokensPerSecond: Double
        var speedup: Double
        var draftMillisecondsPerStep: Double
        var verifyMillisecondsPerStep: Double
        var predictedSpeedup: Double
        /// tau x pass(1) / (pass(tree nodes) + drafting), each cost measured alone in this run after the decoding.
        var projectedSpeedupFromMeasuredCosts: Double
        /// Those costs: one verification pass over the tree and one drafting step (with the prefix layer's feed), ms.
        var measuredPassMilliseconds: Double
        var measuredDraftMilliseconds: Double
        /// Whether the tokens equal plain decoding's (greedy only; nil under a sampling rule, where they need not).
        var identicalToAR: Bool?
    }

    struct SpeculativeReport: Encodable {
        var checkpoint: String
        var parameters: Int
        var prompts: Int
        var promptLength: Int
        var maxTokens: Int
        var threads: Int
        /// The kernel variant that ran (avx512, avx2 or portable).
        var kernel: String
        /// The speculative decoders' acceptance rule ("greedy", "typical (T 0.7)", "sample (T 1, top-p 1)").
        var rule: String
        var device: DeviceProfile
        var rows: [SpeculativeRow]
    }

    func runSpeculative(_ specs: [String]) throws {
        if rule == .greedy, let t = sampling.temperature, t != 0 { throw CLIError("--temperature \(t) needs --rule typical or sample") }
        BLAS.threads = 1
        if let threads { Parallel.workers = threads }
        let checkpoint = try model.checkpointPath()
        let transformer = try model.loadModel()
        guard let tokenizer = try model.loadTokenizer(vocabularySize: transformer.config.vocabularySize) else {
            throw CLIError("the benchmark takes its prompts from the validation split, which needs a tokenizer: pass --tokenizer")
        }
        let data = TrainingData(text: try CorpusCheck.read(try baseOptions.corpusPath()), tokenizer: tokenizer)
        var verification = try VerificationOptions.parse([])
        verification.rule = rule
        let greedy = (rule ?? (sampling.isGreedy ? .greedy : .sample)) == .greedy
        let acceptance = try verification.acceptanceRule(sampling)
        let ruleDescription: String
        switch acceptance {
        case .greedy: ruleDescription = "greedy"
        case .typical(let t): ruleDescription = String(format: "typical (eps %g, delta %g, T %g)", t.epsilon, t.delta, t.temperature)
        case .sample(let s): ruleDescription = String(format: "sample (T %g, top-p %g)", s.temperature, s.topP)
        }
        let treeList = trees.map { $0.split(separator: ",").map(String.init) } ?? [tree]
        let precisions = try headPrecision.split(separator: ",").map { text in
            do { return try WeightPrecision.parse(String(text)) } catch { throw CLIError("--head-precision: \(error)") }
        }
        guard !precisions.isEmpty else { throw CLIError("--head-precision: name f16, f32 or both (f16,f32)") }
        var configurations = [BenchConfiguration(label: "ar", headsPath: nil, tree: "none", speculative: nil, treeNodes: 1, draftRows: [])]
        for spec in specs where spec != "ar" {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard let name = DecoderName(rawValue: parts[0]) else { throw CLIError("--decoders: unknown decoder '\(parts[0])' (ar, medusa, hydra, hydra++)") }
            let path = parts.count == 2 ? parts[1]
                : URL(fileURLWithPath: checkpoint).deletingLastPathComponent().appendingPathComponent("\(name.rawValue).heads").path
            let heads = try loadHeads(path, for: name, model: transformer)
            let label = parts.count == 2 ? URL(fileURLWithPath: parts[1]).deletingPathExtension().lastPathComponent : name.rawValue
            for treeSpec in treeList {
                for precision in precisions {
                    var options = verification
                    options.headPrecision = precision
                    let proposer = try options.proposer(heads: heads.set, model: transformer, tree: treeSpec)
                    let decoder = try SpeculativeDecoder(model: transformer, heads: heads.set, proposer: proposer, rule: acceptance, seed: sampling.seed)
                    configurations.append(BenchConfiguration(label: precisions.count > 1 ? "\(label)/\(precision.rawValue)" : label,
                                                             headsPath: heads.path, tree: proposer.treeName,
                                                             speculative: decoder, treeNodes: proposer.maxNodeCount,
                                                             draftRows: SpeculativeBench.draftRows(proposer, sequential: heads.set.config.kind.isSequential),
                                                             headPrecision: precision))
                }
            }
        }
        let promptList = try SpeculativeBench.prompts(validation: data.validation, count: prompts, length: promptLength, room: maxTokens)
        let length = min(maxTokens, transformer.config.maxSequenceLength - promptLength)
        var progress = ProgressBar(total: prompts * configurations.count, label: "bench")
        progress.update(0)
        // The device profile for the cost model: this machine, measured in this run.
        var device = DeviceCalibration.measure()
        let plain: SpeculativeBench.PlainSampling = greedy ? .greedy
            : .temperature(sampling.isGreedy ? (rule == .typical ? 0.7 : 1) : sampling.temperature!, topP: sampling.topP, seed: sampling.seed)
        let measured = try SpeculativeBench.run(model: transformer, configurations: configurations, prompts: promptList, maxTokens: length,
                                                plain: plain) {
            progress.update($0, status: $2)
        }
        let arSpeed = Double(measured[0].tokens) / measured[0].seconds
        // The costs, measured now: each configuration's drafting step and its pass, in turn as decoding runs them, after
        // the steps' mean context (the first configuration is plain decoding: its one-token pass).
        let costs = try measureStepCosts(transformer, steps: zip(configurations, measured).map { c, m in
            (c.speculative?.proposer, c.treeNodes, max(1, Int((Double(m.tokens) / Double(max(m.steps, 1))).rounded())))
        }, prefix: promptLength + length / 2)
        let onePass = costs[0].passSeconds
        // The cost model's fixed cost per pass, fitted to this run: ar's time per token minus streaming the weights.
        device.passOverhead = max(0, 1 / arSpeed - Double(transformer.config.parameterCount) * 4 / device.bandwidth(streaming: Double(transformer.config.parameterCount) * 4))
        let rows = zip(zip(configurations, measured), costs).map { pair, cost -> SpeculativeRow in
            let (c, m) = pair
            let (draft, treePass) = (cost.draftSeconds, cost.passSeconds)
            let heads = c.speculative?.heads
            var profile = ModelProfile(name: "this", parameters: Double(transformer.config.parameterCount), bytesPerParameter: 4,
                                       headParameters: Double(heads.map { $0.namedTensors.reduce(0) { $0 + $1.tensor.count } } ?? 0),
                                       heads: heads?.config.heads ?? 1)
            if c.headPrecision == .half { profile.headBytesPerParameter = 2 }
            let tau = Double(m.tokens) / Double(max(m.steps, 1))
            let cost = CostModel(device: device, model: profile)
            let speed = Double(m.tokens) / m.seconds
            return SpeculativeRow(decoder: c.label, heads: c.headsPath, tree: c.tree, treeNodes: c.treeNodes,
                                  headPrecision: c.headPrecision?.rawValue,
                                  headBytes: c.headPrecision.flatMap { p in heads.map { $0.drafting(p).bytes } },
                                  tokens: m.tokens, steps: m.steps,
                                  tau: tau, tauHistogram: Dictionary(uniqueKeysWithValues: m.histogram.map { (String($0.key), $0.value) }),
                                  tokensPerSecond: speed, speedup: speed / arSpeed,
                                  draftMillisecondsPerStep: 1e3 * m.draftSeconds / Double(max(m.steps, 1)),
                                  verifyMillisecondsPerStep: 1e3 * m.verifySeconds / Double(max(m.steps, 1)),
                                  predictedSpeedup: c.speculative == nil ? 1 : cost.speedup(tau: tau, treeNodes: c.treeNodes, rowsPerDepth: c.draftRows),
                                  projectedSpeedupFromMeasuredCosts: tau * onePass / (treePass + draft),
                                  measuredPassMilliseconds: 1e3 * treePass, measuredDraftMilliseconds: 1e3 * draft,
                                  identicalToAR: greedy ? m.identical : nil)
        }
        let report = SpeculativeReport(checkpoint: checkpoint, parameters: transformer.config.parameterCount, prompts: prompts,
                                       promptLength: promptLength, maxTokens: length, threads: Parallel.workers,
                                       kernel: KernelPool.shared.variant.rawValue, rule: ruleDescription, device: device, rows: rows)
        if format == .json { return try printJSON(report) }
        print(String(format: "%@: %d parameters; %d prompts x %d tokens, %d threads, rule %@; this machine: %.1f GB/s, %.0f GFLOP/s",
                     checkpoint, report.parameters, prompts, length, Parallel.workers, ruleDescription, device.bandwidth / 1e9, device.flops / 1e9))
        let width = max(14, rows.map(\.decoder.count).max() ?? 0)
        print("decoder".padding(toLength: width, withPad: " ", startingAt: 0) + " tree             drafts   tau   tok/s  speedup  model  costs  draft ms  verify ms  = ar")
        for r in rows {
            print(r.decoder.padding(toLength: width, withPad: " ", startingAt: 0) + " " + r.tree.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + String(format: " %6d %5.2f %7.0f %7.2fx %5.2fx %5.2fx %9.2f %10.2f  %@", r.treeNodes - 1, r.tau, r.tokensPerSecond, r.speedup,
                           r.predictedSpeedup, r.projectedSpeedupFromMeasuredCosts, r.draftMillisecondsPerStep, r.verifyMillisecondsPerStep,
                           r.identicalToAR.map { $0 ? "yes" : "NO" } ?? "n/a"))
        }
        print("model: the roofline cost model (bandwidth, FLOP/s, fixed costs); costs: tau x pass(1) / (pass(tree) + drafting), timed after the run, drafting and pass in turn as in decoding")
        print("\nspeedup over ar: measured (#) and cost model (+)")
        let scale = max(rows.map { max($0.speedup, $0.predictedSpeedup) }.max() ?? 1, 1)
        for r in rows.dropFirst() {
            let label = (r.decoder + " " + r.tree).padding(toLength: 30, withPad: " ", startingAt: 0)
            print(label + " " + String(repeating: "#", count: Int(40 * r.speedup / scale)) + String(format: " %.2fx", r.speedup))
            print(String(repeating: " ", count: 31) + String(repeating: "+", count: Int(40 * r.predictedSpeedup / scale)) + String(format: " %.2fx", r.predictedSpeedup))
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
