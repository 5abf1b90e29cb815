import Foundation
import LanguageModel

/// A malformed tree: one line naming the offending path.
public struct TreeError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

/// A static candidate tree given as rank paths (reference §3, Medusa's "choices").
///
/// `[0]` is the top-1 guess of head 1; `[0, 2]` is the rank-3 guess of head 2 under `[0]`.
/// The root (node 0) is implicit: the base model's own next token. Paths are kept sorted by
/// (length, lexicographic), so node `i` (1-based) is `paths[i-1]` and parents come first.
public struct CandidateTree: Equatable, Sendable {
    /// The rank paths, sorted by (length, lexicographic).
    public let paths: [[Int]]

    /// Validates and sorts `paths`: non-empty ranks ≥ 0, no duplicates, every prefix present,
    /// depth at most `maxDepth` (the number of heads), ranks below `width` (the proposal width).
    /// Most nodes a tree may have, the root included (the tree attention mask has this many squared cells).
    public static let maxNodes = 4096
    /// Largest rank a path may hold (a rank indexes a head's candidates, so it must also be below the vocabulary).
    public static let maxRank = Int(Int32.max) - 1

    public init(paths: [[Int]], maxDepth: Int? = nil, width: Int? = nil) throws {
        // Bounds first, on the raw input, so that nothing below sorts or hashes an absurd tree.
        guard paths.count < Self.maxNodes else {
            throw TreeError("the tree has \(paths.count) paths; at most \(Self.maxNodes - 1) are allowed (\(Self.maxNodes) nodes with the root)")
        }
        if let long = paths.first(where: { $0.count >= Self.maxNodes }) {
            throw TreeError("path \(Self.text(long)) is \(long.count) deep; a tree has at most \(Self.maxNodes - 1) levels")
        }
        if let path = paths.first(where: { $0.contains { $0 > Self.maxRank } }) {
            throw TreeError("path \(Self.text(path)) has a rank above \(Self.maxRank); ranks index a head's candidates")
        }
        let sorted = paths.sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
        var seen = Set<[Int]>()
        for path in sorted {
            let text = Self.text(path)
            guard !path.isEmpty else { throw TreeError("an empty path: the root is implicit, list only its descendants") }
            if let bad = path.first(where: { $0 < 0 }) { throw TreeError("path \(text) has a negative rank \(bad)") }
            if let width, let bad = path.first(where: { $0 >= width }) {
                throw TreeError("path \(text) uses rank \(bad), but proposals have only \(width) candidates per node (ranks 0..<\(width))")
            }
            if let maxDepth, path.count > maxDepth {
                throw TreeError("path \(text) is \(path.count) deep, but there are only \(maxDepth) heads")
            }
            guard seen.insert(path).inserted else { throw TreeError("path \(text) appears twice") }
            if path.count > 1 && !seen.contains(Array(path.dropLast())) {
                let parent = Self.text(Array(path.dropLast()))
                throw TreeError("path \(text) has no parent: \(parent) is missing")
            }
        }
        self.paths = sorted
    }

    /// A path as `[0, 2]`, long paths cut with `…` so that errors stay one short line.
    static func text(_ path: [Int]) -> String {
        "[" + path.prefix(12).map(String.init).joined(separator: ", ") + (path.count > 12 ? ", … (\(path.count) ranks)" : "") + "]"
    }

    /// Number of nodes, the root included.
    public var nodeCount: Int { paths.count + 1 }
    /// Deepest path length (the root has depth 0).
    public var depth: Int { paths.last?.count ?? 0 }
    /// Depth of every node, root first.
    public var depths: [Int] { [0] + paths.map(\.count) }

    /// Parent node index of every node (-1 for the root).
    public var parents: [Int] {
        var index: [[Int]: Int] = [[]: 0]
        for (i, p) in paths.enumerated() { index[p] = i + 1 }
        return [-1] + paths.map { index[Array($0.dropLast())]! }
    }

    /// Nodes per depth 1...depth.
    public var nodesPerDepth: [Int] {
        (1...max(depth, 1)).map { d in paths.filter { $0.count == d }.count }
    }

    /// Node indices of the leaves (nodes without children), in node order.
    public var leaves: [Int] {
        let hasChild = Set(parents.dropFirst())
        return (0..<nodeCount).filter { !hasChild.contains($0) }
    }

    // MARK: Buffers (reference §3)

    /// `(N+1) x (N+1)` tree attention: node i attends to itself, the root and its ancestors.
    public var attentionMask: [[Bool]] {
        let p = parents
        var mask = [[Bool]](repeating: [Bool](repeating: false, count: nodeCount), count: nodeCount)
        for i in 0..<nodeCount {
            var n = i
            while n >= 0 { mask[i][n] = true; n = p[n] }
        }
        return mask
    }

    /// Position offsets: depth of each node (add the prefix length for absolute positions).
    public var positionOffsets: [Int] { depths }

    /// One row per root-to-leaf path listing the node indices along it (root first), padded with -1
    /// to `depth + 1`; rows in leaf order.
    public var retrieveIndices: [[Int]] {
        let p = parents
        return leaves.map { leaf in
            var row: [Int] = []
            var n = leaf
            while n >= 0 { row.insert(n, at: 0); n = p[n] }
            return row + [Int](repeating: -1, count: depth + 1 - row.count)
        }
    }

    // MARK: Presets

    /// A single chain of `length` top-1 guesses (`[0]`, `[0, 0]`, ...).
    public static func chain(_ length: Int) throws -> CandidateTree {
        guard length >= 1 else { throw TreeError("chain-N needs N >= 1, got \(length)") }
        guard length < maxNodes else { throw TreeError("chain-\(length) is too long: at most chain-\(maxNodes - 1)") }
        return try CandidateTree(paths: (1...length).map { [Int](repeating: 0, count: $0) })
    }

    /// Small trees for teaching, small enough to draw.
    public static let teaching: [String: [[Int]]] = [
        // Two candidates for the first guess, each continued once: Medusa gives both the same child token.
        "fork-2x2": [[0], [1], [0, 0], [1, 0]],
        // Three first guesses, the best continued twice.
        "broom-3": [[0], [1], [2], [0, 0], [0, 0, 0]],
        // A balanced binary tree of depth 3 (14 nodes).
        "binary-3": [[0], [1], [0, 0], [0, 1], [1, 0], [1, 1], [0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]],
    ]
}

extension CandidateTree {
    /// A tree from a spec: `chain-N`, a teaching preset, the name of a JSON file in `presetFolder`
    /// (e.g. `mc_sim_7b_63`), or a path to a JSON file holding a list of rank paths (or `{"paths": [...]}`).
    public static func load(_ spec: String, presetFolder: String?, maxDepth: Int? = nil, width: Int? = nil) throws -> CandidateTree {
        if spec.hasPrefix("chain-") {
            guard let n = Int(spec.dropFirst(6)) else { throw TreeError("'\(spec)': chain-N needs a number, e.g. chain-4") }
            let tree = try chain(n)
            return try CandidateTree(paths: tree.paths, maxDepth: maxDepth, width: width)
        }
        if let paths = teaching[spec] { return try CandidateTree(paths: paths, maxDepth: maxDepth, width: width) }
        var file = spec
        if let presetFolder, !FileManager.default.fileExists(atPath: spec) {
            let preset = "\(presetFolder)/\(spec).json"
            if FileManager.default.fileExists(atPath: preset) { file = preset }
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TreeError("\(file): is a folder, not a tree file")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw unknownTreeError(spec, presetFolder: presetFolder)
        }
        return try parse(data: data, name: file, maxDepth: maxDepth, width: width)
    }

    /// A tree from the bytes of a tree file: a JSON list of rank paths or `{"paths": [...]}`. No file is read;
    /// errors are one line starting with `name: `.
    public static func parse(data: Data, name: String = "tree", maxDepth: Int? = nil, width: Int? = nil) throws -> CandidateTree {
        let paths: [[Int]]
        if let list = try? JSONDecoder().decode([[Int]].self, from: data) {
            paths = list
        } else if let object = try? JSONDecoder().decode(TreeFile.self, from: data) {
            paths = object.paths
        } else {
            throw TreeError("\(name): not a tree: expected a JSON list of rank paths like [[0], [1], [0, 0]] or {\"paths\": [...]}")
        }
        do { return try CandidateTree(paths: paths, maxDepth: maxDepth, width: width) } catch let error as TreeError {
            throw TreeError("\(name): \(error.problem)")
        }
    }

    /// Names of the trees shipped in `folder` (its `*.json` files), sorted; nil when the folder does not exist.
    public static func shippedNames(in folder: String) -> [String]? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue,
              let files = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The built-in tree names (`chain-N` and `dynamic:N[:W]` are families, the rest teaching presets).
    public static var builtInNames: [String] { ["chain-N", "dynamic:N[:W]"] + teaching.keys.sorted() }

    /// The error for a spec that is neither a file nor a known tree: what is known, and where shipped trees were looked for.
    static func unknownTreeError(_ spec: String, presetFolder: String?) -> TreeError {
        guard let presetFolder else {
            return TreeError("'\(spec)' is not a tree file, and no shipped trees folder was found (looked in \(Fixtures.searchDescription)); built-in trees: \(builtInNames.joined(separator: ", "))")
        }
        guard let shipped = shippedNames(in: presetFolder) else {
            return TreeError("'\(spec)' is not a tree file, and the shipped trees folder \(presetFolder) does not exist; built-in trees: \(builtInNames.joined(separator: ", "))")
        }
        return TreeError("'\(spec)' is neither a tree file nor a known tree; built in: \(builtInNames.joined(separator: ", ")); shipped in \(presetFolder): \(shipped.isEmpty ? "none" : shipped.joined(separator: ", "))")
    }

    /// The JSON object form of a tree file.
    struct TreeFile: Codable {
        var paths: [[Int]]
    }
}
