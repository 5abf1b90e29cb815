import DraftHeads
import ArgumentParser
import Foundation
import Numerics
import LanguageModel
import Speculation

/// `hydrasim tree`: candidate trees and their derived buffers (reference §3).
struct TreeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tree",
        abstract: "Inspect candidate trees.",
        subcommands: [Buffers.self, Optimize.self, Replay.self]
    )

    /// `hydrasim tree buffers`: the tree attention mask, position ids and retrieve indices.
    struct Buffers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a tree's paths, attention mask, position offsets and retrieve indices.",
            discussion: "Node 0 is the root; paths are sorted by (length, lexicographic); retrieve rows are padded with -1."
        )

        @Option(name: .long, help: "A tree: mc_sim_7b_63, chain-N, fork-2x2, broom-3, binary-3, or a JSON file of rank paths.")
        var tree = "mc_sim_7b_63"

        @Option(name: .long, help: "json or text.") var format = "json"

        struct Report: Encodable {
            var paths: [[Int]]
            var mask: [[Int]]
            var positions: [Int]
            var retrieve: [[Int]]
        }

        func validate() throws {
            if !["json", "text"].contains(format) { throw CLIError("--format must be json or text, got \(format)") }
        }

        func run() throws {
            let t = try CandidateTree.load(tree, presetFolder: Fixtures.root.map { "\($0)/trees" })
            let report = Report(paths: t.paths, mask: t.attentionMask.map { $0.map { $0 ? 1 : 0 } }, positions: t.positionOffsets,
                                retrieve: t.retrieveIndices)
            if format == "json" {
                // One row per line: readable and still valid JSON.
                let rows = { (m: [[Int]]) in "[\n" + m.map { "    " + $0.description }.joined(separator: ",\n") + "\n  ]" }
                print("{\n  \"paths\": \(rows(report.paths)),\n  \"mask\": \(rows(report.mask)),\n  \"positions\": \(report.positions),\n  \"retrieve\": \(rows(report.retrieve))\n}")
                return
            }
            print("\(tree): root + \(t.paths.count) draft nodes, depth \(t.depth), nodes per depth \(t.nodesPerDepth), \(t.leaves.count) root-to-leaf paths")
            for (i, row) in report.mask.enumerated() {
                let label = i == 0 ? "root" : "\(t.paths[i - 1])"
                print(String(format: "%3d ", i) + label.padding(toLength: 14, withPad: " ", startingAt: 0) + " "
                      + row.map { $0 == 1 ? "#" : "." }.joined())
            }
        }
    }

    /// `hydrasim tree optimize`: Medusa's greedy tree search from an accuracy table (reference §3).
    struct Optimize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Choose a tree of N nodes from per-head accuracies (Medusa's greedy search) and predict its tau.",
            discussion: """
            The value of a node is the chance that its whole rank path is accepted: measured jointly when the table
            comes from `hydrasim heads accuracy --format json` (its "paths"), else the product of the path's rank
            accuracies (heads assumed independent, as Medusa's search does; --independent forces it). The frontier
            node with the highest value is added until N nodes are chosen. Predicted tau = 1 + the sum of the values.
            Such a table also holds each head's rank at every position in text order; greedy decoding is replayed on
            it (a step accepts the deepest node its ranks match and moves past what it emits), which gives the tau
            `hydrasim bench` measures on the same text ("replayed tau"; --objective speedup uses it).
            Examples:
              hydrasim heads accuracy --heads Fixtures/models/house/hydra.heads --format json > acc.json
              hydrasim heads accuracy --heads Fixtures/models/house/hydra-distilled.heads --split bench --format json > bench-acc.json
              hydrasim tree optimize --accuracies bench-acc.json --nodes 10 --objective speedup --heads Fixtures/models/house/hydra-distilled.heads --format text
              hydrasim tree optimize --accuracies acc.json --nodes 15 --out tree15.json
              hydrasim tree optimize --accuracies medusa_head_accuracy.csv --row 7b --nodes 63 --width 10
            """
        )

        @Option(name: .long, help: "Accuracy table: JSON or CSV of `hydrasim heads accuracy`, or Medusa's training-log CSV.")
        var accuracies: String
        @Option(name: .long, help: "With a Medusa training log: the run to use (its Name, e.g. 7b).") var row: String?
        @Option(name: .long, help: "Nodes to choose (the root not counted).") var nodes: Int
        @Option(name: .customLong("max-depth"), help: "Deepest path (default: the number of heads in the table).") var maxDepth: Int?
        @Option(name: .long, help: "Candidates per head (default: every rank in the table).") var width: Int?
        @Option(name: .long, help: "json or text.") var format = "json"
        @Flag(name: .long, help: "Value paths by the product of per-rank accuracies even when the table has joint figures (Medusa's assumption).")
        var independent = false
        @Option(name: .long, help: "Also write the chosen paths as a tree file usable with --tree.") var out: String?
        @Option(name: .long, help: "tau: the N nodes with the highest expected acceptance (Medusa's search); speedup: of the greedy trees of 1...N nodes, the one with the highest projected speedup on this machine (measured pass and draft times; needs --heads).")
        var objective = "tau"
        @Option(name: .long, help: "With --objective speedup: the heads that will draft the tree (their drafting is timed).") var heads: String?
        @Option(name: .customLong("head-precision"), help: "With --objective speedup: the precision the heads draft in (f16 or f32).")
        var headPrecision: WeightPrecision = .half
        @Option(name: .long, help: "With --objective speedup: timed steps (drafting, then the pass) per tree size; the sizes take turns and the median counts.")
        var repeats = 51
        @OptionGroup var model: ModelOptions

        struct Report: Encodable {
            var accuracies: String
            /// "joint" (measured path acceptance) or "independent" (products of per-rank accuracies).
            var acceptanceModel: String
            var nodes: Int
            var paths: [[Int]]
            var values: [Double]
            var predictedTau: Double
            var predictedTauByNodes: [Double]
            /// Tau of greedy decoding replayed on the table's measured ranks (tables from `heads accuracy --format json`).
            var replayedTau: Double?
            var replayedTauByNodes: [Double]?
            /// With --objective speedup: every candidate tree's measured costs and projected speedup.
            var candidates: [SpeedupTreeSearch.Candidate]?
        }

        func validate() throws {
            if !["json", "text"].contains(format) { throw CLIError("--format must be json or text, got \(format)") }
            if nodes < 1 { throw CLIError("--nodes must be at least 1, got \(nodes)") }
            if let maxDepth, maxDepth < 1 { throw CLIError("--max-depth must be at least 1, got \(maxDepth)") }
            if let width, width < 1 { throw CLIError("--width must be at least 1, got \(width)") }
            if !["tau", "speedup"].contains(objective) { throw CLIError("--objective must be tau or speedup, got \(objective)") }
            if repeats < 1 { throw CLIError("--repeats must be at least 1, got \(repeats)") }
            if objective == "speedup" && heads == nil { throw CLIError("--objective speedup needs --heads (the heads whose drafting is timed)") }
        }

        func run() throws {
            let read = try HeadAccuracyTable.read(accuracies, row: row)
            let table = independent ? read.independent : read
            var chosen = try GreedyTreeSearch.search(table, nodes: nodes, maxDepth: maxDepth, width: width)
            if chosen.count < nodes { printError("only \(chosen.count) nodes fit within depth and width limits") }
            var candidates: [SpeedupTreeSearch.Candidate]?
            if objective == "speedup", let heads {
                let transformer = try model.loadModel()
                let set = try DraftHeadsFile.read(heads, base: transformer.weights)
                // Each greedy prefix's drafting and verification pass, timed in turn as decoding runs them.
                let steps = try chosen.indices.map { i -> (proposer: CandidateProposer?, tokens: Int, accepted: Int) in
                    let paths = chosen[...i].map(\.path)
                    let tree = try CandidateTree(paths: paths)
                    let proposer = try TreeProposer(heads: set, tree: tree, embedding: transformer.weights.tokenEmbedding, precision: headPrecision)
                    let tau = GreedyTreeSearch.replayedTau(paths, table) ?? GreedyTreeSearch.predictedTau(tree, table)
                    return (proposer, i + 2, max(1, Int(tau.rounded())))
                }
                let costs = try measureStepCosts(transformer, steps: [(nil, 1, 1)] + steps, repeats: repeats)
                let evaluated = SpeedupTreeSearch.evaluate(chosen, passSeconds: { n in n >= 1 && n <= costs.count ? costs[n - 1].passSeconds : .infinity }) { paths in
                    paths.count < costs.count ? costs[paths.count].draftSeconds : .infinity
                }
                candidates = evaluated
                if let best = SpeedupTreeSearch.best(evaluated) { chosen = Array(chosen.prefix(best.nodes)) }
            }
            if let out {
                let data = Data(("{\"paths\": [" + chosen.map { $0.path.description }.joined(separator: ", ") + "]}\n").utf8)
                try AtomicFile.write(data, to: out)
            }
            let report = Report(accuracies: accuracies, acceptanceModel: table.joint == nil ? "independent" : "joint", nodes: chosen.count, paths: chosen.map(\.path), values: chosen.map(\.value),
                                predictedTau: chosen.last?.predictedTau ?? 1, predictedTauByNodes: chosen.map(\.predictedTau),
                                replayedTau: chosen.last?.replayedTau, replayedTauByNodes: table.sequences == nil ? nil : chosen.map { $0.replayedTau ?? 1 },
                                candidates: candidates)
            if format == "json" { return try printJSON(report) }
            if let candidates {
                print("nodes  predicted tau  replayed tau  verify ms  draft ms  projected speedup")
                for c in candidates {
                    let replayed = c.replayedTau.map { String(format: "%12.3f", $0) } ?? String(repeating: " ", count: 11) + "-"
                    print(String(format: "%5d  %13.3f  %@  %9.3f  %8.3f  %16.2fx%@", c.nodes, c.predictedTau, replayed as NSString,
                                 c.verifySeconds * 1e3, c.draftSeconds * 1e3, c.projectedSpeedup, c.nodes == chosen.count ? "  <- chosen" : ""))
                }
            }
            let replayed = report.replayedTau.map { String(format: ", replayed on the measured ranks %.3f", $0) } ?? ""
            print("\(chosen.count) nodes from \(accuracies) (\(report.acceptanceModel) path acceptance): predicted tau \(String(format: "%.3f", report.predictedTau))\(replayed)")
            for (i, c) in chosen.enumerated() {
                let r = c.replayedTau.map { String(format: "  replayed %.3f", $0) } ?? ""
                print(String(format: "%3d  %-20@ value %.4f  tau %.3f%@", i + 1, c.path.description as NSString, c.value, c.predictedTau, r as NSString))
            }
        }
    }

    /// `hydrasim tree replay`: the tau of given trees, replayed on measured ranks and as the mean over positions.
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay greedy decoding of trees on a table's measured ranks (the tau bench measures on that text).",
            discussion: """
            The table must come from `hydrasim heads accuracy --format json` (its "sequences": each head's rank at every
            position). For each tree: the replayed tau (a step accepts the deepest node its ranks match and moves past
            what it emits), the mean over positions (1 + the sum of node values, joint when the table has "paths") and
            the mean as if heads were independent.
            Example:
              hydrasim heads accuracy --heads Fixtures/models/house/hydra.heads --split bench --format json > acc.json
              hydrasim tree replay --accuracies acc.json --trees chain-1,chain-2,chain-3,house-4,mc_sim_7b_63 --format text
            """
        )

        @Option(name: .long, help: "Accuracy table with rank sequences: the JSON of `hydrasim heads accuracy`.") var accuracies: String
        @Option(name: .long, help: "Trees to replay (comma-separated): shipped names, chain-N, presets or JSON files of rank paths.")
        var trees = "chain-1,chain-2,chain-3"
        @Option(name: .long, help: "json or text.") var format = "json"

        struct Row: Encodable {
            var tree: String
            var nodes: Int
            var replayedTau: Double
            var meanTau: Double
            var independentTau: Double
        }

        func validate() throws {
            if !["json", "text"].contains(format) { throw CLIError("--format must be json or text, got \(format)") }
            if trees.split(separator: ",").isEmpty { throw CLIError("--trees needs at least one tree") }
        }

        func run() throws {
            let table = try HeadAccuracyTable.read(accuracies)
            guard table.sequences != nil else {
                throw CLIError("\(accuracies): no rank sequences to replay on (write the table with `hydrasim heads accuracy --format json`)")
            }
            let rows = try trees.split(separator: ",").map(String.init).map { name -> Row in
                let tree = try CandidateTree.load(name, presetFolder: Fixtures.root.map { "\($0)/trees" })
                return Row(tree: name, nodes: tree.paths.count, replayedTau: GreedyTreeSearch.replayedTau(tree.paths, table) ?? 1,
                           meanTau: GreedyTreeSearch.predictedTau(tree, table), independentTau: GreedyTreeSearch.predictedTau(tree, table.independent))
            }
            if format == "json" { return try printJSON(rows) }
            print("tree              nodes  replayed tau  mean over positions  independent heads")
            for r in rows {
                print(r.tree.padding(toLength: 16, withPad: " ", startingAt: 0)
                      + String(format: "  %5d  %12.3f  %19.3f  %17.3f", r.nodes, r.replayedTau, r.meanTau, r.independentTau))
            }
        }
    }

}
