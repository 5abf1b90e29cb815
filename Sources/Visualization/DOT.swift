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
    /// and friends are not interpreted) and newlines are written as `\n` escapes.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += ""
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// How each outcome is drawn: one palette for diagrams, legends and the HTML page.
public enum Palette {
    public struct Style: Sendable {
        public var fill: String
        public var border: String
        public var font: String
        /// Extra DOT style words after `rounded,filled`.
        public var style: String
        public var penwidth: String
    }

    public static func style(_ outcome: NodeOutcome) -> Style {
        switch outcome {
        case .accepted: Style(fill: "#b7e4c7", border: "#1b7a43", font: "#0b3d20", style: "bold", penwidth: "2.5")
        case .passed: Style(fill: "#fff1a8", border: "#a77b00", font: "#3d2e00", style: "", penwidth: "1.2")
        case .rejected: Style(fill: "#f9d0d4", border: "#b3261e", font: "#4a0f0b", style: "", penwidth: "1.2")
        case .notReached: Style(fill: "#f1f1f1", border: "#9a9a9a", font: "#6b6b6b", style: "dashed", penwidth: "1")
        }
    }

    public static let bonus = Style(fill: "#cfe0ff", border: "#1d4ed8", font: "#0b2a6f", style: "dashed", penwidth: "1.8")
    /// Border of a node that repeats a same-depth token under another parent (contrast diagrams).
    public static let repeatBorder = "#e8590c"
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

/// DOT for one step's candidate tree (SPEC §3-4): who was drafted, what the base model made of it.
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
        lines.append("  graph [labelloc=t, labeljust=l, label=<\(titleTable(step))>];")
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

    /// The title and legend table of a single-step diagram.
    static func titleTable(_ step: StepView) -> String {
        let settings = step.view.trace.settings
        var rows = "<table border=\"0\" cellborder=\"0\" cellspacing=\"2\" cellpadding=\"2\">"
        rows += "<tr><td align=\"left\" colspan=\"6\"><font point-size=\"14\"><b>Step \(step.number) · \(DOT.html(step.decoder)) · \(DOT.html(step.rule))</b></font></td></tr>"
        let accepted = step.emittedTexts.map { TokenText.quoted($0) }.joined(separator: " ")
        rows += "<tr><td align=\"left\" colspan=\"6\">tree \(DOT.html(settings.tree)) · \(step.nodes.count) nodes verified · tau \(step.tau): \(DOT.html(TokenText.truncated(accepted, to: 80)))</td></tr>"
        rows += "<tr>" + legendCells(rule: step.rule, repeats: false) + "</tr>"
        rows += "<tr><td align=\"left\" colspan=\"6\"><font point-size=\"9\">#i node index (as in the mask) · q = draft probability (head) · p = base probability · edge rN = rank N among its head's guesses</font></td></tr>"
        return rows + "</table>"
    }

    /// Legend cells, one per kind of node that can appear.
    static func legendCells(rule: String, repeats: Bool) -> String {
        var outcomes: [NodeOutcome] = [.accepted]
        if rule == "typical" { outcomes.append(.passed) }
        outcomes += [.rejected, .notReached]
        var cells = outcomes.map { o -> String in
            let s = Palette.style(o)
            return "<td border=\"1\" color=\"\(s.border)\" bgcolor=\"\(s.fill)\"><font color=\"\(s.font)\">\(DOT.html(Palette.name(o)))</font></td>"
        }
        cells.append("<td border=\"1\" color=\"\(Palette.bonus.border)\" bgcolor=\"\(Palette.bonus.fill)\"><font color=\"\(Palette.bonus.font)\">bonus: base model's next token</font></td>")
        if repeats {
            cells.append("<td border=\"1\" color=\"\(Palette.repeatBorder)\"><font color=\"\(Palette.repeatBorder)\">orange border: same token, same depth, other parent</font></td>")
        }
        return cells.joined()
    }

    /// Node and edge statements for `step`, node ids prefixed by `prefix`; `repeated` nodes get an orange double border.
    static func body(_ step: StepView, prefix: String, repeated: Set<Int>, options: Options, indent: String) -> [String] {
        var lines: [String] = []
        let nodes = step.nodes
        let onPath = Set(step.record.acceptedPath)
        for (i, node) in nodes.enumerated() {
            let s = Palette.style(node.outcome)
            let token = DOT.html(TokenText.truncated(TokenText.quoted(step.text(i)), to: options.maxTokenCharacters))
            var label: String
            var extra = ""
            if i == 0 {
                let context = step.contextText(tokens: options.contextTokens)
                label = "<font point-size=\"8\" color=\"#555555\">\(DOT.html(context))</font><br/>"
                label += "<b>\(token)</b><br/><font point-size=\"8\">#0 root · p \(ProbabilityText.format(node.baseProbability))</font>"
                extra = ", peripheries=2"
            } else {
                label = "<b>\(token)</b><br/><font point-size=\"8\">#\(i) · q \(ProbabilityText.format(node.draftProbability)) · p \(ProbabilityText.format(node.baseProbability))"
                if let bar = node.threshold { label += " · bar \(ProbabilityText.format(bar))" }
                label += "</font>"
            }
            var border = s.border
            var penwidth = s.penwidth
            if repeated.contains(i) {
                border = Palette.repeatBorder
                penwidth = "2.5"
                extra += ", peripheries=2"
            }
            let style = s.style.isEmpty ? "rounded,filled" : "rounded,filled,\(s.style)"
            lines.append("\(indent)\(prefix)\(i) [label=<\(label)>, style=\"\(style)\", fillcolor=\"\(s.fill)\", color=\"\(border)\", fontcolor=\"\(s.font)\", penwidth=\(penwidth)\(extra)];")
        }
        // Edges in reverse order: dot lays LR graphs out top-to-bottom and rotates, so this puts rank 0 on top.
        for (i, node) in nodes.enumerated().reversed() where node.parent >= 0 {
            let accepted = onPath.contains(i) && onPath.contains(node.parent)
            let look = accepted ? ", color=\"\(Palette.acceptedEdge)\", penwidth=2.2, fontcolor=\"\(Palette.acceptedEdge)\"" : ""
            lines.append("\(indent)\(prefix)\(node.parent) -> \(prefix)\(i) [label=\"r\(node.rank)\"\(look)];")
        }
        if options.showBonus, let last = step.record.acceptedPath.last {
            let b = Palette.bonus
            let token = DOT.html(TokenText.truncated(TokenText.quoted(step.bonusText), to: options.maxTokenCharacters))
            let label = "<font point-size=\"8\">bonus</font><br/><b>\(token)</b><br/><font point-size=\"8\">p \(ProbabilityText.format(step.record.bonusProbability))</font>"
            lines.append("\(indent)\(prefix)bonus [label=<\(label)>, style=\"rounded,filled,\(b.style)\", fillcolor=\"\(b.fill)\", color=\"\(b.border)\", fontcolor=\"\(b.font)\", penwidth=\(b.penwidth)];")
            lines.append("\(indent)\(prefix)\(last) -> \(prefix)bonus [style=dashed, color=\"\(b.border)\", label=\"next\", fontcolor=\"\(b.border)\"];")
        }
        return lines
    }
}

/// Two decoders' same step side by side (SPEC §2): under Medusa every parent gets the same children; under Hydra
/// the children follow their parent. Nodes repeating a same-depth token under another parent get an orange border.
public enum ContrastDiagram {
    /// The `digraph` with one cluster per step (`cluster_a` left, `cluster_b` right), node ids `a0...`, `b0...`.
    public static func dot(_ a: StepView, _ b: StepView, options: StepDiagram.Options = StepDiagram.Options()) -> String {
        var lines = ["digraph contrast_\(a.number) {"]
        lines += StepDiagram.header()
        lines.append("  graph [labelloc=t, labeljust=l, label=<\(titleTable(a, b))>];")
        for (side, step) in [("a", a), ("b", b)] {
            lines.append("  subgraph cluster_\(side) {")
            let repeated = step.repeatedNodes
            let title = "\(step.decoder) · step \(step.number) · tau \(step.tau) · \(repeated.count) repeated"
            lines.append("    graph [label=\(DOT.quoted(title)), labelloc=t, fontsize=13, style=\"rounded\", color=\"#bbbbbb\"];")
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

    /// Title, legend and the per-depth summary table.
    static func titleTable(_ a: StepView, _ b: StepView) -> String {
        var rows = "<table border=\"0\" cellborder=\"0\" cellspacing=\"2\" cellpadding=\"2\">"
        rows += "<tr><td align=\"left\" colspan=\"7\"><font point-size=\"14\"><b>Step \(a.number): \(DOT.html(a.decoder)) vs \(DOT.html(b.decoder)) · \(DOT.html(a.rule))</b></font></td></tr>"
        let note: String
        if a.record.prefixLength == b.record.prefixLength && a.previousTexts == b.previousTexts {
            note = "same prefix (\(a.record.prefixLength) tokens cached before the root)"
        } else {
            note = "prefixes differ: \(a.decoder) has \(a.record.prefixLength) tokens cached, \(b.decoder) \(b.record.prefixLength) (earlier steps accepted different lengths)"
        }
        rows += "<tr><td align=\"left\" colspan=\"7\">\(DOT.html(note))</td></tr>"
        rows += "<tr>" + StepDiagram.legendCells(rule: a.rule == b.rule ? a.rule : "typical", repeats: true) + "</tr>"
        rows += "<tr><td colspan=\"7\" align=\"left\">" + summaryTable(a, b) + "</td></tr>"
        return rows + "</table>"
    }

    /// Per depth: nodes, accepted and repeated, for each side.
    static func summaryTable(_ a: StepView, _ b: StepView) -> String {
        let sa = Repetition.summary(a.nodes), sb = Repetition.summary(b.nodes)
        let depth = max(sa.count, sb.count)
        var t = "<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" cellpadding=\"3\" color=\"#999999\">"
        t += "<tr><td rowspan=\"2\"><b>depth</b></td><td colspan=\"3\"><b>\(DOT.html(a.decoder))</b></td><td colspan=\"3\"><b>\(DOT.html(b.decoder))</b></td></tr>"
        t += "<tr>" + String(repeating: "<td>nodes</td><td>accepted</td><td>repeated</td>", count: 2) + "</tr>"
        func cells(_ s: [DepthSummary], _ d: Int) -> String {
            guard d <= s.count else { return "<td>0</td><td>0</td><td>0</td>" }
            let x = s[d - 1]
            return "<td>\(x.nodes)</td><td>\(x.accepted)</td><td>\(x.repeated)</td>"
        }
        if depth >= 1 { for d in 1...depth { t += "<tr><td>\(d)</td>" + cells(sa, d) + cells(sb, d) + "</tr>" } }
        func total(_ s: [DepthSummary]) -> String {
            "<td><b>\(s.map(\.nodes).reduce(0, +))</b></td><td><b>\(s.map(\.accepted).reduce(0, +))</b></td><td><b>\(s.map(\.repeated).reduce(0, +))</b></td>"
        }
        t += "<tr><td><b>all</b></td>" + total(sa) + total(sb) + "</tr>"
        return t + "</table>"
    }
}

/// The tree attention mask as a picture (SPEC §3): row i is what node i attends to (itself, its ancestors, the root).
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
