import Foundation
import REPL
import Speculation

/// A manifest problem: one line (`Lessons/lessons.json: exercise medusa.9: ...`).
public struct LessonError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

/// The settings of a session a question runs on, every field optional so that a question's settings are laid
/// over its lesson's (`model` is `house` or `toy:NAME`; `heads` a file beside the model, e.g. `hydra-deep.heads`).
public struct LessonSetup: Codable, Equatable, Sendable {
    public var model: String?
    public var decoder: String?
    public var heads: String?
    public var tree: String?
    public var rule: String?
    public var temperature: Float?
    public var topP: Float?
    public var eps: Float?
    public var delta: Float?
    public var prompt: String?
    public var seed: UInt64?

    enum CodingKeys: String, CodingKey {
        case model, decoder, heads, tree, rule, temperature, topP = "top_p", eps, delta, prompt, seed
    }

    public init(model: String? = nil, decoder: String? = nil, tree: String? = nil, rule: String? = nil, prompt: String? = nil) {
        self.model = model
        self.decoder = decoder
        self.tree = tree
        self.rule = rule
        self.prompt = prompt
    }

    /// `self`'s fields where set, `base`'s otherwise.
    public func over(_ base: LessonSetup) -> LessonSetup {
        var s = base
        if let model { s.model = model }
        if let decoder { s.decoder = decoder }
        if let heads { s.heads = heads }
        if let tree { s.tree = tree }
        if let rule { s.rule = rule }
        if let temperature { s.temperature = temperature }
        if rule == "greedy" && temperature == nil { s.temperature = nil }   // as the REPL's `set rule greedy`
        if let topP { s.topP = topP }
        if let eps { s.eps = eps }
        if let delta { s.delta = delta }
        if let prompt { s.prompt = prompt }
        if let seed { s.seed = seed }
        return s
    }

    /// The model name (`house` unless set).
    public var modelName: String { model ?? "house" }

    /// The decoder description (heads resolved by the caller).
    public func spec() throws -> DecoderSpec {
        var spec = DecoderSpec(decoder: try DecoderKind.parse(decoder ?? "ar"))
        if let tree { spec.tree = tree }
        if let rule {
            guard let r = RuleKind(rawValue: rule) else { throw LessonError("unknown rule '\(rule)' (greedy, typical, sample)") }
            spec.rule = r
        }
        spec.temperature = temperature
        if let topP { spec.topP = topP }
        if let eps { spec.eps = eps }
        if let delta { spec.delta = delta }
        try spec.validate()
        return spec
    }

    /// How the settings read in a `how it was computed` line.
    public var summary: String {
        var parts = [modelName, decoder ?? "ar"]
        if decoder != nil && decoder != "ar" { parts.append(tree ?? "mc_sim_7b_63") }
        if let heads { parts.append(heads) }
        parts.append(rule ?? (temperature == nil ? "greedy" : "sample"))
        if let temperature { parts.append("T \(temperature)") }
        if let eps { parts.append("eps \(eps)") }
        if let delta { parts.append("delta \(delta)") }
        if let topP { parts.append("top-p \(topP)") }
        parts.append("prompt \"\(prompt ?? "ROMEO:")\"")
        if let seed { parts.append("seed \(seed)") }
        return parts.joined(separator: " · ")
    }
}

/// A declarative question the simulator answers: settings, where to look (step, node, depth) and what to read
/// there, or a formula over other questions (`op` with `operands`).
public struct Question: Codable, Equatable, Sendable {
    /// Settings laid over the lesson's session.
    public var setup: LessonSetup?
    /// The fact to read (`Question.facts` lists them).
    public var what: String
    /// The step (1-based) the fact is about.
    public var step: Int?
    /// A node by index in its step's tree (0: the root).
    public var node: Int?
    /// A node by rank path (`[0, 1]`: head 2's rank-1 guess under head 1's top guess).
    public var path: [Int]?
    /// A depth of the tree (1: head 1's guesses).
    public var depth: Int?
    /// How many steps to run (tau, tokens).
    public var steps: Int?
    /// Cumulative top-1..top-k accuracies per head, for the tree search and its predicted tau.
    public var accuracy: [[Double]]?
    /// A hand-made rank sequence, as `hydrasim heads accuracy` measures one: runs of positions, each position one rank
    /// per head (0 its top guess, -1 a miss), for a tree's replayed tau and its mean over positions.
    public var ranks: [[[Int]]]?
    /// The tree search's budget (nodes besides the root), or the tokens of a forward pass.
    public var count: Int?
    /// Cost model: device (`cpu`, `a100`) and model profile (`house`, `vicuna-7b`), and a tau.
    public var device: String?
    public var profile: String?
    public var tau: Double?
    /// The number a `constant` question gives (for formulas such as 1 - p).
    public var value: Double?
    /// A formula: `sub`, `add`, `mul`, `div` over numbers, `same` (yes when the operands agree), `largest`,
    /// `smallest` (the label of the operand with the largest or smallest value).
    public var op: String?
    public var operands: [Question]?
    /// The operand's name in a `largest`/`smallest` formula.
    public var label: String?

    /// Facts a question may read, with the kind of value each gives.
    public static let facts: [String: AnswerKind] = [
        "accepted_length": .integer, "accepted_path": .paths, "accepted_nodes": .nodes, "accepted_text": .token,
        "bonus_token": .token, "node_token": .token, "node_outcome": .choice, "base_probability": .number,
        "draft_probability": .number, "threshold": .number, "tau": .number, "tokens": .integer, "emitted_text": .token,
        "cache_length": .integer, "position_id": .integer, "tree_nodes": .integer, "tree_depth": .integer, "leaves": .integer,
        "mask_row": .nodes, "distinct_tokens": .integer, "repeated_tokens": .integer, "tree_search": .paths,
        "predicted_tau": .number, "speedup": .number, "overhead": .number, "forward_ms": .number, "root_token": .token, "constant": .number, "first_tokens": .token,
        "replayed_tau": .number, "mean_tau": .number,
    ]
    /// Formulas and the kind of value each gives (`same` gives yes/no, `largest`/`smallest` a choice).
    public static let formulas: [String: AnswerKind] = [
        "sub": .number, "add": .number, "mul": .number, "div": .number, "same": .yesNo, "largest": .choice, "smallest": .choice,
    ]

    /// Facts read from `ranks`.
    public static let rankFacts: Set<String> = ["replayed_tau", "mean_tau"]
    /// The largest rank a rank sequence may hold: the widest a tree can be.
    public static let maxRank = CandidateTree.maxNodes - 2

    /// Checks a rank sequence (at least one run, no run empty, every position one rank per head, ranks -1...maxRank)
    /// and returns how many heads and ranks per head it has.
    public static func checkRanks(_ ranks: [[[Int]]]) throws -> (heads: Int, top: Int) {
        let example = "e.g. [[[0, 0], [1, -1]]]: runs of positions, each one rank per head, -1 a miss"
        guard !ranks.isEmpty else { throw LessonError("ranks is empty (\(example))") }
        let heads = ranks[0].first?.count ?? 0
        var top = 1
        for (s, run) in ranks.enumerated() {
            guard !run.isEmpty else { throw LessonError("ranks: run \(s + 1) has no positions (\(example))") }
            for (j, position) in run.enumerated() {
                let place = "ranks: run \(s + 1), position \(j + 1)"
                guard !position.isEmpty else { throw LessonError("\(place) has no ranks (\(example))") }
                guard position.count == heads else {
                    throw LessonError("\(place) has \(position.count) rank\(position.count == 1 ? "" : "s") where run 1's first has \(heads): every position has one rank per head")
                }
                if let bad = position.first(where: { $0 < -1 || $0 > maxRank }) {
                    throw LessonError("\(place): \(bad) is not a rank (0 a head's top guess, 1 its second, ... up to \(maxRank); -1 a miss)")
                }
                top = max(top, (position.max() ?? 0) + 1)
            }
        }
        return (heads, top)
    }

    /// The kind of value this question gives, or nil when `what`/`op` is unknown.
    public var valueKind: AnswerKind? {
        if let op { return Self.formulas[op] }
        return Self.facts[what]
    }
}

/// What form an answer takes.
public enum AnswerKind: String, Codable, CaseIterable, Sendable {
    case integer, number, token, choice
    case yesNo = "yesno"
    case paths, nodes

    /// The expected form, in words (for malformed answers).
    public var form: String {
        switch self {
        case .integer: "a whole number, e.g. 3"
        case .number: "a number, e.g. 0.25 or 1/4"
        case .token: "a token's text, e.g. the (quotes optional)"
        case .choice: "one of the choices"
        case .yesNo: "yes or no"
        case .paths: "rank paths separated by spaces, e.g. 0.1 or 0.0 1"
        case .nodes: "node indices separated by spaces or commas, e.g. 0 1 4"
        }
    }

    /// Whether a question's value can be checked as this kind (a number question may be asked as an integer
    /// when it is one; every fact can be asked as text).
    func accepts(_ value: AnswerKind) -> Bool {
        self == value || (self == .number && value == .integer) || (self == .integer && value == .number) || (self == .choice && value == .token)
    }
}

/// One exercise: a question for the learner and the simulator's question that computes its answer.
public struct Exercise: Codable, Equatable, Sendable {
    public var id: String
    public var prompt: String
    public var kind: AnswerKind
    /// Absolute tolerance of a number answer (default 0.005).
    public var tolerance: Double?
    /// The choices of a choice question.
    public var choices: [String]?
    /// One to three progressive hints.
    public var hints: [String]
    public var question: Question
}

/// One lesson: a numbered folder with its text, a REPL script, its session settings and its exercises.
public struct Lesson: Codable, Equatable, Sendable {
    public var number: Int
    public var folder: String
    public var title: String
    /// The session `lesson N` sets up in the REPL, and the settings its questions start from.
    public var session: LessonSetup
    public var exercises: [Exercise]
}

/// `Lessons/lessons.json`: the curriculum.
public struct LessonManifest: Codable, Equatable, Sendable {
    public static let currentVersion = 1
    public var formatVersion: Int
    public var lessons: [Lesson]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", lessons
    }

    /// All exercises, in lesson order.
    public var exercises: [Exercise] { lessons.flatMap(\.exercises) }

    /// The lesson an exercise belongs to.
    public func lesson(of id: String) -> Lesson? { lessons.first { $0.exercises.contains { $0.id == id } } }

    /// Reads and validates a manifest; errors are one line naming the file and the problem.
    public static func read(_ path: String) throws -> LessonManifest {
        guard let data = FileManager.default.contents(atPath: path) else { throw LessonError("\(path): cannot read the lessons manifest") }
        return try parse(data, name: path)
    }

    /// Parses and validates manifest bytes.
    public static func parse(_ data: Data, name: String = "lessons.json") throws -> LessonManifest {
        let manifest: LessonManifest
        do { manifest = try JSONDecoder().decode(LessonManifest.self, from: data) } catch {
            throw LessonError("\(name): \(describe(decoding: error))")
        }
        try manifest.validate(name: name)
        return manifest
    }

    /// Structural checks: version, numbering, unique ids, hints, choices, known facts whose value fits the kind.
    public func validate(name: String = "lessons.json") throws {
        func fail(_ problem: String) -> LessonError { LessonError("\(name): \(problem)") }
        guard formatVersion == Self.currentVersion else { throw fail("format_version \(formatVersion) is not supported (this HydraSim reads \(Self.currentVersion))") }
        var seen = Set<String>()
        for (i, lesson) in lessons.enumerated() {
            guard lesson.number == i + 1 else { throw fail("lesson '\(lesson.title)' is number \(lesson.number), expected \(i + 1) (lessons are numbered in order)") }
            guard lesson.folder.hasPrefix(String(format: "%02d-", lesson.number)) else { throw fail("lesson \(lesson.number)'s folder '\(lesson.folder)' should start with \(String(format: "%02d-", lesson.number))") }
            for exercise in lesson.exercises {
                let place = "exercise \(exercise.id)"
                guard !exercise.id.isEmpty, exercise.id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" }) else {
                    throw fail("\(place): an id is letters, digits, dots and dashes")
                }
                guard seen.insert(exercise.id).inserted else { throw fail("\(place) appears twice") }
                guard (1...3).contains(exercise.hints.count), !exercise.hints.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
                    throw fail("\(place): needs one to three non-empty hints, has \(exercise.hints.count)")
                }
                if exercise.kind == .choice {
                    guard let choices = exercise.choices, choices.count >= 2 else { throw fail("\(place): a choice question needs at least two choices") }
                } else if exercise.choices != nil {
                    throw fail("\(place): only a choice question has choices")
                }
                if let t = exercise.tolerance, !(t >= 0 && t.isFinite) { throw fail("\(place): tolerance must be a number >= 0") }
                try validate(exercise.question, exercise: exercise, top: true, fail: fail)
            }
        }
    }

    private func validate(_ q: Question, exercise: Exercise, top: Bool, fail: (String) -> LessonError) throws {
        let place = "exercise \(exercise.id)"
        if let op = q.op {
            guard Question.formulas[op] != nil else {
                throw fail("\(place): unknown formula '\(op)' (\(Question.formulas.keys.sorted().joined(separator: ", ")))")
            }
            guard let operands = q.operands, operands.count >= 2 else { throw fail("\(place): formula \(op) needs at least two operands") }
            for operand in operands { try validate(operand, exercise: exercise, top: false, fail: fail) }
            if op == "largest" || op == "smallest" {
                guard operands.allSatisfy({ $0.label != nil }) else { throw fail("\(place): every operand of \(op) needs a label") }
                let labels = operands.compactMap(\.label)
                guard Set(labels).isSubset(of: Set(exercise.choices ?? [])) else { throw fail("\(place): the labels \(labels) must be among the choices") }
            }
        } else {
            guard Question.facts[q.what] != nil else {
                let near = Suggestions.nearest(q.what, among: Array(Question.facts.keys))
                throw fail("\(place): unknown fact '\(q.what)'" + (near.isEmpty ? "" : "; did you mean '\(near[0])'?"))
            }
        }
        if top, let kind = q.valueKind {
            if !exercise.kind.accepts(kind) {
                throw fail("\(place): kind \(exercise.kind.rawValue) cannot check '\(q.op ?? q.what)', which gives \(kind.rawValue)")
            }
        }
        if let setup = q.setup {
            do { _ = try setup.spec() } catch { throw fail("\(place): \(error)") }
        }
        if let ranks = q.ranks {
            do { _ = try Question.checkRanks(ranks) } catch { throw fail("\(place): \(error)") }
        } else if q.op == nil && Question.rankFacts.contains(q.what) {
            throw fail("\(place): \(q.what) needs ranks (runs of positions, each one rank per head, -1 a miss)")
        }
    }

    /// One line for a JSON decoding error, with the field's path.
    static func describe(decoding error: Error) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context): return "missing field '\(key.stringValue)' at \(path(context.codingPath).isEmpty ? "the top" : path(context.codingPath))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            let p = path(context.codingPath)
            return (p.isEmpty ? "" : "at \(p): ") + (context.underlyingError.map { _ in "not valid JSON" } ?? context.debugDescription)
        default: return "\(error)"
        }
    }
}
