import Foundation
import LanguageModel
import Speculation

/// A problem with what a visualisation was asked to show: one line, no stack.
public struct VisualizationError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Token texts made visible: whitespace and control characters spelled out, so `" the"` and `"the"` differ on screen.
public enum TokenText {
    /// The text as the body of a Swift-like string literal: space is `␣`, newline `\n`, tab `\t`,
    /// carriage return `\r`, other control characters `\u{1B}`, backslash `\\`, double quote `\"`.
    /// Everything else (letters, punctuation, non-ASCII, U+FFFD from broken UTF-8) is kept as it is.
    public static func visible(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case " ": out += "␣"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.properties.generalCategory == .format
                    || scalar.properties.generalCategory == .lineSeparator || scalar.properties.generalCategory == .paragraphSeparator {
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// The visible text in double quotes (so an empty token shows as `""`).
    public static func quoted(_ text: String) -> String { "\"" + visible(text) + "\"" }

    /// At most `limit` characters of `text`, with `…` in place of the cut end.
    public static func truncated(_ text: String, to limit: Int) -> String {
        guard text.count > limit, limit >= 1 else { return text }
        return String(text.prefix(limit - 1)) + "…"
    }

    /// The last `limit` characters of `text`, with `…` in place of the cut beginning.
    public static func tail(_ text: String, _ limit: Int) -> String {
        guard text.count > limit, limit >= 1 else { return text }
        return "…" + String(text.suffix(limit - 1))
    }
}

/// Probabilities printed the same way everywhere: three decimals, or scientific below 0.001.
public enum ProbabilityText {
    /// `0.412`, `1.000`, `3e-05`, `0`.
    public static func format(_ p: Float) -> String {
        if p == 0 { return "0" }
        if p >= 0.0005 { return String(format: "%.3f", Double(p)) }
        return String(format: "%.0e", Double(p))
    }
}

/// A decoding trace prepared for drawing: token texts by id, the context before each step, the text emitted so far.
public struct TraceView: Sendable {
    public let trace: DecodingTrace
    /// Every token text the trace knows (from its nodes), by id.
    let texts: [Int: String]

    public init(_ trace: DecodingTrace) {
        self.trace = trace
        var texts: [Int: String] = [:]
        for step in trace.steps {
            for node in step.nodes { if let t = node.text, texts[node.token] == nil { texts[node.token] = t } }
            if let t = step.bonusText, texts[step.bonus] == nil { texts[step.bonus] = t }
        }
        if let tokenTexts = trace.tokenTexts {
            for (token, text) in zip(trace.tokens, tokenTexts) where texts[token] == nil { texts[token] = text }
        }
        self.texts = texts
    }

    /// The decoder's name (`medusa`, `hydra`, `hydra++`, `ar`).
    public var decoder: String { trace.decoder }
    /// Number of steps.
    public var stepCount: Int { trace.steps.count }

    /// The text of `token`: from any node of the trace that carried it, else `#id`.
    public func text(of token: Int) -> String { texts[token] ?? "#\(token)" }

    /// Step `number` (1-based), or a clear error naming the valid range.
    public func step(_ number: Int) throws -> StepView {
        guard number >= 1 && number <= trace.steps.count else {
            if trace.steps.isEmpty { throw VisualizationError("the \(decoder) trace has no steps (nothing was generated)") }
            throw VisualizationError("step \(number) does not exist: the \(decoder) trace has steps 1...\(trace.steps.count)")
        }
        return StepView(view: self, index: number - 1)
    }

    /// Every step, in order.
    public var steps: [StepView] { trace.steps.indices.map { StepView(view: self, index: $0) } }

    /// Mean tokens per step over the first `steps` steps (all when nil).
    public func tau(upTo steps: Int? = nil) -> Double {
        let used = trace.steps.prefix(steps ?? trace.steps.count)
        guard !used.isEmpty else { return 0 }
        return Double(used.map(\.emitted.count).reduce(0, +)) / Double(used.count)
    }
}

/// One step of a trace with what a drawing needs: children lists, the context before the root, the bonus token's text.
public struct StepView: Sendable {
    public let view: TraceView
    /// 0-based index into the trace's steps.
    public let index: Int

    /// The step as recorded by the decoder.
    public var record: StepRecord { view.trace.steps[index] }
    /// The step's number (1-based).
    public var number: Int { record.step }
    /// The drafted tree, root first, parents before children.
    public var nodes: [NodeRecord] { record.nodes }
    /// The decoder that drafted the step (`medusa`, `hydra`, `hydra++`, `ar`).
    public var decoder: String { view.decoder }
    /// The acceptance rule's name (`greedy`, `typical`, `sample`).
    public var rule: String { view.trace.settings.rule.name }
    /// Tokens this step emitted (its tau).
    public var tau: Int { record.emitted.count }

    /// Child node indices of every node, in node (rank) order.
    public var children: [[Int]] {
        var children = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() where node.parent >= 0 && node.parent < nodes.count { children[node.parent].append(i) }
        return children
    }

    /// Text of node `i`'s token.
    public func text(_ i: Int) -> String { nodes[i].text ?? view.text(of: nodes[i].token) }

    /// The bonus token's text (the next step's root; `#id` when the trace never shows it).
    public var bonusText: String { view.text(of: record.bonus) }

    /// Texts of the tokens this step emitted.
    public var emittedTexts: [String] { record.emitted.map { view.text(of: $0) } }

    /// Texts of every token emitted before this step (not the prompt).
    public var previousTexts: [String] {
        // The cache held the prompt and the text's first (prefix - prompt) tokens: this also holds for an aligned
        // trace, whose steps were drafted on the leader's text.
        let trace = view.trace
        let count = record.prefixLength - trace.promptTokens.count
        if count >= 0 && count <= trace.tokens.count { return trace.tokens[..<count].map { view.text(of: $0) } }
        return trace.steps[..<index].flatMap { $0.emitted.map { view.text(of: $0) } }
    }

    /// The context before the root, visible and short: up to `tokens` previously emitted tokens separated by `|`,
    /// preceded by the prompt's tail when fewer tokens were emitted; `…` where something was cut.
    public func contextText(tokens: Int = 4, promptCharacters: Int = 16) -> String {
        let previous = previousTexts
        var pieces = previous.suffix(tokens).map { TokenText.visible($0) }
        if previous.count > tokens { pieces.insert("…", at: 0) }
        if previous.count < tokens {
            let prompt = TokenText.visible(view.trace.prompt)
            pieces.insert(prompt.isEmpty ? "(start)" : TokenText.tail(prompt, promptCharacters), at: 0)
        }
        return pieces.joined(separator: "|")
    }

    /// Nodes (depth ≥ 2) whose token also appears at the same depth under a different parent: the Cartesian-product
    /// repetition of independent heads (reference §2, Medusa).
    public var repeatedNodes: Set<Int> { Repetition.repeatedNodes(nodes) }
}

/// Finds tokens a tree repeats under different parents at one depth.
public enum Repetition {
    /// Node `i` is repeated when another node at its depth carries the same token under a different parent.
    /// Depth-1 nodes share the root as parent, so they are never repeated.
    public static func repeatedNodes(_ nodes: [NodeRecord]) -> Set<Int> {
        var parentsByKey: [[Int]: Set<Int>] = [:]
        for node in nodes where node.depth >= 1 { parentsByKey[[node.depth, node.token], default: []].insert(node.parent) }
        var out = Set<Int>()
        for (i, node) in nodes.enumerated() where node.depth >= 1 {
            if let parents = parentsByKey[[node.depth, node.token]], parents.count > 1 { out.insert(i) }
        }
        return out
    }

    /// Per depth 1...max: how many nodes, how many accepted, how many repeated.
    public static func summary(_ nodes: [NodeRecord]) -> [DepthSummary] {
        let repeated = repeatedNodes(nodes)
        let depth = nodes.map(\.depth).max() ?? 0
        guard depth >= 1 else { return [] }
        return (1...depth).map { d in
            let at = nodes.indices.filter { nodes[$0].depth == d }
            return DepthSummary(depth: d, nodes: at.count, accepted: at.filter { nodes[$0].outcome == .accepted }.count,
                                repeated: at.filter { repeated.contains($0) }.count)
        }
    }
}

/// Counts at one depth of a drafted tree.
public struct DepthSummary: Equatable, Sendable {
    public var depth: Int
    public var nodes: Int
    public var accepted: Int
    public var repeated: Int
}
