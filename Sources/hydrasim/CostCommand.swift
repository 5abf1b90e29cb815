import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel
import Numerics
import Speculation

/// `hydrasim cost`: the roofline cost model (reference §5), so a learner can see where speculation pays.
struct CostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "Project the speedup of speculative decoding from tau and tree size with a roofline model.",
        discussion: """
        A forward pass over n tokens costs max(weight bytes / bandwidth, 2 · params · n / FLOP/s) + a fixed
        overhead; a step costs one pass over the tree plus the draft heads' passes. Speedup = tau / (step
        cost / autoregressive step cost). On a GPU a 64-token pass costs about what a 1-token pass does
        (memory-bound), so speedup approaches tau; on this CPU a small model is closer to compute-bound.
        Examples:
          hydrasim cost --device a100 --model vicuna-7b --tau 3.04 --tree-nodes 64
          hydrasim cost --device cpu --model house --tau 2.9 --tree-nodes 16 --format json
          hydrasim cost --calibrate --model house
          hydrasim cost --measure --checkpoint Fixtures/models/house/model.bin --threads 2
        With --measure, this machine is measured on the spot (time to stream the model's own weights once,
        memory and cache bandwidth, the kernels' FMA peak, the real pass time for n = 1 ... 128 tokens after a
        64-token prefix) and the projection uses those figures.
        """
    )

    @Option(name: .long, help: "Device preset: cpu (this machine class, measured) or a100.") var device = "cpu"
    @Flag(name: .long, help: "Measure this machine's bandwidth and FLOP/s instead of using the preset.") var calibrate = false
    @Option(name: .long, help: "Model preset: house or vicuna-7b.") var model = "house"
    @Option(name: .long, help: "Override the model's parameter count (e.g. 1e9), to ask which model size speculation pays for.")
    var parameters: Double?
    @Option(name: .long, help: "Measured tokens per step (tau). Without it, print the break-even tau per tree size.") var tau: Double?
    @Option(name: .customLong("tree-nodes"), help: "Tokens verified per step, the root included.") var treeNodes = 64
    @Option(name: .customLong("draft-rows"), help: "Rows each head runs per step, e.g. 1,1,1,1 (Medusa) or 1,3,6,2 (Hydra). Default: one per head.")
    var draftRows: String?
    @Option(name: .long, help: "json or text.") var format = "text"
    @Flag(name: .long, help: "Also time the real model's forward pass over each tree size (after a 64-token prefix) next to the projection.")
    var measure = false
    @Option(name: .long, help: "With --measure: the tree sizes to time, e.g. 1,4,8 (1 is always timed). Default: 1 ... 128, or 1 and --tree-nodes with --tau.")
    var sizes: String?
    @Option(name: .long, help: "With --measure: passes timed per size (the median is reported).") var repeats = 31
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var threads: ThreadOptions

    struct Row: Encodable {
        var treeNodes: Int
        var stepOverhead: Double
        var forwardMilliseconds: Double
        var breakEvenTau: Double
        var projectedSpeedup: Double?
        var measuredForwardMilliseconds: Double?
    }

    /// What `--measure` saw on this machine, in this run.
    struct Measured: Encodable {
        var kernel: String
        var threads: Int
        /// Streaming the model's own weights once (all its matrices), with the kernels' threads.
        var weightStreamMilliseconds: Double
        var memoryGigabytesPerSecond: Double
        var cacheGigabytesPerSecond: Double
        var fmaPeakGigaflops: Double
        /// Pass time for n tokens after a 64-token prefix (n = 1: `forward(token:)`), and pass(n) / pass(1).
        var passMilliseconds: [String: Double]
        var passRatio: [String: Double]
        /// pass(1) / weightStream: how close a one-token step is to streaming the weights once.
        var oneTokenOverWeightStream: Double
    }

    struct Report: Encodable {
        var device: DeviceProfile
        var model: ModelProfile
        var autoregressiveMilliseconds: Double
        var tau: Double?
        var measured: Measured?
        var rows: [Row]
    }

    func validate() throws {
        if !["json", "text"].contains(format) { throw CLIError("--format must be json or text, got \(format)") }
        if let tau, !(tau >= 1) { throw CLIError("--tau counts tokens per step including the root, so it is at least 1; got \(tau)") }
        if treeNodes < 1 { throw CLIError("--tree-nodes must be at least 1 (the root), got \(treeNodes)") }
        if !(1...100_000).contains(repeats) { throw CLIError("--repeats must be between 1 and 100000, got \(repeats)") }
        if (sizes != nil || repeats != 31) && !measure { throw CLIError("--sizes and --repeats time passes: add --measure") }
    }

    func run() throws {
        threads.apply()
        guard let deviceProfile = calibrate || measure ? DeviceCalibration.measure() : DeviceProfile.presets.first(where: { $0.name == device }) else {
            throw CLIError("--device: unknown device '\(device)' (\(DeviceProfile.presets.map(\.name).joined(separator: ", ")))")
        }
        guard var modelProfile = ModelProfile.presets.first(where: { $0.name == model }) else {
            throw CLIError("--model: unknown model '\(model)' (\(ModelProfile.presets.map(\.name).joined(separator: ", ")))")
        }
        if let parameters {
            guard parameters >= 1 else { throw CLIError("--parameters must be at least 1, got \(parameters)") }
            // Heads scale with the model (same share as the preset's).
            modelProfile.headParameters *= parameters / modelProfile.parameters
            modelProfile.parameters = parameters
            modelProfile.name += String(format: " scaled to %.3g parameters", parameters)
        }
        let rows = try draftRows.map { try parseIDs($0, option: "--draft-rows") } ?? [Int](repeating: 1, count: modelProfile.heads)
        var profile = deviceProfile
        var sizes = tau == nil ? [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128] : [1, treeNodes]
        if let list = self.sizes {
            let chosen = try list.split(separator: ",").map { part in
                guard let n = Int(part.trimmingCharacters(in: .whitespaces)) else { throw CLIError("--sizes: '\(part)' is not a number of tokens (e.g. --sizes 1,4,8)") }
                return n
            }
            if let bad = chosen.first(where: { $0 < 1 || $0 > 4096 }) { throw CLIError("--sizes: a tree has 1 to 4096 tokens, got \(bad)") }
            sizes = Array(Set(chosen + [1])).sorted()
        }
        let measured = try measure ? measureForward(sizes: sizes) : [:]
        var figures: Measured?
        if measure, let single = measured[1] {
            let loaded = try modelOptions.loadModel()
            let stream = Self.weightStreamSeconds(loaded)
            let f = DeviceCalibration.figures()
            if parameters == nil {
                // The house preset describes the checkpoint measured only when it is that model: use the real one.
                modelProfile.parameters = Double(loaded.config.parameterCount)
            }
            // The fixed cost of a pass, fitted to the real model: its one-token time minus streaming its weights once.
            profile.passOverhead = max(0, single - stream)
            figures = Measured(kernel: KernelPool.shared.variant.rawValue, threads: KernelPool.shared.threads,
                               weightStreamMilliseconds: 1e3 * stream, memoryGigabytesPerSecond: f.memoryBandwidth / 1e9,
                               cacheGigabytesPerSecond: f.cacheBandwidth / 1e9, fmaPeakGigaflops: f.fmaPeak / 1e9,
                               passMilliseconds: Dictionary(uniqueKeysWithValues: measured.map { (String($0.key), 1e3 * $0.value) }),
                               passRatio: Dictionary(uniqueKeysWithValues: measured.map { (String($0.key), $0.value / single) }),
                               oneTokenOverWeightStream: single / stream)
        } else if calibrate, let single = measured[1] {
            profile.passOverhead = max(0, single - modelProfile.parameters * modelProfile.bytesPerParameter / profile.bandwidth)
        }
        let cost = CostModel(device: profile, model: modelProfile)
        let tableSizes = measure ? sizes : (tau == nil ? [1, 2, 4, 8, 16, 32, 64, 128].filter { $0 != treeNodes } + [treeNodes] : [treeNodes])
        let table = Set(tableSizes).sorted().map { n -> Row in
            let draft = n == 1 ? [] : rows
            let overhead = cost.overhead(treeNodes: n, rowsPerDepth: draft)
            return Row(treeNodes: n, stepOverhead: overhead, forwardMilliseconds: 1e3 * cost.forwardSeconds(tokens: n), breakEvenTau: overhead,
                       projectedSpeedup: tau.map { $0 / overhead }, measuredForwardMilliseconds: measured[n].map { 1e3 * $0 })
        }
        let report = Report(device: profile, model: modelProfile, autoregressiveMilliseconds: 1e3 * cost.forwardSeconds(tokens: 1),
                            tau: tau, measured: figures, rows: table)
        if format == "json" { return try printJSON(report) }
        if let m = figures {
            print(String(format: "measured here: kernel %@ on %d threads; streaming the model's weights once %.3f ms; memory %.0f GB/s, cache %.0f GB/s; FMA peak %.0f GFLOP/s; one-token pass / weight stream %.2f",
                         m.kernel, m.threads, m.weightStreamMilliseconds, m.memoryGigabytesPerSecond, m.cacheGigabytesPerSecond, m.fmaPeakGigaflops,
                         m.oneTokenOverWeightStream))
        }
        print(String(format: "%@ on %@: %.1f GB/s, %.0f GFLOP/s, %.2f ms fixed per pass; one autoregressive step %.3f ms",
                     modelProfile.name, profile.name, profile.bandwidth / 1e9, profile.flops / 1e9,
                     profile.passOverhead * 1e3, report.autoregressiveMilliseconds))
        print("tokens/pass  forward ms  step cost / AR step" + (tau == nil ? "  (break-even tau)" : String(format: "  speedup at tau %.2f", tau!))
              + (measure ? "  measured forward ms  pass(n)/pass(1)" : ""))
        for r in table {
            print(String(format: "%11d  %10.3f  %19.2f", r.treeNodes, r.forwardMilliseconds, r.stepOverhead)
                  + (r.projectedSpeedup.map { String(format: "  %.2fx", $0) } ?? "")
                  + (r.measuredForwardMilliseconds.map { String(format: "  %19.3f", $0) } ?? "")
                  + (figures?.passRatio[String(r.treeNodes)].map { String(format: "  %15.2f", $0) } ?? ""))
        }
    }

    /// Seconds to stream every weight matrix of `model` once with the kernels' pool (best of 10, so from the
    /// cache when the model fits it: what a one-token pass reads).
    static func weightStreamSeconds(_ model: Transformer) -> Double {
        let w = model.weights
        let tensors = [w.wq, w.wk, w.wv, w.wo, w.w1, w.w2, w.w3] + (w.config.sharedClassifier ? [w.tokenEmbedding] : [w.tokenEmbedding, w.classifier])
        var best = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<10 {
            let start = clock.now
            for t in tensors { _ = KernelPool.shared.measureStream(t.pointer, count: t.count, repeats: 1) }
            best = min(best, (clock.now - start).seconds)
        }
        return best
    }

    /// Median seconds of the real model's forward over `n` tree tokens after a 64-token prefix, per size.
    func measureForward(sizes: [Int]) throws -> [Int: Double] {
        try measurePassSeconds(try modelOptions.loadModel(), sizes: sizes, repeats: repeats)
    }
}

/// Median seconds of `model`'s forward over `n` tree tokens after a 64-token prefix, per size (`cost --measure`).
func measurePassSeconds(_ model: Transformer, sizes: [Int], repeats: Int = 31) throws -> [Int: Double] {
    // Passes alone are steps of plain decoding over n tokens (measureStepCosts: sizes up to 8 in turns, bigger ones apart).
    let distinct = Array(Set(sizes)).sorted()
    let costs = try measureStepCosts(model, steps: distinct.map { (nil, $0, 1) }, repeats: repeats)
    return Dictionary(uniqueKeysWithValues: zip(distinct, costs.map(\.passSeconds)))
}

/// What one decoding step of a configuration costs, timed as decoding runs it.
struct StepCost {
    /// Median seconds of drafting the tree (0 for plain decoding) and of the verification pass over its tokens.
    var draftSeconds: Double
    var passSeconds: Double
}

/// Times decoding steps of each configuration: `proposer` nil is plain decoding (a one-token pass), else a drafting
/// step with `proposer` (the prefix layer fed `accepted` states first, as a step does) followed by a pass over
/// `tokens` tokens after `prefix` cached tokens (bench: its prompt plus half its tokens, its steps' mean context;
/// attention's cost grows with it). The drafting and the pass alternate as in decoding, so each evicts the
/// other's weights from the caches as it does there (timed apart, both ran from warm caches and a bench projected
/// 20-40 % more speedup than it measured). Configurations of up to 8 tokens take turns (the machine's drift hits
/// them alike), each turn an untimed step and then a timed one; bigger ones are timed after, each on its own.
func measureStepCosts(_ model: Transformer, steps: [(proposer: CandidateProposer?, tokens: Int, accepted: Int)],
                      repeats: Int = 51, prefix: Int = 64) throws -> [StepCost] {
    let dim = model.config.dim
    let prefixLength = min(max(1, prefix), model.config.maxSequenceLength - (steps.map(\.tokens).max() ?? 1))
    guard prefixLength >= 1 else { throw CLIError("the model's context is too short to time a tree of \(steps.map(\.tokens).max() ?? 1) tokens") }
    let state = model.makeState(cacheCapacity: model.config.maxSequenceLength)
    let prompt = (0..<prefixLength).map { 3 + $0 % 200 }
    _ = model.forward(tokens: prompt, positions: Array(0..<prefixLength), mask: .causal(prefix: 0, count: prefixLength), state: state)
    // (max(64, accepted), D) the same heads' state in every row; a prefix-layer state per configuration that has one.
    let rows = max(64, steps.map(\.accepted).max() ?? 1)
    let hidden = [Float](repeating: 0.01, count: rows * dim)
    let prefixes = steps.map { step -> PrefixAttentionState? in
        guard let layer = step.proposer?.draftingHeads?.prefix else { return nil }
        let state = PrefixAttentionState(drafting: layer, capacity: 64 + max(1, step.accepted))
        hidden.withUnsafeBufferPointer { h in _ = state.feed(consecutive: h.baseAddress!, count: 64) }
        state.reserve(rows: max(1, step.accepted))
        return state
    }
    var nodes: [DraftNode] = []
    nodes.reserveCapacity((steps.compactMap { $0.proposer?.maxNodeCount }.max() ?? 1))
    // Per configuration: the tokens, positions and mask of its pass, made before the timing starts.
    let tokens = steps.map { [Int](repeating: 5, count: $0.tokens) }
    let positions = steps.map { (0..<$0.tokens).map { prefixLength + $0 } }
    let masks = steps.map { AttentionMask.causal(prefix: prefixLength, count: $0.tokens) }
    let clock = ContinuousClock()
    var draftTimes = [[Double]](repeating: [], count: steps.count), passTimes = draftTimes
    func step(_ i: Int) -> (Double, Double) {
        let start = clock.now
        if let proposer = steps[i].proposer {
            hidden.withUnsafeBufferPointer { h in
                if let prefix = prefixes[i] {
                    prefix.feed(consecutive: h.baseAddress!, count: max(1, steps[i].accepted))
                    prefix.cache.truncate(to: 64)
                }
                proposer.propose(root: 5, state: h.baseAddress!, into: &nodes)
            }
        }
        let drafted = clock.now
        let n = steps[i].tokens
        if n == 1 {
            _ = model.forward(token: 5, state: state)
        } else {
            _ = model.forward(tokens: tokens[i], positions: positions[i], mask: masks[i], state: state)
        }
        state.cache.truncate(to: prefixLength)
        return ((drafted - start).seconds, (clock.now - drafted).seconds)
    }
    let small = steps.indices.filter { steps[$0].tokens <= 8 }
    let groups = [small] + steps.indices.filter { steps[$0].tokens > 8 }.map { [$0] }
    for group in groups where !group.isEmpty {
        for _ in 0..<max(1, repeats) {
            for i in group {
                _ = step(i)
                let (draft, pass) = step(i)
                draftTimes[i].append(draft)
                passTimes[i].append(pass)
            }
        }
    }
    let median = { (t: [Double]) in t.sorted()[t.count / 2] }
    return steps.indices.map { StepCost(draftSeconds: steps[$0].proposer == nil ? 0 : median(draftTimes[$0]), passSeconds: median(passTimes[$0])) }
}
