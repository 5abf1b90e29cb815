import Foundation
import Testing
import TestSupport
import DraftHeads
import LanguageModel
import Numerics

/// Draft-head networks: gradients against finite differences, and the zero-initialisation property.
@Suite("Head networks")
struct HeadNetworkTests {
    /// A head of width `D` over `V` tokens with every trainable tensor Gaussian (`scale`, seeded); a Hydra head reads
    /// `hydraInputs` vectors of width `D`. With `sharedClassifier`, the head ends in that `(V, D)` tensor instead.
    static func randomHead(hydra: Bool, blocks: Int, seed: UInt64, D: Int = 8, V: Int = 11, hydraInputs: Int = 3, scale: Float = 0.25,
                           sharedClassifier: Tensor? = nil) -> HeadNetwork {
        let head = HeadNetwork(inputWidth: hydra ? hydraInputs * D : D, dim: D, vocabularySize: V, blocks: blocks, projection: hydra,
                               outputBias: hydra, sharedClassifier: sharedClassifier)
        var rng = XorShiftRandom(seed: seed)
        for (_, t) in head.namedTensors { for i in 0..<t.count { t[i] = scale * rng.nextGaussian() } }
        return head
    }

    /// Mean cross-entropy of the head on inputs `x` against `targets`.
    static func loss(_ head: HeadNetwork, _ x: [Float], _ targets: [Int32], _ acts: HeadActivations) -> Double {
        head.forward(x, rows: targets.count, into: acts)
        return LayerPasses.crossEntropyForward(acts.logits.pointer, targets: targets, vocabularySize: head.vocabularySize) / Double(targets.count)
    }

    /// Relative errors between the analytic gradients of one backward over `n` random rows (seeded) and central
    /// differences, for every tensor of `head` and for its input; `grads` is the gradient head the backward filled.
    static func gradientErrors(_ head: HeadNetwork, rows n: Int, seed: UInt64) -> (errors: [(name: String, error: Double)], grads: HeadNetwork) {
        var rng = XorShiftRandom(seed: seed)
        var x = (0..<n * head.inputWidth).map { _ in rng.nextGaussian() }
        let targets = (0..<n).map { _ in Int32(rng.nextUInt32() % UInt32(head.vocabularySize)) }
        let acts = HeadActivations(head: head, rows: n)
        let grads = head.zerosLike()
        var dx = [Float](repeating: 0, count: x.count)
        _ = loss(head, x, targets, acts)
        LayerPasses.crossEntropyBackward(acts.logits.pointer, targets: targets, vocabularySize: head.vocabularySize)
        head.backward(x, rows: n, acts: acts, dlogits: acts.logits.pointer, grads: grads, dx: &dx, scratch: HeadScratch(dim: head.dim, rows: n))

        let h: Float = 1e-2
        func error(analytic: [Float], perturb: (Int, Float) -> Void, count: Int) -> Double {
            var diff = 0.0, sum = 0.0
            for i in Swift.stride(from: 0, to: count, by: max(1, count / 30)) {
                perturb(i, h)
                let plus = loss(head, x, targets, acts)
                perturb(i, -2 * h)
                let minus = loss(head, x, targets, acts)
                perturb(i, h)
                let numeric = (plus - minus) / Double(2 * h)
                diff += (numeric - Double(analytic[i])) * (numeric - Double(analytic[i]))
                sum += (numeric + Double(analytic[i])) * (numeric + Double(analytic[i]))
            }
            return diff.squareRoot() / max(sum.squareRoot(), 1e-12)
        }
        var errors = zip(head.namedTensors, grads.namedTensors).map { pair in
            let ((name, p), (_, g)) = pair
            return (name, error(analytic: g.array, perturb: { i, d in p[i] += d }, count: p.count))
        }
        errors.append(("input", error(analytic: dx, perturb: { i, d in x[i] += d }, count: x.count)))
        return (errors, grads)
    }

    @Test("gradients of every tensor and of the input match central differences", arguments: [(false, 1), (false, 3), (true, 1), (true, 4)])
    func finiteDifferences(hydra: Bool, blocks: Int) {
        let head = Self.randomHead(hydra: hydra, blocks: blocks, seed: UInt64(blocks + (hydra ? 10 : 0)))
        for (name, error) in Self.gradientErrors(head, rows: 5, seed: 77).errors { #expect(error < 1e-2, "\(name): relative error \(error)") }
    }

    @Test("a fresh Medusa head gives the base model’s next-token logits (to float rounding); a fresh Hydra head too, whatever its path")
    func zeroInitialisation() throws {
        let base = try Checkpoint.read(TestPaths.stories260K)
        let model = Transformer(weights: base)
        let state = model.makeState()
        let logits = Array(model.prefill([1, 403, 281, 30], state: state))
        let h = state.hidden.array
        let D = base.config.dim, V = base.config.vocabularySize
        let medusa = HeadNetwork(inputWidth: D, dim: D, vocabularySize: V, blocks: 2, projection: false, outputBias: false)
        medusa.initialise(fromClassifier: base.classifier)
        let acts = HeadActivations(head: medusa, rows: 1)
        medusa.forward(h, rows: 1, into: acts)
        // Equal up to the rounding of different BLAS kernels (sgemm for the prompt, gemm for the head).
        #expect(maxAbsDiff(acts.logits.array, logits) < 1e-5)

        let hydra = HeadNetwork(inputWidth: 3 * D, dim: D, vocabularySize: V, blocks: 2, projection: true, outputBias: true)
        hydra.initialise(fromClassifier: base.classifier)
        let embed = { (t: Int) in Array(UnsafeBufferPointer(start: base.tokenEmbedding.pointer + t * D, count: D)) }
        let hydraActs = HeadActivations(head: hydra, rows: 1)
        hydra.forward(h + embed(22) + embed(15), rows: 1, into: hydraActs)
        #expect(maxAbsDiff(hydraActs.logits.array, logits) < 1e-5)
    }
}

enum TestPaths {
    static let stories260K = PackagePaths.fixture("models/stories260K/model.bin")
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
