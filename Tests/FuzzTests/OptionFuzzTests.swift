import Foundation
import Testing
import ArgumentParser
@testable import hydrasim
import LanguageModel
import Speculation

/// Numeric command-line options, parsed and validated in process as `hydrasim` does (no model is loaded): every
/// value is accepted or refused with one line, never a trap; the checks that allocate (model shapes, trees) are run.
@Suite("Fuzzing the numeric options", .serialized)
struct OptionFuzzTests {
    /// Command prefixes with their required options, and the numeric options each takes.
    static let commands: [(prefix: [String], numeric: [String])] = [
        (["generate", "--prompt-ids", "1"], ["--max-tokens", "--temperature", "--top-p", "--seed", "--threads", "--eps", "--delta"]),
        (["trace", "--prompt", "x"], ["--steps", "--temperature", "--top-p", "--seed", "--threads", "--eps", "--delta"]),
        (["diagram", "--trace", "t.json", "--out", "o.svg"], ["--step"]),
        (["train", "base", "--out", "o"], ["--vocab-size", "--dim", "--hidden-dim", "--layers", "--heads", "--kv-heads", "--context", "--steps",
                                            "--batch", "--eval-interval", "--eval-batches", "--seed", "--lr", "--warmup", "--weight-decay", "--clip", "--threads"]),
        (["train", "heads", "--out", "o.heads"], ["--heads", "--layers", "--dropout", "--noise", "--steps", "--batch", "--eval-interval", "--seed", "--lr"]),
        (["checkpoint", "init", "--out", "o.bin"], ["--dim", "--hidden-dim", "--layers", "--heads", "--kv-heads", "--vocab-size", "--context", "--seed"]),
        (["tree", "optimize", "--accuracies", "a.json"], ["--nodes", "--max-depth", "--width"]),
        (["cost"], ["--parameters", "--tau", "--tree-nodes"]),
        (["bench"], ["--prompts", "--prompt-length", "--max-tokens", "--threads", "--tokens", "--runs"]),
        (["heads", "accuracy", "--heads", "h.heads"], ["--top", "--limit", "--prompts"]),
        (["bench-render", "--trace", "t.json"], ["--step", "--repeats", "--renders", "--fresh-renders"]),
    ]

    static let values = ["0", "-1", "1", "2", "3", "7", "64", "255", "256", "257", "4095", "4096", "2147483647", "2147483648", "-2147483648",
                         "9223372036854775807", "9223372036854775808", "-9223372036854775808", "99999999999999999999", "1e309", "-1e309",
                         "1e-45", "1e38", "nan", "NaN", "inf", "-inf", "0x10", "", " ", "1.5", "-0", "0.0", "abc", "1,2", "١٢", "+5", "--"]

    @Test("numeric options: parse and validate never trap; refusals are one line")
    func numericOptions() throws {
        var random = FuzzRandom(seed: 6)
        var refused = 0, accepted = 0
        var messages = Set<String>()
        let count = FuzzSettings.cases(default: 500)
        let start = ContinuousClock.now
        for index in 0..<count {
            let (prefix, numeric) = Self.commands[index % Self.commands.count]
            var arguments = prefix
            for _ in 0..<(1 + random.below(3)) {
                let value = random.chance(0.8) ? random.pick(Self.values) : String(Int64(bitPattern: random.next()) >> random.below(64))
                arguments += [random.pick(numeric), value]
            }
            if let file = FuzzSettings.lastCaseFile { try? Data("options \(index) \(arguments)\n".utf8).write(to: URL(fileURLWithPath: file)) }
            do {
                let command = try HydraSim.parseAsRoot(arguments)
                try Self.allocationChecks(command)
                accepted += 1
            } catch {
                refused += 1
                let message = HydraSim.message(for: error)
                messages.insert(FuzzStats.kind(message))
                #expect(!message.isEmpty && !message.contains("\n"), "\(arguments): \(message)")
            }
        }
        var stats = FuzzStats(format: "options")
        stats.cases = count; stats.accepted = accepted; stats.rejected = refused
        stats.kinds = Dictionary(uniqueKeysWithValues: messages.map { ($0, 1) })
        stats.distinctMessages = messages
        stats.seconds = (ContinuousClock.now - start).seconds
        print("fuzz " + stats.summary)
        if let file = FuzzSettings.reportFile, let handle = FileHandle(forWritingAtPath: file) {
            handle.seekToEndOfFile(); handle.write(Data((stats.json + "\n").utf8)); try? handle.close()
        }
        #expect(refused > 0 && accepted > 0)
    }

    /// The checks a command runs on its sizes before allocating (the rest of `run` needs models and files).
    static func allocationChecks(_ command: ParsableCommand) throws {
        switch command {
        case let c as CheckpointCommand.Init:
            let config = try checkedModelShape(dim: c.dim, hiddenDim: c.hiddenDim, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads ?? c.heads,
                                               vocabularySize: c.vocabSize, context: c.context, sharedClassifier: !c.untied)
            if let problem = config.problem { throw CLIError(problem) }
        case let c as GenerateCommand:
            // The tree option of generate: presets, chain-N and dynamic:N:W sizes are bounded before allocation.
            if c.speculation.verification.tree.hasPrefix("chain-") {
                _ = try CandidateTree.load(c.speculation.verification.tree, presetFolder: nil)
            }
        default: break
        }
    }

    @Test("tree specs on the command line: chain-N and sizes far beyond any context are refused before allocating")
    func treeSpecs() throws {
        for spec in ["chain-0", "chain--1", "chain-300", "chain-4096", "chain-99999999999", "chain-9223372036854775807", "chain-x"] {
            do {
                let tree = try CandidateTree.load(spec, presetFolder: nil)
                #expect(tree.nodeCount <= CandidateTree.maxNodes, "\(spec)")
            } catch let error as TreeError {
                #expect(!error.problem.contains("\n"))
            }
        }
    }
}
