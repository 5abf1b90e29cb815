import Foundation
import Testing
import DraftHeads
import LanguageModel
import Numerics

@Suite("Prefix attention (Hydra++)")
struct PrefixAttentionTests {
    static let config = ModelConfig(dim: 16, hiddenDim: 24, layers: 1, heads: 4, kvHeads: 2, vocabularySize: 9, maxSequenceLength: 8)

    static func randomLayer(seed: UInt64) -> PrefixAttentionLayer {
        let layer = PrefixAttentionLayer(zeros: config)
        var rng = XorShiftRandom(seed: seed)
        for (name, t) in layer.namedTensors {
            for i in 0..<t.count { t[i] = name.hasPrefix("rms_") ? 1 + 0.2 * rng.nextGaussian() : 0.4 * rng.nextGaussian() }
        }
        return layer
    }

    @Test("gradients of every prefix-layer tensor, through a head and its loss, match central differences")
    func gradients() {
        let (B, T) = (2, 5)
        let layer = Self.randomLayer(seed: 1)
        let head = HeadNetwork(inputWidth: 16, dim: 16, vocabularySize: 9, blocks: 1, projection: false, outputBias: false)
        var rng = XorShiftRandom(seed: 2)
        for (_, t) in head.namedTensors { for i in 0..<t.count { t[i] = 0.3 * rng.nextGaussian() } }
        let hidden = (0..<B * T * 16).map { _ in rng.nextGaussian() }
        let targets = (0..<B * T).map { _ in Int32(rng.nextUInt32() % 9) }
        let pass = PrefixAttentionPass(config: Self.config, windows: B, length: T)
        hidden.withUnsafeBufferPointer { h in for b in 0..<B { pass.setWindow(b, from: h.baseAddress! + b * T * 16) } }
        let acts = HeadActivations(head: head, rows: B * T)
        func loss() -> Double {
            pass.forward(layer)
            head.forward(pass.output.pointer, rows: B * T, into: acts)
            return LayerPasses.crossEntropyForward(acts.logits.pointer, targets: targets, vocabularySize: 9) / Double(B * T)
        }
        _ = loss()
        LayerPasses.crossEntropyBackward(acts.logits.pointer, targets: targets, vocabularySize: 9)
        let dOut = Tensor(zeros: [B * T, 16])
        head.backward(pass.output.pointer, rows: B * T, acts: acts, dlogits: acts.logits.pointer, grads: head.zerosLike(), dx: dOut.pointer,
                      scratch: HeadScratch(dim: 16, rows: B * T))
        let grads = PrefixAttentionLayer(zeros: Self.config)
        pass.backward(layer, dOutput: dOut.pointer, grads: grads)
        for ((name, p), (_, g)) in zip(layer.namedTensors, grads.namedTensors) {
            var diff = 0.0, sum = 0.0
            for i in Swift.stride(from: 0, to: p.count, by: max(1, p.count / 25)) {
                let original = p[i]
                p[i] = original + 1e-2
                let plus = loss()
                p[i] = original - 1e-2
                let minus = loss()
                p[i] = original
                let numeric = (plus - minus) / 2e-2
                diff += (numeric - Double(g[i])) * (numeric - Double(g[i]))
                sum += (numeric + Double(g[i])) * (numeric + Double(g[i]))
            }
            let error = diff.squareRoot() / max(sum.squareRoot(), 1e-12)
            #expect(error < 1e-2, "\(name): relative error \(error)")
        }
    }

    @Test("feeding accepted states one at a time gives the training pass's causal outputs")
    func incrementalEqualsBatched() {
        let T = 7
        let layer = Self.randomLayer(seed: 5)
        var rng = XorShiftRandom(seed: 6)
        let hidden = (0..<T * 16).map { _ in rng.nextGaussian() }
        let pass = PrefixAttentionPass(config: Self.config, windows: 1, length: T)
        hidden.withUnsafeBufferPointer { pass.setWindow(0, from: $0.baseAddress!) }
        pass.forward(layer)
        let state = PrefixAttentionState(layer: layer, capacity: T)
        for t in 0..<T {
            let out = hidden.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: state.feed($0.baseAddress! + t * 16), count: 16)) }
            let expected = Array(UnsafeBufferPointer(start: pass.output.pointer + t * 16, count: 16))
            #expect(maxAbsDiff(out, expected) < 1e-5, "position \(t)")
        }
        #expect(state.cache.count == T)
    }

    @Test("feeding several accepted tokens in one pass gives the bits of feeding them one at a time")
    func feedRowsIsBitIdentical() {
        // Odd widths: dim 24 (3 heads of 8), hidden 44 (not a multiple of 8 or 16).
        let config = ModelConfig(dim: 24, hiddenDim: 44, layers: 1, heads: 3, kvHeads: 1, vocabularySize: 9, maxSequenceLength: 40)
        let layer = PrefixAttentionLayer(random: config, seed: 7)
        var rng = XorShiftRandom(seed: 8)
        let hidden = (0..<12 * 24).map { _ in rng.nextGaussian() }
        hidden.withUnsafeBufferPointer { h in
            let rows = (0..<12).map { h.baseAddress! + $0 * 24 }
            let single = PrefixAttentionState(layer: layer, capacity: 40), batched = PrefixAttentionState(layer: layer, capacity: 40)
            var outputs: [[UInt32]] = []
            for r in rows { outputs.append(UnsafeBufferPointer(start: single.feed(r), count: 24).map(\.bitPattern)) }
            // Steps of 1, 4, 2 and 5 accepted tokens.
            var next = 0
            for count in [1, 4, 2, 5] {
                let out = batched.feed(rows: Array(rows[next..<next + count]))
                next += count
                #expect(UnsafeBufferPointer(start: out, count: 24).map(\.bitPattern) == outputs[next - 1], "after \(next) tokens")
            }
            for slot in 0..<12 {
                #expect(UnsafeBufferPointer(start: batched.cache.key(layer: 0, slot: slot), count: 8).map(\.bitPattern)
                        == UnsafeBufferPointer(start: single.cache.key(layer: 0, slot: slot), count: 8).map(\.bitPattern))
            }
        }
    }
}
