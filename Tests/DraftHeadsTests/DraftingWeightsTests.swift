import Foundation
import Testing
import TestSupport
import DraftHeads
import LanguageModel
import Numerics

/// The drafting copies of the heads: fp32 is the trained forward pass exactly, fp16 the same pass on rounded weights.
@Suite("Drafting weights (f32 / f16)")
struct DraftingWeightsTests {
    /// Head 1 of a set, random weights: Hydra's reads [h, E(root)].
    static func randomHead(hydra: Bool, blocks: Int, seed: UInt64) -> HeadNetwork {
        HeadNetworkTests.randomHead(hydra: hydra, blocks: blocks, seed: seed, D: 24, V: 37, hydraInputs: 2, scale: 0.2)
    }

    static func set(of head: HeadNetwork) -> DraftHeadSet {
        let set = DraftHeadSet(config: DraftHeadsConfig(kind: head.projection == nil ? .medusa : .hydra, heads: 1, blocks: head.blocks,
                                                        dim: head.dim, vocabularySize: head.vocabularySize, baseFingerprint: "test"))
        for ((_, dst), (_, src)) in zip(set.heads[0].namedTensors, head.namedTensors) {
            precondition(dst.count == src.count, "the set's head has another shape")
            dst.pointer.update(from: src.pointer, count: src.count)
        }
        return set
    }

    @Test("f32 drafting gives HeadNetwork.forward's bits; f16 drafting gives the bits of the same head with its matrices rounded to fp16",
          arguments: [(false, 1), (true, 1), (true, 4)])
    func draftingForward(hydra: Bool, blocks: Int) {
        let set = Self.set(of: Self.randomHead(hydra: hydra, blocks: blocks, seed: UInt64(blocks * 3 + (hydra ? 1 : 0))))
        let head = set.heads[0]
        let n = 3
        var rng = XorShiftRandom(seed: 9)
        let x = (0..<n * head.inputWidth).map { _ in rng.nextGaussian() }
        let trained = HeadActivations(head: head, rows: n), drafted = HeadActivations(head: head, rows: n)
        head.forward(x, rows: n, into: trained)
        set.drafting(.single).heads[0].forward(x, rows: n, into: drafted)
        #expect(trained.logits.array.map(\.bitPattern) == drafted.logits.array.map(\.bitPattern))

        // The same head with every matrix rounded to fp16 (biases stay fp32), run in fp32.
        let rounded = Self.set(of: head)
        for (name, t) in rounded.heads[0].namedTensors where !name.hasSuffix("bias") {
            for i in 0..<t.count { t[i] = Float(Float16(t[i])) }
        }
        let reference = HeadActivations(head: head, rows: n), half = HeadActivations(head: head, rows: n)
        rounded.heads[0].forward(x, rows: n, into: reference)
        set.drafting(.half).heads[0].forward(x, rows: n, into: half)
        #expect(reference.logits.array.map(\.bitPattern) == half.logits.array.map(\.bitPattern))
        #expect(half.logits.array != trained.logits.array, "rounding shows in the logits")
        #expect(set.drafting(.half).bytes * 2 == set.drafting(.single).bytes)
        #expect(set.drafting(.half) === set.drafting(.half), "one copy per set and precision")
    }
}
