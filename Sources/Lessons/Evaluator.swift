import Foundation
import LanguageModel
import REPL
import Speculation

/// A value the simulator computed, in the form an answer takes.
public enum AnswerValue: Equatable, Sendable {
    case integer(Int)
    case number(Double)
    case text(String)
    case yesNo(Bool)
    case paths([[Int]])
    case nodes([Int])

    /// The value as a learner would type it.
    public var typed: String {
        switch self {
        case .integer(let n): return String(n)
        case .number(let x): return Self.format(x)
        case .text(let t): return t
        case .yesNo(let b): return b ? "yes" : "no"
        case .paths(let ps): return ps.map { $0.map(String.init).joined(separator: ".") }.joined(separator: " ")
        case .nodes(let ns): return ns.map(String.init).joined(separator: " ")
        }
    }

    /// A number with up to 4 decimals, trailing zeros dropped.
    static func format(_ x: Double) -> String {
        var s = String(format: "%.4f", x)
        while s.contains(".") && (s.hasSuffix("0") || s.hasSuffix(".")) { s.removeLast() }
        return s == "-0" ? "0" : s
    }

    /// The value as a number, when it is one.
    var number: Double? {
        switch self {
        case .integer(let n): Double(n)
        case .number(let x): x
        default: nil
        }
    }
}

/// A computed answer and how it was computed (one line a learner can retrace in the REPL).
public struct ComputedAnswer: Equatable, Sendable {
    public var value: AnswerValue
    public var how: String
}

/// Answers questions by running the simulator: sessions on the house model or a toy, the tree search, the cost model.
///
/// Workbenches (loaded models) and sessions are kept for the life of the evaluator, so checking many exercises in one
/// process loads each model once and re-runs no step twice.
public final class Evaluator {
    /// Where `house` and `toy:NAME` are found (`Fixtures/`).
    public let fixtures: String
    private var workbenches: [String: Workbench] = [:]
    private var sessions: [String: DecodingSession] = [:]

    public init(fixtures: String) { self.fixtures = fixtures }

    /// Uses `workbench` for model `name` (the REPL passes the model it already loaded).
    public func register(_ workbench: Workbench, as name: String) { workbenches[name] = workbench }

    /// The workbench of `house` or `toy:NAME`, loaded once.
    public func workbench(_ name: String) throws -> Workbench {
        if let w = workbenches[name] { return w }
        let w: Workbench
        if name == "house" {
            let folder = fixtures + "/models/house"
            let transformer = Transformer(weights: try Checkpoint.read(folder + "/model.bin"))
            let tokenizer = try BPETokenizer(contentsOf: folder + "/tokenizer.bin", expectedVocabularySize: transformer.config.vocabularySize)
            w = Workbench(transformer: transformer, tokenizer: tokenizer, modelPath: folder + "/model.bin", treesFolder: fixtures + "/trees")
        } else if name.hasPrefix("toy:") {
            w = try Workbench.toy(fixtures + "/toys/\(name.dropFirst(4)).json", treesFolder: fixtures + "/trees")
        } else {
            throw LessonError("unknown model '\(name)': house or toy:NAME (a file in Fixtures/toys)")
        }
        workbenches[name] = w
        return w
    }

    /// The decoder spec of a setup, its heads file resolved beside the house model.
    public func spec(_ setup: LessonSetup) throws -> DecoderSpec {
        var spec = try setup.spec()
        if let heads = setup.heads { spec.heads = heads.contains("/") ? heads : fixtures + "/models/house/" + heads }
        return spec
    }

    /// A session on a setup, moved to the position after `steps` steps (shared between questions on the same setup).
    func session(_ setup: LessonSetup, after steps: Int) throws -> (DecodingSession, Workbench) {
        let bench = try workbench(setup.modelName)
        let key = String(describing: setup)
        let session: DecodingSession
        if let s = sessions[key] { session = s } else {
            let drafter = try bench.drafter(try spec(setup))
            session = try DecodingSession(model: bench.model, drafter: drafter, prompt: bench.encode(setup.prompt ?? "ROMEO:"), seed: setup.seed ?? 42)
            sessions[key] = session
        }
        try session.goto(min(steps, session.steps.count + session.future.count))
        while session.steps.count < steps { guard try session.step() != nil else { break } }
        guard session.steps.count == steps else {
            throw LessonError("decoding stopped after \(session.steps.count) steps (\(session.stopReason?.explanation ?? "")), before step \(steps)")
        }
        return (session, bench)
    }

    /// The answer to `question`, its settings laid over `base`.
    public func answer(_ question: Question, base: LessonSetup) throws -> ComputedAnswer {
        let setup = (question.setup ?? LessonSetup()).over(base)
        if let op = question.op { return try formula(op, question.operands ?? [], base: setup) }
        let settings = setup.summary
        switch question.what {
        case "tree_nodes", "tree_depth", "leaves", "mask_row", "speedup", "overhead":
            let tree = try CandidateTree.load(setup.tree ?? "mc_sim_7b_63", presetFolder: fixtures + "/trees")
            return try treeFact(question, tree: tree, setup: setup)
        case "forward_ms":
            let cost = try costModel(question)
            let n = question.count ?? 1
            guard (1...1_000_000).contains(n) else { throw LessonError("a forward pass runs over 1...1000000 tokens, got \(n)") }
            return ComputedAnswer(value: .number(cost.forwardSeconds(tokens: n) * 1000),
                                  how: "cost model (\(cost.device.name), \(cost.model.name)): one forward pass over \(n) token\(n == 1 ? "" : "s")")
        case "tree_search", "predicted_tau":
            guard let accuracy = question.accuracy else { throw LessonError("\(question.what) needs an accuracy table") }
            let table = HeadAccuracyTable(topK: accuracy)
            if question.what == "predicted_tau" {
                let tree = try CandidateTree.load(setup.tree ?? "mc_sim_7b_63", presetFolder: fixtures + "/trees")
                return ComputedAnswer(value: .number(GreedyTreeSearch.predictedTau(tree, table)), how: "predicted tau of tree \(setup.tree ?? "mc_sim_7b_63") under the accuracy table (1 + the sum of path products)")
            }
            let budget = question.count ?? 1
            guard (1...CandidateTree.maxNodes - 1).contains(budget) else { throw LessonError("the tree search's budget must be 1...\(CandidateTree.maxNodes - 1) nodes, got \(budget)") }
            let choices = try GreedyTreeSearch.search(table, nodes: budget)
            guard choices.count == budget else { throw LessonError("the tree search found only \(choices.count) nodes") }
            return ComputedAnswer(value: .paths([choices[budget - 1].path]), how: "Medusa's greedy tree search over the accuracy table: node number \(budget) added")
        case "replayed_tau", "mean_tau":
            guard let ranks = question.ranks else { throw LessonError("\(question.what) needs ranks (runs of positions, each one rank per head, -1 a miss)") }
            let (heads, top) = try Question.checkRanks(ranks)
            let table = try HeadAccuracyTable(sequences: ranks, top: top)
            let name = setup.tree ?? "mc_sim_7b_63"
            let tree = try CandidateTree.load(name, presetFolder: fixtures + "/trees")
            let positions = ranks.reduce(0) { $0 + $1.count }
            let source = "rank sequence (\(positions) position\(positions == 1 ? "" : "s") in \(ranks.count) run\(ranks.count == 1 ? "" : "s"), \(heads) head\(heads == 1 ? "" : "s"))"
            if question.what == "replayed_tau" {
                let (tokens, steps) = GreedyTreeSearch.replay(tree.paths, ranks)
                return ComputedAnswer(value: .number(Double(tokens) / Double(steps)),
                                      how: "greedy decoding over tree \(name) replayed on the \(source): \(tokens) tokens in \(steps) steps")
            }
            let shares = tree.paths.prefix(8).map { path in
                "[\(path.map(String.init).joined(separator: ","))] \(Int((table.value(path) * Double(positions)).rounded()))/\(positions)"
            }
            return ComputedAnswer(value: .number(GreedyTreeSearch.predictedTau(tree, table)),
                                  how: "tree \(name) on the \(source): 1 + the share of positions whose ranks begin with each node's path ("
                                      + shares.joined(separator: ", ") + (tree.paths.count > 8 ? ", ..." : "") + ")")
        case "tau", "tokens", "emitted_text":
            let steps = question.steps ?? question.step ?? 1
            guard steps >= 1 else { throw LessonError("steps must be at least 1, got \(steps)") }
            let (s, bench) = try session(setup, after: steps)
            let how = "\(settings): after \(steps) step\(steps == 1 ? "" : "s")"
            switch question.what {
            case "tau": return ComputedAnswer(value: .number(s.meanAcceptance), how: how + ", tokens / steps")
            case "tokens": return ComputedAnswer(value: .integer(s.tokens.count), how: how + ", tokens emitted")
            default: return ComputedAnswer(value: .text(words(s.tokens, bench)), how: how + ", the text emitted")
            }
        case "first_tokens":
            let n = question.count ?? 10
            let bench = try workbench(setup.modelName)
            var steps = 0
            var s: DecodingSession
            repeat {
                steps += 1
                (s, _) = try session(setup, after: steps)
            } while s.tokens.count < n && s.stopReason == nil
            return ComputedAnswer(value: .text(words(Array(s.tokens.prefix(n)), bench)), how: "\(settings): the first \(n) tokens emitted")
        case "constant":
            guard let x = question.value else { throw LessonError("constant needs a value") }
            return ComputedAnswer(value: .number(x), how: AnswerValue.format(x))
        case "root_token":
            let (s, bench) = try session(setup, after: (question.step ?? 1) - 1)
            return ComputedAnswer(value: .text(words([s.pendingRoot], bench)), how: "\(settings): the root of step \(question.step ?? 1) (the base model's own next token)")
        default:
            return try stepFact(question, setup: setup)
        }
    }

    /// Tokens as the text reads (as after BOS: no leading space), for answers.
    func words(_ tokens: [Int], _ bench: Workbench) -> String {
        bench.tokenizer.decode(tokens, after: 1).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A fact about one step's record: its accepted path, a node's token, outcome or probabilities.
    func stepFact(_ q: Question, setup: LessonSetup) throws -> ComputedAnswer {
        let k = q.step ?? 1
        guard k >= 1 else { throw LessonError("step must be at least 1") }
        let (s, bench) = try session(setup, after: k)
        let record = s.steps[k - 1]
        let how = "\(setup.summary): step \(k)"
        let nodes = record.nodes
        func rankPath(_ i: Int) -> [Int] {
            var path: [Int] = []
            var n = i
            while n > 0 { path.insert(nodes[n].rank, at: 0); n = nodes[n].parent }
            return path
        }
        func node() throws -> Int {
            if let i = q.node {
                guard i >= 0 && i < nodes.count else { throw LessonError("node \(i) is not in step \(k)'s tree (0..<\(nodes.count))") }
                return i
            }
            if let p = q.path {
                guard let i = nodes.indices.first(where: { rankPath($0) == p }) else { throw LessonError("no node at rank path \(p) in step \(k)") }
                return i
            }
            throw LessonError("\(q.what) needs a node or a path")
        }
        switch q.what {
        case "accepted_length": return ComputedAnswer(value: .integer(record.acceptance), how: how + ", tokens emitted (accepted path, the root included)")
        case "accepted_path": return ComputedAnswer(value: .paths([rankPath(record.acceptedPath.last ?? 0)]), how: how + ", rank path of the deepest accepted node")
        case "accepted_nodes": return ComputedAnswer(value: .nodes(record.acceptedPath), how: how + ", node indices on the accepted path")
        case "accepted_text": return ComputedAnswer(value: .text(words(record.emitted, bench)), how: how + ", the tokens emitted")
        case "bonus_token": return ComputedAnswer(value: .text(words([record.bonus], bench)), how: how + ", the bonus token (the next step's root)")
        case "cache_length": return ComputedAnswer(value: .integer(s.prefixLength), how: how + ", tokens in the KV cache after compaction")
        case "distinct_tokens", "repeated_tokens":
            let d = q.depth ?? 2
            let atDepth = nodes.filter { $0.depth == d }.map(\.token)
            let distinct = Set(atDepth).count
            return ComputedAnswer(value: .integer(q.what == "distinct_tokens" ? distinct : atDepth.count - distinct),
                                  how: how + ", \(atDepth.count) nodes at depth \(d), \(distinct) distinct tokens")
        default: break
        }
        let i = try node()
        let r = record.nodes[i]
        let label = "node #\(i) (path \(rankPath(i).map(String.init).joined(separator: ".")))"
        switch q.what {
        case "node_token": return ComputedAnswer(value: .text(words([r.token], bench)), how: "\(how), \(label): its token")
        case "node_outcome": return ComputedAnswer(value: .text(r.outcome.rawValue), how: "\(how), \(label): verification's outcome")
        case "base_probability": return ComputedAnswer(value: .number(Double(r.baseProbability)), how: "\(how), \(label): the base model's probability of its token given its path")
        case "draft_probability": return ComputedAnswer(value: .number(Double(r.draftProbability)), how: "\(how), \(label): the head's probability of its token")
        case "threshold":
            guard let t = r.threshold else { throw LessonError("\(label) of step \(k) has no threshold (greedy, or never tested)") }
            return ComputedAnswer(value: .number(Double(t)), how: "\(how), \(label): the rule's bar (typical's threshold, or sampling's acceptance chance)")
        case "position_id": return ComputedAnswer(value: .integer(record.prefixLength + r.depth), how: "\(how), \(label): prefix length + depth")
        default: throw LessonError("unknown fact '\(q.what)'")
        }
    }

    /// A fact about a static tree: size, depth, leaves, a mask row, and the cost model's view of it.
    func treeFact(_ q: Question, tree: CandidateTree, setup: LessonSetup) throws -> ComputedAnswer {
        let name = setup.tree ?? "mc_sim_7b_63"
        switch q.what {
        case "tree_nodes": return ComputedAnswer(value: .integer(tree.nodeCount), how: "tree \(name): nodes, the root included")
        case "tree_depth": return ComputedAnswer(value: .integer(tree.depth), how: "tree \(name): the deepest path")
        case "leaves": return ComputedAnswer(value: .integer(tree.leaves.count), how: "tree \(name): leaves (rows of the retrieve indices)")
        case "mask_row":
            guard let i = q.node, i >= 0 && i < tree.nodeCount else { throw LessonError("mask_row needs a node of tree \(name) (0..<\(tree.nodeCount))") }
            let row = tree.attentionMask[i]
            return ComputedAnswer(value: .nodes(row.indices.filter { row[$0] }), how: "tree \(name): the nodes node \(i) attends to in the tree attention mask")
        default:
            let cost = try costModel(q)
            let sequential = (setup.decoder ?? "medusa") != "medusa"
            let parents = tree.parents
            let rows = (1...max(tree.depth, 1)).map { d in
                sequential ? Set(tree.paths.indices.filter { tree.paths[$0].count == d }.map { parents[$0 + 1] }).count : 1
            }
            if q.what == "overhead" {
                return ComputedAnswer(value: .number(cost.overhead(treeNodes: tree.nodeCount, rowsPerDepth: rows)),
                                      how: "cost model (\(cost.device.name), \(cost.model.name)): a step over tree \(name) relative to one plain step")
            }
            guard let tau = q.tau else { throw LessonError("speedup needs a tau") }
            return ComputedAnswer(value: .number(cost.speedup(tau: tau, treeNodes: tree.nodeCount, rowsPerDepth: rows)),
                                  how: "cost model (\(cost.device.name), \(cost.model.name)): tau \(tau) / overhead of tree \(name)")
        }
    }

    func costModel(_ q: Question) throws -> CostModel {
        let deviceName = q.device ?? "cpu", profileName = q.profile ?? "house"
        guard let device = DeviceProfile.presets.first(where: { $0.name == deviceName }) else { throw LessonError("unknown device '\(deviceName)' (cpu, a100)") }
        guard let profile = ModelProfile.presets.first(where: { $0.name == profileName }) else { throw LessonError("unknown model profile '\(profileName)' (house, vicuna-7b)") }
        return CostModel(device: device, model: profile)
    }

    /// A formula over other questions' answers.
    func formula(_ op: String, _ operands: [Question], base: LessonSetup) throws -> ComputedAnswer {
        let answers = try operands.map { try answer($0, base: base) }
        let how = "(" + answers.map(\.how).joined(separator: "; ") + ")"
        switch op {
        case "same":
            let same = answers.dropFirst().allSatisfy { $0.value == answers[0].value }
            return ComputedAnswer(value: .yesNo(same), how: "whether these agree: " + answers.map { "\($0.value.typed)" }.joined(separator: " vs ") + " " + how)
        case "largest", "smallest":
            let values = try answers.map { a -> Double in
                guard let x = a.value.number else { throw LessonError("\(op) compares numbers") }
                return x
            }
            let best = op == "largest" ? values.indices.max { values[$0] < values[$1] }! : values.indices.min { values[$0] < values[$1] }!
            return ComputedAnswer(value: .text(operands[best].label ?? "?"),
                                  how: "the \(op) of " + zip(operands, values).map { "\($0.label ?? "?") \(AnswerValue.format($1))" }.joined(separator: ", ") + " " + how)
        default:
            let values = try answers.map { a -> Double in
                guard let x = a.value.number else { throw LessonError("\(op) works on numbers") }
                return x
            }
            var result = values[0]
            for x in values.dropFirst() {
                switch op {
                case "add": result += x
                case "sub": result -= x
                case "mul": result *= x
                case "div":
                    guard x != 0 else { throw LessonError("division by zero") }
                    result /= x
                default: throw LessonError("unknown formula '\(op)'")
                }
            }
            return ComputedAnswer(value: .number(result), how: "\(op) of " + values.map(AnswerValue.format).joined(separator: ", ") + " " + how)
        }
    }
}
