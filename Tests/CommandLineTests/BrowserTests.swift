import Foundation
import Testing
import TestSupport

/// The HTML step-through in a real browser (headless Chromium driven by Selenium): the page a learner opens.
///
/// Runs where Chromium, chromedriver and Python's selenium are installed (`.ci/run` installs them:
/// `apt-get install chromium chromium-driver`, `pip install selenium`).
@Suite("Step-through in a browser")
struct BrowserTests {
    static var available: Bool {
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: "/usr/bin/chromium"), fm.isExecutableFile(atPath: "/usr/bin/chromedriver") else { return false }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import selenium"]
        check.standardError = FileHandle.nullDevice
        guard (try? check.run()) != nil else { return false }
        check.waitUntilExit()
        return check.terminationStatus == 0
    }

    @Test("moving to step N by #step=N and by key presses shows step N's tokens, diagram and mask, with no console errors; a big page is deflated and still shows everything",
          .enabled(if: BrowserTests.available), arguments: [("fork-2x2", 8, false), ("mc_sim_7b_63", 20, true)])
    func stepThrough(tree: String, stepCount: Int, big: Bool) throws {
        let folder = PackagePaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("page").path
        let traced = try CommandLineTests.run(["trace", "--prompt", "ROMEO:", "--decoders", "medusa,hydra++", "--tree", tree, "--steps", "\(stepCount)", "--out", out])
        #expect(traced.status == 0, "\(traced.stderr)")
        let trace = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/medusa.trace.json"))) as? [String: Any])
        let steps = try #require(trace["steps"] as? [[String: Any]])
        let n = 5
        let emitted = steps.prefix(n).map { ($0["emitted"] as? [Int])?.count ?? 0 }.reduce(0, +)
        let nodes = (steps[n - 1]["nodes"] as? [Any])?.count ?? 0

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", PackagePaths.root.appendingPathComponent("Tests/Reference/browser_check.py").path, out + "/index.html", "\(n)"]
        let pipe = Pipe(), errors = Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(report["hash_where"] as? String == "step \(n) of \(stepCount)")
        #expect(report["keys_where"] as? String == "step \(n) of \(stepCount)")
        #expect(report["hash_run0_steps"] as? [Int] == [n])
        #expect(report["hash_diagram_svgs"] as? Int == 1)
        #expect(report["hash_tokens_visible"] as? Int == emitted)
        #expect((report["mask_title"] as? String)?.contains("medusa step \(n) (") == true)
        #expect(report["mask_rows"] as? Int == nodes)
        #expect((report["errors"] as? [String])?.isEmpty == true, "\(report["errors"] ?? "")")
        // The big page is stored deflated (every section but the ones shown so far), the small one plain.
        let compressed = report["compressed_sections"] as? Int ?? -1
        #expect(big ? compressed > 0 : compressed == 0)
        let size = (try FileManager.default.attributesOfItem(atPath: out + "/index.html")[.size] as? Int) ?? 0
        #expect(size < 5_000_000)
    }
}
