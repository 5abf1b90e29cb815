import Foundation
import DraftHeads
import LanguageModel
import Numerics
import Speculation
import Visualization

extension Interpreter {
    // MARK: The compact step

    /// One step in a few lines of at most `width` columns: the tree drawn small (one row of marks per depth),
    /// the root, the accepted guesses, the bonus token, tau.
    func compact(_ r: StepRecord) -> String {
        let decoder = session.drafter.spec.decoder == .ar ? "ar" : "\(session.drafter.spec.decoder.rawValue) · \(session.drafter.proposer.treeName)"
        var lines = ["step \(r.step) · \(decoder) · \(TreeSize.describe(nodes: r.nodes.count)) · prefix \(r.prefixLength) · tau \(r.acceptance)"]
        let maxDepth = r.nodes.map(\.depth).max() ?? 0
        if maxDepth > 0 {
            let onPath = Set(r.acceptedPath)
            for d in 1...maxDepth {
                let here = r.nodes.indices.filter { r.nodes[$0].depth == d }
                let room = width - 12
                var marks = here.prefix(room).map { i -> String in
                    if onPath.contains(i) { return "●" }
                    switch r.nodes[i].outcome {
                    case .rejected: return "✗"
                    case .passed: return "○"
                    default: return "·"
                    }
                }.joined()
                if here.count > room { marks += "+\(here.count - room)" }
                let accepted = here.filter { onPath.contains($0) }.count
                lines.append("  depth \(d) " + marks + (accepted > 0 ? "" : ""))
            }
        }
        let root = workbench.quoted(r.nodes[0].token)
        let guesses = r.acceptedPath.dropFirst().map { workbench.quoted(r.nodes[$0].token) }
        var body = "  root \(root)"
        body += guesses.isEmpty ? " · no guess accepted" : " · accepted " + guesses.joined(separator: " ")
        body += " · bonus \(workbench.quoted(r.bonus))"
        lines += wrap(body, indent: 4)
        if r.emitted.count < r.acceptedPath.count { lines.append("  (emitted \(r.emitted.count): the text ends here)") }
        return lines.joined(separator: "\n")
    }

    /// Splits a line at spaces to fit `width`, continuation lines indented.
    func wrap(_ text: String, indent: Int) -> [String] {
        var lines: [String] = []
        let lead = String(text.prefix { $0 == " " })
        var current = lead
        for word in text.dropFirst(lead.count).split(separator: " ", omittingEmptySubsequences: false) {
            if current.count > lead.count && current.count + 1 + word.count > width {
                lines.append(current)
                current = String(repeating: " ", count: indent) + word
            } else {
                current += (current.count == lead.count ? "" : " ") + word
            }
        }
        if current.count > lead.count { lines.append(current) }
        return lines
    }

    // MARK: node and probs

    /// Node `N` (an index) or a rank path (`0.1`, `[0,1]`, `0,1`) of `record`.
    func nodeIndex(_ word: String, in record: StepRecord) throws -> Int {
        let cleaned = word.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if !word.contains("."), !word.contains(","), !word.hasPrefix("["), let i = Int(cleaned) {
            guard i >= 0 && i < record.nodes.count else { throw CommandError("node \(i) is not in step \(record.step)'s tree (0...\(record.nodes.count - 1))") }
            return i
        }
        let parts = cleaned.split(whereSeparator: { $0 == "." || $0 == "," || $0 == " " })
        let ranks = try parts.map { p -> Int in
            guard let r = Int(p), r >= 0 else { throw CommandError("'\(word)' is neither a node index nor a rank path like 0.1") }
            return r
        }
        var node = 0
        for rank in ranks {
            guard let child = record.nodes.indices.first(where: { record.nodes[$0].parent == node && record.nodes[$0].rank == rank }) else {
                throw CommandError("rank path \(ranks.map(String.init).joined(separator: ".")) is not in step \(record.step)'s tree")
            }
            node = child
        }
        return node
    }

    /// Ranks from the root to node `i`, and the tokens on the way (root first).
    func path(to i: Int, in r: StepRecord) -> (ranks: [Int], tokens: [Int]) {
        var ranks: [Int] = [], tokens: [Int] = []
        var j = i
        while j > 0 { ranks.insert(r.nodes[j].rank, at: 0); tokens.insert(r.nodes[j].token, at: 0); j = r.nodes[j].parent }
        return (ranks, [r.nodes[0].token] + tokens)
    }

    /// The head's distribution for the children of node `parent` of the last step: head depth+1 on the step's head
    /// state and the path to `parent` (Medusa ignores the path).
    func draftDistribution(below parent: Int, record r: StepRecord, details: StepDetails) -> [Float]? {
        guard let heads = details.drafter.heads, let embedding = workbench.embedding else { return nil }
        let k = r.nodes[parent].depth + 1
        guard k <= heads.config.heads, !details.headState.isEmpty else { return nil }
        var logits = heads.logits(head: k, hidden: details.headState, path: path(to: parent, in: r).tokens, embedding: embedding)
        logits.withUnsafeMutableBufferPointer { Ops.softmax($0.baseAddress!, n: $0.count) }
        return logits
    }

    func nodeCommand(_ args: [String]) throws -> String {
        guard args.count == 1 else { throw CommandError("node takes a node index or a rank path, e.g. node 3 or node 0.1") }
        let r = try lastStep()
        let i = try nodeIndex(args[0], in: r)
        let n = r.nodes[i]
        let (ranks, tokens) = path(to: i, in: r)
        var lines: [String] = []
        let where_ = i == 0 ? "the root (the base model's own next token)" : "depth \(n.depth), rank path \(ranks.map(String.init).joined(separator: "."))"
        lines.append("node #\(i) \(workbench.quoted(n.token)) · \(where_) · step \(r.step)")
        if i > 0 { lines += wrap("  path: " + tokens.map { workbench.quoted($0) }.joined(separator: " → "), indent: 8) }
        lines.append("  head \(n.depth > 0 ? "\(n.depth) gave it q = \(ProbabilityText.format(n.draftProbability))" : "none (the root is not guessed)") · base model p = \(ProbabilityText.format(n.baseProbability))")
        lines.append("  " + explanation(i, r))
        let details = session.details.count == session.steps.count ? session.details.last : nil
        if i > 0, let details {
            let parent = n.parent
            let baseTop = details.baseTop[parent]
            let draft = draftDistribution(below: parent, record: r, details: details)
            let draftTop = draft.map { d in d.withUnsafeBufferPointer { TokenProbability.top($0.baseAddress!, count: d.count, k: StepDetails.topCount) } }
            lines.append("  at its parent #\(parent) \(workbench.quoted(r.nodes[parent].token)):")
            lines.append("    " + "head \(n.depth)'s top (q)".padding(toLength: 34, withPad: " ", startingAt: 0) + "base model's top (p)")
            for k in 0..<StepDetails.topCount {
                let left = draftTop.flatMap { k < $0.count ? $0[k] : nil }.map { cell($0, mark: $0.token == n.token) } ?? ""
                let right = k < baseTop.count ? cell(baseTop[k], mark: baseTop[k].token == n.token) : ""
                lines.append("    " + left.padding(toLength: 34, withPad: " ", startingAt: 0) + right)
            }
            if draft == nil { lines.append("    (this drafter's distribution is not available: it reads no heads)") }
        }
        return lines.joined(separator: "\n")
    }

    func cell(_ t: TokenProbability, mark: Bool) -> String {
        let text = TokenText.truncated(workbench.quoted(t.token), to: 18)
        return (mark ? "▶ " : "  ") + text.padding(toLength: 19, withPad: " ", startingAt: 0) + " " + ProbabilityText.format(t.probability)
    }

    /// Why node `i` has its outcome, in words, with the numbers that decided it.
    func explanation(_ i: Int, _ r: StepRecord) -> String {
        let n = r.nodes[i]
        if i == 0 { return "accepted: the root is the base model's choice from the previous step (the bonus), always kept" }
        let parent = r.nodes[n.parent]
        let p = ProbabilityText.format(n.baseProbability)
        let rule = session.drafter.rule
        switch n.outcome {
        case .accepted:
            switch rule {
            case .greedy: return "accepted: it is the base model's most likely token after its parent (p = \(p))"
            case .typical: return "accepted: p = \(p) > threshold \(n.threshold.map(ProbabilityText.format) ?? "?"), and its path was the longest that passed"
            case .sample: return "accepted: drawn with probability \(n.threshold.map(ProbabilityText.format) ?? p) (p over what was left) and the coin fell below it"
            }
        case .rejected:
            switch rule {
            case .greedy: return "rejected: the base model preferred another token after its parent \(workbench.quoted(parent.token)) (this one has p = \(p))"
            case .typical: return "rejected: p = \(p) is not above the threshold min(eps, delta·exp(-H)) = \(n.threshold.map(ProbabilityText.format) ?? "?")"
            case .sample: return "rejected: tried with acceptance probability \(n.threshold.map(ProbabilityText.format) ?? "?") and the coin fell above it"
            }
        case .passed:
            return "passed: p = \(p) > threshold \(n.threshold.map(ProbabilityText.format) ?? "?"), but another path was longer (or as long with a higher log p)"
        case .notReached:
            return "not reached: its parent \(workbench.quoted(parent.token)) (#\(n.parent)) was not accepted, so it was never judged"
        }
    }

    func probsCommand(_ args: [String]) throws -> String {
        let r = try lastStep()
        let i = try args.first.map { try nodeIndex($0, in: r) } ?? 0
        guard args.count <= 1 else { throw CommandError("probs takes at most one node") }
        guard session.details.count == session.steps.count, let details = session.details.last else { throw CommandError("no distributions kept for this step") }
        var lines = ["below node #\(i) \(workbench.quoted(r.nodes[i].token)) (step \(r.step)): the base model's next-token distribution (p)"]
        let children = Set(r.nodes.filter { $0.parent == i }.map(\.token))
        func bars(_ top: [TokenProbability]) {
            for t in top {
                let label = TokenText.truncated(workbench.quoted(t.token), to: 16).padding(toLength: 17, withPad: " ", startingAt: 0)
                lines.append("  " + (children.contains(t.token) ? "▶" : " ") + label + String(format: " %6.3f ", t.probability) + bar(Double(t.probability), width - 30))
            }
        }
        bars(details.baseTop[i])
        if let draft = draftDistribution(below: i, record: r, details: details) {
            lines.append("head \(r.nodes[i].depth + 1)'s guess for the next token (q)\(session.drafter.heads?.config.kind.isSequential == true ? ", given the path to #\(i)" : ", the same under every parent (Medusa)")")
            bars(draft.withUnsafeBufferPointer { TokenProbability.top($0.baseAddress!, count: draft.count, k: StepDetails.topCount) })
        } else {
            lines.append("(no head drafts below node #\(i))")
        }
        lines.append("▶ marks tokens drafted as children of #\(i)")
        return lines.joined(separator: "\n")
    }

    // MARK: mask, kv, cost

    func maskCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("mask takes no argument") }
        let r = try lastStep()
        let n = r.nodes.count
        let labelWidth = 22
        let columns = max(1, min(n, width - labelWidth - 6))
        var lines = ["tree attention mask of step \(r.step): row i sees column j (█) when j is i or an ancestor; every row also sees the \(r.prefixLength) prefix slots"]
        let pad = "".padding(toLength: labelWidth, withPad: " ", startingAt: 0)
        if columns > 10 { lines.append("     " + pad + (0..<columns).map { $0 % 10 == 0 ? String($0 / 10 % 10) : " " }.joined()) }
        lines.append("pos  " + pad + (0..<columns).map { String($0 % 10) }.joined())
        let onPath = Set(r.acceptedPath)
        for i in 0..<n {
            var seen = Set<Int>()
            var j = i
            while j >= 0 && j < n && !seen.contains(j) { seen.insert(j); j = r.nodes[j].parent }
            let label = "#\(i) " + TokenText.truncated(workbench.quoted(r.nodes[i].token), to: labelWidth - 6) + (onPath.contains(i) ? " ●" : "")
            let row = (0..<columns).map { seen.contains($0) ? "█" : "·" }.joined()
            lines.append(String(format: "%-4d ", r.prefixLength + r.nodes[i].depth) + label.padding(toLength: labelWidth, withPad: " ", startingAt: 0) + row)
        }
        if columns < n { lines.append("(columns \(columns)...\(n - 1) cut to fit \(width) columns; `diagram` draws the whole mask)") }
        lines.append("pos: position id = prefix \(r.prefixLength) + depth; ● the accepted path")
        return lines.joined(separator: "\n")
    }

    func kvCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("kv takes no argument") }
        let r = try lastStep()
        let p = r.prefixLength, n = r.nodes.count
        var lines = ["KV cache through step \(r.step):"]
        lines.append("  before: \(p) slots (prompt + emitted tokens)")
        lines.append("  verify: \(p + n) slots (the \(TreeSize.describe(nodes: n)) written at \(p)...\(p + n - 1))")
        lines.append("  after:  \(p + r.acceptedPath.count) slots (the accepted path kept right after the prefix, the rest dropped)")
        for (k, i) in r.acceptedPath.enumerated() {
            let from = p + i, to = p + k
            lines.append("    slot \(from) → \(to)  #\(i) \(workbench.quoted(r.nodes[i].token))" + (from == to ? " (stays)" : " (moved)"))
        }
        lines.append("  now: \(session.prefixLength) slots; the pending root \(workbench.quoted(session.pendingRoot)) is written by the next step")
        return lines.joined(separator: "\n")
    }

    func costCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("cost takes no argument") }
        let r = try lastStep()
        let d = session.drafter
        let heads = d.heads
        let profile = ModelProfile(name: workbench.modelName, parameters: Double(workbench.parameterCount), bytesPerParameter: 4,
                                   headParameters: Double(heads.map { $0.namedTensors.reduce(0) { $0 + $1.tensor.count } } ?? 0),
                                   heads: heads?.config.heads ?? 1)
        let cost = CostModel(device: .cpu, model: profile)
        let rows = [Int](repeating: 1, count: r.nodes.map(\.depth).max() ?? 0)
        var lines = ["step \(r.step): \(TreeSize.describe(nodes: r.nodes.count)), tau \(r.acceptance)"]
        if let draft = r.draftSeconds, let verify = r.verifySeconds {
            lines.append(String(format: "  measured: draft %.2f ms, verify %.2f ms (one pass over %d tokens)", draft * 1e3, verify * 1e3, r.nodes.count))
        }
        let step = cost.forwardSeconds(tokens: r.nodes.count) + cost.draftSeconds(rowsPerDepth: rows)
        lines.append(String(format: "  cost model (cpu preset): a one-token pass %.2f ms; this step %.2f ms = %.2f one-token passes",
                            cost.forwardSeconds(tokens: 1) * 1e3, step * 1e3, step / cost.forwardSeconds(tokens: 1)))
        lines.append(String(format: "  projected speedup at this tau: %.2fx; at the session's tau %.2f: %.2fx",
                            cost.speedup(tau: Double(r.acceptance), treeNodes: r.nodes.count, rowsPerDepth: rows), session.meanAcceptance,
                            cost.speedup(tau: session.meanAcceptance, treeNodes: r.nodes.count, rowsPerDepth: rows)))
        lines.append("  (hydrasim cost --measure and hydrasim bench measure this machine)")
        return lines.joined(separator: "\n")
    }

    // MARK: Comparing

    /// Options of `compare` and `diagram`: `--name value` pairs and positional words.
    func options(_ args: [String], allowed: [String]) throws -> (values: [String: String], positional: [String]) {
        var values: [String: String] = [:], positional: [String] = []
        var i = 0
        while i < args.count {
            let word = args[i]
            if word.hasPrefix("--") {
                let name = String(word.dropFirst(2))
                guard allowed.contains(name) else {
                    throw CommandError("unknown option \(word) (\(allowed.map { "--\($0)" }.joined(separator: ", ")))")
                }
                guard i + 1 < args.count else { throw CommandError("\(word) needs a value") }
                values[name] = args[i + 1]
                i += 2
            } else {
                positional.append(word)
                i += 1
            }
        }
        return (values, positional)
    }

    /// The spec for another decoder on the current prefix.
    func otherSpec(_ name: String, heads: String?, tree: String?) throws -> DecoderSpec {
        var other = spec
        other.decoder = try DecoderKind.parse(name)
        other.heads = other.decoder == spec.decoder ? (heads ?? spec.heads) : heads
        if let tree { other.tree = tree }
        return other
    }

    /// Both decoders draft the current prefix; their records as trace views (with token texts).
    func forks(_ other: DecoderSpec) throws -> (StepView, StepView) {
        let a = try session.draft(with: session.drafter)
        let otherDrafter: Drafter
        do { otherDrafter = try workbench.drafter(other) } catch let e as DecoderSpecError { throw CommandError(e.problem) }
        let b = try session.draft(with: otherDrafter)
        func view(_ record: StepRecord, _ d: Drafter) throws -> StepView {
            let settings = TraceSettings(model: workbench.modelName, modelFingerprint: workbench.fingerprint, heads: d.headsPath, headsKind: d.heads?.config.kind.rawValue,
                                         tree: d.spec.decoder == .ar ? "none" : d.proposer.treeName, treeNodes: d.proposer.maxNodeCount, rule: d.rule, seed: seed, maxTokens: 0)
            let result = SpeculativeResult(tokens: session.tokens + record.emitted, steps: [record], stopReason: .maxSteps, promptSeconds: 0, generationSeconds: 0)
            var trace = DecodingTrace(decoder: d.spec.decoder.rawValue, settings: settings, prompt: promptText, promptTokens: session.prompt, result: result,
                                      tokenizer: workbench.tokenizer, timings: false)
            trace.tokenTexts = trace.tokens.map { workbench.tokenizer.pieceText($0) }
            guard let step = TraceView(trace).steps.first else { throw CommandError("nothing was drafted") }
            return step
        }
        return (try view(a, session.drafter), try view(b, otherDrafter))
    }

    func compareCommand(_ args: [String]) throws -> String {
        let full = args.contains("--full")
        let (values, positional) = try options(args.filter { $0 != "--full" }, allowed: ["heads", "tree"])
        guard positional.count == 1 else { throw CommandError("compare takes a decoder (\(DecoderKind.allCases.map(\.rawValue).joined(separator: ", "))), e.g. compare hydra++") }
        let other = try otherSpec(positional[0], heads: values["heads"], tree: values["tree"])
        let (a, b) = try forks(other)
        var text = full ? TextTrace(color: color, width: width).contrast(a, b).trimmingCharacters(in: .newlines) : sideBySide(a, b)
        text += "\n" + wrap("(both drafted the same prefix of \(session.prefixLength) tokens; the session did not move\(full ? "" : "; compare --full for every node"))", indent: 1).joined(separator: "\n")
        return text
    }

    /// Two forks of one prefix in two columns: the trees drawn small (● accepted, ✗ rejected, · not reached, r a
    /// token repeated at its depth under another parent), per depth the accepted count and the repeats, then what each accepted.
    func sideBySide(_ a: StepView, _ b: StepView) -> String {
        let column = max(20, (width - 12) / 2)
        func marks(_ v: StepView, depth d: Int) -> String {
            let r = v.record
            let onPath = Set(r.acceptedPath), repeated = v.repeatedNodes
            let here = r.nodes.indices.filter { r.nodes[$0].depth == d }
            var text = here.prefix(column - 4).map { i -> String in
                if onPath.contains(i) { return "●" }
                if repeated.contains(i) { return "r" }
                switch r.nodes[i].outcome {
                case .rejected: return "✗"
                case .passed: return "○"
                default: return "·"
                }
            }.joined()
            if here.count > column - 4 { text += "+\(here.count - (column - 4))" }
            return text
        }
        func pad(_ text: String) -> String { text.count >= column ? text : text + String(repeating: " ", count: column - text.count) }
        var lines = ["step \(a.number) on the same prefix (\(a.record.prefixLength) tokens), root \(workbench.quoted(a.record.nodes[0].token))"]
        lines.append("          " + pad("\(a.decoder) · \(a.view.trace.settings.tree)") + "\(b.decoder) · \(b.view.trace.settings.tree)")
        let depth = max(a.nodes.map(\.depth).max() ?? 0, b.nodes.map(\.depth).max() ?? 0)
        if depth > 0 {
            for d in 1...depth { lines.append("  depth \(d) " + pad(marks(a, depth: d)) + marks(b, depth: d)) }
            func summary(_ v: StepView) -> String {
                Repetition.summary(v.nodes).map { "\($0.accepted)/\($0.nodes)" + ($0.repeated > 0 ? " r\($0.repeated)" : "") }.joined(separator: "  ")
            }
            lines.append("  per depth " + pad(summary(a)) + summary(b))
        }
        func accepted(_ v: StepView) -> String {
            let guesses = v.record.acceptedPath.dropFirst().map { workbench.quoted(v.record.nodes[$0].token) }
            return guesses.isEmpty ? "no guess" : guesses.joined(separator: " ")
        }
        lines.append("  accepts " + pad(accepted(a)) + accepted(b))
        lines.append("  tau     " + pad("\(a.tau)") + "\(b.tau)")
        lines += wrap("  (● accepted, ✗ rejected, · not reached, r the same token at that depth under another parent; per depth: accepted/drafted)", indent: 3)
        return lines.joined(separator: "\n")
    }

    /// A relative output path goes under `outputFolder` (created if needed).
    func outputPath(_ file: String) throws -> String {
        if file.hasPrefix("/") { return file }
        try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        return URL(fileURLWithPath: outputFolder).appendingPathComponent(file).path
    }

    func diagramCommand(_ args: [String]) throws -> String {
        let (values, positional) = try options(args, allowed: ["contrast", "format"])
        guard positional.count <= 1 else { throw CommandError("diagram takes at most one file name") }
        let formatName = values["format"] ?? positional.first.map { URL(fileURLWithPath: $0).pathExtension }.flatMap { $0.isEmpty ? nil : $0 } ?? "svg"
        guard formatName == "dot" || RenderFormat(rawValue: formatName) != nil else {
            throw CommandError("--format takes svg, png, pdf or dot, got '\(formatName)'")
        }
        let dot: String
        let name: String
        if let contrast = values["contrast"] {
            let (a, b) = try forks(try otherSpec(contrast, heads: nil, tree: nil))
            dot = ContrastDiagram.dot(a, b)
            name = "contrast-\(session.position + 1).\(formatName)"
        } else {
            dot = StepDiagram.dot(try lastStepView())
            name = "step-\(session.position).\(formatName)"
        }
        let path = try outputPath(positional.first ?? name)
        let data = formatName == "dot" ? Data(dot.utf8) : try GraphvizRenderer.shared.render(dot, format: RenderFormat(rawValue: formatName)!)
        try AtomicFile.write(data, to: path)
        return "wrote \(path) (\(data.count) bytes)"
    }

    func htmlCommand(_ args: [String]) throws -> String {
        guard args.count <= 1 else { throw CommandError("html takes at most one file name") }
        guard !session.steps.isEmpty else { throw CommandError("no step yet: type step") }
        let path = try outputPath(args.first ?? "session.html")
        let page = try StepThroughPage.build([TraceView(sessionTrace())], title: "HydraSim session: \(TokenText.quoted(promptText))")
        let html = page.html()
        try AtomicFile.write(Data(html.utf8), to: path)
        return "wrote \(path) (\(session.steps.count) steps)"
    }

    func saveTraceCommand(_ args: [String]) throws -> String {
        guard args.count == 1 else { throw CommandError("save-trace takes a file name") }
        let path = try outputPath(args[0])
        try sessionTrace().write(to: path)
        return "wrote \(path) (\(session.steps.count) steps)"
    }
}
