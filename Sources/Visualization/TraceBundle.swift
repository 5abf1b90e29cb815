import Foundation
import LanguageModel
import Speculation

/// The folder `hydrasim trace` writes: traces, text trace, per-step DOT and SVG, contrasts, mask and the HTML page.
///
/// Written into a temporary sibling folder and renamed into place at the end, so the folder either does not
/// exist or is complete; an existing non-empty folder is never touched.
public enum TraceBundle {
    /// What was written, relative to the folder.
    public struct Summary: Sendable {
        public var folder: String
        public var files: [String]
        public var html: String { folder + "/index.html" }
    }

    /// Removes the temporary folders (`.NAME.tmp-PID`) that killed runs left in `parent`: only folders of exactly
    /// that form whose process is gone.
    static func removeStaleFolders(in parent: URL) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: parent.path) else { return }
        for name in names where name.hasPrefix(".") {
            guard let range = name.range(of: ".tmp-", options: .backwards), range.lowerBound > name.index(after: name.startIndex),
                  let pid = Int32(name[range.upperBound...]), pid > 0, pid != getpid() else { continue }
            var isDirectory: ObjCBool = false
            let path = parent.appendingPathComponent(name).path
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? fm.removeItem(atPath: path) }
        }
    }

    /// File name of step `n`'s files: `step-007`.
    public static func stepName(_ n: Int) -> String { "step-" + String(format: "%03d", n) }

    /// Writes the bundle for `views` (one per decoder, distinct decoder names) into `folder`.
    public static func write(_ views: [TraceView], to folder: String, renderer: GraphvizRenderer = .shared,
                             title: String = "HydraSim step-through") throws -> Summary {
        guard !views.isEmpty else { throw VisualizationError("no traces to write") }
        guard Set(views.map(\.decoder)).count == views.count else { throw VisualizationError("two traces have the same decoder name") }
        for view in views where view.decoder.isEmpty || view.decoder.hasPrefix(".")
            || !view.decoder.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "+-_.".unicodeScalars.contains($0) }) {
            throw VisualizationError("decoder name \(TokenText.quoted(view.decoder)) cannot name a folder (letters, digits, + - _ . only)")
        }
        let fm = FileManager.default
        let target = URL(fileURLWithPath: folder).standardizedFileURL
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: target.path, isDirectory: &isDirectory) {
            let contents = isDirectory.boolValue ? ((try? fm.contentsOfDirectory(atPath: target.path)) ?? ["?"]) : ["?"]
            if !contents.isEmpty {
                throw VisualizationError("\(folder) already exists and is not empty: choose another --out (nothing was written)")
            }
        }
        let parent = target.deletingLastPathComponent()
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw VisualizationError("\(folder): the folder \(parent.path) does not exist")
        }
        let temp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: temp)
        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
        } catch {
            throw VisualizationError("\(folder): cannot create a folder in \(parent.path)")
        }
        var files: [String] = []
        func put(_ name: String, _ data: Data) throws {
            try AtomicFile.write(data, to: temp.appendingPathComponent(name).path)
            files.append(name)
        }
        do {
            var textTrace = ""
            let plain = TextTrace(color: false, width: 110)
            if views.count >= 2 {
                let n = min(views[0].stepCount, views[1].stepCount)
                if n >= 1 { textTrace += "=== contrast, step 1 ===\n\n" + plain.contrast(try views[0].step(1), try views[1].step(1)) + "\n" }
            }
            var runs: [StepThroughPage.Run] = []
            for view in views {
                try put("\(view.decoder).trace.json", try view.trace.encoded())
                try fm.createDirectory(at: temp.appendingPathComponent(view.decoder), withIntermediateDirectories: false)
                var svgs: [String] = []
                for step in view.steps {
                    let dot = StepDiagram.dot(step)
                    let svg = try renderer.render(dot, format: .svg)
                    try put("\(view.decoder)/\(stepName(step.number)).dot", Data(dot.utf8))
                    try put("\(view.decoder)/\(stepName(step.number)).svg", svg)
                    svgs.append(String(decoding: svg, as: UTF8.self))
                }
                runs.append(StepThroughPage.Run(view: view, svgs: svgs))
                textTrace += "=== \(view.decoder) ===\n\n" + plain.run(view, markRepeats: views.count >= 2) + "\n"
            }
            try put("trace.txt", Data(textTrace.utf8))
            var contrasts: [String] = []
            if views.count >= 2 {
                for i in 0..<min(views[0].stepCount, views[1].stepCount) {
                    let dot = ContrastDiagram.dot(views[0].steps[i], views[1].steps[i])
                    let svg = try renderer.render(dot, format: .svg)
                    let name = "contrast-" + String(format: "%03d", i + 1)
                    try put(name + ".dot", Data(dot.utf8))
                    try put(name + ".svg", svg)
                    contrasts.append(String(decoding: svg, as: UTF8.self))
                }
            }
            if let first = views[0].steps.first {
                try put("mask.svg", try renderer.render(MaskDiagram.dot(first), format: .svg))
            }
            let page = StepThroughPage(runs: runs, contrasts: contrasts, title: title)
            try put("index.html", Data(page.html().utf8))
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }   // empty, checked above
            guard rename(temp.path, target.path) == 0 else {
                throw VisualizationError("\(folder): cannot move the finished output into place: \(String(cString: strerror(errno)))")
            }
            removeStaleFolders(in: parent)
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        return Summary(folder: target.path, files: files.sorted())
    }
}
