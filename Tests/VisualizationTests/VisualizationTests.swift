import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import CZlib
import DraftHeads
import LanguageModel
import Numerics
import Speculation
@testable import Visualization

/// Counts SVG elements and collects text: `<g class="node">` groups, `<text>` contents.
final class SVGScan: NSObject, XMLParserDelegate {
    var nodeGroups: [String] = []
    var texts: [String] = []
    var rootIsSVG = false
    private var depth = 0
    private var inText = false
    private var inTitle = false
    private var pendingNode = false
    private var currentText = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if depth == 0 { rootIsSVG = name == "svg" }
        depth += 1
        if name == "g", attributes["class"] == "node" { pendingNode = true }
        if name == "title", pendingNode { inTitle = true; currentText = "" }
        if name == "text" { inText = true; currentText = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText || inTitle { currentText += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        depth -= 1
        if name == "text" { texts.append(currentText); inText = false }
        if name == "title", inTitle { nodeGroups.append(currentText); inTitle = false; pendingNode = false }
    }

    /// Parses `data`; nil when it is not well-formed XML.
    static func scan(_ data: Data) -> SVGScan? {
        let parser = XMLParser(data: data)
        let scan = SVGScan()
        parser.delegate = scan
        return parser.parse() ? scan : nil
    }
}

@Suite("Visualization")
struct VisualizationTests {
    // MARK: Text

    @Test("token texts are made visible: whitespace, controls, quotes and backslashes spelled out; the rest kept")
    func visibleText() {
        #expect(TokenText.visible(" the") == "␣the")
        #expect(TokenText.visible("a\nb\tc\rd") == "a\\nb\\tc\\rd")
        #expect(TokenText.visible("\u{1B}[0m") == "\\u{1B}[0m")
        #expect(TokenText.visible("say \"hi\" \\o/") == "say␣\\\"hi\\\"␣\\\\o/")
        #expect(TokenText.visible("café ☕ {x} <y> a|b") == "café␣☕␣{x}␣<y>␣a|b")
        #expect(TokenText.visible("\u{200B}") == "\\u{200B}")   // zero-width space: invisible, so spelled out
        #expect(TokenText.quoted("") == "\"\"")
        #expect(DOT.html("<a & \"b\"> \\N") == "&lt;a &amp; &quot;b&quot;&gt; \\\\N")
        #expect(DOT.quoted("say \"hi\"\n\\") == "\"say \\\"hi\\\"\\n\\\\\"")
        #expect(DOT.quoted("&amp; &#92;") == "\"&amp;amp; &amp;#92;\"")
    }

    @Test("the text trace shows the tree, outcomes, accepted path, bonus and emitted text; colour only when asked")
    func textTrace() throws {
        let step = try Toy.view.step(2)
        let plain = TextTrace(color: false, width: 100).step(step)
        #expect(!plain.contains("\u{1B}"))
        let lines = plain.split(separator: "\n").map(String.init)
        #expect(lines[0] == "step 2 · medusa · greedy · root + 8 draft nodes · prefix 5 tokens · tau 3")
        #expect(lines[1] == "  context: …{upon}␣a␣<time>|␣the|␣king")
        // Depth-first, rank order; accepted nodes marked; every awkward token escaped.
        #expect(lines[2].contains("◆ \"line\\nbreak\"") && lines[2].contains("#0 root") && lines[2].hasSuffix("accepted"))
        #expect(lines[3].hasPrefix("  ├─ ◆ \"back\\\\slash\"") && lines[3].contains("#1   r0  q 0.500  p 0.500  accepted"))
        #expect(lines[4].hasPrefix("  │  ├─   \"{brace}\"") && lines[4].hasSuffix("rejected"))
        #expect(lines[5].hasPrefix("  │  └─ ◆ \"café␣☕\"") && lines[5].hasSuffix("accepted"))
        #expect(lines[6].hasPrefix("  │     ├─   \"\\ttab\""))
        #expect(lines[8].hasPrefix("  └─   \"\"") && lines[8].contains("#2 ") && lines[8].contains("p 0      rejected"))
        #expect(lines[10].hasPrefix("        └─   \"&amp;\"") && lines[10].hasSuffix("not reached"))
        // Stats start in one column whatever the depth.
        func statsColumn(_ line: String) -> Int { line.distance(from: line.startIndex, to: line.range(of: " #")!.lowerBound) }
        for i in 3...10 { #expect(statsColumn(lines[i]) == statsColumn(lines[2]), "line \(i): \(lines[i])") }
        #expect(lines[11] == "  bonus \"&amp;\" (p 0.500): the base model's next token, the next step's root")
        #expect(lines[12] == "  emitted: \"line\\nbreak\" \"back\\\\slash\" \"café␣☕\"")

        let coloured = TextTrace(color: true, width: 100).step(step)
        #expect(coloured.contains("\u{1B}[32m"))   // accepted in green
        #expect(coloured.contains("\u{1B}[31m"))   // rejected in red

        // A run: every step, the text so far, running and total tau; the unknown bonus text shows as its id.
        let run = TextTrace(color: false, width: 100).run(Toy.view)
        #expect(run.contains("step 1 ·") && run.contains("step 2 ·") && run.contains("step 3 ·"))
        #expect(run.contains("tau so far: 2.50"))
        #expect(run.contains("bonus \"#13\""))
        #expect(run.contains("3 steps, 6 tokens, tau 2.00"))
        #expect(run.contains("text so far: \"␣the␣kingline\\nbreakback\\\\slashcafé␣☕&amp;\""))
    }

    @Test("narrow widths wrap every line of a trace, without losing words")
    func wrapping() throws {
        for width in [40, 60, 72] {
            let printer = TextTrace(color: false, width: width)
            let text = printer.run(Toy.view, markRepeats: true)
            for line in text.split(separator: "\n") { #expect(line.count <= width, "width \(width): \(line)") }
            #expect(text.contains("not reached"))
        }
        let long = TextTrace(color: false, width: 40).wrap("  emitted: " + String(repeating: "word ", count: 30), indent: 11)
        #expect(long.count > 1 && long.allSatisfy { $0.count <= 40 })
        #expect(long.joined(separator: " ").split(separator: " ").filter { $0 == "word" }.count == 30)
    }

    @Test("--color auto: colour only on a terminal, with TERM not dumb and NO_COLOR unset")
    func colorChoice() {
        #expect(ColorChoice.auto.enabled(environment: ["TERM": "xterm"], isTerminal: true))
        #expect(!ColorChoice.auto.enabled(environment: ["TERM": "xterm"], isTerminal: false))
        #expect(!ColorChoice.auto.enabled(environment: ["TERM": "dumb"], isTerminal: true))
        #expect(!ColorChoice.auto.enabled(environment: ["TERM": "xterm", "NO_COLOR": ""], isTerminal: true))
        #expect(ColorChoice.always.enabled(environment: ["NO_COLOR": "1"], isTerminal: false))
        #expect(!ColorChoice.never.enabled(environment: [:], isTerminal: true))
    }

    // MARK: DOT

    @Test("golden DOT for the toy steps: exact bytes, awkward token texts escaped")
    func goldenDOT() throws {
        #expect(StepDiagram.dot(try Toy.view.step(1)) == Golden.step1)
        #expect(StepDiagram.dot(try Toy.view.step(2)) == Golden.step2)
        // Same input, same bytes.
        #expect(StepDiagram.dot(try Toy.view.step(2)) == StepDiagram.dot(try TraceView(Toy.trace()).step(2)))
    }

    @Test("a step that does not exist is a clear error")
    func missingStep() throws {
        #expect(throws: VisualizationError("step 4 does not exist: the medusa trace has steps 1...3")) { try Toy.view.step(4) }
        #expect(throws: VisualizationError("step 0 does not exist: the medusa trace has steps 1...3")) { try Toy.view.step(0) }
        #expect(throws: VisualizationError("the medusa trace has no steps (nothing was generated)")) { try TraceView(Toy.trace(steps: [])).step(1) }
    }

    // MARK: Rendering

    @Test("rendering gives well-formed SVG with one node per tree node plus the bonus, showing the escaped texts")
    func svg() throws {
        for n in 1...3 {
            let step = try Toy.view.step(n)
            let data = try GraphvizRenderer.shared.render(StepDiagram.dot(step), format: .svg)
            let scan = try #require(SVGScan.scan(data), "step \(n): not well-formed XML")
            #expect(scan.rootIsSVG)
            #expect(scan.nodeGroups.count == step.nodes.count + 1)
            #expect(Set(scan.nodeGroups) == Set(step.nodes.indices.map { "n\($0)" } + ["nbonus"]))
        }
        // What a reader sees: visible escapes exactly once (Graphviz's own `\\` and `\N` processing undone).
        let texts = SVGScan.scan(try GraphvizRenderer.shared.render(StepDiagram.dot(try Toy.view.step(2)), format: .svg))!.texts
        for expected in ["\"line\\nbreak\"", "\"back\\\\slash\"", "\"\\ttab\"", "\"café␣☕\"", "\"&amp;\"", "\"a|b\"", "\"{brace}\"", "\"\""] {
            #expect(texts.contains(expected), "\(expected) not in \(texts)")
        }
        let step1 = SVGScan.scan(try GraphvizRenderer.shared.render(StepDiagram.dot(try Toy.view.step(1)), format: .svg))!.texts
        #expect(step1.contains("\"\\\"quoted\\\"\""))
        #expect(step1.contains("\"<tag>\""))
        #expect(step1.contains("…{upon}␣a␣<time>"))
    }

    @Test("PNG has the PNG signature; PDF starts with %PDF")
    func png() throws {
        let dot = StepDiagram.dot(try Toy.view.step(2))
        let png = try GraphvizRenderer.shared.render(dot, format: .png)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(png.count > 1000)
        let pdf = try GraphvizRenderer.shared.render(dot, format: .pdf)
        #expect(pdf.starts(with: Array("%PDF".utf8)))
    }

    @Test("malformed DOT: Graphviz's own message is the error; the renderer keeps working afterwards")
    func malformed() throws {
        do {
            _ = try GraphvizRenderer.shared.render("digraph { a -> }", format: .svg)
            Issue.record("a malformed graph rendered")
        } catch let error as GraphvizError {
            #expect(error.message.hasPrefix("syntax error in line"), "\(error.message)")
            #expect(error.message.hasSuffix("near '}'"))
            #expect(!error.message.contains("\n"))
        }
        #expect(throws: GraphvizError.self) { try GraphvizRenderer.shared.render("", format: .svg) }
        do {
            _ = try GraphvizRenderer.shared.render("digraph { a -> b }", format: .svg, engine: "nope")
            Issue.record("an unknown layout engine worked")
        } catch let error as GraphvizError {
            #expect(error.message.contains("\"nope\" not recognized"), "\(error.message)")
        }
        let ok = try GraphvizRenderer.shared.render("digraph { a -> b }", format: .svg)
        #expect(SVGScan.scan(ok)?.nodeGroups.sorted() == ["a", "b"])
        // Every graph read was closed again (its name table freed), including the one that failed to lay out.
        #expect(GraphvizRenderer.openGraphs() == 0)
    }

    @Test("the same DOT renders to the same bytes every time (clusters included), shared or fresh context")
    func deterministicRendering() throws {
        let b = TraceView(Toy.trace(decoder: "hydra", steps: [Toy.step1, Toy.step2]))
        let fresh = GraphvizRenderer(freshContextPerRender: true)
        for dot in [ContrastDiagram.dot(try Toy.view.step(1), try b.step(1)), ContrastDiagram.dot(try Toy.view.step(2), try b.step(2)),
                    StepDiagram.dot(try Toy.view.step(2))] {
            // Graphviz's default ID discipline orders clusters by heap address: this failed before names were numbered.
            let renders = try (0..<4).map { _ in try GraphvizRenderer.shared.render(dot, format: .svg) } + (0..<2).map { _ in try fresh.render(dot, format: .svg) }
            #expect(Set(renders).count == 1)
        }
    }

    // MARK: Contrast and mask

    @Test("repeated tokens: a hand-checked fork, and Medusa on a real model repeats every depth-2 token of fork-2x2")
    func repetition() throws {
        // Toy step 1: `<tag>` at depth 2 under both " king" (#1) and "\"quoted\"" (#2).
        #expect(Repetition.repeatedNodes(Toy.step1.nodes) == [3, 4])
        // Toy step 2: "back\\slash" appears at depths 1 and 3 (different depths: not a repeat), nothing else repeats.
        #expect(Repetition.repeatedNodes(Toy.step2.nodes).isEmpty)
        #expect(Repetition.summary(Toy.step1.nodes) == [DepthSummary(depth: 1, nodes: 2, accepted: 1, repeated: 0),
                                                        DepthSummary(depth: 2, nodes: 2, accepted: 0, repeated: 2)])

        let dot = ContrastDiagram.dot(try Toy.view.step(1), try Toy.view.step(2))
        #expect(dot.contains("subgraph cluster_a {") && dot.contains("subgraph cluster_b {"))
        let orange = dot.split(separator: "\n").filter { $0.contains("color=\"\(Palette.repeatBorder)\"") && $0.contains("[label=") }
        #expect(orange.map { $0.trimmingCharacters(in: .whitespaces).split(separator: " ")[0] } == ["a3", "a4"])
        // The per-depth table in the title: depth, then nodes/accepted/repeated for each side.
        let title = try #require(dot.split(separator: "\n").first { $0.contains("graph [labelloc=t") })
        let rows = title.components(separatedBy: "\\l").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains(["1", "2", "1", "0", "2", "1", "0"]))
        #expect(rows.contains(["2", "2", "0", "2", "3", "1", "0"]))
        #expect(rows.contains(["3", "0", "0", "0", "3", "0", "0"]))
        #expect(rows.contains(["all", "4", "1", "2", "8", "2", "0"]))
        #expect(dot.contains("prefixes differ"))
        let svg = try GraphvizRenderer.shared.render(dot, format: .svg)
        let scan = try #require(SVGScan.scan(svg))
        #expect(scan.nodeGroups.count == 5 + 1 + 9 + 1)

        // A real (tiny, random) model with fresh Medusa heads: each head's top-k is the same list under every parent.
        let config = ModelConfig(dim: 16, hiddenDim: 32, layers: 1, heads: 2, kvHeads: 1, vocabularySize: 40, maxSequenceLength: 64)
        let weights = TransformerWeights(random: config, seed: 3)
        var rng = XorShiftRandom(seed: 2)
        for i in 0..<weights.tokenEmbedding.count { weights.tokenEmbedding[i] = rng.nextGaussian() }
        let model = Transformer(weights: weights)
        let tree = try CandidateTree.load("fork-2x2", presetFolder: nil)
        let medusa = try SpeculativeDecoder(model: model, heads: DraftHeadSet(kind: .medusa, heads: 2, blocks: 1, base: weights), tree: tree)
        let hydraHeads = DraftHeadSet(kind: .hydra, heads: 2, blocks: 1, base: weights)
        for (name, t) in hydraHeads.namedTensors where !name.contains("rms_") { for i in 0..<t.count { t[i] += 1.5 * rng.nextGaussian() } }
        let hydra = try SpeculativeDecoder(model: model, heads: hydraHeads, tree: tree)
        let settings = TraceSettings(model: "random", modelFingerprint: "", heads: nil, headsKind: nil, tree: "fork-2x2", treeNodes: 5,
                                     rule: .greedy, seed: 42, maxTokens: 12)
        func view(_ decoder: SpeculativeDecoder, _ name: String) throws -> TraceView {
            let result = try decoder.generate(prompt: [1, 5, 6], maxTokens: 12)
            return TraceView(DecodingTrace(decoder: name, settings: settings, prompt: "", promptTokens: [1, 5, 6], result: result,
                                           tokenizer: Toy.FakeTokenizer40(), timings: false))
        }
        let m = try view(medusa, "medusa"), h = try view(hydra, "hydra")
        for step in m.steps where step.nodes.count == 5 {
            #expect(step.repeatedNodes == [3, 4], "Medusa step \(step.number): \(step.nodes.map(\.token))")
        }
        var hydraDiffers = false
        for step in h.steps where step.nodes.count == 5 {
            let differs = step.nodes[3].token != step.nodes[4].token
            #expect(step.repeatedNodes == (differs ? [] : [3, 4]))
            hydraDiffers = hydraDiffers || differs
        }
        #expect(hydraDiffers, "Hydra's children follow their parent: some step should draft different tokens under the two parents")
        _ = try GraphvizRenderer.shared.render(ContrastDiagram.dot(try m.step(1), try h.step(1)), format: .svg)
    }

    @Test("the mask picture has a dark cell exactly where the tree mask attends")
    func mask() throws {
        let tree = try CandidateTree.load("binary-3", presetFolder: nil)
        let dot = MaskDiagram.dot(parents: tree.parents, labels: [], title: "binary-3")
        let attended = tree.attentionMask.flatMap { $0 }.filter { $0 }.count
        #expect(dot.components(separatedBy: "bgcolor=\"#1f2937\"").count - 1 == attended)
        #expect(dot.components(separatedBy: "bgcolor=\"#eeeeee\"").count - 1 == tree.nodeCount * tree.nodeCount - attended)
        // Row 1 of the toy step 2 (node #1): attends to the root and itself only; accepted rows are green.
        let toy = MaskDiagram.dot(try Toy.view.step(2))
        #expect(toy.contains(#"#1 &quot;back\\\\slash&quot;"#))
        #expect(toy.components(separatedBy: "bgcolor=\"#1b7a43\"").count - 1 == 1 + 2 + 3)   // rows #0, #1, #4 of the accepted path
        let svg = try GraphvizRenderer.shared.render(toy, format: .svg)
        #expect(SVGScan.scan(svg)?.rootIsSVG == true)
    }

    // MARK: HTML

    @Test("the HTML step-through is self-contained and lists every step of both runs")
    func html() throws {
        let a = Toy.view, b = TraceView(Toy.trace(decoder: "hydra", steps: [Toy.step1, Toy.step2]))
        let html = try StepThroughPage.build([a, b]).html()
        for forbidden in ["http://", "https://", "src=", "<link", "@import", "url("] {
            #expect(!html.contains(forbidden), "found \(forbidden)")
        }
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 3 + 2 + 2)   // steps, contrasts (the mask is drawn by the script)
        // The mask view follows the slider: the script has every step's tree, titled with its own step number.
        #expect(html.contains("<div class=\"diagram\" id=\"mask\"></div>"))
        for s in 1...2 { #expect(html.contains("medusa step \(s) (root + ")) }
        #expect(html.contains("medusa step 3 (root only)"))
        #expect(html.contains("\"parents\":[-1,0,0,1,2]"))               // step 1's fork-2x2
        #expect(html.contains("\"parents\":[-1,0,0,1,1,2,4,4,5]"))       // step 2's own tree
        #expect(html.contains("\"accepted\":[0,1,4]"))
        for s in 1...3 {
            #expect(html.contains("<tr data-row=\"\(s)\">"))
            #expect(html.contains("<section class=\"step\" data-step=\"\(s)\">"))
        }
        #expect(html.components(separatedBy: "<section class=\"step\" data-step=").count - 1 == 3 + 2 + 2)
        // Emitted tokens, one span each, escaped; the prompt shown; tau data for the script.
        #expect(html.components(separatedBy: "class=\"tok ").count - 1 == 6 + 5)
        #expect(html.contains(">&amp;amp;</span>"))
        #expect(html.contains("Once {upon} a &lt;time&gt;"))
        #expect(html.contains("\"tau\":[2,3,1]"))
        #expect(html.contains("hydra finished after 2 steps"))
        // Deterministic.
        #expect(html == (try StepThroughPage.build([a, b]).html()))
    }

    @Test("a big page stores each step's sections deflated, and they inflate back to the plain page's sections")
    func deflatedPage() throws {
        let a = Toy.view, b = TraceView(Toy.trace(decoder: "hydra", steps: [Toy.step1, Toy.step2]))
        let plain = try StepThroughPage.build([a, b])
        var small = plain
        small.compressAbove = 0
        let html = small.html()
        #expect(!html.contains("<svg"))
        #expect(html.components(separatedBy: " data-z=\"").count - 1 == 3 + 2 + 2)
        #expect(html == small.html())                       // deterministic
        // Each deflated section is the plain page's section, byte for byte.
        let plainHTML = plain.html()
        let pieces = html.components(separatedBy: " data-z=\"").dropFirst()
        for piece in pieces {
            let b64 = String(piece.prefix { $0 != "\"" })
            let data = try #require(Data(base64Encoded: b64))
            let inner = try #require(Inflate.text(data))
            #expect(plainHTML.contains(inner))
        }
    }

    @Test("the trace bundle is written completely or not at all, and never over an existing folder")
    func bundle() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("viz-bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("run").path
        let b = TraceView(Toy.trace(decoder: "hydra++", steps: [Toy.step1, Toy.step2]))
        let summary = try TraceBundle.write([Toy.view, b], to: out)
        let files = Set(summary.files)
        for name in ["medusa.trace.json", "hydra++.trace.json", "trace.txt", "index.html", "mask.svg", "contrast-001.svg", "contrast-002.svg",
                     "medusa/step-001.dot", "medusa/step-003.svg", "hydra++/step-002.svg"] {
            #expect(files.contains(name), "\(name) missing")
        }
        #expect(!files.contains("contrast-003.svg"))
        #expect(try DecodingTrace.read(out + "/medusa.trace.json") == Toy.view.trace)
        #expect(try String(contentsOfFile: out + "/medusa/step-002.dot", encoding: .utf8) == Golden.step2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["run"])   // no temporary folder left
        // A second write into the same folder is refused and changes nothing.
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/index.html"))
        #expect(throws: VisualizationError.self) { try TraceBundle.write([Toy.view], to: out) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/index.html")) == before)
        #expect(throws: VisualizationError.self) { try TraceBundle.write([Toy.view, Toy.view], to: root.appendingPathComponent("x").path) }
        #expect(throws: VisualizationError.self) { try TraceBundle.write([TraceView(Toy.trace(decoder: "../evil"))], to: root.appendingPathComponent("y").path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["run"])
    }
}

/// zlib's uncompress, for checking deflated page sections.
enum Inflate {
    static func text(_ data: Data) -> String? {
        var size = uLong(data.count * 50 + 1024)
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBytes { uncompress(o.baseAddress!, &size, $0.bindMemory(to: UInt8.self).baseAddress!, uLong(data.count)) }
        }
        guard status == Z_OK else { return nil }
        return String(decoding: out[..<Int(size)], as: UTF8.self)
    }
}
