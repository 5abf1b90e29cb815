import Foundation
import LanguageModel
import Numerics
import REPL
import Speculation

/// A toy model file problem: one line naming the file and what is wrong.
public struct ToyError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

/// One row of a transition table: after the tokens `after` (the end of the text so far), the next token is
/// distributed as `next` (word -> probability; the words not listed get none).
public struct TransitionRule: Codable, Equatable, Sendable {
    public var after: [String]
    public var next: [String: Double]
}

/// A toy model as a human-readable JSON file (`Fixtures/toys/*.json`): a handful of word tokens, the base model's
/// transition table, and draft heads given as tables too.
///
/// A table is a list of rules; the rule whose `after` is the longest suffix of the text wins (`after: []` matches
/// anything). Medusa-style heads see the text up to the last accepted token only (not the root, not the path),
/// as a Medusa head reads one hidden state; Hydra-style heads see the text, the root and the path to the node.
public struct ToyModelFile: Codable, Equatable, Sendable {
    public static let format = "hydrasim-toy"
    public var format: String
    public var formatVersion: Int
    public var name: String
    public var description: String
    /// Word tokens; ids 0 `<unk>` and 1 `<s>` (BOS, also the end token) come first and are added if missing.
    public var tokens: [String]
    public var base: [TransitionRule]
    /// Per head depth 1, 2, ...: the table for the token that many places after the root.
    public var medusa: [[TransitionRule]]?
    /// Per head depth 1, 2, ...: the table for the next token after text + root + path.
    public var hydra: [[TransitionRule]]?

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", name, description, tokens, base, medusa, hydra
    }

    /// Reads and checks a toy file.
    public static func read(_ path: String) throws -> ToyModelFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw ToyError("\(path): cannot read the toy model") }
        let file: ToyModelFile
        do { file = try JSONDecoder().decode(ToyModelFile.self, from: data) } catch {
            throw ToyError("\(path): not a toy model (\(LessonManifest.describe(decoding: error)))")
        }
        guard file.format == format else { throw ToyError("\(path): format is '\(file.format)', expected '\(format)'") }
        guard file.formatVersion == 1 else { throw ToyError("\(path): format_version \(file.formatVersion) is not supported (1)") }
        let known = Set(file.vocabulary)
        let tables = [file.base] + (file.medusa ?? []) + (file.hydra ?? [])
        for rule in tables.joined() {
            for word in rule.after + Array(rule.next.keys) where !known.contains(word) {
                throw ToyError("\(path): rule after \(rule.after) names '\(word)', which is not in tokens")
            }
            if let bad = rule.next.first(where: { !($0.value >= 0 && $0.value.isFinite) }) {
                throw ToyError("\(path): rule after \(rule.after) gives '\(bad.key)' probability \(bad.value)")
            }
            let total = rule.next.values.reduce(0, +)
            guard abs(total - 1) < 1e-6 else { throw ToyError("\(path): rule after \(rule.after) sums to \(total), not 1") }
        }
        guard file.base.contains(where: { $0.after.isEmpty }) else { throw ToyError("\(path): the base table needs a default rule (after: [])") }
        return file
    }

    /// The token texts by id: `<unk>`, `<s>`, then the words.
    public var vocabulary: [String] { ["<unk>", "<s>"] + tokens.filter { $0 != "<unk>" && $0 != "<s>" } }
}

/// A compiled transition table: for a token sequence, the next-token distribution.
struct TransitionTable {
    let rules: [(after: [Int], next: [Float])]
    let vocabularySize: Int

    init(_ rules: [TransitionRule], ids: [String: Int], vocabularySize: Int) {
        self.vocabularySize = vocabularySize
        self.rules = rules.map { rule in
            var p = [Float](repeating: 0, count: vocabularySize)
            for (word, q) in rule.next { p[ids[word]!] = Float(q) }
            return (rule.after.map { ids[$0]! }, p)
        }
    }

    /// The distribution of the longest matching rule (an all-`<unk>` certainty when none matches).
    func distribution(after tokens: [Int]) -> [Float] {
        var best: (length: Int, p: [Float])?
        for rule in rules where rule.after.count <= tokens.count && Array(tokens.suffix(rule.after.count)) == rule.after {
            if best == nil || rule.after.count > best!.length { best = (rule.after.count, rule.next) }
        }
        if let best { return best.p }
        var p = [Float](repeating: 0, count: vocabularySize)
        p[0] = 1
        return p
    }

    /// Token ids by decreasing probability (ties: lower id first), tokens of probability 0 last.
    static func ranked(_ p: [Float]) -> [Int] {
        p.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
    }
}

/// Word tokens: the text is split on spaces; each word is a token, `<unk>` when it is not in the vocabulary.
public struct ToyTokenizer: Tokenizer {
    public let words: [String]
    public init(words: [String]) { self.words = words }
    public var vocabularySize: Int { words.count }

    public func encode(_ text: String, bos: Bool, eos: Bool) -> [Int] {
        let ids = text.split(separator: " ").map { word in words.firstIndex(of: String(word)) ?? 0 }
        return (bos ? [1] : []) + ids
    }

    public func pieceBytes(_ id: Int, after previous: Int) -> [UInt8] {
        guard id >= 0 && id < words.count else { return Array("<?>".utf8) }
        if id == 1 { return [] }
        return Array(((previous == 1 || previous == -1) ? "" : " ").utf8) + Array(words[id].utf8)
    }

    public func decode(_ ids: [Int]) -> String { decode(ids, after: -1) }
}

/// The toy's cache: the tokens in its slots (a table needs the text, not keys and values).
final class ToyCache: DecodingCache {
    var tokens: [Int] = []
    var count: Int { tokens.count }
    func truncate(to count: Int) { tokens.removeSubrange(min(count, tokens.count)...) }
    func keep(_ kept: [Int], after prefix: Int) {
        tokens = Array(tokens[..<prefix]) + kept.map { tokens[$0] }
    }
}

/// A transition table as a `DecodingModel`: the logits after a token are the log of the table's probabilities for
/// the text up to it (its ancestors in a tree), so it runs through the same session and verifier as the real model.
public final class ToyModel: DecodingModel {
    public let file: ToyModelFile
    public let vocabulary: [String]
    let base: TransitionTable
    let ids: [String: Int]
    public var vocabularySize: Int { vocabulary.count }
    public var hiddenSize: Int { 1 }
    public var contextLength: Int { 64 }
    public var endToken: Int { 1 }
    /// The last forward pass's outputs (the views `forward` returns stay valid until the next call).
    private var logits = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var hidden = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var rows = 0

    deinit {
        logits.deallocate()
        hidden.deallocate()
    }

    public init(_ file: ToyModelFile) {
        self.file = file
        vocabulary = file.vocabulary
        var ids: [String: Int] = [:]
        for (i, w) in vocabulary.enumerated() { ids[w] = i }
        self.ids = ids
        base = TransitionTable(file.base, ids: ids, vocabularySize: vocabulary.count)
    }

    /// The base model's next-token probabilities after `tokens`.
    public func distribution(after tokens: [Int]) -> [Float] { base.distribution(after: tokens) }

    /// Log-probabilities, with probability 0 as a very negative logit (so softmax gives it ~0).
    static func logit(_ p: Float) -> Float { p > 0 ? Foundation.log(p) : -40 }

    public func makeCache(capacity: Int) -> any DecodingCache { ToyCache() }

    public func forward(tokens: [Int], parents: [Int], positions: [Int], cache: any DecodingCache) -> DecodingOutput {
        guard let cache = cache as? ToyCache else { preconditionFailure("a toy model decodes with its own cache") }
        let prefix = Array(cache.tokens)
        let V = vocabularySize
        if tokens.count > rows {
            logits.deallocate(); hidden.deallocate()
            rows = tokens.count
            logits = .allocate(capacity: rows * V)
            hidden = .allocate(capacity: rows)
        }
        hidden.initialize(repeating: 0, count: max(rows, 1))
        for i in tokens.indices {
            var path: [Int] = []
            var n = i
            while n >= 0 { path.insert(tokens[n], at: 0); n = parents[n] }
            let p = base.distribution(after: prefix + path)
            for v in 0..<V { logits[i * V + v] = Self.logit(p[v]) }
        }
        cache.tokens += tokens
        return DecodingOutput(count: tokens.count, vocabularySize: V, hiddenSize: 1, logits: logits, hidden: hidden)
    }
}

/// Drafts a static tree from a toy's head tables (a `ContextualProposer`: it reads the text, not a hidden state).
///
/// Medusa: node `[r1, ..., rk]` carries the rank-`rk` token of head k's table after the text (the same under every
/// parent: the Cartesian product). Hydra: the rank-`rk` token of head k's table after text + root + path.
public final class ToyProposer: ContextualProposer {
    public let tree: CandidateTree
    public let treeName: String
    let heads: [TransitionTable]
    let sequential: Bool
    public var maxNodeCount: Int { tree.nodeCount }
    public var maxDepth: Int { tree.depth }

    init(tree: CandidateTree, name: String, heads: [TransitionTable], sequential: Bool) {
        self.tree = tree
        treeName = name
        self.heads = heads
        self.sequential = sequential
    }

    public func propose(root: Int, state h: UnsafePointer<Float>) -> [DraftNode] { propose(root: root, tokens: []) }

    public func propose(root: Int, tokens: [Int]) -> [DraftNode] {
        var nodes = [DraftNode(token: root, parent: -1, depth: 0, rank: 0, draftProbability: 1)]
        let parents = tree.parents
        for (i, path) in tree.paths.enumerated() {
            let node = i + 1, k = path.count, rank = path.last!
            var context = tokens
            if sequential {
                var chain: [Int] = []
                var n = parents[node]
                while n >= 0 { chain.insert(nodes[n].token, at: 0); n = nodes[n].parent }
                context += chain
            }
            let p = heads[k - 1].distribution(after: context)
            let token = TransitionTable.ranked(p)[rank]
            nodes.append(DraftNode(token: token, parent: parents[node], depth: k, rank: rank, draftProbability: p[token]))
        }
        return nodes
    }
}

extension Workbench {
    /// A workbench on a toy model file: word tokenizer, and drafters from its head tables (`medusa`, `hydra`;
    /// `hydra++` runs the hydra tables).
    public static func toy(_ path: String, treesFolder: String?) throws -> Workbench {
        let file = try ToyModelFile.read(path)
        let model = ToyModel(file)
        let tokenizer = ToyTokenizer(words: model.vocabulary)
        let medusa = (file.medusa ?? []).map { TransitionTable($0, ids: model.ids, vocabularySize: model.vocabularySize) }
        let hydra = (file.hydra ?? []).map { TransitionTable($0, ids: model.ids, vocabularySize: model.vocabularySize) }
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return Workbench(model: model, tokenizer: tokenizer, modelName: "toy:" + name, fingerprint: "toy-" + name, embedding: nil,
                         parameterCount: 0, treeNames: CandidateTree.teaching.keys.sorted() + ["chain-2"]) { spec in
            let rule = try spec.acceptanceRule()
            guard spec.decoder != .ar else { return .autoregressive(rule: rule) }
            let tables = spec.decoder == .medusa ? medusa : hydra
            guard !tables.isEmpty else { throw DecoderSpecError("toy \(name) has no \(spec.decoder == .medusa ? "medusa" : "hydra") heads") }
            let tree: CandidateTree
            do { tree = try CandidateTree.load(spec.tree, presetFolder: treesFolder, maxDepth: tables.count, width: model.vocabularySize) } catch let error as TreeError {
                throw DecoderSpecError("tree \(spec.tree): \(error.problem)")
            }
            let proposer = ToyProposer(tree: tree, name: spec.tree, heads: tables, sequential: spec.decoder != .medusa)
            return Drafter(spec: spec, heads: nil, headsPath: nil, proposer: proposer, rule: rule)
        }
    }
}
