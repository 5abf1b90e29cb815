import CZlib
import Foundation
import Speculation

/// Escaping for HTML text and attribute values.
public enum HTML {
    /// `&`, `<`, `>`, `"` and `'` as entities.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Graphviz SVG made fit for inlining in HTML: no XML prolog, doctype or comments, no namespace URLs (the
    /// HTML parser puts `<svg>` in the SVG namespace itself), element ids prefixed with `idPrefix` so that
    /// several diagrams on one page do not collide.
    public static func inlineSVG(_ svg: String, idPrefix: String) -> String {
        guard let start = svg.range(of: "<svg") else { return "" }
        // One pass over the comments (Graphviz writes one per node and edge; removing them one by one is quadratic).
        let pieces = String(svg[start.lowerBound...]).components(separatedBy: "<!--")
        var body = pieces[0]
        for piece in pieces.dropFirst() {
            if let close = piece.range(of: "-->") { body += piece[close.upperBound...] }
        }
        body = body.replacingOccurrences(of: " xmlns=\"http://www.w3.org/2000/svg\"", with: "")
            .replacingOccurrences(of: " xmlns:xlink=\"http://www.w3.org/1999/xlink\"", with: "")
            .replacingOccurrences(of: " id=\"", with: " id=\"\(idPrefix)")
        return body.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The HTML step-through of one or two traced runs: one self-contained file (inline SVG, inline CSS and script,
/// no network) with the prompt, a slider and previous/next buttons over the steps, each step's diagram and text
/// trace, the emitted text growing (this step's tokens highlighted), per-step and running tau, and, with two
/// decoders, their contrast diagram for the same step number.
public struct StepThroughPage: Sendable {
    /// One decoder's run and its diagrams.
    public struct Run: Sendable {
        public var view: TraceView
        /// SVG of every step, in order (`svgs.count == view.stepCount`).
        public var svgs: [String]
        public init(view: TraceView, svgs: [String]) {
            self.view = view
            self.svgs = svgs
        }
    }

    public var runs: [Run]
    /// SVG contrast diagrams of the first two runs, step 1..., (empty with one run).
    public var contrasts: [String]
    /// Whether the page has a "tree attention mask" view: the mask of the first run's step in view, drawn by the
    /// page's script from the step's parents (so it follows the slider, and a dynamic tree shows each step's own).
    public var showsMask: Bool
    public var title: String
    /// When the steps' sections (diagrams and text traces) exceed this many bytes, each is stored deflated and
    /// base64-encoded and the page's script inflates a step's sections when it is shown (a 50-step page of two
    /// decoders on a 64-node tree: 18 MB plain, under 5 MB so); smaller pages stay plain HTML.
    public var compressAbove = 2_000_000

    public init(runs: [Run], contrasts: [String] = [], showsMask: Bool = true, title: String = "HydraSim step-through") {
        self.runs = runs
        self.contrasts = contrasts
        self.showsMask = showsMask
        self.title = title
    }

    /// Renders every diagram the page needs with `renderer`: each run's steps and the contrast of the first two runs
    /// for every step both have (the mask view is drawn in the browser).
    public static func build(_ views: [TraceView], renderer: GraphvizRenderer = .shared, title: String = "HydraSim step-through") throws -> StepThroughPage {
        guard !views.isEmpty else { throw VisualizationError("no traces to show") }
        let runs = try views.map { view in Run(view: view, svgs: try view.steps.map { try renderer.svg(StepDiagram.dot($0)) }) }
        var contrasts: [String] = []
        if views.count >= 2 {
            let n = min(views[0].stepCount, views[1].stepCount)
            contrasts = try (0..<n).map { try renderer.svg(ContrastDiagram.dot(views[0].steps[$0], views[1].steps[$0])) }
        }
        return StepThroughPage(runs: runs, contrasts: contrasts, title: title)
    }

    /// The page. Deterministic: the same traces and diagrams give the same bytes.
    public func html() -> String {
        let stepCount = runs.map(\.view.stepCount).max() ?? 0
        let textTrace = TextTrace(color: false, width: 110)
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>\(HTML.escape(title))</title>\n<style>\n\(Self.css)</style>\n</head>\n<body>\n"
        h += "<h1>\(HTML.escape(title))</h1>\n"
        let first = runs.first?.view.trace
        if let first {
            h += "<p class=\"meta\">model <code>\(HTML.escape(first.settings.model))</code> · tree <code>\(HTML.escape(first.settings.tree))</code> · rule <code>\(HTML.escape(first.settings.rule.name))</code> · decoders "
            h += runs.map { "<code>\(HTML.escape($0.view.decoder))</code> (tau \(String(format: "%.2f", $0.view.tau())))" }.joined(separator: ", ") + "</p>\n"
            h += "<div class=\"prompt\"><span class=\"label\">prompt</span><span class=\"text\">\(HTML.escape(first.prompt))</span></div>\n"
        }
        // Controls.
        h += "<div class=\"controls\"><button id=\"prev\" type=\"button\">◀ previous</button>"
        h += "<input id=\"slider\" type=\"range\" min=\"1\" max=\"\(max(stepCount, 1))\" value=\"1\" aria-label=\"step\">"
        h += "<button id=\"next\" type=\"button\">next ▶</button> <span id=\"where\">step 1 of \(stepCount)</span>"
        h += " <span class=\"hint\">(← → keys; link to a step with #step=N&amp;view=contrast|run0|run1|mask)</span></div>\n"
        // Emitted text per run, token by token.
        h += "<div class=\"texts\">\n"
        for (r, run) in runs.enumerated() {
            let aligned = run.view.trace.leader.map { " <span class=\"hint\">drafted on \(HTML.escape($0))'s prefix at every step (its tokens below are what it would have accepted there)" + (run.view.trace.freeRunningTau.map { String(format: "; on its own: tau %.2f", $0) } ?? "") + "</span>" } ?? ""
            h += "<div class=\"text-run\"><div class=\"run-head\"><b>\(HTML.escape(run.view.decoder))</b>\(aligned) <span class=\"stats\" id=\"stats\(r)\"></span></div><div class=\"emitted\">"
            h += "<span class=\"prompt-tail\">\(HTML.escape(first?.prompt ?? ""))</span>"
            for step in run.view.steps {
                for text in step.emittedTexts {
                    h += "<span class=\"tok s\(step.number % 2)\" data-step=\"\(step.number)\" title=\"step \(step.number): \(HTML.escape(TokenText.quoted(text)))\">\(HTML.escape(text))</span>"
                }
            }
            h += "</div></div>\n"
        }
        h += "</div>\n"
        // View switcher: contrast first when there is one.
        var tabs: [(id: String, label: String)] = []
        if !contrasts.isEmpty, runs.count >= 2 { tabs.append(("contrast", "contrast: \(runs[0].view.decoder) vs \(runs[1].view.decoder)")) }
        for (r, run) in runs.enumerated() { tabs.append(("run\(r)", run.view.decoder)) }
        let maskRun = runs.first.flatMap { $0.view.stepCount > 0 ? $0 : nil }
        if showsMask, maskRun != nil { tabs.append(("mask", "tree attention mask")) }
        h += "<div class=\"tabs\">" + tabs.enumerated().map { i, t in
            "<button type=\"button\" class=\"tab\(i == 0 ? " on" : "")\" data-view=\"\(t.id)\">\(HTML.escape(t.label))</button>"
        }.joined() + "</div>\n"
        // Every step's sections (diagram and text trace), plain or deflated when the page would be big.
        var contrastSections: [String] = []
        if !contrasts.isEmpty, runs.count >= 2 {
            for (i, svg) in contrasts.enumerated() {
                let a = runs[0].view.steps[i], b = runs[1].view.steps[i]
                contrastSections.append("<div class=\"diagram\">\(HTML.inlineSVG(svg, idPrefix: "c\(i + 1)-"))</div>"
                    + "<details><summary>text trace, step \(i + 1)</summary><pre>\(HTML.escape(textTrace.contrast(a, b)))</pre></details>")
            }
        }
        let runSections: [[String]] = runs.enumerated().map { r, run in
            run.view.steps.enumerated().map { i, step in
                let svg = i < run.svgs.count ? HTML.inlineSVG(run.svgs[i], idPrefix: "r\(r)s\(i + 1)-") : ""
                return "<div class=\"diagram\">\(svg)</div>"
                    + "<details open><summary>text trace, step \(step.number)</summary><pre>\(HTML.escape(textTrace.step(step, markRepeats: true)))</pre></details>"
            }
        }
        let total = (contrastSections + runSections.flatMap { $0 }).reduce(0) { $0 + $1.utf8.count }
        let compress = total > compressAbove
        func section(_ step: Int, _ inner: String) -> String {
            guard compress, let z = Deflate.base64(inner) else { return "<section class=\"step\" data-step=\"\(step)\">\(inner)</section>\n" }
            return "<section class=\"step\" data-step=\"\(step)\" data-z=\"\(z)\"></section>\n"
        }
        // Contrast view.
        if !contrasts.isEmpty, runs.count >= 2 {
            h += "<div class=\"view\" id=\"view-contrast\">\n"
            for (i, inner) in contrastSections.enumerated() { h += section(i + 1, inner) }
            h += "<p class=\"done\" data-after=\"\(contrasts.count)\">One of the runs ended at step \(contrasts.count): no contrast beyond it.</p>\n"
            h += "</div>\n"
        }
        // One view per run.
        for (r, run) in runs.enumerated() {
            h += "<div class=\"view\" id=\"view-run\(r)\">\n"
            for (step, inner) in zip(run.view.steps, runSections[r]) { h += section(step.number, inner) }
            h += "<p class=\"done\" data-after=\"\(run.view.stepCount)\">\(HTML.escape(run.view.decoder)) finished after \(run.view.stepCount) steps (stopped: \(HTML.escape(run.view.trace.stopReason))).</p>\n"
            h += "</div>\n"
        }
        if showsMask, let maskRun {
            h += "<div class=\"view\" id=\"view-mask\"><p class=\"mask-title\" id=\"mask-title\"></p>"
            h += "<p class=\"hint\">Row i attends to column j (dark) when j is i, an ancestor of i, or the root; every row also sees the whole "
            h += "cached prefix (not drawn). Green rows: the accepted path. pos: the row's position id (prefix length + depth).</p>"
            h += "<div class=\"diagram\" id=\"mask\"></div>"
            h += "<p class=\"done\" data-after=\"\(maskRun.view.stepCount)\">\(HTML.escape(maskRun.view.decoder)) finished after \(maskRun.view.stepCount) steps: no mask beyond it.</p></div>\n"
        }
        // Every step in a table: tokens emitted and tau per run.
        h += "<h2>All steps</h2>\n<table class=\"steps\"><thead><tr><th>step</th>"
        h += runs.map { "<th>\(HTML.escape($0.view.decoder)): emitted</th><th>tau</th>" }.joined() + "</tr></thead><tbody>\n"
        if stepCount >= 1 {
            for s in 1...stepCount {
                h += "<tr data-row=\"\(s)\"><td><a href=\"#\" data-goto=\"\(s)\">\(s)</a></td>"
                for run in runs {
                    if s <= run.view.stepCount {
                        let step = run.view.steps[s - 1]
                        h += "<td class=\"mono\">\(HTML.escape(step.emittedTexts.map { TokenText.quoted($0) }.joined(separator: " ")))</td><td>\(step.tau)</td>"
                    } else {
                        h += "<td>—</td><td></td>"
                    }
                }
                h += "</tr>\n"
            }
        }
        h += "</tbody></table>\n"
        // Data for the script: numbers and names only.
        struct RunData: Encodable { var name: String; var steps: Int; var tau: [Int]; var total: Double }
        let data = runs.map { RunData(name: $0.view.decoder, steps: $0.view.stepCount, tau: $0.view.trace.steps.map(\.emitted.count), total: $0.view.tau()) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(data)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        // The mask view's data: per step of the first run, the tree (parents), token texts, accepted path and prefix length.
        struct MaskData: Encodable { var title: String; var parents: [Int]; var labels: [String]; var depths: [Int]; var accepted: [Int]; var prefix: Int }
        let masks: [MaskData] = showsMask ? (runs.first?.view.steps ?? []).map { step in
            MaskData(title: "Tree attention mask: \(step.view.trace.settings.tree), \(step.decoder) step \(step.number) (\(TreeSize.describe(nodes: step.nodes.count)))",
                     parents: step.nodes.map(\.parent), labels: step.nodes.indices.map { TokenText.truncated(TokenText.quoted(step.text($0)), to: 14) },
                     depths: step.nodes.map(\.depth), accepted: step.record.acceptedPath, prefix: step.record.prefixLength)
        } : []
        let maskJSON = (try? encoder.encode(masks)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        h += "<script>\nconst STEPS = \(stepCount);\nconst RUNS = \(json.replacingOccurrences(of: "</", with: "<\\/"));\n"
        h += "const MASKS = \(maskJSON.replacingOccurrences(of: "</", with: "<\\/"));\n\(Self.script)</script>\n"
        h += "</body>\n</html>\n"
        return h
    }

    static let css = """
    body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 16px 24px; color: #1f2328; }
    h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin-top: 28px; }
    .meta { color: #555; font-size: 13px; margin: 0 0 10px; }
    code, .mono, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
    .prompt { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; white-space: pre-wrap; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
    .label { font-family: system-ui, sans-serif; color: #666; font-size: 11px; text-transform: uppercase; margin-right: 8px; }
    .controls { position: sticky; top: 0; background: #fff; padding: 8px 0; z-index: 2; border-bottom: 1px solid #eee; display: flex; align-items: center; gap: 8px; }
    #slider { flex: 1; max-width: 640px; }
    button { font: inherit; padding: 3px 10px; border: 1px solid #bbb; border-radius: 5px; background: #f6f6f6; cursor: pointer; }
    .hint { color: #888; font-size: 12px; }
    .texts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 10px; margin: 10px 0; }
    .text-run { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; }
    .run-head { font-size: 13px; margin-bottom: 4px; } .stats { color: #444; }
    .emitted { white-space: pre-wrap; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; line-height: 1.5; }
    .prompt-tail { color: #777; }
    .tok.s0 { background: #eef2f7; } .tok.s1 { background: #f7f3ea; }
    .tok { border-radius: 2px; }
    .tok.now { background: #b7e4c7; outline: 1px solid #1b7a43; }
    .tabs { margin: 12px 0 6px; display: flex; gap: 6px; flex-wrap: wrap; }
    .tab.on { background: #1f2937; color: #fff; border-color: #1f2937; }
    .diagram { overflow-x: auto; border: 1px solid #eee; border-radius: 6px; padding: 4px; }
    .diagram svg { max-width: 100%; height: auto; }
    pre { font-size: 12px; background: #fafafa; border: 1px solid #eee; padding: 8px; overflow-x: auto; }
    table.steps { border-collapse: collapse; font-size: 12px; }
    table.steps td, table.steps th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
    table.steps tr.cur { background: #e8f5ec; }
    .done { color: #666; font-style: italic; }
    .mask-title { font-weight: bold; margin: 4px 0; }
    table.mask { border-collapse: separate; border-spacing: 1px; font-size: 9px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
    table.mask td { width: 11px; height: 11px; padding: 0; background: #eeeeee; }
    table.mask td.on { background: #1f2937; } table.mask tr.acc td.on { background: #1b7a43; }
    table.mask td.lab, table.mask th { background: none; width: auto; white-space: pre; text-align: right; padding: 0 3px; font-weight: normal; }

    """

    static let script = """
    (function () {
      let cur = 1;
      const slider = document.getElementById('slider');
      const where = document.getElementById('where');
      function show(k) {
        cur = Math.max(1, Math.min(STEPS, k | 0));
        slider.value = cur;
        where.textContent = 'step ' + cur + ' of ' + STEPS;
        document.querySelectorAll('section.step').forEach(function (s) { s.hidden = Number(s.dataset.step) !== cur; });
        document.querySelectorAll('p.done').forEach(function (p) { p.hidden = cur <= Number(p.dataset.after); });
        document.querySelectorAll('.tok').forEach(function (t) {
          const s = Number(t.dataset.step);
          t.hidden = s > cur;
          t.classList.toggle('now', s === cur);
        });
        document.querySelectorAll('tr[data-row]').forEach(function (r) { r.classList.toggle('cur', Number(r.dataset.row) === cur); });
        drawMask(cur);
        document.querySelectorAll('section.step[data-step="' + cur + '"][data-z]').forEach(inflate);
        RUNS.forEach(function (run, i) {
          const el = document.getElementById('stats' + i);
          if (!el) return;
          const n = Math.min(cur, run.steps);
          let sum = 0;
          for (let j = 0; j < n; j++) sum += run.tau[j];
          const here = cur <= run.steps ? 'tau this step ' + run.tau[cur - 1] : 'finished after ' + run.steps + ' steps';
          el.textContent = '· ' + here + ' · tau so far ' + (n ? (sum / n).toFixed(2) : '0') + ' · total tau ' + run.total.toFixed(2) + ' over ' + run.steps + ' steps';
        });
      }
      async function inflate(section) {
        const z = section.getAttribute('data-z');
        if (!z) return;
        section.removeAttribute('data-z');
        const bytes = Uint8Array.from(atob(z), function (c) { return c.charCodeAt(0); });
        const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
        section.innerHTML = await new Response(stream).text();
      }
      function drawMask(k) {
        const box = document.getElementById('mask');
        if (!box) return;
        const m = MASKS[k - 1];
        document.getElementById('mask-title').textContent = m ? m.title : '';
        box.textContent = '';
        if (!m) return;
        const n = m.parents.length, acc = new Set(m.accepted);
        const table = document.createElement('table');
        table.className = 'mask';
        const head = table.insertRow();
        head.appendChild(document.createElement('th')).textContent = 'pos';
        head.appendChild(document.createElement('th'));
        for (let j = 0; j < n; j++) head.appendChild(document.createElement('th')).textContent = j;
        for (let i = 0; i < n; i++) {
          const row = table.insertRow();
          row.dataset.node = i;
          if (acc.has(i)) row.className = 'acc';
          const pos = row.insertCell(); pos.className = 'lab'; pos.textContent = m.prefix + m.depths[i];
          const lab = row.insertCell(); lab.className = 'lab'; lab.textContent = '#' + i + ' ' + m.labels[i];
          const seen = new Set();
          for (let j = i, guard = 0; j >= 0 && j < n && guard <= n; j = m.parents[j], guard++) seen.add(j);
          for (let j = 0; j < n; j++) { const c = row.insertCell(); if (seen.has(j)) c.className = 'on'; }
        }
        box.appendChild(table);
      }
      function view(id) {
        document.querySelectorAll('.view').forEach(function (v) { v.hidden = v.id !== 'view-' + id; });
        document.querySelectorAll('.tab').forEach(function (b) { b.classList.toggle('on', b.dataset.view === id); });
      }
      document.getElementById('prev').addEventListener('click', function () { show(cur - 1); });
      document.getElementById('next').addEventListener('click', function () { show(cur + 1); });
      slider.addEventListener('input', function () { show(Number(slider.value)); });
      document.addEventListener('keydown', function (e) {
        if (e.key === 'ArrowLeft') { show(cur - 1); e.preventDefault(); }
        if (e.key === 'ArrowRight') { show(cur + 1); e.preventDefault(); }
      });
      document.querySelectorAll('.tab').forEach(function (b) { b.addEventListener('click', function () { view(b.dataset.view); }); });
      document.querySelectorAll('a[data-goto]').forEach(function (a) {
        a.addEventListener('click', function (e) { e.preventDefault(); show(Number(a.dataset.goto)); window.scrollTo(0, 0); });
      });
      const first = document.querySelector('.tab');
      const wanted = (location.hash.match(/view=([a-z0-9]+)/) || [])[1];
      if (wanted && document.getElementById('view-' + wanted)) view(wanted); else if (first) view(first.dataset.view);
      const fromHash = Number((location.hash.match(/step=(\\d+)/) || [])[1]);
      show(fromHash || 1);
    })();

    """
}

/// zlib deflate for the page's big sections (inflated in the browser by `DecompressionStream('deflate')`).
enum Deflate {
    /// `text` deflated (zlib format, level 9: the same bytes every time) and base64-encoded; nil if zlib fails.
    static func base64(_ text: String) -> String? {
        let input = Array(text.utf8)
        var size = compressBound(uLong(input.count))
        var output = [UInt8](repeating: 0, count: Int(size))
        let status = output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { compress2(out.baseAddress!, &size, $0.baseAddress!, uLong(input.count), 9) }
        }
        guard status == Z_OK else { return nil }
        return Data(output[..<Int(size)]).base64EncodedString()
    }
}
