import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel
import Numerics
import Speculation

/// The decoders HydraSim runs (the library's `DecoderKind`, as a command-line argument).
typealias DecoderName = DecoderKind
extension DecoderKind: ExpressibleByArgument {}

extension DecoderKind {
    /// Parses a comma-separated list such as "ar,medusa,hydra++", the error naming `option`.
    static func list(_ text: String, option: String) throws -> [DecoderKind] {
        do { return try list(text) } catch let error as DecoderSpecError { throw CLIError("\(option): \(error.problem)") }
    }
}

/// Acceptance rules by name.
typealias RuleName = RuleKind
extension RuleKind: ExpressibleByArgument {}

extension WeightPrecision: ExpressibleByArgument {}

/// A library error about a decoder's description, as a command-line error: a problem with the tree or the heads
/// names its option (`--tree X: ...`).
func cliError(_ error: DecoderSpecError) -> CLIError {
    let problem = error.problem
    for option in ["tree ", "heads "] where problem.hasPrefix(option) { return CLIError("--" + problem) }
    return CLIError(problem)
}

/// How candidate trees are drawn and verified: the tree and the acceptance rule (shared by `generate`,
/// `bench` and `trace`).
struct VerificationOptions: ParsableArguments {
    @Option(name: .long, help: "Candidate tree: mc_sim_7b_63, chain-N, fork-2x2, broom-3, binary-3, a JSON file of rank paths, or dynamic:N[:W] (N draft nodes per step below the root, W children per expansion).")
    var tree = "mc_sim_7b_63"

    @Option(name: .long, help: "Acceptance rule: greedy (exact), typical (Medusa's, not distribution-preserving) or sample (lossless). Default: greedy, or sample when --temperature > 0.")
    var rule: RuleName?

    @Option(name: .long, help: "Typical acceptance: hard threshold eps.")
    var eps: Float = 0.09

    @Option(name: .long, help: "Typical acceptance: entropy-scaled threshold delta.")
    var delta: Float = 0.3

    @Option(name: .customLong("head-precision"), help: "Precision of the heads' weights while drafting: f16 (half the bytes to stream per step) or f32 (the trained weights as they are). The base model verifies either way.")
    var headPrecision: WeightPrecision = .half

    func validate() throws {
        if !(eps > 0 && eps <= 1) { throw CLIError("--eps must be in (0, 1], got \(eps)") }
        if !(delta > 0) { throw CLIError("--delta must be positive, got \(delta)") }
    }

    /// The acceptance rule from --rule and the sampling options.
    func acceptanceRule(_ sampling: SamplingOptions) throws -> AcceptanceRule {
        let name = rule ?? (sampling.isGreedy ? .greedy : .sample)
        switch name {
        case .greedy:
            if !sampling.isGreedy { throw CLIError("--rule greedy takes no --temperature (got \(sampling.temperature!)); use --rule sample or typical") }
            return .greedy
        case .typical:
            return .typical(TypicalAcceptance(epsilon: eps, delta: delta, temperature: sampling.isGreedy ? 0.7 : sampling.temperature!))
        case .sample:
            return .sample(SamplingTarget(temperature: sampling.isGreedy ? 1 : sampling.temperature!, topP: sampling.topP))
        }
    }

    /// The decoder description from these options, the sampling options and a decoder.
    func spec(_ decoder: DecoderKind, heads: String? = nil, sampling: SamplingOptions, tree spec: String? = nil) -> DecoderSpec {
        DecoderSpec(decoder: decoder, heads: heads, tree: spec ?? tree, rule: rule, temperature: sampling.isGreedy ? nil : sampling.temperature,
                    topP: sampling.topP, eps: eps, delta: delta, headPrecision: headPrecision)
    }

    /// The proposer for `heads` and --tree (or `tree` when given).
    func proposer(heads: DraftHeadSet, model: Transformer, tree spec: String? = nil) throws -> CandidateProposer {
        do {
            return try DecoderFactory(weights: model.weights, modelFolder: nil).proposer(heads: heads, tree: spec ?? tree, precision: headPrecision)
        } catch let error as DecoderSpecError { throw cliError(error) }
    }

    /// A ready decoder: autoregressive when `heads` is nil, else speculative over --tree (or `tree`).
    func makeDecoder(model: Transformer, heads: (path: String, set: DraftHeadSet)?, rule: AcceptanceRule, seed: UInt64,
                     tree spec: String? = nil, kind: DecoderKind) throws -> SpeculativeDecoder {
        guard let heads else { return try SpeculativeDecoder.autoregressive(model: model, rule: rule, seed: seed) }
        let proposer = try proposer(heads: heads.set, model: model, tree: spec)
        let description = DecoderSpec(decoder: kind, heads: heads.path, tree: spec ?? tree, rule: self.rule, eps: eps, delta: delta,
                                      headPrecision: headPrecision)
        return try SpeculativeDecoder(model: model, drafter: Drafter(spec: description, heads: heads.set, headsPath: heads.path, proposer: proposer, rule: rule),
                                      seed: seed)
    }
}

/// Loads the heads at `path` for `decoder` and checks that they fit the model and the decoder.
func loadHeads(_ path: String, for decoder: DecoderName, model: Transformer) throws -> (path: String, set: DraftHeadSet) {
    do {
        let factory = DecoderFactory(weights: model.weights, modelFolder: nil)
        guard let heads = try factory.heads(for: DecoderSpec(decoder: decoder, heads: path)) else {
            throw CLIError("decoder ar runs without heads")
        }
        return heads
    } catch let error as DecoderSpecError {
        throw cliError(error)
    }
}

/// Which decoder and heads `generate` runs, with the tree and rule.
struct SpeculationOptions: ParsableArguments {
    @Option(name: .long, help: "Decoder: ar (one token per pass), medusa, hydra or hydra++.")
    var decoder: DecoderName = .ar

    @Option(name: .long, help: "Draft heads file. Default: <decoder>.heads beside the checkpoint (the shipped house heads).")
    var heads: String?

    @OptionGroup var verification: VerificationOptions

    /// The heads for `decoder` (nil for ar): --heads, or `<decoder>.heads` beside the checkpoint.
    func loadHeads(for decoder: DecoderName, checkpoint: String, model: Transformer) throws -> (path: String, set: DraftHeadSet)? {
        guard decoder != .ar else { return nil }
        let path = heads ?? URL(fileURLWithPath: checkpoint).deletingLastPathComponent().appendingPathComponent("\(decoder.rawValue).heads").path
        return try hydrasim.loadHeads(path, for: decoder, model: model)
    }

    /// A ready decoder (ar included) with the heads it runs.
    func makeDecoder(_ decoder: DecoderName, model: Transformer, checkpoint: String, rule: AcceptanceRule, seed: UInt64)
        throws -> (decoder: SpeculativeDecoder, heads: (path: String, set: DraftHeadSet)?) {
        let heads = try loadHeads(for: decoder, checkpoint: checkpoint, model: model)
        return (try verification.makeDecoder(model: model, heads: heads, rule: rule, seed: seed, kind: decoder), heads)
    }
}

extension SpeculativeDecoder {
    /// Trace settings describing this decoder.
    func traceSettings(checkpoint: String, headsPath: String?, maxTokens: Int) -> TraceSettings {
        TraceSettings(model: URL(fileURLWithPath: checkpoint).lastPathComponent,
                      modelFingerprint: (model as? Transformer).map { Fingerprint.of($0.weights) } ?? "",
                      heads: headsPath.map { URL(fileURLWithPath: $0).lastPathComponent }, headsKind: heads?.config.kind.rawValue,
                      tree: proposer.treeName, treeNodes: proposer.maxNodeCount, rule: rule, seed: seed, maxTokens: maxTokens)
    }
}
