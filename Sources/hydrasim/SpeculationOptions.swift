import ArgumentParser
import DraftHeads
import Foundation
import LanguageModel
import Speculation

/// The decoders HydraSim runs.
enum DecoderName: String, ExpressibleByArgument, CaseIterable, Codable {
    case ar, medusa, hydra
    case hydraPlusPlus = "hydra++"

    /// Head kinds this decoder accepts (ablation heads of kind hydra may run under hydra++ and vice versa).
    var acceptsKinds: [DraftHeadKind] {
        switch self {
        case .ar: []
        case .medusa: [.medusa]
        case .hydra, .hydraPlusPlus: [.hydra, .hydraPlusPlus]
        }
    }

    /// Parses a comma-separated list such as "ar,medusa,hydra++".
    static func list(_ text: String, option: String) throws -> [DecoderName] {
        try text.split(separator: ",").map { part in
            guard let name = DecoderName(rawValue: String(part)) else {
                throw CLIError("\(option): unknown decoder '\(part)' (ar, medusa, hydra, hydra++)")
            }
            return name
        }
    }
}

/// Acceptance rules by name.
enum RuleName: String, ExpressibleByArgument, CaseIterable {
    case greedy, typical, sample
}

/// How candidate trees are drawn and verified: the tree and the acceptance rule (shared by `generate`,
/// `bench` and `trace`).
struct VerificationOptions: ParsableArguments {
    @Option(name: .long, help: "Candidate tree: mc_sim_7b_63, chain-N, fork-2x2, broom-3, binary-3, a JSON file of rank paths, or dynamic:N[:W] (N nodes per step, W children per expansion).")
    var tree = "mc_sim_7b_63"

    @Option(name: .long, help: "Acceptance rule: greedy (exact), typical (Medusa's, not distribution-preserving) or sample (lossless). Default: greedy, or sample when --temperature > 0.")
    var rule: RuleName?

    @Option(name: .long, help: "Typical acceptance: hard threshold eps.")
    var eps: Float = 0.09

    @Option(name: .long, help: "Typical acceptance: entropy-scaled threshold delta.")
    var delta: Float = 0.3

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

    /// The proposer for `heads` and --tree (or `tree` when given).
    func proposer(heads: DraftHeadSet, model: Transformer, tree spec: String? = nil) throws -> CandidateProposer {
        let spec = spec ?? tree
        do {
            if spec.hasPrefix("dynamic:") {
                let parts = spec.dropFirst(8).split(separator: ":")
                guard (1...2).contains(parts.count), let budget = Int(parts[0]), parts.count == 1 || Int(parts[1]) != nil else {
                    throw CLIError("--tree \(spec): a dynamic tree is dynamic:N or dynamic:N:W, e.g. dynamic:24 or dynamic:24:4")
                }
                return try DynamicTreeProposer(heads: heads, embedding: model.weights.tokenEmbedding, budget: budget,
                                               width: parts.count == 2 ? Int(parts[1])! : 4)
            }
            let candidateTree = try CandidateTree.load(spec, presetFolder: Fixtures.root.map { "\($0)/trees" }, maxDepth: heads.config.heads)
            return try TreeProposer(heads: heads, tree: candidateTree, embedding: model.weights.tokenEmbedding,
                                    name: URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent)
        } catch let error as TreeError {
            throw CLIError("--tree \(spec): \(error.problem)")
        }
    }

    /// A ready decoder: autoregressive when `heads` is nil, else speculative over --tree (or `tree`).
    func makeDecoder(model: Transformer, heads: (path: String, set: DraftHeadSet)?, rule: AcceptanceRule, seed: UInt64,
                     tree spec: String? = nil) throws -> SpeculativeDecoder {
        guard let heads else { return try SpeculativeDecoder.autoregressive(model: model, rule: rule, seed: seed) }
        return try SpeculativeDecoder(model: model, heads: heads.set, proposer: proposer(heads: heads.set, model: model, tree: spec), rule: rule, seed: seed)
    }
}

/// Loads the heads at `path` for `decoder` and checks that they fit the model and the decoder.
func loadHeads(_ path: String, for decoder: DecoderName, model: Transformer) throws -> (path: String, set: DraftHeadSet) {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CLIError("no heads for --decoder \(decoder.rawValue): \(path) does not exist; pass --heads FILE or train some with `hydrasim train heads --kind \(decoder.rawValue) --out \(path)`")
    }
    let set = try DraftHeadsFile.read(path, base: model.weights)
    guard decoder.acceptsKinds.contains(set.config.kind) else {
        throw CLIError("\(path) holds \(set.config.kind.rawValue) heads, which --decoder \(decoder.rawValue) cannot run (it needs \(decoder.acceptsKinds.map(\.rawValue).joined(separator: " or ")) heads)")
    }
    return (path, set)
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
        return (try verification.makeDecoder(model: model, heads: heads, rule: rule, seed: seed), heads)
    }
}

extension SpeculativeDecoder {
    /// Trace settings describing this decoder.
    func traceSettings(checkpoint: String, headsPath: String?, maxTokens: Int) -> TraceSettings {
        TraceSettings(model: URL(fileURLWithPath: checkpoint).lastPathComponent, modelFingerprint: Fingerprint.of(model.weights),
                      heads: headsPath.map { URL(fileURLWithPath: $0).lastPathComponent }, headsKind: heads?.config.kind.rawValue,
                      tree: proposer.treeName, treeNodes: proposer.maxNodeCount, rule: rule, seed: seed, maxTokens: maxTokens)
    }
}
