import Foundation
import Speculation

/// When to colour terminal output.
public enum ColorChoice: String, CaseIterable, Sendable {
    case auto, always, never

    /// `always`, `never`, or for `auto`: standard output is a terminal, `TERM` is not `dumb` and `NO_COLOR` is unset.
    public func enabled(environment: [String: String] = ProcessInfo.processInfo.environment, isTerminal: Bool = isatty(1) == 1) -> Bool {
        switch self {
        case .always: true
        case .never: false
        case .auto: isTerminal && environment["TERM"] != "dumb" && environment["NO_COLOR"] == nil
        }
    }
}

/// Readable, plain-text traces of steps and runs (reference §1-4), for terminals and files.
///
/// Each node shows its index, its token (escaped so whitespace is visible), rank, draft probability q, base
/// probability p and outcome; the accepted path is marked `◆`. ANSI colour only when `color` is true; lines
/// longer than `width` are wrapped with an indented continuation.
public struct TextTrace: Sendable {
    public var color: Bool
    public var width: Int
    /// Longest token text shown in a tree line before it is cut with `…`.
    public var maxTokenCharacters: Int

    public init(color: Bool = false, width: Int = 100, maxTokenCharacters: Int = 16) {
        self.color = color
        self.width = max(width, 40)
        self.maxTokenCharacters = maxTokenCharacters
    }

    enum Tint: String {
        case green = "32", red = "31", yellow = "33", dim = "2", blue = "34", bold = "1", magenta = "35", cyan = "36"
    }

    func paint(_ text: String, _ tint: Tint) -> String {
        color ? "\u{1B}[\(tint.rawValue)m\(text)\u{1B}[0m" : text
    }

    func tint(_ outcome: NodeOutcome) -> Tint {
        switch outcome {
        case .accepted: .green
        case .passed: .yellow
        case .rejected: .red
        case .notReached: .dim
        }
    }

    /// Wraps a line that is too wide: breaks at spaces where possible, continuation lines indented by `indent`.
    /// Colour codes do not count towards the width.
    func wrap(_ line: String, indent: Int) -> [String] {
        guard visibleWidth(line) > width else { return [line] }
        let pad = String(repeating: " ", count: min(indent, width / 2))
        var out: [String] = []
        var current = ""
        var started = false
        for word in line.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            let candidate = started ? current + " " + word : word
            started = true
            if visibleWidth(candidate) <= width || current.trimmingCharacters(in: .whitespaces).isEmpty {
                current = candidate
            } else {
                out.append(current)
                current = pad + word
            }
            // A single word wider than the line: hard-break it (plain text only; coloured words are short).
            while visibleWidth(current) > width && !current.contains("\u{1B}") {
                out.append(String(current.prefix(width)))
                current = pad + String(current.dropFirst(width))
            }
        }
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { out.append(current) }
        return out
    }

    /// Characters on screen, ANSI escape sequences excluded.
    func visibleWidth(_ text: String) -> Int {
        var width = 0
        var inEscape = false
        for ch in text {
            if inEscape { if ch == "m" { inEscape = false }; continue }
            if ch == "\u{1B}" { inEscape = true; continue }
            width += 1
        }
        return width
    }

    /// Pads `text` with spaces to `n` visible characters.
    func pad(_ text: String, _ n: Int) -> String {
        text + String(repeating: " ", count: max(0, n - visibleWidth(text)))
    }

    /// One step: header, context, the tree (one node per line, indented by depth), the bonus token and what was emitted.
    public func step(_ step: StepView, markRepeats: Bool = false) -> String {
        var lines: [String] = []
        let record = step.record
        lines.append(paint("step \(step.number)", .bold) + " · \(step.decoder) · \(step.rule) · \(TreeSize.describe(nodes: step.nodes.count)) · prefix \(record.prefixLength) tokens · "
                     + paint("tau \(step.tau)", .bold))
        lines += wrap("  context: " + step.contextText(), indent: 11)
        let children = step.children
        let onPath = Set(record.acceptedPath)
        let repeated = markRepeats ? step.repeatedNodes : []
        // Stats start in one column: room for the deepest guide, the mark and the longest token.
        let statsColumn = 2 + 3 * (step.nodes.map(\.depth).max() ?? 0) + 2 + maxTokenCharacters + 2
        // Depth-first, children in rank order, with box-drawing guides.
        func visit(_ i: Int, guide: String, last: Bool) {
            let node = step.nodes[i]
            let branch = i == 0 ? "" : (last ? "└─ " : "├─ ")
            let token = TokenText.truncated(TokenText.quoted(step.text(i)), to: maxTokenCharacters)
            let mark = onPath.contains(i) ? paint("◆", .green) : " "
            var head = pad("  " + guide + branch + mark + " " + paint(token, onPath.contains(i) ? .bold : tint(node.outcome)), statsColumn)
            let stats: String
            if i == 0 {
                stats = "#0 root          p \(pad(ProbabilityText.format(node.baseProbability), 6)) " + paint("accepted", .green)
            } else {
                var s = pad("#\(i)", 4) + " r\(node.rank)  q \(pad(ProbabilityText.format(node.draftProbability), 6)) p \(pad(ProbabilityText.format(node.baseProbability), 6)) "
                s += paint(node.outcome.rawValue.replacingOccurrences(of: "_", with: " "), tint(node.outcome))
                if let bar = node.threshold { s += " (bar \(ProbabilityText.format(bar)))" }
                if repeated.contains(i) { s += " " + paint("repeat", .magenta) }
                stats = s
            }
            let indentWidth = visibleWidth(head)
            if indentWidth + visibleWidth(stats) > width {
                lines.append(head)
                head = "  " + guide + (i == 0 ? "" : (last ? "   " : "│  ")) + "    "
                lines += wrap(head + stats, indent: visibleWidth(head))
            } else {
                lines.append(head + stats)
            }
            let nextGuide = i == 0 ? "" : guide + (last ? "   " : "│  ")
            for (k, c) in children[i].enumerated() { visit(c, guide: nextGuide, last: k == children[i].count - 1) }
        }
        visit(0, guide: "", last: true)
        lines.append("  " + paint("bonus", .blue) + " " + TokenText.quoted(step.bonusText) + " (p \(ProbabilityText.format(record.bonusProbability))): the base model's next token, the next step's root")
        let emitted = step.emittedTexts.map { TokenText.quoted($0) }.joined(separator: " ")
        lines.append("  emitted: " + paint(emitted, .green))
        return lines.flatMap { wrap($0, indent: 4) }.joined(separator: "\n") + "\n"
    }

    /// A whole run: settings, every step, the emitted text so far after each step, total tau.
    public func run(_ view: TraceView, markRepeats: Bool = false) -> String {
        let t = view.trace
        var out = wrap(paint("\(t.decoder) trace", .bold) + " · model \(t.settings.model) · heads \(t.settings.heads ?? "none") · tree \(t.settings.tree) · rule \(t.settings.rule.name) · seed \(t.settings.seed)", indent: 4).joined(separator: "\n") + "\n"
        out += wrap("prompt: " + TokenText.quoted(t.prompt), indent: 8).joined(separator: "\n") + "\n\n"
        for step in view.steps {
            out += self.step(step, markRepeats: markRepeats)
            let sofar = (step.previousTexts + step.emittedTexts).joined()
            let shown = TokenText.tail(sofar, 4 * width)
            out += wrap("  text so far: " + TokenText.quoted(shown), indent: 15).joined(separator: "\n") + "\n"
            out += "  tau so far: \(String(format: "%.2f", view.tau(upTo: step.number)))\n\n"
        }
        out += wrap(paint("\(t.steps.count) steps, \(t.tokens.count) tokens, tau \(String(format: "%.2f", view.tau())) (tokens per step, the root/bonus included)", .bold)
                    + " · stopped: \(t.stopReason)", indent: 4).joined(separator: "\n") + "\n"
        return out
    }

    /// Two decoders' same step, one after the other, then their per-depth summary side by side.
    public func contrast(_ a: StepView, _ b: StepView) -> String {
        var out = self.step(a, markRepeats: true) + "\n" + self.step(b, markRepeats: true) + "\n"
        out += paint("step \(a.number) per depth", .bold) + " (repeat = same token at the same depth under another parent)\n"
        let sa = Repetition.summary(a.nodes), sb = Repetition.summary(b.nodes)
        let col = max(a.decoder.count, b.decoder.count, 24)
        out += "  depth  " + pad(a.decoder, col) + "  " + b.decoder + "\n"
        out += "         " + pad("nodes accepted repeat", col) + "  nodes accepted repeat\n"
        func cells(_ s: [DepthSummary], _ d: Int) -> String {
            let x = d <= s.count ? s[d - 1] : DepthSummary(depth: d, nodes: 0, accepted: 0, repeated: 0)
            return String(format: "%5d %8d %6d", x.nodes, x.accepted, x.repeated)
        }
        let depth = max(sa.count, sb.count)
        if depth >= 1 {
            for d in 1...depth { out += String(format: "  %5d  ", d) + pad(cells(sa, d), col) + "  " + cells(sb, d) + "\n" }
        }
        out += "  tau    " + pad(String(format: "%5d", a.tau), col) + "  " + String(format: "%5d", b.tau) + "\n"
        return out
    }
}

/// How a candidate tree's size is said everywhere (CLI, traces, diagrams, the page): the root, which the base
/// model already chose, plus the draft nodes the heads guessed, e.g. "root + 63 draft nodes".
public enum TreeSize {
    /// "root + 63 draft nodes" for 64 verified nodes; "root only" for one.
    public static func describe(nodes: Int) -> String {
        let drafted = nodes - 1
        if drafted <= 0 { return "root only" }
        return "root + \(drafted) draft node\(drafted == 1 ? "" : "s")"
    }
}
