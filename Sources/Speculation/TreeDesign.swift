import Foundation
import DraftHeads

/// Per-head, per-rank accuracies: `rank[k][r]` is the probability that head `k+1`'s rank-`r` guess is
/// right (reference §3, "Tree design"; rank accuracy = top(r+1) − top(r) of a top-k table).
///
/// With `joint` (measured by `hydrasim heads accuracy`), a path's value is how often the whole path was right
/// together; without it, the product of its ranks' accuracies, as if the heads were independent.
public struct HeadAccuracyTable: Equatable, Sendable {
    public let rank: [[Double]]
    /// Measured joint acceptance of rank paths (`[r1, ..., rk]` -> fraction of positions where all k were right);
    /// a path missing from it was right too rarely to be listed and is worth 0.
    public let joint: [[Int]: Double]?
    /// Measured ranks in text order (`sequences[s][j][k-1]`: head k's rank of its target at position j of run s, -1 when
    /// outside the table), on which decoding can be replayed (`GreedyTreeSearch.replayedTau`).
    public let sequences: [[[Int]]]?

    public init(rank: [[Double]], joint: [[Int]: Double]? = nil, sequences: [[[Int]]]? = nil) {
        self.rank = rank
        self.joint = joint
        self.sequences = sequences
    }

    /// From cumulative top-1..top-k accuracies per head.
    public init(topK: [[Double]], joint: [[Int]: Double]? = nil, sequences: [[[Int]]]? = nil) {
        rank = topK.map { row in row.indices.map { $0 == 0 ? row[0] : max(0, row[$0] - row[$0 - 1]) } }
        self.joint = joint
        self.sequences = sequences
    }

    /// A table measured from rank sequences (`sequences[s][j][k-1]`: head k's rank of its target at position j of run s,
    /// -1 a miss; ranks below `top`), as `hydrasim heads accuracy` measures one: `rank[k][r]` is the share of positions
    /// where head k+1's target is its rank-r guess, `joint[path]` the share of positions whose ranks begin with `path`
    /// (every path seen, where `heads accuracy` lists those seen at two positions or more), and the sequences are kept
    /// for `GreedyTreeSearch.replayedTau`. The hand-made sequences of Lesson 8's exercises are valued this way.
    public init(sequences: [[[Int]]], top: Int) throws {
        guard top >= 1 else { throw TreeError("a rank table needs at least one rank per head, got top \(top)") }
        guard let heads = sequences.first?.first?.count, heads >= 1 else {
            throw TreeError("no ranks: rank sequences need at least one position with a rank per head")
        }
        var rankCounts = [[Int]](repeating: [Int](repeating: 0, count: top), count: heads)
        var positions = 0
        for (s, run) in sequences.enumerated() {
            guard !run.isEmpty else { throw TreeError("run \(s + 1) of the rank sequences has no positions") }
            for (j, ranks) in run.enumerated() {
                guard ranks.count == heads else {
                    throw TreeError("run \(s + 1), position \(j + 1) has \(ranks.count) ranks; every position has one per head (\(heads))")
                }
                if let bad = ranks.first(where: { $0 < -1 || $0 >= top }) {
                    throw TreeError("run \(s + 1), position \(j + 1): rank \(bad) is not in -1..<\(top) (-1 a miss)")
                }
                for (k, r) in ranks.enumerated() where r >= 0 { rankCounts[k][r] += 1 }
                positions += 1
            }
        }
        let n = Double(positions)
        self.init(rank: rankCounts.map { $0.map { Double($0) / n } }, joint: HeadAccuracy.pathCounts(sequences).mapValues { Double($0) / n },
                  sequences: sequences)
    }

    public var heads: Int { rank.count }
    public var width: Int { rank.map(\.count).min() ?? 0 }

    /// The same table valuing paths without the joint figures (Medusa's independence assumption); the rank sequences,
    /// which describe the text rather than a model of it, are kept.
    public var independent: HeadAccuracyTable { HeadAccuracyTable(rank: rank, sequences: sequences) }

    /// The chance that every guess on `path` is right: measured jointly when the table has joint figures, else the
    /// product of the per-rank accuracies. 0 for a path deeper or wider than the table.
    public func value(_ path: [Int]) -> Double {
        guard path.count <= heads, path.enumerated().allSatisfy({ $0.element >= 0 && $0.element < rank[$0.offset].count }) else { return 0 }
        if let joint { return joint[path] ?? 0 }
        return path.enumerated().reduce(1) { $0 * rank[$1.offset][$1.element] }
    }

    /// Reads a table from the JSON of `hydrasim heads accuracy` (`{"top_k": [[...], ...]}`), its CSV
    /// (`head,top1,...`), or a Medusa training-log CSV with `medusa{k}_top{r}` columns, one run per row
    /// (`row` picks the run by its `Name`; needed when there are several).
    public static func read(_ path: String, row: String? = nil) throws -> HeadAccuracyTable {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw TreeError("\(path): cannot read the accuracy table")
        }
        if text.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            struct PathAcceptance: Decodable { var path: [Int]; var accepted: Double }
            struct Report: Decodable { var topK: [[Double]]; var paths: [PathAcceptance]?; var sequences: [[[Int]]]? }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            guard let report = try? decoder.decode(Report.self, from: data), !report.topK.isEmpty else {
                throw TreeError("\(path): JSON without a \"top_k\" table (expected the output of `hydrasim heads accuracy --format json`)")
            }
            var joint: [[Int]: Double]?
            if let paths = report.paths, !paths.isEmpty {
                var table: [[Int]: Double] = [:]
                for p in paths {
                    guard !p.path.isEmpty, p.path.count <= report.topK.count, p.path.allSatisfy({ $0 >= 0 && $0 < report.topK[0].count }) else {
                        throw TreeError("\(path): path \(p.path) does not fit a table of \(report.topK.count) heads and \(report.topK[0].count) ranks")
                    }
                    guard p.accepted >= 0 && p.accepted <= 1 else { throw TreeError("\(path): path \(p.path)'s acceptance \(p.accepted) is not in [0, 1]") }
                    table[p.path] = p.accepted
                }
                joint = table
            }
            if let sequences = report.sequences {
                let K = report.topK.count, R = report.topK[0].count
                for run in sequences {
                    for ranks in run where ranks.count != K || ranks.contains(where: { $0 < -1 || $0 >= R }) {
                        throw TreeError("\(path): sequence entry \(ranks) is not \(K) ranks in -1..<\(R)")
                    }
                }
            }
            return try checked(HeadAccuracyTable(topK: report.topK, joint: joint, sequences: report.sequences.flatMap { $0.isEmpty ? nil : $0 }), path: path)
        }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard let header = lines.first.map(csvFields) else { throw TreeError("\(path): empty accuracy table") }
        if header.first == "head" {
            let rows = try lines.dropFirst().map { line -> [Double] in
                let fields = csvFields(line)
                let values = fields.dropFirst().compactMap(Double.init)
                guard values.count == header.count - 1 else { throw TreeError("\(path): malformed row '\(line)'") }
                return values
            }
            return try checked(HeadAccuracyTable(topK: rows), path: path)
        }
        // Medusa's training log: columns like "train/medusa0_top1".
        var columns: [(head: Int, top: Int, index: Int)] = []
        for (i, name) in header.enumerated() {
            guard let range = name.range(of: #"medusa(\d+)_top(\d+)$"#, options: .regularExpression) else { continue }
            let parts = name[range].dropFirst(6).split(separator: "_top")
            if parts.count == 2, let k = Int(parts[0]), let r = Int(parts[1]) { columns.append((k, r, i)) }
        }
        guard !columns.isEmpty else {
            throw TreeError("\(path): no accuracy columns (expected `head,top1,...` or Medusa's `medusa{k}_top{r}` columns)")
        }
        let runs = lines.dropFirst().map(csvFields)
        let nameIndex = header.firstIndex(of: "Name")
        let chosen: [String]
        if let row {
            guard let nameIndex, let match = runs.first(where: { $0.count > nameIndex && $0[nameIndex] == row }) else {
                let names = nameIndex.map { i in runs.map { $0.count > i ? $0[i] : "?" } } ?? []
                throw TreeError("\(path): no run named '\(row)' (runs: \(names.joined(separator: ", ")))")
            }
            chosen = match
        } else {
            guard runs.count == 1 else {
                let names = nameIndex.map { i in runs.map { $0.count > i ? $0[i] : "?" } } ?? []
                throw TreeError("\(path): \(runs.count) runs in the table; pick one with --row (\(names.joined(separator: ", ")))")
            }
            chosen = runs[0]
        }
        let heads = (columns.map(\.head).max() ?? 0) + 1
        let tops = columns.map(\.top).max() ?? 0
        var topK = [[Double]](repeating: [Double](repeating: 0, count: tops), count: heads)
        for c in columns {
            guard c.index < chosen.count, let value = Double(chosen[c.index]) else {
                throw TreeError("\(path): medusa\(c.head)_top\(c.top) is not a number")
            }
            topK[c.head][c.top - 1] = value
        }
        return try checked(HeadAccuracyTable(topK: topK), path: path)
    }

    static func checked(_ table: HeadAccuracyTable, path: String) throws -> HeadAccuracyTable {
        for (k, row) in table.rank.enumerated() where row.contains(where: { !($0 >= 0 && $0 <= 1) }) {
            throw TreeError("\(path): head \(k + 1)'s accuracies are not probabilities in [0, 1]")
        }
        return table
    }

    /// Splits a CSV line on commas outside double quotes and strips the quotes.
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        for ch in line {
            if ch == "\"" { quoted.toggle() } else if ch == "," && !quoted { fields.append(current); current = "" } else { current.append(ch) }
        }
        fields.append(current)
        return fields.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

/// Medusa's greedy tree search (reference §3; Cai et al. 2024, §3.3.3 and `generate_medusa_choices`).
///
/// The value of node `[r1, ..., rk]` is the chance that its whole path is accepted: measured jointly when the
/// table has joint figures, else `Π a[i][r_i]` (heads assumed independent, Medusa's way, which underrates Hydra's
/// heads: each sees the guesses before it). Starting from `[0]`, the frontier node (next sibling, or first child) with the
/// highest value is added until the budget is spent. Predicted tau = 1 + the sum of the values.
public enum GreedyTreeSearch {
    public struct Choice: Codable, Equatable, Sendable {
        public var path: [Int]
        public var value: Double
        /// Predicted tau of the tree made of this node and all before it.
        public var predictedTau: Double
        /// Tau of that tree replayed on the table's measured ranks (nil when the table has none).
        public var replayedTau: Double?
    }

    /// The `nodes` best paths in the order they were added (ties: the shorter, then lexicographically first).
    public static func search(_ table: HeadAccuracyTable, nodes: Int, maxDepth: Int? = nil, width: Int? = nil) throws -> [Choice] {
        let depth = min(maxDepth ?? table.heads, table.heads)
        let w = min(width ?? table.width, table.width)
        guard nodes >= 1 else { throw TreeError("--nodes must be at least 1, got \(nodes)") }
        guard depth >= 1, w >= 1 else { throw TreeError("the accuracy table has no heads or ranks to build a tree from") }
        func value(_ path: [Int]) -> Double { table.value(path) }
        var frontier: [[Int]] = [[0]]
        var chosen: [Choice] = []
        var inTree: Set<[Int]> = []   // the chosen paths, for the replay
        var tau = 1.0
        while chosen.count < nodes, !frontier.isEmpty {
            let best = frontier.indices.max { a, b in
                let va = value(frontier[a]), vb = value(frontier[b])
                if va != vb { return va < vb }
                let pa = frontier[a], pb = frontier[b]
                return pa.count != pb.count ? pa.count > pb.count : pb.lexicographicallyPrecedes(pa)
            }!
            let path = frontier.remove(at: best)
            let v = value(path)
            tau += v
            inTree.insert(path)
            let replayed = table.sequences.map { replay(inTree, $0) }.flatMap { $0.steps == 0 ? nil : Double($0.tokens) / Double($0.steps) }
            chosen.append(Choice(path: path, value: v, predictedTau: tau, replayedTau: replayed))
            if path.last! + 1 < w { frontier.append(Array(path.dropLast()) + [path.last! + 1]) }
            if path.count < depth { frontier.append(path + [0]) }
        }
        return chosen
    }

    /// Tau of greedy decoding replayed on the table's measured ranks (nil without them): at each position a step emits
    /// one token more than the depth of the deepest node of `paths` whose path the ranks there begin with, and moves past
    /// them. Exact for greedy verification of the text the ranks were measured on (ties aside), where the sum of
    /// node values averages over positions and so overrates trees that gain in runs of easy text crossed in few steps.
    public static func replayedTau(_ paths: [[Int]], _ table: HeadAccuracyTable) -> Double? {
        guard let sequences = table.sequences else { return nil }
        let (tokens, steps) = replay(paths, sequences)
        return steps == 0 ? nil : Double(tokens) / Double(steps)
    }

    /// The tokens emitted and the steps taken by greedy decoding replayed on rank sequences (`replayedTau` is their
    /// ratio): a step at position j emits 1 + the depth of the deepest node of `paths` whose path the ranks there
    /// begin with, and the next step starts as many positions later; each run is replayed from its start.
    public static func replay(_ paths: [[Int]], _ sequences: [[[Int]]]) -> (tokens: Int, steps: Int) {
        replay(Set(paths), sequences)
    }

    /// `replay` of the tree whose node paths are `nodes`.
    static func replay(_ nodes: Set<[Int]>, _ sequences: [[[Int]]]) -> (tokens: Int, steps: Int) {
        var tokens = 0, steps = 0
        var prefix: [Int] = []
        for run in sequences {
            var j = 0
            while j < run.count {
                prefix.removeAll(keepingCapacity: true)
                var accepted = 0
                for r in run[j] {
                    guard r >= 0 else { break }
                    prefix.append(r)
                    guard nodes.contains(prefix) else { break }
                    accepted = prefix.count
                }
                tokens += 1 + accepted
                steps += 1
                j += 1 + accepted
            }
        }
        return (tokens, steps)
    }

    /// Predicted tau of an existing tree under `table` (1 + the sum of its nodes' values).
    public static func predictedTau(_ tree: CandidateTree, _ table: HeadAccuracyTable) -> Double {
        1 + tree.paths.reduce(0) { $0 + table.value($1) }
    }
}

/// Chooses a tree for a machine: among the greedy search's trees of 1...N nodes, the one with the highest projected
/// speedup, given this machine's measured cost of a verification pass and of drafting each tree.
public enum SpeedupTreeSearch {
    /// One candidate tree (the greedy search's first `nodes` choices) with its projected figures.
    public struct Candidate: Codable, Equatable, Sendable {
        public var nodes: Int
        public var predictedTau: Double
        /// Tau replayed on measured ranks, when the accuracy table has them (then the projection uses it).
        public var replayedTau: Double?
        /// Seconds of one verification pass over the tree (root included) and of drafting it.
        public var verifySeconds: Double
        public var draftSeconds: Double
        /// (replayed, else predicted) tau / ((verify + draft) / one-token pass).
        public var projectedSpeedup: Double
    }

    /// Projected speedup of every prefix of `chosen` (greedy order), with `passSeconds(n)` the measured pass over `n`
    /// tokens and `draftSeconds(paths)` the measured drafting of the tree of those paths.
    public static func evaluate(_ chosen: [GreedyTreeSearch.Choice], passSeconds: (Int) -> Double,
                                draftSeconds: ([[Int]]) -> Double) -> [Candidate] {
        let one = passSeconds(1)
        return chosen.indices.map { i in
            let paths = chosen[...i].map(\.path)
            let verify = passSeconds(i + 2), draft = draftSeconds(paths)
            let tau = chosen[i].replayedTau ?? chosen[i].predictedTau
            return Candidate(nodes: i + 1, predictedTau: chosen[i].predictedTau, replayedTau: chosen[i].replayedTau, verifySeconds: verify,
                             draftSeconds: draft, projectedSpeedup: tau / ((verify + draft) / one))
        }
    }

    /// The candidate with the highest projected speedup (the smaller tree on a tie).
    public static func best(_ candidates: [Candidate]) -> Candidate? {
        candidates.max { $0.projectedSpeedup != $1.projectedSpeedup ? $0.projectedSpeedup < $1.projectedSpeedup : $0.nodes > $1.nodes }
    }
}
