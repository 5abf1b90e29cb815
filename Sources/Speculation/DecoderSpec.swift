import Foundation
import DraftHeads
import LanguageModel
import Numerics

/// The decoders HydraSim runs: plain decoding and the three kinds of draft heads.
public enum DecoderKind: String, Codable, CaseIterable, Sendable {
    case ar, medusa, hydra
    case hydraPlusPlus = "hydra++"

    /// Head kinds this decoder accepts (ablation heads of kind hydra may run under hydra++ and vice versa).
    public var acceptsKinds: [DraftHeadKind] {
        switch self {
        case .ar: []
        case .medusa: [.medusa]
        case .hydra, .hydraPlusPlus: [.hydra, .hydraPlusPlus]
        }
    }

    /// Parses one name, with a one-line error listing the decoders.
    public static func parse(_ text: String) throws -> DecoderKind {
        guard let kind = DecoderKind(rawValue: text.lowercased()) else {
            throw DecoderSpecError("unknown decoder '\(text)' (\(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return kind
    }

    /// Parses a comma-separated list such as "ar,medusa,hydra++".
    public static func list(_ text: String) throws -> [DecoderKind] {
        try text.split(separator: ",").map { try parse(String($0)) }
    }
}

/// The acceptance rules by name.
public enum RuleKind: String, Codable, CaseIterable, Sendable {
    case greedy, typical, sample
}

/// A decoder description problem, in one line.
public struct DecoderSpecError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

/// What a decoder *is*: which heads draft, over which tree, verified by which rule with which parameters.
///
/// Codable and versioned through the files that hold it (traces, lesson questions, the REPL's settings), parsed from
/// the same words everywhere (`generate`, `bench`, `trace`, the REPL's `set`, the lessons), and turned into a runnable
/// `Drafter` and `AcceptanceRule` by `DecoderFactory`.
public struct DecoderSpec: Codable, Equatable, Sendable, CustomStringConvertible {
    public var decoder: DecoderKind
    /// Heads file; nil: `<decoder>.heads` beside the model (the shipped heads for the house model).
    public var heads: String?
    /// A shipped tree name, a teaching preset, `chain-N`, `dynamic:N[:W]` or a JSON file of rank paths.
    public var tree: String
    /// nil: greedy without a temperature, sample with one.
    public var rule: RuleKind?
    /// Sampling temperature (sample), or the temperature typical acceptance judges at (default 0.7); nil: greedy.
    public var temperature: Float?
    /// Nucleus mass for sampling, in (0, 1].
    public var topP: Float
    /// Typical acceptance's hard threshold.
    public var eps: Float
    /// Typical acceptance's entropy-scaled threshold.
    public var delta: Float
    /// The precision the heads' weights are streamed in while drafting (f16 by default: half the bytes per step; the
    /// base model verifies every guess exactly, so only which guesses are made can change).
    public var headPrecision: WeightPrecision

    public init(decoder: DecoderKind = .ar, heads: String? = nil, tree: String = "mc_sim_7b_63", rule: RuleKind? = nil,
                temperature: Float? = nil, topP: Float = 1, eps: Float = 0.09, delta: Float = 0.3, headPrecision: WeightPrecision = .half) {
        self.headPrecision = headPrecision
        self.decoder = decoder
        self.heads = heads
        self.tree = tree
        self.rule = rule
        self.temperature = temperature
        self.topP = topP
        self.eps = eps
        self.delta = delta
    }

    enum CodingKeys: String, CodingKey { case decoder, heads, tree, rule, temperature, topP, eps, delta, headPrecision }

    /// Reads a spec; files written before `headPrecision` existed decode with the default (f16).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(decoder: try c.decode(DecoderKind.self, forKey: .decoder), heads: try c.decodeIfPresent(String.self, forKey: .heads),
                  tree: try c.decode(String.self, forKey: .tree), rule: try c.decodeIfPresent(RuleKind.self, forKey: .rule),
                  temperature: try c.decodeIfPresent(Float.self, forKey: .temperature), topP: try c.decode(Float.self, forKey: .topP),
                  eps: try c.decode(Float.self, forKey: .eps), delta: try c.decode(Float.self, forKey: .delta),
                  headPrecision: try c.decodeIfPresent(WeightPrecision.self, forKey: .headPrecision) ?? .half)
    }

    /// The rule that runs: `rule`, or greedy without a temperature and sample with one.
    public var effectiveRule: RuleKind { rule ?? (temperature == nil ? .greedy : .sample) }

    /// Checks the numbers; one line naming the bad one.
    public func validate() throws {
        if let t = temperature, !(t > 0 && t.isFinite) { throw DecoderSpecError("temperature must be a positive number, got \(t)") }
        if !(topP > 0 && topP <= 1) { throw DecoderSpecError("top-p must be in (0, 1], got \(topP)") }
        if !(eps > 0 && eps <= 1) { throw DecoderSpecError("eps must be in (0, 1], got \(eps)") }
        if !(delta > 0 && delta.isFinite) { throw DecoderSpecError("delta must be positive, got \(delta)") }
        if effectiveRule == .greedy, let t = temperature {
            throw DecoderSpecError("the greedy rule takes no temperature (got \(t)); use rule sample or typical")
        }
    }

    /// The acceptance rule with its parameters.
    public func acceptanceRule() throws -> AcceptanceRule {
        try validate()
        switch effectiveRule {
        case .greedy: return .greedy
        case .typical: return .typical(TypicalAcceptance(epsilon: eps, delta: delta, temperature: temperature ?? 0.7))
        case .sample: return .sample(SamplingTarget(temperature: temperature ?? 1, topP: topP))
        }
    }

    /// The rule with the parameters that matter: "greedy", "typical (eps 0.09, delta 0.3, T 0.7)", "sample (T 1, top-p 1)".
    public var ruleDescription: String {
        var rule = effectiveRule.rawValue
        switch effectiveRule {
        case .greedy: break
        case .typical: rule += String(format: " (eps %g, delta %g, T %g)", eps, delta, temperature ?? 0.7)
        case .sample: rule += String(format: " (T %g, top-p %g)", temperature ?? 1, topP)
        }
        return rule
    }

    /// "hydra++ · mc_sim_7b_63 · greedy" (with the rule's parameters when they matter, and "f32 heads" when not f16).
    public var description: String {
        decoder == .ar ? "ar · \(ruleDescription)" : "\(decoder.rawValue) · \(tree) · \(ruleDescription)" + (headPrecision == .single ? " · f32 heads" : "")
    }
}

/// A runnable decoder: its description, its heads and the proposer that drafts trees with them.
public struct Drafter {
    public var spec: DecoderSpec
    /// nil for `ar`.
    public var heads: DraftHeadSet?
    /// Where the heads came from (nil for `ar`).
    public var headsPath: String?
    public var proposer: CandidateProposer
    public var rule: AcceptanceRule

    public init(spec: DecoderSpec, heads: DraftHeadSet?, headsPath: String?, proposer: CandidateProposer, rule: AcceptanceRule) {
        self.spec = spec
        self.heads = heads
        self.headsPath = headsPath
        self.proposer = proposer
        self.rule = rule
    }

    /// Plain decoding: the root alone every step.
    public static func autoregressive(rule: AcceptanceRule = .greedy) -> Drafter {
        Drafter(spec: DecoderSpec(decoder: .ar), heads: nil, headsPath: nil, proposer: RootOnlyProposer(), rule: rule)
    }
}

/// Builds drafters for one base model from `DecoderSpec`s: finds and loads heads (each file once), resolves trees
/// (shipped names, presets, files, `dynamic:N[:W]`) and makes the rule.
public final class DecoderFactory {
    public let weights: TransformerWeights
    /// Where `<decoder>.heads` is looked for when a spec names no heads (the model's folder).
    public let modelFolder: String?
    /// The shipped trees folder (`Fixtures/trees`).
    public let treesFolder: String?
    private var loaded: [String: DraftHeadSet] = [:]

    public init(weights: TransformerWeights, modelFolder: String?, treesFolder: String? = Fixtures.treesFolder) {
        self.weights = weights
        self.modelFolder = modelFolder
        self.treesFolder = treesFolder
    }

    /// The heads file a spec uses.
    public func headsPath(for spec: DecoderSpec) -> String? {
        guard spec.decoder != .ar else { return nil }
        if let heads = spec.heads { return heads }
        return URL(fileURLWithPath: modelFolder ?? ".").appendingPathComponent("\(spec.decoder.rawValue).heads").path
    }

    /// Loads (once) and checks the heads a spec names.
    public func heads(for spec: DecoderSpec) throws -> (path: String, set: DraftHeadSet)? {
        guard let path = headsPath(for: spec) else { return nil }
        if let set = loaded[path] { return (path, try check(set, path: path, for: spec.decoder)) }
        guard FileManager.default.fileExists(atPath: path) else {
            throw DecoderSpecError("no heads for decoder \(spec.decoder.rawValue): \(path) does not exist; pass a heads file or train some with `hydrasim train heads --kind \(spec.decoder.rawValue) --out \(path)`")
        }
        let set = try DraftHeadsFile.read(path, base: weights)
        loaded[path] = set
        return (path, try check(set, path: path, for: spec.decoder))
    }

    private func check(_ set: DraftHeadSet, path: String, for decoder: DecoderKind) throws -> DraftHeadSet {
        guard decoder.acceptsKinds.contains(set.config.kind) else {
            throw DecoderSpecError("\(path) holds \(set.config.kind.rawValue) heads, which decoder \(decoder.rawValue) cannot run (it needs \(decoder.acceptsKinds.map(\.rawValue).joined(separator: " or ")) heads)")
        }
        return set
    }

    /// The proposer for `heads` and a tree spec.
    public func proposer(heads: DraftHeadSet, tree spec: String, precision: WeightPrecision = .half) throws -> CandidateProposer {
        do {
            if spec.hasPrefix("dynamic:") {
                let parts = spec.dropFirst(8).split(separator: ":", omittingEmptySubsequences: false)
                guard (1...2).contains(parts.count), let budget = Int(parts[0]), parts.count == 1 || Int(parts[1]) != nil else {
                    throw DecoderSpecError("tree \(spec): a dynamic tree is dynamic:N or dynamic:N:W, e.g. dynamic:24 or dynamic:24:4")
                }
                // The root is verified with the budget's nodes: all of them must fit the context.
                guard budget < weights.config.maxSequenceLength else {
                    throw DecoderSpecError("tree \(spec): \(budget) nodes do not fit the model's context of \(weights.config.maxSequenceLength)")
                }
                return try DynamicTreeProposer(heads: heads, embedding: weights.tokenEmbedding, budget: budget,
                                               width: parts.count == 2 ? Int(parts[1])! : 4, precision: precision)
            }
            let tree = try CandidateTree.load(spec, presetFolder: treesFolder, maxDepth: heads.config.heads)
            guard tree.nodeCount <= weights.config.maxSequenceLength else {
                throw DecoderSpecError("tree \(spec): \(tree.nodeCount) nodes do not fit the model's context of \(weights.config.maxSequenceLength)")
            }
            return try TreeProposer(heads: heads, tree: tree, embedding: weights.tokenEmbedding,
                                    name: URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent, precision: precision)
        } catch let error as TreeError {
            // A tree file's own errors already start with its path: name it once.
            let problem = error.problem.hasPrefix(spec + ": ") ? String(error.problem.dropFirst(spec.count + 2)) : error.problem
            throw DecoderSpecError("tree \(spec): \(problem)")
        }
    }

    /// A ready drafter for `spec`.
    public func make(_ spec: DecoderSpec) throws -> Drafter {
        let rule = try spec.acceptanceRule()
        guard let heads = try heads(for: spec) else { return .autoregressive(rule: rule) }
        return Drafter(spec: spec, heads: heads.set, headsPath: heads.path, proposer: try proposer(heads: heads.set, tree: spec.tree, precision: spec.headPrecision), rule: rule)
    }
}
