import Foundation
import Testing
import DraftHeads
import LanguageModel
import Numerics

/// The Hydra++ training ingredients: distillation loss and dropout.
@Suite("Hydra++ recipe")
struct RecipeTests {
    @Test("soft cross-entropy: gradient matches central differences, and equals KL + teacher entropy")
    func softCrossEntropy() {
        let (n, V) = (3, 7)
        var rng = XorShiftRandom(seed: 3)
        let logits = (0..<n * V).map { _ in 2 * rng.nextGaussian() }
        var teacher = (0..<n * V).map { _ in rng.nextFloat() + 0.01 }
        for r in 0..<n {
            let sum = teacher[r * V..<(r + 1) * V].reduce(0, +)
            for v in 0..<V { teacher[r * V + v] /= sum }
        }
        func loss(_ z: [Float]) -> Float {
            var q = z
            return SoftCrossEntropy.forward(&q, teacher: teacher, rows: n, vocabularySize: V)
        }
        var q = logits
        let value = SoftCrossEntropy.forward(&q, teacher: teacher, rows: n, vocabularySize: V)
        // KL(p‖q) + H(p) = −Σ p log q
        var kl: Double = 0, entropy: Double = 0
        for i in 0..<n * V {
            kl += Double(teacher[i]) * log(Double(teacher[i]) / Double(q[i]))
            entropy -= Double(teacher[i]) * log(Double(teacher[i]))
        }
        #expect(abs(Double(value) - (kl + entropy) / Double(n)) < 1e-5)
        SoftCrossEntropy.backward(&q, teacher: teacher, rows: n, vocabularySize: V)
        for i in 0..<n * V {
            var plus = logits, minus = logits
            plus[i] += 1e-2
            minus[i] -= 1e-2
            let numeric = (loss(plus) - loss(minus)) / 2e-2
            #expect(abs(numeric - q[i]) < 2e-3, "element \(i): \(numeric) vs \(q[i])")
        }
    }

    @Test("dropout zeroes about p of the SiLU branch, scales the rest by 1/(1-p), and rate 0 changes nothing")
    func dropout() {
        let head = HeadNetwork(inputWidth: 16, dim: 16, vocabularySize: 5, blocks: 1, projection: false, outputBias: false)
        var rng = XorShiftRandom(seed: 1)
        for (_, t) in head.namedTensors { for i in 0..<t.count { t[i] = rng.nextGaussian() } }
        let n = 2000
        let x = (0..<n * 16).map { _ in rng.nextGaussian() }
        let plain = HeadActivations(head: head, rows: n)
        head.forward(x, rows: n, into: plain)
        let dropped = HeadActivations(head: head, rows: n)
        var dropRandom = XorShiftRandom(seed: 9)
        withUnsafeMutablePointer(to: &dropRandom) { head.forward(x, rows: n, into: dropped, dropout: (0.2, $0)) }
        // y = x + mask · SiLU(a): where the mask is 0, y equals the input exactly.
        var zeroed = 0
        var ratioSum: Double = 0, ratioCount = 0
        for i in 0..<n * 16 {
            let yPlain = Double(plainOutput(plain, i)), yDrop = Double(plainOutput(dropped, i))
            let silu = yPlain - Double(x[i])
            if abs(yDrop - Double(x[i])) < 1e-6 && abs(silu) > 1e-3 { zeroed += 1 } else if abs(silu) > 1e-3 {
                ratioSum += (yDrop - Double(x[i])) / silu
                ratioCount += 1
            }
        }
        let fraction = Double(zeroed) / Double(n * 16)
        #expect(abs(fraction - 0.2) < 0.02, "dropped fraction \(fraction)")
        #expect(abs(ratioSum / Double(ratioCount) - 1.25) < 1e-3)
        let none = HeadActivations(head: head, rows: n)
        withUnsafeMutablePointer(to: &dropRandom) { head.forward(x, rows: n, into: none, dropout: (0, $0)) }
        #expect(none.logits.array == plain.logits.array)
    }

    /// Block 0's output element `i`.
    func plainOutput(_ acts: HeadActivations, _ i: Int) -> Float { acts.blockOutput(0)[i] }
}
