import Foundation
import Testing
import Numerics
import DraftHeads
import LanguageModel

/// Issue 14, items 2-4 as a user meets them: limits are clear errors, the same command gives the same bytes (on 1
/// and 2 threads), outputs are written atomically (SIGKILL at any moment leaves the old or the new file, never a
/// partial one), and existing outputs are not clobbered without --force.
@Suite("Reliability of the command line", .serialized)
struct ReliabilityTests {
    typealias CLI = CommandLineTests

    /// Kills per command (random moments): a few by default, more with HYDRASIM_KILL_RUNS.
    static let killRuns = ProcessInfo.processInfo.environment["HYDRASIM_KILL_RUNS"].flatMap { Int($0) } ?? 3

    /// Every file under `folder` (relative path → bytes).
    static func files(_ folder: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return out }
        for case let path as String in walker {
            var isDirectory: ObjCBool = false
            let full = folder + "/" + path
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[path] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return out
    }

    /// Starts `hydrasim arguments`, sends SIGKILL after `seconds`, and waits for it to end.
    static func runAndKill(_ arguments: [String], after seconds: Double, environment: [String: String] = [:]) throws {
        let process = Process()
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = arguments
        process.currentDirectoryURL = CLI.root
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: seconds)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    // MARK: Limits (item 2)

    @Test("limits: prompts and --max-tokens beyond the context, trees larger than the context or deeper than the heads, huge ranks and sizes")
    func limits() throws {
        let folder = CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let stories = CLI.stories
        let longPrompt = Array(repeating: "5", count: 513).joined(separator: " ")
        let hugeRank = folder.appendingPathComponent("rank.json").path
        try Data("[[0],[99999999999]]".utf8).write(to: URL(fileURLWithPath: hugeRank))
        let vocabRank = folder.appendingPathComponent("vocab-rank.json").path
        try Data("[[0],[5000]]".utf8).write(to: URL(fileURLWithPath: vocabRank))
        let bigHeader = folder.appendingPathComponent("big.bin").path
        var header = Data()
        for v: Int32 in [1_073_741_824, 172, 5, 8, 4, 512, 512] { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        try (header + Data(count: 64)).write(to: URL(fileURLWithPath: bigHeader))
        let cases: [([String], String)] = [
            (["generate", "--checkpoint", stories, "--prompt-ids", longPrompt], "the prompt has 513 tokens but the model's context is 512"),
            (["generate", "--checkpoint", stories, "--prompt-ids", "1", "--max-tokens", "513"], "--max-tokens 513 is beyond the model's context of 512"),
            (["generate", "--checkpoint", stories, "--prompt-ids", ""], "the prompt is empty"),
            (["generate", "--checkpoint", stories, "--prompt-ids", "1 512"], "prompt token 512 is outside the vocabulary"),
            (["generate", "--checkpoint", stories, "--max-tokens=-1"], "--max-tokens must be at least 0"),
            (["generate", "--checkpoint", bigHeader], "the shape describes more parameters than a 64-bit count can hold"),
            (["generate", "--decoder", "medusa", "--tree", hugeRank, "--prompt", "ROMEO:"], "has a rank above"),
            (["generate", "--decoder", "medusa", "--tree", vocabRank, "--prompt", "ROMEO:"], "the vocabulary has only 1024 tokens"),
            (["generate", "--decoder", "medusa", "--tree", "chain-9", "--prompt", "ROMEO:"], "only 4 heads"),
            (["generate", "--decoder", "medusa", "--tree", "dynamic:99999999999", "--prompt", "ROMEO:"], "99999999999 nodes do not fit the model's context of 256"),
            (["generate", "--decoder", "hydra", "--tree", "dynamic:300", "--prompt", "ROMEO:"], "300 nodes do not fit the model's context of 256"),
            (["checkpoint", "init", "--dim", "1073741824", "--out", folder.appendingPathComponent("x.bin").path], "more parameters than a 64-bit count"),
            (["checkpoint", "init", "--dim", "100000", "--out", folder.appendingPathComponent("x.bin").path], "more than half this machine's memory"),
            (["checkpoint", "init", "--dim", "9223372036854775807", "--out", folder.appendingPathComponent("x.bin").path], "32-bit header field"),
            (["train", "base", "--dim", "0", "--out", folder.appendingPathComponent("t").path], "--dim must be at least 1"),
            (["train", "base", "--batch", "100000000", "--out", folder.appendingPathComponent("t").path], "activation memory"),
        ]
        for (arguments, fragment) in cases { try CLI().expectError(arguments, fragment) }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.bin").path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("t").path))
    }

    // MARK: Determinism (item 3)

    @Test("determinism: trace twice gives byte-identical traces, DOT, SVG, text and HTML, on 1 and on 2 threads; diagram too")
    func determinism() throws {
        let folder = CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var bundles: [String: [String: Data]] = [:]
        for threads in ["1", "2"] {
            for run in ["a", "b"] {
                let out = folder.appendingPathComponent("t\(threads)\(run)").path
                let r = try CLI.run(["trace", "--prompt", "ROMEO:", "--decoders", "medusa,hydra++", "--steps", "3", "--threads", threads, "--out", out])
                #expect(r.status == 0, "\(r.stderr)")
                bundles[threads + run] = try Self.files(out)
            }
        }
        let reference = try #require(bundles["1a"])
        #expect(reference.keys.contains("index.html") && reference.keys.contains("medusa.trace.json") && reference.keys.contains("medusa/step-001.svg"))
        for key in ["1b", "2a", "2b"] {
            let other = try #require(bundles[key])
            #expect(other.keys.sorted() == reference.keys.sorted(), "\(key): the same files")
            for (name, data) in reference where other[name] != data { Issue.record("\(name) differs between run 1a and run \(key)") }
        }
        // diagram: the same trace step drawn twice, in every format, gives the same bytes.
        let trace = folder.appendingPathComponent("t1a/medusa.trace.json").path
        for format in ["dot", "svg"] {
            var outputs: [Data] = []
            for run in 0..<2 {
                let out = folder.appendingPathComponent("d\(run).\(format)").path
                let r = try CLI.run(["diagram", "--trace", trace, "--step", "2", "--format", format, "--out", out])
                #expect(r.status == 0, "\(r.stderr)")
                outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
            }
            #expect(outputs[0] == outputs[1] && !outputs[0].isEmpty, "diagram --format \(format)")
        }
    }

    // MARK: Atomic files (item 4)

    @Test("SIGKILL during trace leaves no folder or the complete one, byte-identical to an uninterrupted run")
    func killTrace() throws {
        let folder = CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = ["trace", "--prompt", "ROMEO:", "--decoders", "medusa,hydra", "--steps", "2", "--threads", "1"]
        let reference = folder.appendingPathComponent("reference").path
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try CLI.run(arguments + ["--out", reference]).status == 0)
        let duration = (clock.now - start).seconds
        let expected = try Self.files(reference)
        var random = SystemRandomNumberGenerator()
        var complete = 0
        for k in 0..<Self.killRuns {
            let out = folder.appendingPathComponent("killed\(k)").path
            // Spread over the run (the last part writes the files), with jitter.
            let at = duration * (0.4 + 0.75 * Double(k + 1) / Double(Self.killRuns + 1)) + Double.random(in: -0.1...0.1, using: &random)
            try Self.runAndKill(arguments + ["--out", out], after: max(0.1, at))
            if FileManager.default.fileExists(atPath: out) {
                complete += 1
                #expect(try Self.files(out) == expected, "run \(k): a partial or different folder")
            }
        }
        // The next run removes the temporary folders the killed ones left.
        #expect(try CLI.run(arguments + ["--out", folder.appendingPathComponent("after").path]).status == 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "temporary folders left: \(leftovers)")
        print("kill trace: \(Self.killRuns) kills over \(String(format: "%.1f", duration)) s, \(complete) finished before the kill, none partial")
    }

    @Test("SIGKILL during train base leaves every file loadable, and the run resumes; no temporary file outlives the run")
    func killTrainBase() throws {
        let folder = CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (_, base, options) = try CLI.tinyBase(in: folder, context: 16)
        let command = ["train", "base", "--out", base, "--steps", "60"] + options
        var random = SystemRandomNumberGenerator()
        var states = 0
        for _ in 0..<Self.killRuns {
            let resume = FileManager.default.fileExists(atPath: base + "/train_state.bin")
            try Self.runAndKill(command + [resume ? "--resume" : "--force"], after: Double.random(in: 0.1...3, using: &random))
            let files = Set(try Self.files(base).keys.filter { !$0.hasPrefix(".") })
            if files.contains("train_state.bin") { states += 1 }
            // Whatever is there is complete: the checkpoints and the tokenizer load.
            if files.contains("model.bin") { _ = try Checkpoint.read(base + "/model.bin") }
            if files.contains("best.bin") { _ = try Checkpoint.read(base + "/best.bin") }
            if files.contains("tokenizer.bin") { _ = try BPETokenizer(contentsOf: base + "/tokenizer.bin") }
        }
        let resume = FileManager.default.fileExists(atPath: base + "/train_state.bin")
        let finished = try CLI.run(command + [resume ? "--resume" : "--force"])
        #expect(finished.status == 0 || finished.stderr.contains("already finished its 60 steps"), "\(finished.stderr)")
        #expect(try Self.files(base).keys.sorted() == ["best.bin", "model.bin", "tokenizer.bin", "train_state.bin"], "no temporary files left")
        print("kill train base: \(Self.killRuns) kills, \(states) left a training state that resumed, none partial")
    }

    @Test("SIGKILL during train heads leaves the old or the new heads file, and the state resumes; --out is not replaced without --force")
    func killTrainHeads() throws {
        let folder = CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (corpus, base, options) = try CLI.tinyBase(in: folder, context: 16)
        #expect(try CLI.run(["train", "base", "--out", base, "--steps", "10"] + options).status == 0)
        let heads = folder.appendingPathComponent("h.heads").path
        let common = ["train", "heads", "--kind", "hydra", "--base", base, "--corpus", corpus, "--heads", "2", "--batch", "16", "--eval-interval", "5",
                      "--out", heads]
        let weights = try Checkpoint.read(base + "/model.bin")
        var random = SystemRandomNumberGenerator()
        for _ in 0..<Self.killRuns {
            let resume = FileManager.default.fileExists(atPath: heads + ".state")
            try Self.runAndKill(common + ["--steps", "80", resume ? "--resume" : "--force"], after: Double.random(in: 0.1...2.5, using: &random))
            if FileManager.default.fileExists(atPath: heads) { _ = try DraftHeadsFile.read(heads, base: weights) }
        }
        let resume = FileManager.default.fileExists(atPath: heads + ".state")
        let finished = try CLI.run(common + ["--steps", "80", resume ? "--resume" : "--force"])
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(try Self.files(folder.path).keys.filter { $0.contains(".tmp-") }.isEmpty, "no temporary files left")
        // A finished heads file is not replaced without --force (with or without a leftover state).
        try? FileManager.default.removeItem(atPath: heads + ".state")
        let before = try Data(contentsOf: URL(fileURLWithPath: heads))
        try CLI().expectError(common + ["--steps", "5"], "already exists")
        #expect(try Data(contentsOf: URL(fileURLWithPath: heads)) == before)
        let forced = try CLI.run(common + ["--steps", "5", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test("SIGKILL during lesson check leaves the old or the new progress file, never a partial one")
    func killProgressWrite() throws {
        let home = CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: home) }
        let path = home.appendingPathComponent("progress.json").path
        var random = XorShiftRandom(seed: 31)
        var seen = Set<Data>()
        // Alternate answers so that the progress file changes (attempts, solved) at every run; kill at random moments.
        for k in 0..<max(Self.killRuns * 4, 12) {
            let delay = 0.02 + Double(random.next() % 400) / 1000
            try Self.runAndKill(["lesson", "check", "mask.2", k % 2 == 0 ? "1" : "7"], after: delay, environment: ["HYDRASIM_HOME": home.path])
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            seen.insert(data)
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            #expect(object?["format_version"] as? Int == 1, "a partial progress file: \(String(decoding: data, as: UTF8.self))")
        }
        #expect(try Self.files(home.path).keys.filter { $0.contains(".tmp") }.isEmpty, "no temporary files left")
        #expect(!seen.isEmpty)
    }

    @Test("existing output folders are not clobbered: train base into a folder with other files needs --force")
    func noClobber() throws {
        let folder = CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (_, base, options) = try CLI.tinyBase(in: folder, context: 16)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: base + "/model.bin"))
        try CLI().expectError(["train", "base", "--out", base, "--steps", "2"] + options, "already exists and is not empty")
        #expect(try Data(contentsOf: URL(fileURLWithPath: base + "/model.bin")) == Data("mine".utf8))
        #expect(try CLI.run(["train", "base", "--out", base, "--steps", "2", "--force"] + options).status == 0)
        // trace refuses an occupied --out folder.
        let occupied = folder.appendingPathComponent("occupied").path
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: occupied + "/keep.txt"))
        try CLI().expectError(["trace", "--prompt", "ROMEO:", "--steps", "1", "--out", occupied], "already exists and is not empty")
        #expect(try Self.files(occupied).keys.sorted() == ["keep.txt"])
    }
}
