import Foundation
import LanguageModel

/// A whole decoding run, step by step: what `--trace FILE` writes and what visualisations read.
///
/// Versioned JSON (`format` + `format_version`). Written with sorted keys, so the same inputs and seed
/// give the same bytes; wall-clock timings are left out unless asked for, because they never repeat.
public struct DecodingTrace: Codable, Equatable, Sendable {
    public static let format = "hydrasim-trace"
    public static let currentVersion = 1

    public var format: String
    public var formatVersion: Int
    /// `ar`, `medusa`, `hydra` or `hydra++`.
    public var decoder: String
    public var settings: TraceSettings
    public var prompt: String
    public var promptTokens: [Int]
    public var steps: [StepRecord]
    /// Every emitted token, in order.
    public var tokens: [Int]
    /// The emitted text.
    public var text: String
    public var stopReason: String
    /// Mean tokens per step (reference §1).
    public var tau: Double
    /// The decoder whose prefixes these steps were drafted on (an aligned contrast: before each of the leader's steps,
    /// this decoder drafted and verified the same prefix without advancing); nil when the run decoded its own text.
    /// In an aligned trace `tokens` and `text` are the leader's, and `tau` is this decoder's mean over those steps.
    public var leader: String?
    /// This decoder's tau when it decodes on its own (reported beside an aligned trace's tau).
    public var freeRunningTau: Double?
    /// The text of each of `tokens` (kept in aligned traces, whose nodes need not contain the leader's tokens).
    public var tokenTexts: [String]?
    /// Seconds for the prompt and for generation (only in traces saved with timings).
    public var promptSeconds: Double?
    public var generationSeconds: Double?

    /// The trace of `result`, token texts filled in from `tokenizer`.
    public init(decoder: String, settings: TraceSettings, prompt: String, promptTokens: [Int], result: SpeculativeResult,
                tokenizer: any Tokenizer, timings: Bool) {
        format = Self.format
        formatVersion = Self.currentVersion
        self.decoder = decoder
        self.settings = settings
        self.prompt = prompt
        self.promptTokens = promptTokens
        steps = result.steps.map { step in
            var step = step
            for i in step.nodes.indices { step.nodes[i].text = tokenizer.pieceText(step.nodes[i].token) }
            if step.bonus >= 0 && step.bonus < tokenizer.vocabularySize { step.bonusText = tokenizer.pieceText(step.bonus) }
            if !timings { step.draftSeconds = nil; step.verifySeconds = nil }
            return step
        }
        tokens = result.tokens
        text = tokenizer.decode(result.tokens, after: promptTokens.last ?? 1)
        stopReason = result.stopReason.rawValue
        tau = result.meanAcceptance
        promptSeconds = timings ? result.promptSeconds : nil
        generationSeconds = timings ? result.generationSeconds : nil
    }


    /// The JSON bytes: pretty-printed, sorted keys (deterministic).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    /// Writes the trace atomically (temporary file, then rename).
    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
    }

    /// Reads a trace, with one clear line for a file that is not a trace or is from another version.
    public static func read(_ path: String) throws -> DecodingTrace {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw FileError(path: path, problem: "no such file") }
        if isDirectory.boolValue { throw FileError(path: path, problem: "is a folder, not a trace file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw FileError(path: path, problem: "cannot read the file") }
        return try read(data: data, path: path)
    }

    /// Decodes and checks the bytes of a trace (no file is read; `path` names the source in errors): the JSON
    /// must be a trace of this version, and every step a tree whose indices a drawing can follow.
    public static func read(data: Data, path: String) throws -> DecodingTrace {
        struct Header: Decodable { var format: String?; var formatVersion: Int? }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let header = try? decoder.decode(Header.self, from: data), header.format == format else {
            throw FileError(path: path, problem: "not a HydraSim trace (expected JSON with \"format\": \"\(format)\"; write one with `hydrasim generate --trace FILE`)")
        }
        guard header.formatVersion == currentVersion else {
            throw FileError(path: path, problem: "trace format version \(header.formatVersion.map(String.init) ?? "missing") is not supported (this hydrasim reads version \(currentVersion))")
        }
        let trace: DecodingTrace
        do { trace = try decoder.decode(DecodingTrace.self, from: data) } catch {
            throw FileError(path: path, problem: "malformed trace: \(Self.describe(error))")
        }
        if let problem = trace.problem { throw FileError(path: path, problem: "malformed trace: \(problem)") }
        return trace
    }

    /// The first inconsistency a drawing of this trace would trip over, or nil: every step's nodes form a tree
    /// (root first with parent -1 and depth 0, each parent an earlier node, depth one more than the parent's),
    /// at most `CandidateTree.maxNodes` nodes, and the accepted path a chain of existing nodes from the root.
    public var problem: String? {
        for (s, step) in steps.enumerated() {
            let name = "step \(s + 1)"
            let nodes = step.nodes
            guard let root = nodes.first else { return "\(name) has no nodes (a step verifies at least its root)" }
            guard nodes.count <= CandidateTree.maxNodes else {
                return "\(name) has \(nodes.count) nodes; at most \(CandidateTree.maxNodes) are allowed"
            }
            guard root.parent == -1, root.depth == 0 else {
                return "\(name): node 0 is the root and needs parent -1 and depth 0 (has parent \(root.parent), depth \(root.depth))"
            }
            for (i, node) in nodes.enumerated().dropFirst() {
                guard node.parent >= 0 && node.parent < i else {
                    return "\(name): node \(i) has parent \(node.parent); a parent is an earlier node (0..<\(i))"
                }
                guard node.depth == nodes[node.parent].depth + 1 else {
                    return "\(name): node \(i) has depth \(node.depth) but its parent \(node.parent) has depth \(nodes[node.parent].depth)"
                }
                guard node.rank >= 0 else { return "\(name): node \(i) has a negative rank \(node.rank)" }
            }
            guard step.acceptedPath.first == 0 else { return "\(name): the accepted path must start at the root (node 0)" }
            for (k, index) in step.acceptedPath.enumerated().dropFirst() {
                guard index > 0 && index < nodes.count && nodes[index].parent == step.acceptedPath[k - 1] else {
                    return "\(name): accepted node \(index) is not a child of the accepted node before it"
                }
            }
        }
        return nil
    }

    static func describe(_ error: Error) -> String {
        describeOnOneLine(error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func describeOnOneLine(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing field \"\(key.stringValue)\" at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            return "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}

/// The settings a trace was made with.
public struct TraceSettings: Codable, Equatable, Sendable {
    /// The base checkpoint's file name and fingerprint.
    public var model: String
    public var modelFingerprint: String
    /// The heads file's name (nil for autoregressive decoding) and kind.
    public var heads: String?
    public var headsKind: String?
    /// The tree: preset name, file name, `chain-N` or `dynamic:N:W`.
    public var tree: String
    /// Most nodes a step can verify, the root included.
    public var treeNodes: Int
    public var rule: AcceptanceRule
    public var seed: UInt64
    public var maxTokens: Int

    public init(model: String, modelFingerprint: String, heads: String?, headsKind: String?, tree: String, treeNodes: Int,
                rule: AcceptanceRule, seed: UInt64, maxTokens: Int) {
        self.model = model
        self.modelFingerprint = modelFingerprint
        self.heads = heads
        self.headsKind = headsKind
        self.tree = tree
        self.treeNodes = treeNodes
        self.rule = rule
        self.seed = seed
        self.maxTokens = maxTokens
    }
}

extension AcceptanceRule {
    enum CodingKeys: String, CodingKey { case name, epsilon, delta, temperature, topP }

    /// `{"name": "greedy"}`, `{"name": "typical", "epsilon": .., "delta": .., "temperature": ..}`,
    /// `{"name": "sample", "temperature": .., "top_p": ..}` (keys snake-cased by the trace coder).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        switch self {
        case .greedy: break
        case .typical(let t):
            try c.encode(t.epsilon, forKey: .epsilon)
            try c.encode(t.delta, forKey: .delta)
            try c.encode(t.temperature, forKey: .temperature)
        case .sample(let s):
            try c.encode(s.temperature, forKey: .temperature)
            try c.encode(s.topP, forKey: .topP)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .name) {
        case "greedy": self = .greedy
        case "typical":
            self = .typical(TypicalAcceptance(epsilon: try c.decode(Float.self, forKey: .epsilon), delta: try c.decode(Float.self, forKey: .delta),
                                              temperature: try c.decode(Float.self, forKey: .temperature)))
        case "sample":
            self = .sample(SamplingTarget(temperature: try c.decode(Float.self, forKey: .temperature), topP: try c.decode(Float.self, forKey: .topP)))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .name, in: c, debugDescription: "unknown acceptance rule \"\(other)\" (greedy, typical, sample)")
        }
    }
}
