import Foundation
import Testing
import Speculation

@Suite("Candidate trees")
struct CandidateTreeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("buffers of a hand-drawn tree equal the hand-computed matrices")
    func handDrawn() throws {
        // Given out of order on purpose. Sorted: 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [1,0], 6 [0,0,0].
        let tree = try CandidateTree(paths: [[0, 0, 0], [1, 0], [0], [0, 1], [1], [0, 0]])
        #expect(tree.paths == [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]])
        #expect(tree.parents == [-1, 0, 0, 1, 1, 2, 3])
        #expect(tree.positionOffsets == [0, 1, 1, 2, 2, 2, 3])
        let mask = tree.attentionMask.map { $0.map { $0 ? 1 : 0 } }
        #expect(mask == [
            [1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [1, 0, 1, 0, 0, 0, 0],
            [1, 1, 0, 1, 0, 0, 0],
            [1, 1, 0, 0, 1, 0, 0],
            [1, 0, 1, 0, 0, 1, 0],
            [1, 1, 0, 1, 0, 0, 1],
        ])
        #expect(tree.leaves == [4, 5, 6])
        #expect(tree.retrieveIndices == [[0, 1, 4, -1], [0, 2, 5, -1], [0, 1, 3, 6]])
    }

    @Test("mc_sim_7b_63: 63 nodes, 10/28/23/2 per depth, 42 root-to-leaf paths, equal to the reference list")
    func mcSim() throws {
        let tree = try CandidateTree.load("mc_sim_7b_63", presetFolder: Self.root.appendingPathComponent("Fixtures/trees").path)
        #expect(tree.paths.count == 63)
        #expect(tree.nodesPerDepth == [10, 28, 23, 2])
        #expect(tree.retrieveIndices.count == 42)
        let reference = try JSONDecoder().decode([String: [[Int]]].self,
            from: Data(contentsOf: Self.root.deletingLastPathComponent().appendingPathComponent("shared/reference/tree_choices.json")))
        #expect(Set(tree.paths) == Set(reference["mc_sim_7b_63"]!))
    }

    @Test("malformed trees are rejected with a message naming the path")
    func malformed() {
        let cases: [([[Int]], Int?, Int?, String)] = [
            ([[0], [0, 1], [0, 1]], nil, nil, "path [0, 1] appears twice"),
            ([[0], [1, 0]], nil, nil, "path [1, 0] has no parent: [1] is missing"),
            ([[0], [0, 0], [0, 0, 0]], 2, nil, "path [0, 0, 0] is 3 deep, but there are only 2 heads"),
            ([[0], [3]], nil, 3, "path [3] uses rank 3, but proposals have only 3 candidates"),
            ([[0], [-1]], nil, nil, "path [-1] has a negative rank -1"),
            ([[]], nil, nil, "an empty path"),
        ]
        for (paths, depth, width, message) in cases {
            #expect { _ = try CandidateTree(paths: paths, maxDepth: depth, width: width) } throws: { "\($0)".contains(message) }
        }
        #expect { _ = try CandidateTree.load("chain-x", presetFolder: nil) } throws: { "\($0)".contains("chain-N needs a number") }
        #expect { _ = try CandidateTree.load("no-such-tree", presetFolder: nil) } throws: { "\($0)".contains("neither a tree file nor a known tree") }
    }

    @Test("chain-N and teaching presets")
    func presets() throws {
        let chain = try CandidateTree.load("chain-3", presetFolder: nil)
        #expect(chain.paths == [[0], [0, 0], [0, 0, 0]])
        #expect(chain.retrieveIndices == [[0, 1, 2, 3]])
        for name in CandidateTree.teaching.keys { #expect(throws: Never.self) { _ = try CandidateTree.load(name, presetFolder: nil) } }
    }
}
