import Foundation
import Testing
import TestSupport

/// The `hydrasim` executable as a user runs it: outputs, exit codes, one-line errors, no half-written files.
@Suite("hydrasim command line")
struct CommandLineTests {
    static let root = PackagePaths.root
    static let stories = PackagePaths.fixture("models/stories260K/model.bin")

    /// The built `hydrasim`, next to the test bundle in the build folder.
    static var executable: String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("hydrasim")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            dir.deleteLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/hydrasim").path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the tool with `arguments` in the package root; `environment` is laid over this process's environment.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = root
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hydrasim-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A repetitive corpus in `folder`, the base model folder to train into, and `train base` options for a tiny model.
    static func tinyBase(in folder: URL, context: Int) throws -> (corpus: String, base: String, options: [String]) {
        let corpus = folder.appendingPathComponent("c.txt").path
        let text = String(repeating: "to be or not to be, that is the question. whether tis nobler in the mind to suffer. ", count: 60)
        try Data(text.utf8).write(to: URL(fileURLWithPath: corpus))
        let options = ["--corpus", corpus, "--vocab-size", "300", "--dim", "32", "--layers", "1", "--heads", "2", "--context", "\(context)",
                       "--batch", "4", "--eval-interval", "10", "--eval-batches", "1"]
        return (corpus, folder.appendingPathComponent("base").path, options)
    }

    /// A failing command: non-zero exit, nothing on stdout, one error line containing `fragment`.
    func expectError(_ arguments: [String], _ fragment: String) throws {
        let r = try Self.run(arguments)
        #expect(r.status != 0, "\(arguments) exited 0")
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.contains("See 'hydrasim") && !$0.isEmpty }
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(fragment), "stderr: \(r.stderr)")
    }

    @Test("generate --format ids and json on stories260K")
    func generateFormats() throws {
        let ids = try Self.run(["generate", "--checkpoint", Self.stories, "--prompt-ids", "1", "--greedy", "--max-tokens", "12", "--format", "ids"])
        #expect(ids.status == 0)
        let list = ids.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(list.count == 12)
        #expect(Array(list.prefix(5)) == [461, 461, 401, 401, 401])   // the numpy reference's first ids (also run.c's)

        let json = try Self.run(["generate", "--checkpoint", Self.stories, "--prompt-ids", "1", "--greedy", "--max-tokens", "12", "--format", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["tokens"] as? [Int] == list)
        #expect((object["tokens_per_second"] as? Double ?? 0) > 0)
        #expect(object["stop_reason"] as? String == "max_tokens")
    }

    @Test("bad input: one clear line and a non-zero exit")
    func badInput() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let truncated = folder.appendingPathComponent("cut.bin").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.stories))
        try bytes.prefix(4000).write(to: URL(fileURLWithPath: truncated))
        try expectError(["generate", "--checkpoint", truncated, "--prompt-ids", "1"], "cut.bin: truncated")
        try expectError(["generate", "--checkpoint", Self.stories, "--prompt-ids", "1 x 3"], "'x' is not a token id")
        try expectError(["generate", "--checkpoint", Self.stories, "--prompt-ids", Array(repeating: "5", count: 600).joined(separator: " ")],
                        "the prompt has 600 tokens but the model's context is 512")
        try expectError(["generate", "--checkpoint", Self.stories, "--prompt", "hello"], "--prompt needs a tokenizer")
        try expectError(["generate", "--checkpoint", Self.stories, "--greedy", "--temperature", "0.5"], "contradict")
        try expectError(["checkpoint", "info", folder.appendingPathComponent("none.bin").path], "none.bin: no such file")
    }

    @Test("train base: a bad corpus is refused before anything is written; an existing run is not overwritten")
    func trainRefusals() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let corpus = folder.appendingPathComponent("c.txt").path
        try Data([0x41, 0xC3, 0x28] + Array(repeating: 0x41, count: 5000)).write(to: URL(fileURLWithPath: corpus))
        let out = folder.appendingPathComponent("run").path
        try expectError(["train", "base", "--corpus", corpus, "--out", out], "not valid UTF-8")
        #expect(!FileManager.default.fileExists(atPath: out + "/tokenizer.bin"))
        try expectError(["train", "base", "--corpus", corpus, "--out", out, "--vocab-size", "100"], "smaller than 259")
        try expectError(["train", "base", "--corpus", corpus, "--out", out, "--resume"], "no training run to resume")

        // A tiny real run, then a second start into the same folder is refused and changes nothing.
        let text = String(repeating: "to be or not to be, that is the question. ", count: 80)
        try Data(text.utf8).write(to: URL(fileURLWithPath: corpus))
        let ok = try Self.run(["train", "base", "--corpus", corpus, "--out", out, "--vocab-size", "300", "--dim", "32", "--layers", "1",
                               "--heads", "2", "--context", "16", "--batch", "2", "--steps", "4", "--eval-interval", "2", "--eval-batches", "1"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        #expect(summary["steps"] as? Int == 4)
        #expect(summary["validation_loss_per_character"] != nil && summary["bigram_validation_loss_per_token"] != nil)
        let model = try Data(contentsOf: URL(fileURLWithPath: out + "/model.bin"))
        try expectError(["train", "base", "--corpus", corpus, "--out", out], "already holds a training run")
        try expectError(["train", "base", "--corpus", corpus, "--out", out, "--vocab-size", "300", "--dim", "64", "--layers", "1",
                         "--heads", "2", "--context", "16", "--batch", "2", "--steps", "4", "--resume"], "checkpoint from another configuration")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/model.bin")) == model)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["best.bin", "model.bin", "tokenizer.bin", "train_state.bin"])
    }

    @Test("train heads and heads accuracy on a tiny base; heads for another base are refused")
    func heads() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (corpus, base, small) = try Self.tinyBase(in: folder, context: 32)
        #expect(try Self.run(["train", "base", "--out", base, "--steps", "10"] + small).status == 0)
        let headsFile = folder.appendingPathComponent("h.heads").path
        let trained = try Self.run(["train", "heads", "--kind", "hydra", "--base", base, "--corpus", corpus, "--heads", "3",
                                    "--steps", "20", "--batch", "32", "--eval-interval", "10", "--out", headsFile])
        #expect(trained.status == 0, "\(trained.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(trained.stdout.utf8)) as? [String: Any])
        #expect((summary["validation_top1"] as? [Double])?.count == 3)
        #expect(!FileManager.default.fileExists(atPath: headsFile + ".state"), "the resume state is removed when a run completes")

        let table = try Self.run(["heads", "accuracy", "--heads", headsFile, "--base", base, "--corpus", corpus, "--top", "5", "--format", "json"])
        #expect(table.status == 0, "\(table.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(table.stdout.utf8)) as? [String: Any])
        let topK = try #require(report["top_k"] as? [[Double]])
        #expect(topK.count == 3 && topK.allSatisfy { $0.count == 5 && $0 == $0.sorted() })

        let greedy = try Self.run(["heads", "accuracy", "--heads", headsFile, "--base", base, "--corpus", corpus, "--split", "greedy",
                                   "--prompts", "3", "--top", "2", "--format", "json"])
        #expect(greedy.status == 0, "\(greedy.stderr)")
        let greedyReport = try #require(try JSONSerialization.jsonObject(with: Data(greedy.stdout.utf8)) as? [String: Any])
        // 3 sequences of 32 tokens (an 8-token prompt, then greedy); positions decoding drafts from (the last prompt token
        // on) whose 3 heads' targets stay inside their sequence: 7...27, 21 each.
        #expect(greedyReport["positions"] as? Int == 3 * (32 - 4 - 7))
        // Every position's ranks in text order (one run per sequence) and the joint path figures come with the table.
        let sequences = try #require(greedyReport["sequences"] as? [[[Int]]])
        #expect(sequences.count == 3 && sequences.allSatisfy { $0.count == 21 && $0.allSatisfy { $0.count == 3 && $0.allSatisfy { $0 >= -1 && $0 < 2 } } })
        #expect(greedyReport["paths"] as? [[String: Any]] != nil)

        // bench's own prompts, continued greedily; decoding replayed on the ranks.
        let benchTable = try Self.run(["heads", "accuracy", "--heads", headsFile, "--base", base, "--corpus", corpus, "--split", "bench",
                                       "--prompts", "2", "--prompt-length", "8", "--max-tokens", "16", "--format", "json"])
        #expect(benchTable.status == 0, "\(benchTable.stderr)")
        let benchJSON = folder.appendingPathComponent("bench-acc.json").path
        try Data(benchTable.stdout.utf8).write(to: URL(fileURLWithPath: benchJSON))
        let replay = try Self.run(["tree", "replay", "--accuracies", benchJSON, "--trees", "chain-1,chain-3,fork-2x2", "--format", "json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let replayRows = try #require(try JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [[String: Any]])
        #expect(replayRows.map { $0["tree"] as? String } == ["chain-1", "chain-3", "fork-2x2"])
        #expect(replayRows.allSatisfy { ($0["replayed_tau"] as? Double).map { $0 >= 1 && $0 <= 4 } == true })
        try expectError(["heads", "accuracy", "--heads", headsFile, "--base", base, "--corpus", corpus, "--split", "bench", "--max-tokens", "40"],
                        "beyond the model's context of 32 tokens")
        try expectError(["heads", "accuracy", "--heads", headsFile, "--base", base, "--corpus", corpus, "--split", "bench", "--prompt-length", "1"],
                        "--prompt-length must be at least 2")
        try expectError(["tree", "replay", "--accuracies", benchJSON, "--trees", "chain-1,no-such-tree"], "no-such-tree")
        let bare = folder.appendingPathComponent("bare.json").path
        try Data(#"{"top_k": [[0.5, 0.7]]}"#.utf8).write(to: URL(fileURLWithPath: bare))
        try expectError(["tree", "replay", "--accuracies", bare], "no rank sequences to replay on")

        // Heads ending in the base model's own frozen classifier: a smaller file, the same commands, and decoding still equals ar.
        let sharedFile = folder.appendingPathComponent("s.heads").path
        let shared = try Self.run(["train", "heads", "--kind", "hydra", "--shared-classifier", "--base", base, "--corpus", corpus, "--heads", "3",
                                   "--steps", "6", "--batch", "32", "--eval-interval", "3", "--out", sharedFile])
        #expect(shared.status == 0, "\(shared.stderr)")
        let sharedSummary = try #require(try JSONSerialization.jsonObject(with: Data(shared.stdout.utf8)) as? [String: Any])
        #expect(sharedSummary["shared_classifier"] as? Bool == true && summary["shared_classifier"] as? Bool == false)
        #expect(try #require(sharedSummary["parameters"] as? Int) < (try #require(summary["parameters"] as? Int)))
        let sizes = try [headsFile, sharedFile].map { try #require(FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) }
        #expect(sizes[1] < sizes[0])
        let sharedTable = try Self.run(["heads", "accuracy", "--heads", sharedFile, "--base", base, "--corpus", corpus, "--top", "2", "--format", "json"])
        #expect(sharedTable.status == 0, "\(sharedTable.stderr)")
        let prompt = ["generate", "--checkpoint", base + "/model.bin", "--prompt", "to be", "--max-tokens", "24", "--format", "ids"]
        let ar = try Self.run(prompt)
        let drafted = try Self.run(prompt + ["--decoder", "hydra", "--heads", sharedFile, "--tree", "chain-3"])
        #expect(ar.status == 0 && drafted.status == 0, "\(drafted.stderr)")
        #expect(drafted.stdout == ar.stdout)

        // Self-distillation: heads learn the base model's own greedy continuations (whole context windows), recorded in the file.
        let distilledFile = folder.appendingPathComponent("d.heads").path
        let distilled = try Self.run(["train", "heads", "--kind", "hydra", "--teacher", "--data", "greedy", "--greedy-prompts", "3", "--base", base,
                                      "--corpus", corpus, "--heads", "3", "--steps", "6", "--batch", "32", "--eval-interval", "3", "--out", distilledFile])
        #expect(distilled.status == 0, "\(distilled.stderr)")
        let distilledHeads = try Data(contentsOf: URL(fileURLWithPath: distilledFile))
        #expect(String(decoding: distilledHeads.prefix(4096), as: UTF8.self).contains("\"data\":\"greedy\""))
        let distilledRun = try Self.run(prompt + ["--decoder", "hydra", "--heads", distilledFile, "--tree", "chain-2"])
        #expect(distilledRun.status == 0 && distilledRun.stdout == ar.stdout, "\(distilledRun.stderr)")
        try expectError(["train", "heads", "--kind", "hydra", "--base", base, "--corpus", corpus, "--data", "web", "--out", distilledFile + "2"],
                        "--data must be corpus or greedy, got web")

        // Hydra++ (prefix attention, teacher, deeper heads, dropout): batches are whole windows of the base context.
        let plus = folder.appendingPathComponent("p.heads").path
        let hydraPlus = try Self.run(["train", "heads", "--kind", "hydra++", "--base", base, "--corpus", corpus, "--heads", "2",
                                      "--steps", "6", "--batch", "32", "--eval-interval", "3", "--out", plus])
        #expect(hydraPlus.status == 0, "\(hydraPlus.stderr)")
        try expectError(["train", "heads", "--kind", "hydra++", "--base", base, "--corpus", corpus, "--batch", "40", "--out", plus + "2"],
                        "a multiple of 32")

        // Another base of the same shape: the heads are refused with the reason.
        let other = folder.appendingPathComponent("other").path
        #expect(try Self.run(["train", "base", "--out", other, "--steps", "10", "--seed", "5"] + small).status == 0)
        try expectError(["heads", "accuracy", "--heads", headsFile, "--base", other, "--corpus", corpus], "heads were trained for base model")
        try expectError(["heads", "accuracy", "--heads", base + "/model.bin", "--base", base, "--corpus", corpus], "not a HydraSim heads file")
    }

    @Test("generate --decoder: speculative output equals ar; traces are deterministic; bad heads, trees and rules are refused")
    func speculativeGenerate() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (corpus, base, small) = try Self.tinyBase(in: folder, context: 64)
        #expect(try Self.run(["train", "base", "--out", base, "--steps", "60", "--lr", "3e-3"] + small).status == 0)
        let checkpoint = base + "/model.bin"
        for kind in ["medusa", "hydra"] {
            let trained = try Self.run(["train", "heads", "--kind", kind, "--base", base, "--corpus", corpus, "--heads", "4",
                                        "--steps", "20", "--batch", "32", "--eval-interval", "10", "--out", "\(base)/\(kind).heads"])
            #expect(trained.status == 0, "\(trained.stderr)")
        }
        let common = ["generate", "--checkpoint", checkpoint, "--prompt", "to be", "--max-tokens", "40", "--format", "ids"]
        let ar = try Self.run(common)
        #expect(ar.status == 0, "\(ar.stderr)")
        #expect(Set(ar.stdout.split(separator: " ")).count > 3, "a varied continuation: \(ar.stdout)")
        for (decoder, tree) in [("medusa", "chain-2"), ("hydra", "mc_sim_7b_63"), ("hydra", "dynamic:6:2"), ("medusa", "binary-3")] {
            // The heads default to <decoder>.heads beside the checkpoint.
            let spec = try Self.run(common + ["--decoder", decoder, "--tree", tree])
            #expect(spec.status == 0, "\(spec.stderr)")
            #expect(spec.stdout == ar.stdout, "\(decoder) \(tree)")
        }
        // The benchmark: every decoder on held-out prompts, checked against ar token for token.
        let bench = try Self.run(["bench", "--checkpoint", checkpoint, "--corpus", corpus, "--decoders", "ar,medusa,hydra", "--trees", "chain-2,dynamic:4:2",
                                  "--prompts", "2", "--prompt-length", "8", "--max-tokens", "12", "--format", "json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let benchReport = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        let rows = try #require(benchReport["rows"] as? [[String: Any]])
        #expect(rows.count == 5 && rows.allSatisfy { $0["identical_to_ar"] as? Bool == true })
        #expect(rows.allSatisfy { ($0["tau"] as? Double ?? 0) >= 1 && ($0["tokens"] as? Int) == rows[0]["tokens"] as? Int })
        #expect((rows.dropFirst().map { $0["tree"] as? String }) == ["chain-2", "dynamic:4:2", "chain-2", "dynamic:4:2"])
        #expect(benchReport["rule"] as? String == "greedy")
        // Under lossless sampling plain decoding samples too; the tokens need not match, so the check is not made.
        let sampled = try Self.run(["bench", "--checkpoint", checkpoint, "--corpus", corpus, "--decoders", "ar,hydra", "--trees", "chain-2",
                                    "--prompts", "2", "--prompt-length", "8", "--max-tokens", "12", "--rule", "sample", "--temperature", "0.8", "--top-p", "1",
                                    "--format", "json"])
        #expect(sampled.status == 0, "\(sampled.stderr)")
        let sampledReport = try #require(try JSONSerialization.jsonObject(with: Data(sampled.stdout.utf8)) as? [String: Any])
        #expect(sampledReport["rule"] as? String == "sample (T 0.8, top-p 1)")
        let sampledRows = try #require(sampledReport["rows"] as? [[String: Any]])
        #expect(sampledRows.count == 2 && sampledRows.allSatisfy { $0["identical_to_ar"] is NSNull || $0["identical_to_ar"] == nil })
        try expectError(["bench", "--checkpoint", checkpoint, "--corpus", corpus, "--decoders", "ar,eagle"], "unknown decoder 'eagle'")

        // Traces: the same run twice gives the same bytes; the trace adds up.
        let t1 = folder.appendingPathComponent("t1.json").path, t2 = folder.appendingPathComponent("t2.json").path
        let traced = common + ["--decoder", "hydra", "--tree", "fork-2x2", "--rule", "sample", "--temperature", "0.8", "--seed", "7"]
        #expect(try Self.run(traced + ["--trace", t1]).status == 0)
        #expect(try Self.run(traced + ["--trace", t2]).status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: t1))
        #expect(bytes == (try Data(contentsOf: URL(fileURLWithPath: t2))))
        let trace = try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
        #expect(trace["format"] as? String == "hydrasim-trace" && trace["format_version"] as? Int == 1)
        let steps = try #require(trace["steps"] as? [[String: Any]])
        let tokens = try #require(trace["tokens"] as? [Int])
        #expect(steps.map { ($0["emitted"] as? [Int])?.count ?? 0 }.reduce(0, +) == tokens.count)
        #expect(steps.allSatisfy { ($0["nodes"] as? [[String: Any]])?.first?["outcome"] as? String == "accepted" })
        #expect(trace["settings"].flatMap { ($0 as? [String: Any])?["rule"] as? [String: Any] }?["name"] as? String == "sample")

        // Refusals, one line each.
        try expectError(common + ["--decoder", "medusa", "--heads", "\(base)/hydra.heads"], "holds hydra heads")
        try expectError(common + ["--decoder", "hydra", "--tree", "dynamic:x"], "dynamic:N")
        try expectError(common + ["--decoder", "hydra", "--tree", "chain-9"], "only 4 heads")
        try expectError(common + ["--decoder", "hydra", "--rule", "greedy", "--temperature", "0.5"], "--rule greedy")
        let badTree = folder.appendingPathComponent("tree.json").path
        try Data("[[0], [0, 1, 2]]".utf8).write(to: URL(fileURLWithPath: badTree))
        try expectError(common + ["--decoder", "hydra", "--tree", badTree], "has no parent: [0, 1] is missing")
        try expectError(["generate", "--checkpoint", Self.stories, "--prompt-ids", "1", "--decoder", "hydra", "--heads", "\(base)/hydra.heads"],
                        "do not fit this model")
        try expectError(["generate", "--checkpoint", Self.stories, "--prompt-ids", "1", "--decoder", "hydra"], "no heads for decoder hydra")
        try expectError(["generate", "--checkpoint", checkpoint, "--prompt", "to be", "--decoder", "hydra", "--max-tokens", "20", "--trace", folder.path + "/no/such/dir/t.json"], "t.json")
    }

    @Test("tree optimize and cost: Medusa's published table, a projected GPU speedup")
    func treeDesign() throws {
        let csv = PackagePaths.sharedFile("reference/medusa_head_accuracy.csv")
        let r = try Self.run(["tree", "optimize", "--accuracies", csv, "--row", "7b", "--nodes", "10", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let paths = try #require(report["paths"] as? [[Int]])
        #expect(paths.count == 10 && paths[0] == [0] && paths[1] == [0, 0])
        #expect((report["predicted_tau"] as? Double).map { $0 > 1.5 && $0 < 3 } == true)
        try expectError(["tree", "optimize", "--accuracies", csv, "--nodes", "10"], "pick one with --row")
        let cost = try Self.run(["cost", "--device", "a100", "--model", "vicuna-7b", "--tau", "3.04", "--tree-nodes", "64", "--format", "json"])
        #expect(cost.status == 0, "\(cost.stderr)")
        let costReport = try #require(try JSONSerialization.jsonObject(with: Data(cost.stdout.utf8)) as? [String: Any])
        let speedup = try #require((costReport["rows"] as? [[String: Any]])?.first?["projected_speedup"] as? Double)
        #expect(speedup > 2 && speedup < 3.04)
        try expectError(["cost", "--tau", "0.5"], "at least 1")
        try expectError(["bench", "--decoders", "ar,hydra", "--rule", "greedy", "--temperature", "0.5"], "--temperature 0.5 needs --rule typical or sample")
        try expectError(["bench", "--decoders", "ar,hydra", "--rule", "sample", "--temperature=-1"], "--temperature must be a finite number >= 0, got -1.0")
        try expectError(["cost", "--sizes", "1,4"], "add --measure")
        try expectError(["cost", "--measure", "--sizes", "1,x"], "'x' is not a number of tokens")
        try expectError(["cost", "--measure", "--sizes", "0"], "a tree has 1 to 4096 tokens")
        try expectError(["cost", "--measure", "--repeats", "0"], "--repeats must be between 1 and 100000")
        try expectError(["bench", "--decoders", "ar,hydra", "--head-precision", "f8"], "unknown weight precision 'f8' (f16 or f32)")
        let badPrecision = try Self.run(["generate", "--decoder", "hydra", "--head-precision", "f8"])
        #expect(badPrecision.status != 0 && badPrecision.stderr.hasPrefix("Error: The value 'f8' is invalid for '--head-precision"))
        // Timed on the spot: pass(1) and pass(4) over the house model, a few repeats.
        let measured = try Self.run(["cost", "--measure", "--sizes", "4", "--repeats", "3", "--format", "json"])
        #expect(measured.status == 0, "\(measured.stderr)")
        let passes = try #require((try JSONSerialization.jsonObject(with: Data(measured.stdout.utf8)) as? [String: Any])?["measured"] as? [String: Any])
        #expect((passes["pass_milliseconds"] as? [String: Double]).map { Set($0.keys) } == ["1", "4"])
    }

    @Test("trace: the second decoder drafts the first one's prefix at every step; --independent pairs free runs")
    func alignedTrace() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func traces(_ extra: [String], _ name: String) throws -> (lead: [String: Any], follow: [String: Any], stdout: String) {
            let out = folder.appendingPathComponent(name).path
            let r = try Self.run(["trace", "--prompt", "ROMEO:", "--decoders", "medusa,hydra", "--tree", "fork-2x2", "--steps", "6", "--out", out] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            func read(_ file: String) throws -> [String: Any] {
                try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/\(file)"))) as? [String: Any])
            }
            return (try read("medusa.trace.json"), try read("hydra.trace.json"), r.stdout)
        }
        func prefixes(_ t: [String: Any]) -> [Int] { ((t["steps"] as? [[String: Any]]) ?? []).compactMap { $0["prefix_length"] as? Int } }
        let aligned = try traces([], "aligned")
        #expect(prefixes(aligned.follow) == prefixes(aligned.lead) && prefixes(aligned.lead).count == 6)
        #expect(aligned.follow["leader"] as? String == "medusa")
        #expect(aligned.follow["free_running_tau"] is Double)
        #expect(aligned.stdout.contains("hydra on medusa's prefixes: 6 steps, tau "))
        let independent = try traces(["--independent"], "independent")
        #expect(independent.follow["leader"] == nil)
        #expect(prefixes(independent.follow) != prefixes(independent.lead))   // hydra accepts more, so its prefixes run ahead
    }

    @Test("trace and diagram: a short autoregressive trace, its diagrams, and one-line errors for bad input")
    func traceAndDiagram() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectError(["diagram", "--trace", folder.appendingPathComponent("none.json").path, "--out", folder.appendingPathComponent("x.svg").path],
                        "none.json: no such trace file")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.svg").path))
        try expectError(["diagram", "--trace", Self.stories, "--out", folder.appendingPathComponent("x.svg").path], "not a HydraSim trace")
        try expectError(["trace", "--prompt", "hi", "--decoders", "medusa,bogus"], "unknown decoder 'bogus'")
        try expectError(["trace", "--prompt", "hi", "--decoders", "medusa", "--heads-dir", folder.path, "--out", folder.appendingPathComponent("r").path],
                        "medusa.heads does not exist")

        // The house model, no heads: three steps of one token each.
        let out = folder.appendingPathComponent("run").path
        let traced = try Self.run(["trace", "--prompt", "ROMEO:", "--decoders", "ar", "--steps", "3", "--out", out, "--color", "never"])
        #expect(traced.status == 0, "\(traced.stderr)")
        #expect(!traced.stdout.contains("\u{1B}["))
        #expect(traced.stdout.contains("step 1 · ar · greedy · root only"))
        #expect(traced.stdout.contains("index.html"))
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == ["ar", "ar.trace.json", "index.html", "mask.svg", "trace.txt"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/ar").sorted()
                == ["step-001.dot", "step-001.svg", "step-002.dot", "step-002.svg", "step-003.dot", "step-003.svg"])
        try expectError(["trace", "--prompt", "ROMEO:", "--decoders", "ar", "--steps", "3", "--out", out], "already exists and is not empty")

        let trace = out + "/ar.trace.json"
        let svg = folder.appendingPathComponent("s.svg").path
        let drawn = try Self.run(["diagram", "--trace", trace, "--step", "2", "--format", "svg", "--out", svg])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        #expect(try String(contentsOfFile: svg, encoding: .utf8).contains("<svg"))
        let png = folder.appendingPathComponent("s.png").path
        #expect(try Self.run(["diagram", "--trace", trace, "--contrast", trace, "--step", "1", "--format", "png", "--out", png]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: png)).prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        let dot = folder.appendingPathComponent("m.dot").path
        #expect(try Self.run(["diagram", "--trace", trace, "--mask", "--format", "dot", "--out", dot]).status == 0)
        #expect(try String(contentsOfFile: dot, encoding: .utf8).hasPrefix("digraph mask {"))
        try expectError(["diagram", "--trace", trace, "--step", "9", "--out", svg], "step 9 does not exist: the ar trace has steps 1...3")
        try expectError(["diagram", "--trace", trace, "--format", "gif", "--out", svg], "--format must be dot, svg, png or pdf, got 'gif'")
        try expectError(["diagram", "--trace", trace, "--out", folder.appendingPathComponent("no/x.svg").path], "does not exist")
    }
}
