import Numerics

/// Which cached and new tokens each new token may attend to in a batched forward pass.
///
/// Logically a `(rows, columns)` boolean matrix: row `i` is the `i`-th new token, column `j`
/// the cache slot `j`, where the first `columns - rows` columns are the cached
/// prefix and the last `rows` are the new tokens themselves. Every row must allow
/// at least one column.
///
/// Stored without that matrix: the first `sharedPrefix` columns are visible to every row, and each row
/// has `wordsPerRow` 64-bit words whose bit `j` makes column `sharedPrefix + j` visible. A tree over a
/// prefix is then the prefix length and one word per node (up to 64 nodes), whatever the prefix, and the
/// forward kernel reads it as it is (no `Bool` matrix or float bias per step).
public struct AttentionMask: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    /// Columns `0..<sharedPrefix` are visible to every row (at most `columns - rows`).
    public let sharedPrefix: Int
    /// Words per row of `bits`: `ceil((columns - sharedPrefix) / 64)`.
    public let wordsPerRow: Int
    /// `(rows, wordsPerRow)`: bit `j` of row `r` makes column `sharedPrefix + j` visible.
    public let bits: [UInt64]

    /// A mask from explicit row-major `rows * columns` flags.
    public init(rows: Int, columns: Int, allowed: [Bool]) {
        precondition(allowed.count == rows * columns, "mask needs \(rows * columns) flags, got \(allowed.count)")
        precondition(columns >= rows, "a mask has at least one column per new token")
        var shared = columns - rows
        for r in 0..<rows {
            var run = 0
            while run < shared && allowed[r * columns + run] { run += 1 }
            shared = min(shared, run)
        }
        let words = (columns - shared + 63) / 64
        var bits = [UInt64](repeating: 0, count: rows * words)
        for r in 0..<rows {
            for j in 0..<(columns - shared) where allowed[r * columns + shared + j] {
                bits[r * words + j / 64] |= 1 << UInt64(j % 64)
            }
        }
        self.init(rows: rows, columns: columns, sharedPrefix: shared, wordsPerRow: words, bits: bits)
    }

    /// A mask from its compact form (see the type's description).
    public init(rows: Int, columns: Int, sharedPrefix: Int, wordsPerRow: Int, bits: [UInt64]) {
        precondition(rows >= 0 && columns >= rows, "a mask has at least one column per new token")
        precondition(sharedPrefix >= 0 && sharedPrefix <= columns - rows, "shared prefix \(sharedPrefix) outside 0...\(columns - rows)")
        precondition(wordsPerRow == (columns - sharedPrefix + 63) / 64, "\(wordsPerRow) words per row for \(columns - sharedPrefix) columns")
        precondition(bits.count == rows * wordsPerRow, "mask needs \(rows * wordsPerRow) words, got \(bits.count)")
        let width = columns - sharedPrefix
        for r in 0..<rows {
            var any = sharedPrefix > 0
            for w in 0..<wordsPerRow {
                let limit = width - w * 64
                let valid: UInt64 = limit >= 64 ? ~0 : (1 << UInt64(limit)) - 1
                precondition(bits[r * wordsPerRow + w] & ~valid == 0, "mask row \(r) has bits past column \(columns)")
                any = any || bits[r * wordsPerRow + w] != 0
            }
            precondition(any, "mask row \(r) allows no column")
        }
        self.rows = rows
        self.columns = columns
        self.sharedPrefix = sharedPrefix
        self.wordsPerRow = wordsPerRow
        self.bits = bits
    }

    /// Row-major `rows * columns` flags (built on demand, for drawings and tests).
    public var allowed: [Bool] {
        var flags = [Bool](repeating: false, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns { flags[r * columns + c] = isAllowed(row: r, column: c) }
        }
        return flags
    }

    /// Whether new token `row` sees slot `column`.
    public func isAllowed(row: Int, column: Int) -> Bool {
        if column < sharedPrefix { return true }
        let j = column - sharedPrefix
        return bits[row * wordsPerRow + j / 64] >> UInt64(j % 64) & 1 == 1
    }

    /// Number of cached prefix slots the mask covers.
    public var prefix: Int { columns - rows }

    /// Plain causal attention for `count` new tokens after `prefix` cached ones.
    public static func causal(prefix: Int, count: Int) -> AttentionMask {
        let words = (count + 63) / 64
        var bits = [UInt64](repeating: 0, count: count * words)
        for r in 0..<count {
            for w in 0...(r / 64) { bits[r * words + w] = w < r / 64 ? ~0 : (r % 64 == 63 ? ~0 : (1 << UInt64(r % 64 + 1)) - 1) }
        }
        return AttentionMask(rows: count, columns: prefix + count, sharedPrefix: prefix, wordsPerRow: words, bits: bits)
    }

    /// Tree attention (reference §3): every new token sees the whole prefix, and new token `i`
    /// sees new token `j` when `tree[i][j]` (itself and its ancestors).
    public static func tree(prefix: Int, _ tree: [[Bool]]) -> AttentionMask {
        let n = tree.count
        let words = (n + 63) / 64
        var bits = [UInt64](repeating: 0, count: n * words)
        for r in 0..<n {
            precondition(tree[r].count == n, "tree mask row \(r) has \(tree[r].count) entries, expected \(n)")
            for c in 0..<n where tree[r][c] { bits[r * words + c / 64] |= 1 << UInt64(c % 64) }
        }
        return AttentionMask(rows: n, columns: prefix + n, sharedPrefix: prefix, wordsPerRow: words, bits: bits)
    }

    /// Tree attention given each new token's parent among the new tokens (-1: attached to the prefix only).
    public static func tree(prefix: Int, parents: [Int]) -> AttentionMask {
        let n = parents.count
        let words = (n + 63) / 64
        var bits = [UInt64](repeating: 0, count: n * words)
        parents.withUnsafeBufferPointer { p in bits.withUnsafeMutableBufferPointer { writeTreeBits(parents: p, into: $0.baseAddress!) } }
        return AttentionMask(rows: n, columns: prefix + n, sharedPrefix: prefix, wordsPerRow: words, bits: bits)
    }

    /// Writes the tree part of `tree(prefix:parents:)` into `bits (n, (n + 63) / 64)`, `n = parents.count`: row `i` is
    /// its parent's row (its ancestors) plus bit `i`. For a chain (`parents[i] = i - 1`) these are `causal`'s bits.
    /// Allocates nothing (the batched forward's tree pass writes them into its workspace).
    public static func writeTreeBits(parents: UnsafeBufferPointer<Int>, into bits: UnsafeMutablePointer<UInt64>) {
        let n = parents.count
        let words = (n + 63) / 64
        for i in 0..<n {
            let parent = parents[i]
            precondition(parent < i, "parent of node \(i) must come before it")
            let row = bits + i * words
            if parent >= 0 { row.update(from: bits + parent * words, count: words) } else { row.update(repeating: 0, count: words) }
            row[i / 64] |= 1 << UInt64(i % 64)
        }
    }

    /// The same tree part after another prefix length (O(rows · words), no flags).
    public func withPrefix(_ newPrefix: Int) -> AttentionMask {
        precondition(sharedPrefix == prefix, "only a mask whose whole prefix is shared can move to another prefix")
        return AttentionMask(rows: rows, columns: newPrefix + rows, sharedPrefix: newPrefix, wordsPerRow: wordsPerRow, bits: bits)
    }
}
