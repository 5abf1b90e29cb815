/// Which cached and new tokens each new token may attend to in a batched forward pass.
///
/// A `(rows, columns)` boolean matrix: row `i` is the `i`-th new token, column `j`
/// the cache slot `j`, where the first `columns - rows` columns are the cached
/// prefix and the last `rows` are the new tokens themselves. Every row must allow
/// at least one column.
public struct AttentionMask: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    /// Row-major `rows * columns` flags.
    public let allowed: [Bool]

    /// A mask from explicit flags.
    public init(rows: Int, columns: Int, allowed: [Bool]) {
        precondition(allowed.count == rows * columns, "mask needs \(rows * columns) flags, got \(allowed.count)")
        precondition(columns >= rows, "a mask has at least one column per new token")
        for r in 0..<rows {
            precondition(allowed[r * columns..<(r + 1) * columns].contains(true), "mask row \(r) allows no column")
        }
        self.rows = rows
        self.columns = columns
        self.allowed = allowed
    }

    /// Number of cached prefix slots the mask covers.
    public var prefix: Int { columns - rows }

    /// Plain causal attention for `count` new tokens after `prefix` cached ones.
    public static func causal(prefix: Int, count: Int) -> AttentionMask {
        let columns = prefix + count
        var flags = [Bool](repeating: false, count: count * columns)
        for r in 0..<count { for c in 0...(prefix + r) { flags[r * columns + c] = true } }
        return AttentionMask(rows: count, columns: columns, allowed: flags)
    }

    /// Tree attention (SPEC §3): every new token sees the whole prefix, and new token `i`
    /// sees new token `j` when `tree[i][j]` (itself and its ancestors).
    public static func tree(prefix: Int, _ tree: [[Bool]]) -> AttentionMask {
        let n = tree.count
        let columns = prefix + n
        var flags = [Bool](repeating: false, count: n * columns)
        for r in 0..<n {
            precondition(tree[r].count == n, "tree mask row \(r) has \(tree[r].count) entries, expected \(n)")
            for c in 0..<prefix { flags[r * columns + c] = true }
            for c in 0..<n { flags[r * columns + prefix + c] = tree[r][c] }
        }
        return AttentionMask(rows: n, columns: columns, allowed: flags)
    }

    /// Tree attention given each new token's parent among the new tokens (-1: attached to the prefix only).
    public static func tree(prefix: Int, parents: [Int]) -> AttentionMask {
        let n = parents.count
        var tree = [[Bool]](repeating: [Bool](repeating: false, count: n), count: n)
        for i in 0..<n {
            var node = i
            while node >= 0 {
                tree[i][node] = true
                precondition(parents[node] < node, "parent of node \(node) must come before it")
                node = parents[node]
            }
        }
        return Self.tree(prefix: prefix, tree)
    }
}
