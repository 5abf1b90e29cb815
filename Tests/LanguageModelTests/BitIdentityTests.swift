import Foundation
import Testing
import LanguageModel
import Numerics

/// Bit patterns of a buffer, for exact comparisons.
private func bits<C: Collection>(_ x: C) -> [UInt32] where C.Element == Float { x.map(\.bitPattern) }

/// Every (variant, threads) pair the machine runs, the portable fallback included.
private let configurations: [(KernelPool.Variant, Int)] = KernelPool.Variant.supported.flatMap { v in [1, 2].map { (v, $0) } }

/// Batched passes against one-token passes, compared bit for bit (not within a tolerance).
@Suite("Batched pass is bit-identical to one-token passes")
struct BitIdentityTests {
    static let stories = Transformer(weights: try! Checkpoint.read(TestPaths.stories260K))
    /// Odd widths: dim 40 (5 heads of 8, 1 kv head), hidden 76 (not a multiple of 8 or 16), vocabulary 53.
    static let odd = Transformer(weights: TransformerWeights(random: ModelConfig(dim: 40, hiddenDim: 76, layers: 2, heads: 5, kvHeads: 1,
                                                                                  vocabularySize: 53, maxSequenceLength: 96), seed: 9))

    /// Runs `prefix` then a random tree of `n` nodes in one batched pass on a cache of `capacity` slots, and
    /// checks each node's logits, hidden state and keys/values against its path run one token at a time.
    static func check(_ model: Transformer, variant: KernelPool.Variant, threads: Int, prefix: [Int], n: Int,
                      capacity: Int? = nil, seed: UInt64) {
        let pool = KernelPool(threads: threads, variant: variant)
        var rng = XorShiftRandom(seed: seed)
        let V = model.config.vocabularySize
        let tokens = (0..<n).map { _ in Int(rng.nextUInt32() % UInt32(V)) }
        let parents = (0..<n).map { $0 == 0 ? -1 : Int(rng.nextUInt32() % UInt32($0)) }
        var depth = [Int](repeating: 0, count: n)
        for i in 1..<max(n, 1) { depth[i] = depth[parents[i]] + 1 }

        let state = model.makeState(cacheCapacity: capacity)
        state.kernelPool = pool
        if !prefix.isEmpty { model.prefill(prefix, state: state) }
        let out = model.forward(tokens: tokens, positions: depth.map { prefix.count + $0 },
                                mask: .tree(prefix: prefix.count, parents: parents), state: state)
        for node in 0..<n {
            var path: [Int] = []
            var v = node
            while v >= 0 { path.insert(v, at: 0); v = parents[v] }
            let alone = model.makeState(cacheCapacity: capacity)
            alone.kernelPool = KernelPool(threads: 1, variant: variant)
            for t in prefix { model.forward(token: t, state: alone) }
            for (d, p) in path.enumerated() { model.forward(token: tokens[p], position: prefix.count + d, state: alone) }
            #expect(bits(out.logits(node)) == bits(UnsafeBufferPointer(start: alone.logits.pointer, count: V)),
                    "\(variant) x\(threads): logits of node \(node) (prefix \(prefix.count), n \(n))")
            #expect(bits(out.hidden(node)) == bits(UnsafeBufferPointer(start: alone.hidden.pointer, count: model.config.dim)),
                    "\(variant) x\(threads): hidden state of node \(node)")
            // The node's keys and values in the cache are those of its last token run alone.
            let kv = model.config.kvDim
            for l in 0..<model.config.layers {
                let slot = prefix.count + node, aloneSlot = prefix.count + path.count - 1
                #expect(bits(UnsafeBufferPointer(start: state.cache.key(layer: l, slot: slot), count: kv))
                        == bits(UnsafeBufferPointer(start: alone.cache.key(layer: l, slot: aloneSlot), count: kv)))
                #expect(bits(UnsafeBufferPointer(start: state.cache.value(layer: l, slot: slot), count: kv))
                        == bits(UnsafeBufferPointer(start: alone.cache.value(layer: l, slot: aloneSlot), count: kv)))
            }
        }
    }

    @Test("random trees after random prefixes, stories260K", arguments: 0..<configurations.count)
    func stories(configuration: Int) {
        let (variant, threads) = configurations[configuration]
        var rng = XorShiftRandom(seed: 77)
        for trial in 0..<3 {
            let prefix = (0..<Int(rng.nextUInt32() % 40)).map { _ in Int(rng.nextUInt32() % 512) }
            let n = [1, 7, 23][trial]
            Self.check(Self.stories, variant: variant, threads: threads, prefix: prefix, n: n, seed: UInt64(trial))
        }
    }

    @Test("odd widths, an empty prefix, 64 nodes, and a tree that fills the cache to its last slot", arguments: 0..<configurations.count)
    func oddShapesAndFullCache(configuration: Int) {
        let (variant, threads) = configurations[configuration]
        Self.check(Self.odd, variant: variant, threads: threads, prefix: [], n: 5, seed: 1)
        Self.check(Self.odd, variant: variant, threads: threads, prefix: [3, 9, 27], n: 64, seed: 2)
        // 90 prefix tokens + 6 nodes = the 96 slots of the cache.
        Self.check(Self.odd, variant: variant, threads: threads, prefix: (0..<90).map { $0 % 53 }, n: 6, capacity: 96, seed: 3)
    }

    @Test("prefill then one-token decoding equals one-token decoding throughout, on every kernel variant")
    func prefillEqualsSequential() {
        for (variant, threads) in configurations {
            let model = Self.stories
            let prompt = [1, 403, 281, 30, 257, 22, 15, 90]
            let a = model.makeState(), b = model.makeState()
            a.kernelPool = KernelPool(threads: threads, variant: variant)
            b.kernelPool = KernelPool(threads: 1, variant: variant)
            model.prefill(prompt, state: a)
            for t in prompt { model.forward(token: t, state: b) }
            #expect(bits(UnsafeBufferPointer(start: a.logits.pointer, count: model.config.vocabularySize))
                    == bits(UnsafeBufferPointer(start: b.logits.pointer, count: model.config.vocabularySize)), "\(variant) x\(threads)")
        }
    }

    @Test("the compact mask: flags, causal and tree forms agree; only whole-prefix masks move to another prefix")
    func compactMask() {
        let parents = [-1, 0, 0, 1, 2, 2, 4]
        let mask = AttentionMask.tree(prefix: 5, parents: parents)
        #expect(mask.sharedPrefix == 5 && mask.wordsPerRow == 1)
        #expect(AttentionMask(rows: mask.rows, columns: mask.columns, allowed: mask.allowed) == mask)
        #expect(mask.withPrefix(9) == AttentionMask.tree(prefix: 9, parents: parents))
        #expect(mask.isAllowed(row: 6, column: 5 + 4) && !mask.isAllowed(row: 6, column: 5 + 3))
        for count in [1, 63, 64, 65, 130] {
            let causal = AttentionMask.causal(prefix: 3, count: count)
            let flags = (0..<count).flatMap { r in (0..<(3 + count)).map { $0 <= 3 + r } }
            #expect(causal == AttentionMask(rows: count, columns: 3 + count, allowed: flags), "causal \(count)")
        }
    }
}
