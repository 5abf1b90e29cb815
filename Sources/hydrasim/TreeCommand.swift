import ArgumentParser
import Foundation
import Speculation

/// `hydrasim tree`: candidate trees and their derived buffers (SPEC §3).
struct TreeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tree",
        abstract: "Inspect candidate trees.",
        subcommands: [Buffers.self]
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
            print("\(tree): \(t.paths.count) nodes + root, depth \(t.depth), nodes per depth \(t.nodesPerDepth), \(t.leaves.count) root-to-leaf paths")
            for (i, row) in report.mask.enumerated() {
                let label = i == 0 ? "root" : "\(t.paths[i - 1])"
                print(String(format: "%3d ", i) + label.padding(toLength: 14, withPad: " ", startingAt: 0) + " "
                      + row.map { $0 == 1 ? "#" : "." }.joined())
            }
        }
    }
}
