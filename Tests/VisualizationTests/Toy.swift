import Foundation
import LanguageModel
@testable import Speculation
import Visualization

/// A hand-built, fully deterministic trace with awkward token texts (quotes, braces, <, >, |, backslashes,
/// newlines, tabs, non-ASCII, an empty piece), small enough to check every line of its diagrams by hand.
enum Toy {
    /// Token texts by id (id 1 is BOS, as in llama2.c).
    static let pieces: [String] = [
        "",               // 0: empty
        "",               // 1: BOS
        " the",           // 2
        "\"quoted\"",     // 3
        "{brace}",        // 4
        "<tag>",          // 5
        "a|b",            // 6
        "back\\slash",    // 7
        "line\nbreak",    // 8
        "\ttab",          // 9
        "café ☕",         // 10
        "&amp;",          // 11
        " king",          // 12
    ]

    struct FakeTokenizer: Tokenizer {
        var vocabularySize: Int { Toy.pieces.count }
        func encode(_ text: String, bos: Bool, eos: Bool) -> [Int] { [] }
        func pieceBytes(_ id: Int, after previous: Int) -> [UInt8] { Array(Toy.pieces[id].utf8) }
        func decode(_ ids: [Int]) -> String { ids.map { Toy.pieces[$0] }.joined() }
    }

    /// Texts `t0`...`t39` for a 40-token random model.
    struct FakeTokenizer40: Tokenizer {
        var vocabularySize: Int { 40 }
        func encode(_ text: String, bos: Bool, eos: Bool) -> [Int] { [] }
        func pieceBytes(_ id: Int, after previous: Int) -> [UInt8] { Array("t\(id)".utf8) }
        func decode(_ ids: [Int]) -> String { ids.map { "t\($0)" }.joined() }
    }

    static func node(_ token: Int, parent: Int, depth: Int, rank: Int, q: Float, p: Float, _ outcome: NodeOutcome,
                     threshold: Float? = nil) -> NodeRecord {
        NodeRecord(node: DraftNode(token: token, parent: parent, depth: depth, rank: rank, draftProbability: q),
                   baseProbability: p, threshold: threshold, outcome: outcome)
    }

    /// Step 1: a fork-2x2 tree drafted Medusa-style: both depth-2 nodes carry `<tag>` (the Cartesian-product repeat).
    static let step1 = StepRecord(
        step: 1, prefixLength: 3,
        nodes: [
            node(2, parent: -1, depth: 0, rank: 0, q: 1, p: 0.9, .accepted),
            node(12, parent: 0, depth: 1, rank: 0, q: 0.5, p: 0.625, .accepted),
            node(3, parent: 0, depth: 1, rank: 1, q: 0.25, p: 0.125, .rejected),
            node(5, parent: 1, depth: 2, rank: 0, q: 0.375, p: 0.0001, .rejected),
            node(5, parent: 2, depth: 2, rank: 0, q: 0.375, p: 0.5, .notReached),
        ],
        acceptedPath: [0, 1], emitted: [2, 12], bonus: 8, bonusProbability: 0.75)

    /// Step 2: every awkward text, a three-deep accepted path, a token repeated at different depths (not a repeat).
    static let step2 = StepRecord(
        step: 2, prefixLength: 5,
        nodes: [
            node(8, parent: -1, depth: 0, rank: 0, q: 1, p: 0.75, .accepted),
            node(7, parent: 0, depth: 1, rank: 0, q: 0.5, p: 0.5, .accepted),
            node(0, parent: 0, depth: 1, rank: 1, q: 0.125, p: 0, .rejected),
            node(4, parent: 1, depth: 2, rank: 0, q: 0.25, p: 0.25, .rejected),
            node(10, parent: 1, depth: 2, rank: 1, q: 0.125, p: 0.5, .accepted),
            node(6, parent: 2, depth: 2, rank: 0, q: 0.5, p: 0.25, .notReached),
            node(9, parent: 4, depth: 3, rank: 0, q: 0.5, p: 0.5, .rejected),
            node(7, parent: 4, depth: 3, rank: 1, q: 0.25, p: 0.125, .rejected),
            node(11, parent: 5, depth: 3, rank: 0, q: 0.5, p: 0.0625, .notReached),
        ],
        acceptedPath: [0, 1, 4], emitted: [8, 7, 10], bonus: 11, bonusProbability: 0.5)

    /// Step 3: the root alone; its bonus (token 13) appears in no node, so its text is unknown (`#13`).
    static let step3 = StepRecord(
        step: 3, prefixLength: 8,
        nodes: [node(11, parent: -1, depth: 0, rank: 0, q: 1, p: 0.5, .accepted)],
        acceptedPath: [0], emitted: [11], bonus: 13, bonusProbability: 0.25)

    static let settings = TraceSettings(model: "toy.bin", modelFingerprint: "0000", heads: "toy.heads", headsKind: "medusa",
                                        tree: "fork-2x2", treeNodes: 5, rule: .greedy, seed: 42, maxTokens: 6)

    static func trace(decoder: String = "medusa", steps: [StepRecord] = [step1, step2, step3]) -> DecodingTrace {
        let result = SpeculativeResult(tokens: steps.flatMap(\.emitted), steps: steps, stopReason: .maxTokens, promptSeconds: 0, generationSeconds: 0)
        return DecodingTrace(decoder: decoder, settings: settings, prompt: "Once {upon} a <time>", promptTokens: [1, 2, 12],
                             result: result, tokenizer: FakeTokenizer(), timings: false)
    }

    static let view = TraceView(trace())
}
