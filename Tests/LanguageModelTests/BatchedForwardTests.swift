import Foundation
import Testing
import LanguageModel
import Numerics

/// The batched masked forward (tree verification's call) against one-token forwards.
@Suite("Batched masked forward")
struct BatchedForwardTests {
    static let loaded = Loaded { Transformer(weights: try Checkpoint.read(TestPaths.stories260K)) }
    static var model: Transformer { get throws { try loaded.get() } }

    @Test("causal batch after a cached prefix equals n one-token forwards")
    func causalEqualsSequential() throws {
        let model = try Self.model
        let prompt = [1, 403, 281, 30, 257, 22, 15, 90]
        let new = [117, 9, 300, 45, 61]
        let reference = sequentialForward(model, tokens: prompt + new)

        let state = model.makeState()
        _ = model.prefill(prompt, state: state)
        #expect(state.cache.count == prompt.count)
        let out = model.forward(tokens: new, positions: Array(prompt.count..<prompt.count + new.count),
                                mask: .causal(prefix: prompt.count, count: new.count), state: state)
        for i in 0..<new.count {
            let error = maxAbsDiff(Array(out.logits(i)), reference.logits[prompt.count + i])
            #expect(error < 1e-4, "token \(i): \(error)")
            // Float32 with other summation orders (sgemm tiles against sgemv): hidden values are O(1), logits O(10).
            #expect(maxAbsDiff(Array(out.hidden(i)), reference.hidden[prompt.count + i]) < 5e-5)
        }
        // A wrong mask (no causality: every token sees the future) must change the logits.
        let leaky = model.makeState()
        _ = model.prefill(prompt, state: leaky)
        let all = AttentionMask(rows: new.count, columns: prompt.count + new.count,
                                allowed: [Bool](repeating: true, count: new.count * (prompt.count + new.count)))
        let leakyOut = model.forward(tokens: new, positions: Array(prompt.count..<prompt.count + new.count), mask: all, state: leaky)
        #expect(maxAbsDiff(Array(leakyOut.logits(0)), reference.logits[prompt.count]) > 1e-3)
    }

    @Test("a tree mask gives each node the logits of its root-to-node path run on its own")
    func treeEqualsPaths() throws {
        let model = try Self.model
        let prompt = [1, 403, 281, 30, 257]
        // Tree (node: token, parent): 0 root; 1,2 children of 0; 3 child of 1; 4,5 children of 2; 6 child of 4.
        let tokens = [22, 15, 90, 117, 9, 300, 45]
        let parents = [-1, 0, 0, 1, 2, 2, 4]
        var depth = [Int](repeating: 0, count: tokens.count)
        for i in 1..<tokens.count { depth[i] = depth[parents[i]] + 1 }
        let state = model.makeState()
        _ = model.prefill(prompt, state: state)
        let out = model.forward(tokens: tokens, positions: depth.map { prompt.count + $0 },
                                mask: .tree(prefix: prompt.count, parents: parents), state: state)
        for node in 0..<tokens.count {
            var path: [Int] = []
            var n = node
            while n >= 0 { path.insert(tokens[n], at: 0); n = parents[n] }
            let alone = sequentialForward(model, tokens: prompt + path)
            let error = maxAbsDiff(Array(out.logits(node)), alone.logits.last!)
            #expect(error < 1e-4, "node \(node): \(error)")
        }
    }

    @Test("a chain's tree bits are causal attention's, across word boundaries")
    func chainTreeIsCausal() {
        for n in [1, 2, 63, 64, 65, 130] {
            #expect(AttentionMask.tree(prefix: 7, parents: (0..<n).map { $0 - 1 }) == .causal(prefix: 7, count: n), "\(n) tokens")
        }
    }

    @Test("the tree pass on caller buffers (no mask built) has the bits of the masked pass, chains and trees")
    func treePassEqualsMaskedPass() throws {
        let model = try Self.model
        let prompt = [1, 403, 281, 30, 257]
        let tokens = [22, 15, 90, 117, 9, 300, 45]
        for parents in [[-1, 0, 0, 1, 2, 2, 4], [-1, 0, 1, 2, 3, 4, 5]] {
            var depth = [Int](repeating: 0, count: tokens.count)
            for i in 1..<tokens.count { depth[i] = depth[parents[i]] + 1 }
            let positions = depth.map { prompt.count + $0 }
            let masked = model.makeState(), unmasked = model.makeState()
            _ = model.prefill(prompt, state: masked)
            _ = model.prefill(prompt, state: unmasked)
            let expected = model.forward(tokens: tokens, positions: positions, mask: .tree(prefix: prompt.count, parents: parents), state: masked)
            let out = tokens.withUnsafeBufferPointer { t in
                positions.withUnsafeBufferPointer { q in parents.withUnsafeBufferPointer { model.forward(tokens: t, positions: q, parents: $0, state: unmasked) } }
            }
            for i in tokens.indices {
                #expect(Array(out.logits(i)) == Array(expected.logits(i)), "node \(i) of \(parents)")
                #expect(Array(out.hidden(i)) == Array(expected.hidden(i)), "node \(i) of \(parents)")
            }
            for l in 0..<model.config.layers {
                for slot in 0..<prompt.count + tokens.count {
                    let a = UnsafeBufferPointer(start: masked.cache.key(layer: l, slot: slot), count: model.config.kvDim)
                    let b = UnsafeBufferPointer(start: unmasked.cache.key(layer: l, slot: slot), count: model.config.kvDim)
                    #expect(Array(a) == Array(b), "key of layer \(l), slot \(slot)")
                }
            }
        }
    }

    @Test("keep(_:after:) compacts the accepted path: the cache then equals running that path alone")
    func cacheCompaction() throws {
        let model = try Self.model
        let prompt = [1, 403, 281]
        let tokens = [22, 15, 90, 117, 9]
        let parents = [-1, 0, 0, 2, 3]          // accepted path: nodes 0, 2, 3, 4
        let depth = [0, 1, 1, 2, 3]
        let state = model.makeState()
        _ = model.prefill(prompt, state: state)
        _ = model.forward(tokens: tokens, positions: depth.map { prompt.count + $0 },
                          mask: .tree(prefix: prompt.count, parents: parents), state: state)
        state.cache.keep([3, 5, 6, 7], after: 3)   // cache slots of nodes 0, 2, 3, 4
        #expect(state.cache.count == 7)

        let plain = model.makeState()
        _ = sequentialForward(model, tokens: prompt + [22, 90, 117, 9], state: plain)
        let kvDim = model.config.kvDim
        var worst: Float = 0
        for l in 0..<model.config.layers {
            for slot in 0..<7 {
                for j in 0..<kvDim {
                    worst = max(worst, abs(state.cache.key(layer: l, slot: slot)[j] - plain.cache.key(layer: l, slot: slot)[j]))
                    worst = max(worst, abs(state.cache.value(layer: l, slot: slot)[j] - plain.cache.value(layer: l, slot: slot)[j]))
                }
            }
        }
        #expect(worst < 1e-4)
        // Decoding continues identically from the compacted cache.
        let next = Array(model.forward(token: 61, state: state))
        let nextPlain = Array(model.forward(token: 61, state: plain))
        #expect(maxAbsDiff(next, nextPlain) < 1e-4)

        state.cache.truncate(to: 3)
        #expect(state.cache.count == 3)
    }
}
