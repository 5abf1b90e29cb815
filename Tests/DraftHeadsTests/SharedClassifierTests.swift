import Foundation
import Testing
import TestSupport
import DraftHeads
import LanguageModel
import Numerics

/// Heads whose output layer is the base model's own classifier, frozen: gradients, training, the heads file, drafting.
@Suite("Shared classifier")
struct SharedClassifierTests {
    static let house = PackagePaths.fixture("models/house/model.bin")

    /// A head over a random `(V, D)` classifier it shares, its trainable tensors random.
    static func randomHead(hydra: Bool, blocks: Int, seed: UInt64) -> (head: HeadNetwork, classifier: Tensor) {
        let (D, V) = (8, 11)
        var rng = XorShiftRandom(seed: seed)
        let classifier = Tensor(zeros: [V, D])
        for i in 0..<classifier.count { classifier[i] = 0.5 * rng.nextGaussian() }
        return (HeadNetworkTests.randomHead(hydra: hydra, blocks: blocks, seed: seed + 1000, D: D, V: V, sharedClassifier: classifier), classifier)
    }

    @Test("gradients of every trainable tensor and of the input match central differences; the classifier is no parameter and is never written",
          arguments: [(false, 1), (false, 3), (true, 1), (true, 3)])
    func finiteDifferences(hydra: Bool, blocks: Int) {
        let (head, classifier) = Self.randomHead(hydra: hydra, blocks: blocks, seed: UInt64(blocks + (hydra ? 20 : 30)))
        let before = classifier.array
        #expect(head.sharesClassifier && head.outputWeight === classifier)
        #expect(!head.namedTensors.contains { $0.name == "output.weight" })
        #expect(!head.namedTensors.contains { $0.tensor === classifier })
        let (errors, grads) = HeadNetworkTests.gradientErrors(head, rows: 5, seed: 78)
        #expect(grads.sharesClassifier && grads.outputWeight === classifier, "gradients allocate nothing for the frozen classifier")
        #expect(classifier.array.map(\.bitPattern) == before.map(\.bitPattern), "backward wrote into the frozen classifier")
        for (name, error) in errors { #expect(error < 1e-2, "\(name): relative error \(error)") }
    }

    @Test("training steps change the heads' own tensors and leave the base model's classifier's bytes as they were",
          arguments: [DraftHeadKind.medusa, .hydra])
    func trainingKeepsClassifier(kind: DraftHeadKind) throws {
        let base = DraftHeadSetTests.base
        let before = base.classifier.array.map(\.bitPattern)
        let data = BaseHiddenStates(model: Transformer(weights: base), tokens: DraftHeadSetTests.periodic)
        let settings = HeadTrainingSettings(kind: kind, heads: 2, blocks: 1, batchSize: 32, steps: 5,
                                            optimizer: OptimizerSettings(learningRate: 1e-2, warmupSteps: 1, weightDecay: 0.1), sharedClassifier: true)
        let trainer = try HeadTrainer(settings: settings, base: base, data: data)
        #expect(trainer.heads.config.sharedClassifier)
        #expect(trainer.heads.sharedClassifier === base.classifier)
        #expect(trainer.grads.heads.allSatisfy { $0.outputWeight === base.classifier })
        let initial = trainer.heads.namedTensors.map { $0.tensor.array }
        while trainer.step < settings.steps { trainer.trainStep() }
        #expect(base.classifier.array.map(\.bitPattern) == before)
        #expect(trainer.heads.heads.allSatisfy { $0.outputWeight === base.classifier })
        let trained = trainer.heads.namedTensors.map { $0.tensor.array }
        #expect(zip(initial, trained).contains { $0 != $1 }, "the heads' own tensors train")
        #expect(trainer.validationLoss(data, limit: 64).allSatisfy { $0.isFinite })
    }

    @Test("a fresh shared-classifier Medusa head gives the base model's next-token logits; a fresh shared Hydra head too")
    func freshHeadIsBase() throws {
        let base = try Checkpoint.read(TestPaths.stories260K)
        let model = Transformer(weights: base)
        let state = model.makeState()
        let logits = Array(model.prefill([1, 403, 281, 30], state: state))
        let h = state.hidden.array
        for kind in [DraftHeadKind.medusa, .hydra] {
            let set = DraftHeadSet(kind: kind, heads: 2, blocks: 2, base: base, sharedClassifier: true)
            #expect(set.heads.allSatisfy { $0.outputWeight === base.classifier })
            for k in 1...2 {
                let head = set.logits(head: k, hidden: h, path: [22, 15], embedding: base.tokenEmbedding)
                #expect(maxAbsDiff(head, logits) < 1e-5, "\(kind.rawValue) head \(k)")
            }
        }
    }

    @Test("heads file: a shared set round-trips with its base, is 4·V·D bytes per head smaller, and needs the base to load")
    func file() throws {
        let base = try Checkpoint.read(Self.house)
        let (V, D) = (base.config.vocabularySize, base.config.dim)
        let folder = PackagePaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func randomised(shared: Bool) -> DraftHeadSet {
            let set = DraftHeadSet(kind: .hydra, heads: 4, blocks: 1, base: base, sharedClassifier: shared)
            var rng = XorShiftRandom(seed: 5)
            for (_, t) in set.namedTensors { for i in 0..<t.count { t[i] += 0.01 * rng.nextGaussian() } }
            return set
        }
        let shared = randomised(shared: true), own = randomised(shared: false)
        let sharedPath = folder.appendingPathComponent("shared.heads").path, ownPath = folder.appendingPathComponent("own.heads").path
        try DraftHeadsFile.write(shared, to: sharedPath)
        try DraftHeadsFile.write(own, to: ownPath)
        let sharedSize = try Data(contentsOf: URL(fileURLWithPath: sharedPath)).count
        let ownSize = try Data(contentsOf: URL(fileURLWithPath: ownPath)).count
        // The header differs by the `"sharedClassifier":true` field only.
        let saved = ownSize - sharedSize
        #expect(saved > 4 * 4 * V * D - 64 && saved <= 4 * 4 * V * D, "\(saved) bytes saved")
        #expect(4 * V * D == 1 << 20, "1 MiB per head for the house model")

        let back = try DraftHeadsFile.read(sharedPath, base: base)
        #expect(back.config == shared.config && back.config.sharedClassifier)
        #expect(back.sharedClassifier === base.classifier)
        #expect(back.namedTensors.map(\.name) == shared.namedTensors.map(\.name))
        #expect(back.namedTensors.map { $0.tensor.array } == shared.namedTensors.map { $0.tensor.array })
        let h = (0..<D).map { Float($0 % 7) * 0.1 - 0.3 }
        #expect(back.logits(head: 3, hidden: h, path: [4, 9, 12], embedding: base.tokenEmbedding)
                == shared.logits(head: 3, hidden: h, path: [4, 9, 12], embedding: base.tokenEmbedding))

        // Without the base, or with a base of another shape: one clear line.
        #expect { _ = try DraftHeadsFile.read(sharedPath) } throws: { "\($0)".contains("share the base model's classifier") }
        let stories = try Checkpoint.read(TestPaths.stories260K)
        #expect { _ = try DraftHeadsFile.read(sharedPath, base: stories) } throws: { "\($0)".contains("do not fit this model (dim 64, vocabulary 512)") }
        // Another base of the same shape: refused by fingerprint.
        let other = TransformerWeights(random: base.config, seed: 3)
        #expect { _ = try DraftHeadsFile.read(sharedPath, base: other) } throws: { "\($0)".contains("heads were trained for base model") }
    }

    @Test("an old heads file (no sharedClassifier in its header) loads as not sharing, and writes back the same tensors and a header without the key")
    func oldFileLoads() throws {
        let base = try Checkpoint.read(Self.house)
        let path = PackagePaths.fixture("models/house/hydra.heads")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(!String(decoding: bytes.prefix(4096), as: UTF8.self).contains("sharedClassifier"))
        let set = try DraftHeadsFile.read(path, base: base)
        #expect(!set.config.sharedClassifier && set.sharedClassifier == nil)
        #expect(set.heads.allSatisfy { !$0.sharesClassifier && $0.outputWeight !== base.classifier })
        #expect(set.namedTensors.filter { $0.name.hasSuffix("output.weight") }.count == set.config.heads)
        // Written back: the same tensors, and a header still without the key (JSON key order may differ).
        let again = try DraftHeadsFile.encode(set)
        func header(_ d: Data) -> Int { 12 + Int(d[d.startIndex + 8]) + 256 * Int(d[d.startIndex + 9]) }
        #expect(again.dropFirst(header(again)) == bytes.dropFirst(header(bytes)))
        #expect(!String(decoding: again.prefix(header(again)), as: UTF8.self).contains("sharedClassifier"))
    }

    @Test("drafting a shared set: one fp32 output matrix, the base classifier itself, for every head in either precision; its bytes are not counted")
    func drafting() throws {
        let base = try Checkpoint.read(Self.house)
        let (V, D) = (base.config.vocabularySize, base.config.dim)
        let shared = DraftHeadSet(kind: .hydra, heads: 4, blocks: 1, base: base, sharedClassifier: true)
        let own = DraftHeadSet(kind: .hydra, heads: 4, blocks: 1, base: base)
        var rng = XorShiftRandom(seed: 12)
        for (_, t) in shared.namedTensors { for i in 0..<t.count { t[i] += 0.02 * rng.nextGaussian() } }
        for precision in [WeightPrecision.single, .half] {
            let drafting = shared.drafting(precision)
            let first = drafting.heads[0].outputMatrix
            #expect(drafting.heads.allSatisfy { $0.outputMatrix === first })
            #expect(first.precision == .single && first.rows == V && first.columns == D)
            #expect(first.widened().map(\.bitPattern) == base.classifier.array.map(\.bitPattern))
            #expect(drafting.bytes == own.drafting(precision).bytes - 4 * V * D * (precision == .half ? 2 : 4))
        }
        #expect(shared.drafting(.half).bytes * 2 == shared.drafting(.single).bytes)

        // f32 drafting is the trained forward pass exactly; f16 drafting (f16 blocks, fp32 classifier) stays close.
        let n = 3
        let head = shared.heads[2]
        let x = (0..<n * head.inputWidth).map { _ in 0.5 * rng.nextGaussian() }
        let trained = HeadActivations(head: head, rows: n), single = HeadActivations(head: head, rows: n), half = HeadActivations(head: head, rows: n)
        head.forward(x, rows: n, into: trained)
        shared.drafting(.single).heads[2].forward(x, rows: n, into: single)
        shared.drafting(.half).heads[2].forward(x, rows: n, into: half)
        #expect(trained.logits.array.map(\.bitPattern) == single.logits.array.map(\.bitPattern))
        #expect(maxAbsDiff(trained.logits.array, half.logits.array) < 0.05)
    }
}
