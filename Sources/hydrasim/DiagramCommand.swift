import ArgumentParser
import Foundation
import LanguageModel
import Speculation
import Visualization


/// `hydrasim diagram`: one step of a saved trace as DOT, SVG, PNG or PDF.
struct DiagramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagram",
        abstract: "Draw one step of a trace (candidate tree, contrast of two traces, or tree attention mask).",
        discussion: """
        Reads a trace written by `hydrasim trace` and renders step --step with Graphviz (in-process).
        Examples:
          hydrasim diagram --trace out/medusa.trace.json --step 3 --format svg --out step3.svg
          hydrasim diagram --trace out/medusa.trace.json --contrast out/hydra++.trace.json --step 1 --format png --out c1.png
          hydrasim diagram --trace out/medusa.trace.json --step 1 --mask --format dot --out mask.dot
        """
    )

    enum Format: String, CaseIterable { case dot, svg, png, pdf }

    @Option(name: .long, help: "A trace JSON file (from `hydrasim trace`).")
    var trace: String

    @Option(name: .long, help: "Step number (1-based).")
    var step = 1

    @Option(name: .long, help: "dot, svg, png or pdf.")
    var format = "svg"

    @Option(name: .long, help: "A second trace of the same prompt: draw both decoders' step side by side.")
    var contrast: String?

    @Flag(name: .long, help: "Draw the step's tree attention mask instead of the tree.")
    var mask = false

    @Option(name: .long, help: "Output file (written atomically).")
    var out: String

    /// Largest tree whose attention mask is drawn (the picture has nodes² cells).
    static let maxMaskNodes = 256

    func validate() throws {
        if Format(rawValue: format) == nil { throw CLIError("--format must be dot, svg, png or pdf, got '\(format)'") }
        if step < 1 { throw CLIError("--step must be at least 1, got \(step)") }
        if mask && contrast != nil { throw CLIError("--mask and --contrast draw different pictures: give one of them") }
    }

    func run() throws {
        for path in [trace] + (contrast.map { [$0] } ?? []) where !FileManager.default.fileExists(atPath: path) {
            throw CLIError("\(path): no such trace file (write one with `hydrasim trace --out DIR`)")
        }
        let view = TraceView(try DecodingTrace.read(trace))
        let dot: String
        if let contrast {
            let other = TraceView(try DecodingTrace.read(contrast))
            if other.trace.promptTokens != view.trace.promptTokens {
                throw CLIError("\(contrast): traced another prompt than \(trace); contrast traces of the same prompt")
            }
            dot = ContrastDiagram.dot(try view.step(step), try other.step(step))
        } else if mask {
            let drawn = try view.step(step)
            guard drawn.nodes.count <= Self.maxMaskNodes else {
                throw CLIError("\(trace): step \(step) has \(drawn.nodes.count) nodes; a mask is drawn for at most \(Self.maxMaskNodes)")
            }
            dot = MaskDiagram.dot(drawn)
        } else {
            dot = StepDiagram.dot(try view.step(step))
        }
        let data: Data
        switch Format(rawValue: format)! {
        case .dot: data = Data(dot.utf8)
        case .svg: data = try GraphvizRenderer.shared.render(dot, format: .svg)
        case .png: data = try GraphvizRenderer.shared.render(dot, format: .png)
        case .pdf: data = try GraphvizRenderer.shared.render(dot, format: .pdf)
        }
        try AtomicFile.write(data, to: out)
        printError("wrote \(out) (\(data.count) bytes)")
    }
}
