import Foundation

/// Per-head, per-rank accuracies: `rank[k][r]` is the probability that head `k+1`'s rank-`r` guess is
/// right (reference §3, "Tree design"; rank accuracy = top(r+1) − top(r) of a top-k table).
public struct HeadAccuracyTable: Equatable, Sendable {
    public let rank: [[Double]]

    public init(rank: [[Double]]) { self.rank = rank }

    /// From cumulative top-1..top-k accuracies per head.
    public init(topK: [[Double]]) {
        rank = topK.map { row in row.indices.map { $0 == 0 ? row[0] : max(0, row[$0] - row[$0 - 1]) } }
    }

    public var heads: Int { rank.count }
    public var width: Int { rank.map(\.count).min() ?? 0 }

    /// Reads a table from the JSON of `hydrasim heads accuracy` (`{"top_k": [[...], ...]}`), its CSV
    /// (`head,top1,...`), or a Medusa training-log CSV with `medusa{k}_top{r}` columns, one run per row
    /// (`row` picks the run by its `Name`; needed when there are several).
    public static func read(_ path: String, row: String? = nil) throws -> HeadAccuracyTable {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw TreeError("\(path): cannot read the accuracy table")
        }
        if text.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            struct Report: Decodable { var topK: [[Double]] }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            guard let report = try? decoder.decode(Report.self, from: data), !report.topK.isEmpty else {
                throw TreeError("\(path): JSON without a \"top_k\" table (expected the output of `hydrasim heads accuracy --format json`)")
            }
            return try checked(HeadAccuracyTable(topK: report.topK), path: path)
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
/// The value of node `[r1, ..., rk]` is `Π a[i][r_i]`, the chance that its whole path is accepted when
/// heads are independent. Starting from `[0]`, the frontier node (next sibling, or first child) with the
/// highest value is added until the budget is spent. Predicted tau = 1 + the sum of the values.
public enum GreedyTreeSearch {
    public struct Choice: Codable, Equatable, Sendable {
        public var path: [Int]
        public var value: Double
        /// Predicted tau of the tree made of this node and all before it.
        public var predictedTau: Double
    }

    /// The `nodes` best paths in the order they were added (ties: the shorter, then lexicographically first).
    public static func search(_ table: HeadAccuracyTable, nodes: Int, maxDepth: Int? = nil, width: Int? = nil) throws -> [Choice] {
        let depth = min(maxDepth ?? table.heads, table.heads)
        let w = min(width ?? table.width, table.width)
        guard nodes >= 1 else { throw TreeError("--nodes must be at least 1, got \(nodes)") }
        guard depth >= 1, w >= 1 else { throw TreeError("the accuracy table has no heads or ranks to build a tree from") }
        func value(_ path: [Int]) -> Double { path.enumerated().reduce(1) { $0 * table.rank[$1.offset][$1.element] } }
        var frontier: [[Int]] = [[0]]
        var chosen: [Choice] = []
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
            chosen.append(Choice(path: path, value: v, predictedTau: tau))
            if path.last! + 1 < w { frontier.append(Array(path.dropLast()) + [path.last! + 1]) }
            if path.count < depth { frontier.append(path + [0]) }
        }
        return chosen
    }

    /// Predicted tau of an existing tree under `table` (1 + the sum of its nodes' values).
    public static func predictedTau(_ tree: CandidateTree, _ table: HeadAccuracyTable) -> Double {
        1 + tree.paths.reduce(0) { sum, path in
            guard path.count <= table.heads, path.enumerated().allSatisfy({ $0.element < table.rank[$0.offset].count }) else { return sum }
            return sum + path.enumerated().reduce(1) { $0 * table.rank[$1.offset][$1.element] }
        }
    }
}

/// Chooses a tree for a machine: among the greedy search's trees of 1...N nodes, the one with the highest projected
/// speedup, given this machine's measured cost of a verification pass and of drafting each tree.
public enum SpeedupTreeSearch {
    /// One candidate tree (the greedy search's first `nodes` choices) with its projected figures.
    public struct Candidate: Codable, Equatable, Sendable {
        public var nodes: Int
        public var predictedTau: Double
        /// Seconds of one verification pass over the tree (root included) and of drafting it.
        public var verifySeconds: Double
        public var draftSeconds: Double
        /// predicted tau / ((verify + draft) / one-token pass).
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
            let tau = chosen[i].predictedTau
            return Candidate(nodes: i + 1, predictedTau: tau, verifySeconds: verify, draftSeconds: draft,
                             projectedSpeedup: tau / ((verify + draft) / one))
        }
    }

    /// The candidate with the highest projected speedup (the smaller tree on a tie).
    public static func best(_ candidates: [Candidate]) -> Candidate? {
        candidates.max { $0.projectedSpeedup != $1.projectedSpeedup ? $0.projectedSpeedup < $1.projectedSpeedup : $0.nodes > $1.nodes }
    }
}
