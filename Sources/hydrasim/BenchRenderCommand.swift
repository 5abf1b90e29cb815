import ArgumentParser
import Foundation
import Speculation
import Visualization

/// `hydrasim bench-render`: how long diagrams and the HTML step-through take, and how much memory libgvc keeps.
struct BenchRenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-render",
        abstract: "Measure rendering: one step to SVG and PNG, the HTML step-through, memory growth over many renders.",
        discussion: """
        Uses step --step of the given traces (e.g. mc_sim_7b_63 traces from `hydrasim trace`). Example (BENCHMARKS.md):
          hydrasim bench-render --trace out/medusa.trace.json --contrast out/hydra++.trace.json --renders 1000
        """
    )

    @Option(name: .long, help: "A trace JSON file.") var trace: String
    @Option(name: .long, help: "A second trace: the HTML then includes the contrast view, as `hydrasim trace` writes it.") var contrast: String?
    @Option(name: .long, help: "The step to render.") var step = 1
    @Option(name: .long, help: "Timed repetitions of the single-step renders (median reported).") var repeats = 15
    @Option(name: .long, help: "Renders for the memory-growth measurement.") var renders = 1000
    @Option(name: .customLong("fresh-renders"), help: "Renders with a fresh Graphviz context each (0: skip).") var freshRenders = 200
    @Option(name: .long, help: "text or json.") var format: OutputFormat = .json

    struct Report: Encodable {
        var trace: String
        var tree: String
        var nodes: Int
        var step: Int
        var svgMillisecondsMedian: Double
        var pngMillisecondsMedian: Double
        var svgBytes: Int
        var pngBytes: Int
        var htmlSteps: Int
        var htmlDiagrams: Int
        var htmlSeconds: Double
        var htmlBytes: Int
        var renders: Int
        var residentBytesBefore: Int
        var residentBytesAfter: Int
        var growthBytesPerRender: Double
        var heapInUseBytesBefore: Int
        var heapInUseBytesAfter: Int
        var heapGrowthBytesPerRender: Double
        var freshContextRenders: Int
        var freshContextGrowthBytesPerRender: Double?
        var freshContextHeapGrowthBytesPerRender: Double?
    }

    func validate() throws {
        if repeats < 1 || renders < 1 || freshRenders < 0 { throw CLIError("--repeats and --renders must be at least 1, --fresh-renders at least 0") }
    }

    func run() throws {
        let view = TraceView(try DecodingTrace.read(trace))
        let other = try contrast.map { TraceView(try DecodingTrace.read($0)) }
        let dot = StepDiagram.dot(try view.step(step))
        let renderer = GraphvizRenderer.shared
        func median(_ f: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<repeats {
                let start = ContinuousClock.now
                try f()
                times.append((ContinuousClock.now - start).seconds * 1000)
            }
            return times.sorted()[times.count / 2]
        }
        let svg = try renderer.render(dot, format: .svg)
        let png = try renderer.render(dot, format: .png)
        let svgMs = try median { _ = try renderer.render(dot, format: .svg) }
        let pngMs = try median { _ = try renderer.render(dot, format: .png) }

        let views = [view] + (other.map { [$0] } ?? [])
        let htmlStart = ContinuousClock.now
        let html = try StepThroughPage.build(views).html()
        let htmlSeconds = (ContinuousClock.now - htmlStart).seconds
        let diagrams = views.map(\.stepCount).reduce(0, +) + (views.count >= 2 ? min(views[0].stepCount, views[1].stepCount) : 0) + 1

        // Memory: warm up, then many renders of the same step in one process.
        for _ in 0..<20 { _ = try renderer.render(dot, format: .svg) }
        let before = ProcessMemory.residentBytes() ?? 0
        let heapBefore = ProcessMemory.heapInUseBytes()
        for _ in 0..<renders { _ = try renderer.render(dot, format: .svg) }
        let after = ProcessMemory.residentBytes() ?? 0
        let heapAfter = ProcessMemory.heapInUseBytes()
        var freshGrowth: Double?
        var freshHeapGrowth: Double?
        if freshRenders > 0 {
            let fresh = GraphvizRenderer(freshContextPerRender: true)
            for _ in 0..<5 { _ = try fresh.render(dot, format: .svg) }
            let b = ProcessMemory.residentBytes() ?? 0
            let h = ProcessMemory.heapInUseBytes()
            for _ in 0..<freshRenders { _ = try fresh.render(dot, format: .svg) }
            freshGrowth = Double((ProcessMemory.residentBytes() ?? 0) - b) / Double(freshRenders)
            freshHeapGrowth = Double(ProcessMemory.heapInUseBytes() - h) / Double(freshRenders)
        }
        let report = Report(trace: trace, tree: view.trace.settings.tree, nodes: try view.step(step).nodes.count, step: step,
                            svgMillisecondsMedian: svgMs, pngMillisecondsMedian: pngMs, svgBytes: svg.count, pngBytes: png.count,
                            htmlSteps: views.map(\.stepCount).max() ?? 0, htmlDiagrams: diagrams, htmlSeconds: htmlSeconds,
                            htmlBytes: html.utf8.count, renders: renders, residentBytesBefore: before, residentBytesAfter: after,
                            growthBytesPerRender: Double(after - before) / Double(renders),
                            heapInUseBytesBefore: heapBefore, heapInUseBytesAfter: heapAfter,
                            heapGrowthBytesPerRender: Double(heapAfter - heapBefore) / Double(renders), freshContextRenders: freshRenders,
                            freshContextGrowthBytesPerRender: freshGrowth, freshContextHeapGrowthBytesPerRender: freshHeapGrowth)
        if format == .json { return try printJSON(report) }
        print(String(format: "step %d of %@ (%@, %@): SVG %.1f ms, PNG %.1f ms (median of %d)", step, trace, report.tree, TreeSize.describe(nodes: report.nodes),
                     svgMs, pngMs, repeats))
        print(String(format: "HTML for %d steps (%d diagrams): %.2f s, %d bytes", report.htmlSteps, diagrams, htmlSeconds, report.htmlBytes))
        print(String(format: "resident memory over %d renders: %+.1f MB (%.0f bytes per render)", renders,
                     Double(after - before) / 1e6, report.growthBytesPerRender))
        print(String(format: "heap in use over %d renders: %+.1f MB (%.0f bytes per render)", renders,
                     Double(heapAfter - heapBefore) / 1e6, report.heapGrowthBytesPerRender))
        if let freshGrowth, let freshHeapGrowth {
            print(String(format: "with a fresh context per render: resident %.0f, heap %.0f bytes per render", freshGrowth, freshHeapGrowth))
        }
    }
}
