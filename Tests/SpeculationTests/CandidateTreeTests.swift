import Foundation
import Testing
import TestSupport
import Speculation

@Suite("Candidate trees")
struct CandidateTreeTests {

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
        let tree = try CandidateTree.load("mc_sim_7b_63", presetFolder: PackagePaths.trees)
        #expect(tree.paths.count == 63)
        #expect(tree.nodesPerDepth == [10, 28, 23, 2])
        #expect(tree.retrieveIndices.count == 42)
        let reference = try JSONDecoder().decode([String: [[Int]]].self,
            from: Data(contentsOf: PackagePaths.shared.appendingPathComponent("reference/tree_choices.json")))
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
    }

    @Test("an unknown tree names the trees actually found and where; a missing trees folder is its own error")
    func unknownTreeErrors() throws {
        let builtIn = "chain-N, dynamic:N[:W], binary-3, broom-3, fork-2x2"
        let shipped = try #require(CandidateTree.shippedNames(in: PackagePaths.trees))
        #expect(shipped.contains("mc_sim_7b_63"))
        func message(_ spec: String, _ folder: String?) -> String {
            do { _ = try CandidateTree.load(spec, presetFolder: folder); return "no error" } catch { return "\(error)" }
        }
        #expect(message("no-such-tree", PackagePaths.trees)
                == "'no-such-tree' is neither a tree file nor a known tree; built in: \(builtIn); shipped in \(PackagePaths.trees): \(shipped.joined(separator: ", "))")
        // An empty trees folder: nothing shipped is listed (not a list of names assumed to exist).
        let empty = PackagePaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(message("mc_sim_7b_63", empty.path)
                == "'mc_sim_7b_63' is neither a tree file nor a known tree; built in: \(builtIn); shipped in \(empty.path): none")
        let missing = empty.appendingPathComponent("trees").path
        #expect(message("mc_sim_7b_63", missing)
                == "'mc_sim_7b_63' is not a tree file, and the shipped trees folder \(missing) does not exist; built-in trees: \(builtIn)")
        #expect(message("mc_sim_7b_63", nil)
                == "'mc_sim_7b_63' is not a tree file, and no shipped trees folder was found (looked in $HYDRASIM_FIXTURES, then Fixtures/ in the current folder, the executable's folder and their parents); built-in trees: \(builtIn)")
    }

    @Test("chain-N and teaching presets")
    func presets() throws {
        let chain = try CandidateTree.load("chain-3", presetFolder: nil)
        #expect(chain.paths == [[0], [0, 0], [0, 0, 0]])
        #expect(chain.retrieveIndices == [[0, 1, 2, 3]])
        for name in CandidateTree.teaching.keys { #expect(throws: Never.self) { _ = try CandidateTree.load(name, presetFolder: nil) } }
    }
}
