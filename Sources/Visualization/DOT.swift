import Foundation
import Speculation

/// Escaping for Graphviz's DOT language.
public enum DOT {
    /// Text for an HTML-like label (`label=<...>`): `&`, `<`, `>`, `"` become entities and `\` is doubled. Newlines and other
    /// control characters should already have been made visible (`TokenText.visible`); any left become spaces,
    /// since Graphviz's HTML parser (an XML parser) refuses them.
    public static func html(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            // Graphviz applies its escapes (`\\`, `\N`, `\G`, ...) to HTML-like labels too, after entities are
            // decoded: a doubled backslash is the only way to show one.
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += " " } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// A double-quoted DOT string whose text Graphviz shows literally: `"` and `\` are escaped (so `\n`, `\l`, `\N`
    /// and friends in the text are not interpreted), `&` is `&amp;` (so entities are not decoded), and newline
    /// characters become `\n` line breaks.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            // Graphviz decodes HTML entities in ordinary labels too (`&amp;` shows as `&`).
            case "&": out += "&amp;"
            case "\n": out += "\\n"
            case "\r": out += ""
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension DOT {
    /// A double-quoted DOT string of left-justified lines (each ends with `\l`), every line escaped as `quoted` does.
    public static func leftJustified(_ lines: [String]) -> String {
        "\"" + lines.map { String(quoted($0).dropFirst().dropLast()) + "\\l" }.joined() + "\""
    }
}

/// How each outcome is drawn: one palette for diagrams, legends and the HTML page.
public enum Palette {
    /// Fill, border and font colours, DOT style words and border width of one kind of node.
    public struct Style: Sendable {
        public var fill: String
        public var border: String
        public var font: String
        /// Extra DOT style words after `rounded,filled`.
        public var style: String
        public var penwidth: String
    }

    /// The look of a node with `outcome`.
    public static func style(_ outcome: NodeOutcome) -> Style {
        switch outcome {
        case .accepted: Style(fill: "#b7e4c7", border: "#1b7a43", font: "#0b3d20", style: "bold", penwidth: "2.5")
        case .passed: Style(fill: "#fff1a8", border: "#a77b00", font: "#3d2e00", style: "", penwidth: "1.2")
        case .rejected: Style(fill: "#f9d0d4", border: "#b3261e", font: "#4a0f0b", style: "", penwidth: "1.2")
        case .notReached: Style(fill: "#f1f1f1", border: "#9a9a9a", font: "#6b6b6b", style: "dashed", penwidth: "1")
        }
    }

    /// The look of the bonus node (the base model's own next token).
    public static let bonus = Style(fill: "#cfe0ff", border: "#1d4ed8", font: "#0b2a6f", style: "dashed", penwidth: "1.8")
    /// Border of a node that repeats a same-depth token under another parent (contrast diagrams).
    public static let repeatBorder = "#e8590c"
    /// Colour of edges on the accepted path, and of the others.
    public static let acceptedEdge = "#1b7a43"
    public static let edge = "#8a8a8a"

    /// Legend words for an outcome.
    public static func name(_ outcome: NodeOutcome) -> String {
        switch outcome {
        case .accepted: "accepted"
        case .passed: "passed (shorter path lost)"
        case .rejected: "rejected"
        case .notReached: "not reached"
        }
    }
}

/// DOT for one step's candidate tree (reference §3-4): who was drafted, what the base model made of it.
///
/// Drawn left to right, so each root-to-leaf path reads like the text it would continue. Nodes are `n0` (the
/// root) ... `nN` in trace order and `nbonus`; the title and legend sit in the graph label, so a rendered SVG has
/// exactly one node per tree node plus the bonus node. Output depends only on the step.
public enum StepDiagram {
    /// Options shared by step and contrast diagrams.
    public struct Options: Sendable {
        /// Previously emitted tokens shown in the root's label.
        public var contextTokens: Int
        /// Longest token text in a label before it is cut with `…`.
        public var maxTokenCharacters: Int
        /// Draw the bonus token under the last accepted node.
        public var showBonus: Bool
        public init(contextTokens: Int = 4, maxTokenCharacters: Int = 18, showBonus: Bool = true) {
            self.contextTokens = contextTokens
            self.maxTokenCharacters = maxTokenCharacters
            self.showBonus = showBonus
        }
    }

    /// The whole `digraph` for `step`.
    public static func dot(_ step: StepView, options: Options = Options()) -> String {
        var lines: [String] = []
        lines.append("digraph step_\(step.number) {")
        lines += header()
        lines.append("  graph [labelloc=t, labeljust=l, fontsize=12, label=\(DOT.leftJustified(titleLines(step)))];")
        lines += body(step, prefix: "n", repeated: [], options: options, indent: "  ")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Graph, node and edge defaults.
    static func header() -> [String] {
        [
            "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, nodesep=0.08, ranksep=0.45, bgcolor=\"white\", pad=0.2];",
            "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, margin=\"0.06,0.03\", height=0.3];",
            "  edge [fontname=\"Helvetica\", fontsize=8, arrowsize=0.55, color=\"\(Palette.edge)\", fontcolor=\"#555555\"];",
        ]
    }

    /// The title and legend of a single-step diagram, as plain lines (libgvc 2.42 leaks about 20 KB per layout for
    /// an HTML-like table label, so the legend is words, not coloured cells).
    static func titleLines(_ step: StepView) -> [String] {
        let settings = step.view.trace.settings
        let accepted = step.emittedTexts.map { TokenText.quoted($0) }.joined(separator: " ")
        return [
            "Step \(step.number) · \(step.decoder) · \(step.rule) · tree \(settings.tree) · \(TreeSize.describe(nodes: step.nodes.count)) verified",
            "tau \(step.tau): " + TokenText.truncated(accepted, to: 90),
            legend(rule: step.rule, repeats: false),
            "#i node index (as in the mask) · q draft probability (head) · p base probability · edge rN: rank N among its head's guesses",
        ]
    }

    /// What the colours and shapes mean.
    static func legend(rule: String, repeats: Bool) -> String {
        var parts = ["green bold: accepted"]
        if rule == "typical" { parts.append("yellow: passed, a longer path won") }
        parts += ["red: rejected", "grey dashed: not reached", "blue dashed: bonus (the base model's next token)"]
        if repeats { parts.append("orange double border: same token at the same depth under another parent") }
        return parts.joined(separator: " · ")
    }

    /// Node and edge statements for `step`, node ids prefixed by `prefix`; `repeated` nodes get an orange double border.
    static func body(_ step: StepView, prefix: String, repeated: Set<Int>, options: Options, indent: String) -> [String] {
        var lines: [String] = []
        let nodes = step.nodes
        let onPath = Set(step.record.acceptedPath)
        for (i, node) in nodes.enumerated() {
            let s = Palette.style(node.outcome)
            // Plain (not HTML-like) labels: libgvc 2.42 leaks about 460 bytes per HTML-like label per layout.
            let token = TokenText.truncated(TokenText.quoted(step.text(i)), to: options.maxTokenCharacters)
            var label: String
            var extra = ""
            if i == 0 {
                label = step.contextText(tokens: options.contextTokens) + "\n" + token + "\n#0 root · p \(ProbabilityText.format(node.baseProbability))"
                extra = ", peripheries=2"
            } else {
                label = token + "\n#\(i) · q \(ProbabilityText.format(node.draftProbability)) · p \(ProbabilityText.format(node.baseProbability))"
                if let bar = node.threshold { label += " · bar \(ProbabilityText.format(bar))" }
            }
            var border = s.border
            var penwidth = s.penwidth
            if repeated.contains(i) {
                border = Palette.repeatBorder
                penwidth = "2.5"
                extra += ", peripheries=2"
            }
            let style = s.style.isEmpty ? "rounded,filled" : "rounded,filled,\(s.style)"
            lines.append("\(indent)\(prefix)\(i) [label=\(DOT.quoted(label)), style=\"\(style)\", fillcolor=\"\(s.fill)\", color=\"\(border)\", fontcolor=\"\(s.font)\", penwidth=\(penwidth)\(extra)];")
        }
        // Edges in reverse order: dot lays LR graphs out top-to-bottom and rotates, so this puts rank 0 on top.
        for (i, node) in nodes.enumerated().reversed() where node.parent >= 0 {
            let accepted = onPath.contains(i) && onPath.contains(node.parent)
            let look = accepted ? ", color=\"\(Palette.acceptedEdge)\", penwidth=2.2, fontcolor=\"\(Palette.acceptedEdge)\"" : ""
            lines.append("\(indent)\(prefix)\(node.parent) -> \(prefix)\(i) [label=\"r\(node.rank)\"\(look)];")
        }
        if options.showBonus, let last = step.record.acceptedPath.last {
            let b = Palette.bonus
            let token = TokenText.truncated(TokenText.quoted(step.bonusText), to: options.maxTokenCharacters)
            let label = "bonus\n" + token + "\np \(ProbabilityText.format(step.record.bonusProbability))"
            lines.append("\(indent)\(prefix)bonus [label=\(DOT.quoted(label)), style=\"rounded,filled,\(b.style)\", fillcolor=\"\(b.fill)\", color=\"\(b.border)\", fontcolor=\"\(b.font)\", penwidth=\(b.penwidth)];")
            lines.append("\(indent)\(prefix)\(last) -> \(prefix)bonus [style=dashed, color=\"\(b.border)\", label=\"next\", fontcolor=\"\(b.border)\"];")
        }
        return lines
    }
}

/// Two decoders' same step side by side (reference §2): under Medusa every parent gets the same children; under Hydra
/// the children follow their parent. Nodes repeating a same-depth token under another parent get an orange border.
public enum ContrastDiagram {
    /// The `digraph` with one cluster per step (`cluster_a` left, `cluster_b` right), node ids `a0...`, `b0...`.
    public static func dot(_ a: StepView, _ b: StepView, options: StepDiagram.Options = StepDiagram.Options()) -> String {
        var lines = ["digraph contrast_\(a.number) {"]
        lines += StepDiagram.header()
        lines.append("  graph [labelloc=t, labeljust=l, fontname=\"Courier\", fontsize=11, label=\(DOT.leftJustified(titleLines(a, b)))];")
        for (side, step) in [("a", a), ("b", b)] {
            lines.append("  subgraph cluster_\(side) {")
            let repeated = step.repeatedNodes
            let title = "\(step.decoder) · step \(step.number) · tau \(step.tau) · \(repeated.count) repeated"
            lines.append("    graph [label=\(DOT.quoted(title)), labelloc=t, fontname=\"Helvetica\", fontsize=13, style=\"rounded\", color=\"#bbbbbb\"];")
            lines += StepDiagram.body(step, prefix: side, repeated: repeated, options: options, indent: "    ")
            lines.append("  }")
        }
        // Invisible edges from a's deepest nodes to b's root push b's ranks past a's: the two trees sit side by side.
        let deepest = a.nodes.indices.filter { a.nodes[$0].depth == (a.nodes.map(\.depth).max() ?? 0) }.first ?? 0
        lines.append("  a\(deepest) -> b0 [style=invis, weight=0];")
        if options.showBonus { lines.append("  abonus -> b0 [style=invis, weight=0];") }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Title, legend and the per-depth summary table, as plain lines in a monospaced font.
    static func titleLines(_ a: StepView, _ b: StepView) -> [String] {
        var lines = ["Step \(a.number): \(a.decoder) (left) vs \(b.decoder) (right) · \(a.rule)"]
        if a.record.prefixLength == b.record.prefixLength && a.previousTexts == b.previousTexts {
            let lead = b.view.trace.leader.map { " · \(b.decoder) drafted on \($0)'s prefix (aligned)" } ?? ""
            lines.append("same prefix (\(a.record.prefixLength) tokens cached before the root)" + lead)
        } else {
            lines.append("prefixes differ: \(a.decoder) has \(a.record.prefixLength) tokens cached, \(b.decoder) \(b.record.prefixLength) (earlier steps accepted different lengths)")
        }
        lines.append(StepDiagram.legend(rule: a.rule == b.rule ? a.rule : "typical", repeats: true))
        lines.append("")
        lines += summaryLines(a, b)
        return lines
    }

    /// Per depth: nodes, accepted and repeated, for each side, as aligned text columns.
    static func summaryLines(_ a: StepView, _ b: StepView) -> [String] {
        let sa = Repetition.summary(a.nodes), sb = Repetition.summary(b.nodes)
        let depth = max(sa.count, sb.count)
        func col(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        func name(_ text: String) -> String { let t = TokenText.truncated(text, to: 24); return t + String(repeating: " ", count: max(0, 24 - t.count)) }
        var lines = ["depth   " + name(a.decoder) + "   " + name(b.decoder)]
        lines.append("        nodes accepted repeated   nodes accepted repeated")
        func cells(_ s: [DepthSummary], _ d: Int) -> String {
            let x = d <= s.count ? s[d - 1] : DepthSummary(depth: d, nodes: 0, accepted: 0, repeated: 0)
            return col("\(x.nodes)", 5) + col("\(x.accepted)", 9) + col("\(x.repeated)", 9)
        }
        if depth >= 1 { for d in 1...depth { lines.append(col("\(d)", 5) + "   " + cells(sa, d) + "   " + cells(sb, d)) } }
        func total(_ s: [DepthSummary]) -> String {
            col("\(s.map(\.nodes).reduce(0, +))", 5) + col("\(s.map(\.accepted).reduce(0, +))", 9) + col("\(s.map(\.repeated).reduce(0, +))", 9)
        }
        lines.append("  all   " + total(sa) + "   " + total(sb))
        lines.append("  tau   " + col("\(a.tau)", 5) + String(repeating: " ", count: 21) + col("\(b.tau)", 5))
        return lines
    }
}

/// The tree attention mask as a picture (reference §3): row i is what node i attends to (itself, its ancestors, the root).
public enum MaskDiagram {
    /// One HTML-like table: rows labelled `#i "token"`, columns `i`; a dark cell where row attends to column.
    /// `labels[i]` is node i's token text (may be shorter than `parents`); `highlight` rows (e.g. the accepted path) are drawn green.
    public static func dot(parents: [Int], labels: [String], title: String, highlight: Set<Int> = []) -> String {
        let n = parents.count
        var mask = [[Bool]](repeating: [Bool](repeating: false, count: n), count: n)
        for i in 0..<n {
            var j = i
            var guardSteps = 0
            while j >= 0 && j < n && guardSteps <= n { mask[i][j] = true; j = parents[j]; guardSteps += 1 }
        }
        var t = "<table border=\"0\" cellborder=\"0\" cellspacing=\"1\" cellpadding=\"0\">"
        t += "<tr><td></td>" + (0..<n).map { "<td width=\"11\" height=\"11\"><font point-size=\"6\">\($0)</font></td>" }.joined() + "</tr>"
        for i in 0..<n {
            let label = i < labels.count ? TokenText.truncated(TokenText.quoted(labels[i]), to: 14) : ""
            let rowColor = highlight.contains(i) ? "#1b7a43" : "#1f2937"
            t += "<tr><td align=\"right\" cellpadding=\"1\"><font point-size=\"8\">#\(i) \(DOT.html(label))</font></td>"
            t += mask[i].map { $0 ? "<td width=\"11\" height=\"11\" bgcolor=\"\(rowColor)\"></td>" : "<td width=\"11\" height=\"11\" bgcolor=\"#eeeeee\"></td>" }.joined()
            t += "</tr>"
        }
        t += "</table>"
        var lines = ["digraph mask {"]
        lines.append("  graph [fontname=\"Helvetica\", fontsize=12, labelloc=t, labeljust=l, bgcolor=\"white\", pad=0.2, label=<<b>\(DOT.html(title))</b><br/><font point-size=\"9\">row i attends to column j (dark) when j is i, an ancestor of i, or the root; green rows: the accepted path</font>>];")
        lines.append("  node [shape=plaintext, fontname=\"Helvetica\"];")
        lines.append("  mask [label=<\(t)>];")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The mask of `step`'s drafted tree, labelled with its tokens, the accepted path highlighted.
    public static func dot(_ step: StepView) -> String {
        dot(parents: step.nodes.map(\.parent), labels: step.nodes.indices.map { step.text($0) },
            title: "Tree attention mask: \(step.view.trace.settings.tree), \(step.decoder) step \(step.number)",
            highlight: Set(step.record.acceptedPath))
    }
}
