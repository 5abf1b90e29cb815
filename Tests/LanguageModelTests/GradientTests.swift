import Foundation
import Testing
import LanguageModel
import Numerics

/// Backward passes against central finite differences of the loss, tensor by tensor.
@Suite("Gradients")
struct GradientTests {
    /// A tiny model with weights large enough that every nonlinearity is exercised.
    static func tinyModel(shared: Bool, seed: UInt64) -> TransformerWeights {
        let config = ModelConfig(dim: 16, hiddenDim: 24, layers: 2, heads: 4, kvHeads: 2, vocabularySize: 23,
                                 maxSequenceLength: 8, sharedClassifier: shared)
        let w = TransformerWeights(zeros: config)
        var rng = XorShiftRandom(seed: seed)
        for (name, t) in w.namedTensors {
            for i in 0..<t.count {
                t[i] = name.hasPrefix("rms_") ? 1 + 0.3 * rng.nextGaussian() : 0.4 * rng.nextGaussian()
            }
        }
        return w
    }

    static func batch(_ config: ModelConfig, B: Int, T: Int, seed: UInt64) -> (inputs: [Int32], targets: [Int32]) {
        var rng = XorShiftRandom(seed: seed)
        var inputs: [Int32] = [], targets: [Int32] = []
        for _ in 0..<B {
            let seq = (0...T).map { _ in Int32(rng.nextUInt32() % UInt32(config.vocabularySize)) }
            inputs += seq.dropLast()
            targets += seq.dropFirst()
        }
        return (inputs, targets)
    }

    /// ‖numeric − analytic‖ / ‖numeric + analytic‖ per tensor over up to `samples` elements.
    static func relativeErrors(_ w: TransformerWeights, B: Int, T: Int, samples: Int = 24,
                               perturbAnalytic: Float = 1) -> [(String, Double)] {
        let pass = TrainingPass(config: w.config, batchSize: B, sequenceLength: T)
        let (inputs, targets) = batch(w.config, B: B, T: T, seed: 99)
        pass.zeroGradients()
        pass.forward(w, inputs: inputs, targets: targets)
        pass.backward(w, inputs: inputs, targets: targets)
        var results: [(String, Double)] = []
        let h: Float = 1e-2
        for ((name, p), (_, g)) in zip(w.namedTensors, pass.gradients.namedTensors) {
            var diff = 0.0, sum = 0.0
            let stride = max(1, p.count / samples)
            for i in Swift.stride(from: 0, to: p.count, by: stride) {
                let original = p[i]
                p[i] = original + h
                let plus = Double(pass.forward(w, inputs: inputs, targets: targets))
                p[i] = original - h
                let minus = Double(pass.forward(w, inputs: inputs, targets: targets))
                p[i] = original
                let numeric = (plus - minus) / Double(2 * h)
                let analytic = Double(g[i] * perturbAnalytic)
                diff += (numeric - analytic) * (numeric - analytic)
                sum += (numeric + analytic) * (numeric + analytic)
            }
            results.append((name, diff.squareRoot() / max(sum.squareRoot(), 1e-12)))
        }
        return results
    }

    @Test("every parameter tensor, tied classifier, GQA: relative error below 1e-2", arguments: [true, false])
    func finiteDifferences(shared: Bool) {
        let w = Self.tinyModel(shared: shared, seed: shared ? 1 : 2)
        let errors = Self.relativeErrors(w, B: 2, T: 6)
        #expect(errors.count == (shared ? 11 : 12))
        for (name, error) in errors {
            #expect(error < 1e-2, "\(name): relative error \(error)")
        }
    }

    @Test("the check has teeth: gradients off by 5% fail it")
    func checkCanFail() {
        let w = Self.tinyModel(shared: true, seed: 3)
        let errors = Self.relativeErrors(w, B: 1, T: 5, samples: 8, perturbAnalytic: 1.05)
        #expect(errors.allSatisfy { $0.1 > 1e-2 })
    }
}
