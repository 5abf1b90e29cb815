import Foundation
import Testing
import DraftHeads
import LanguageModel
import Numerics

@Suite("Draft head sets")
struct DraftHeadSetTests {
    /// A small random base model (untrained: its hidden state still identifies the current token).
    static let base: TransformerWeights = {
        let config = ModelConfig(dim: 32, hiddenDim: 64, layers: 1, heads: 4, kvHeads: 2, vocabularySize: 40, maxSequenceLength: 32)
        let w = TransformerWeights(random: config, seed: 21)
        var rng = XorShiftRandom(seed: 4)
        for i in 0..<w.tokenEmbedding.count { w.tokenEmbedding[i] = rng.nextGaussian() }
        return w
    }()

    /// A periodic text of 7 distinct tokens: the token k+1 places ahead is a function of the current one.
    static let cycle: [Int32] = [5, 9, 13, 17, 21, 25, 29]
    static let periodic: [Int32] = (0..<1400).map { cycle[$0 % cycle.count] }

    @Test("alignment: trained head k predicts the token k+1 places ahead, and not the one k places ahead",
          arguments: [(DraftHeadKind.medusa, false), (.hydra, false), (.hydra, true)])
    func alignment(kind: DraftHeadKind, prefixAttention: Bool) throws {
        let model = Transformer(weights: Self.base)
        let data = BaseHiddenStates(model: model, tokens: Self.periodic)
        let settings = HeadTrainingSettings(kind: kind, heads: 3, blocks: prefixAttention ? 2 : 1, batchSize: 64, steps: 150,
                                            optimizer: OptimizerSettings(learningRate: 1e-2, warmupSteps: 10), recipe: TrainingRecipe(dropout: prefixAttention ? 0.1 : 0),
                                            prefixAttention: prefixAttention)
        let trainer = try HeadTrainer(settings: settings, base: Self.base, data: data)
        while trainer.step < settings.steps { trainer.trainStep() }
        let accuracy = HeadAccuracy.measure(trainer.heads, data: data, embedding: Self.base.tokenEmbedding, top: 1)
        for k in 1...3 { #expect(accuracy.topK[k - 1][0] > 0.95, "head \(k): top-1 \(accuracy.topK[k - 1][0])") }

        // The same heads scored against a target shifted by one (x_{t+k}) must fail.
        let wrong = HeadAccuracy.measure(trainer.heads, data: data, embedding: Self.base.tokenEmbedding, top: 1, targetShift: -1)
        for k in 1...3 { #expect(wrong.topK[k - 1][0] < 0.05, "head \(k) also matches a shifted target: \(wrong.topK[k - 1][0])") }
    }

    @Test("accuracy over segments counts only positions whose targets stay in the segment, after the skipped prompt")
    func accuracySegments() {
        let set = DraftHeadSet(kind: .hydra, heads: 2, blocks: 1, base: Self.base)
        let tokens = Array(Self.periodic.prefix(64))
        let data = BaseHiddenStates(tokens: tokens, hidden: Tensor(zeros: [tokens.count, Self.base.config.dim]))
        // 64 tokens in 4 segments of 16; two heads reach 3 ahead: positions 0...12 of each segment, then 5...12.
        #expect(HeadAccuracy.measure(set, data: data, embedding: Self.base.tokenEmbedding, top: 1, segment: 16).positions == 4 * 13)
        #expect(HeadAccuracy.measure(set, data: data, embedding: Self.base.tokenEmbedding, top: 1, segment: 16, skipping: 5).positions == 4 * 8)
        #expect(HeadAccuracy.measure(set, data: data, embedding: Self.base.tokenEmbedding, top: 1).positions == 64 - 3)
    }

    @Test("joint path acceptance and rank sequences agree with the per-head table and with each other")
    func jointAccuracy() {
        let set = DraftHeadSet(kind: .hydra, heads: 3, blocks: 1, base: Self.base)
        var rng = XorShiftRandom(seed: 12)
        for (_, t) in set.namedTensors { for i in 0..<t.count { t[i] += 0.5 * rng.nextGaussian() } }
        let model = Transformer(weights: Self.base)
        let tokens: [Int32] = (0..<96).map { _ in Int32(2 + rng.next() % 30) }
        let data = BaseHiddenStates(model: model, tokens: tokens)
        let accuracy = HeadAccuracy.measure(set, data: data, embedding: Self.base.tokenEmbedding, top: 8, segment: 32, skipping: 4)
        // One run per segment, one entry of 3 ranks per position.
        #expect(accuracy.sequences.count == 3)
        #expect(accuracy.sequences.reduce(0) { $0 + $1.count } == accuracy.positions)
        let flat = accuracy.sequences.flatMap { $0 }
        #expect(flat.allSatisfy { $0.count == 3 && $0.allSatisfy { $0 >= -1 && $0 < 8 } })
        // Head 1's rank-r share of the sequences is the table's rank-r accuracy.
        for r in 0..<8 {
            let share = Double(flat.filter { $0[0] == r }.count) / Double(accuracy.positions)
            let rank = r == 0 ? accuracy.topK[0][0] : accuracy.topK[0][r] - accuracy.topK[0][r - 1]
            #expect(abs(share - rank) < 1e-12)
        }
        // Every listed path's figure is the share of positions whose ranks begin with it, and no deeper path beats its parent.
        #expect(!accuracy.paths.isEmpty)
        let byPath = Dictionary(uniqueKeysWithValues: accuracy.paths.map { ($0.path, $0.accepted) })
        for p in accuracy.paths {
            let count = flat.filter { Array($0.prefix(p.path.count)) == p.path }.count
            #expect(count >= HeadAccuracy.PathAcceptance.minimumCount)
            #expect(abs(p.accepted - Double(count) / Double(accuracy.positions)) < 1e-12)
            if p.path.count > 1 { #expect(p.accepted <= byPath[Array(p.path.dropLast())]!) }
        }
    }

    @Test("sequential dependence: a Hydra node's distribution follows its path; a Medusa head's cannot")
    func sequentialDependence() {
        func randomised(_ kind: DraftHeadKind) -> DraftHeadSet {
            let set = DraftHeadSet(kind: kind, heads: 3, blocks: 2, base: Self.base)
            var rng = XorShiftRandom(seed: 8)
            for (_, t) in set.namedTensors { for i in 0..<t.count { t[i] += 0.3 * rng.nextGaussian() } }
            return set
        }
        let h = (0..<32).map { Float($0 % 5) - 2 }
        let hydra = randomised(.hydra), medusa = randomised(.medusa)
        let e = Self.base.tokenEmbedding
        let a = hydra.logits(head: 2, hidden: h, path: [5, 9], embedding: e)
        let b = hydra.logits(head: 2, hidden: h, path: [5, 13], embedding: e)
        #expect(maxAbsDiff(a, b) > 1e-2)
        let c = medusa.logits(head: 2, hidden: h, path: [5, 9], embedding: e)
        let d = medusa.logits(head: 2, hidden: h, path: [5, 13], embedding: e)
        #expect(c == d)
    }

    @Test("heads file: round trip, and a clear error for other models, truncation and the wrong kind of file")
    func file() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("heads-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let set = DraftHeadSet(kind: .hydra, heads: 2, blocks: 2, base: Self.base)
        let path = folder.appendingPathComponent("h.heads").path
        try DraftHeadsFile.write(set, to: path)
        let back = try DraftHeadsFile.read(path, base: Self.base)
        #expect(back.config == set.config)
        #expect(back.namedTensors.map { $0.tensor.array } == set.namedTensors.map { $0.tensor.array })

        // Another base model of the same shape: refused by fingerprint.
        let other = TransformerWeights(random: Self.base.config, seed: 99)
        #expect { _ = try DraftHeadsFile.read(path, base: other) } throws: { "\($0)".contains("heads were trained for base model") }
        // Another shape: refused by dimensions.
        let stories = try Checkpoint.read(TestPaths.stories260K)
        #expect { _ = try DraftHeadsFile.read(path, base: stories) } throws: { "\($0)".contains("do not fit this model (dim 64, vocabulary 512)") }
        // Truncated, and a checkpoint passed as heads.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 8).write(to: URL(fileURLWithPath: path))
        #expect { _ = try DraftHeadsFile.read(path) } throws: { "\($0)".contains("truncated") }
        #expect { _ = try DraftHeadsFile.read(TestPaths.stories260K) } throws: { "\($0)".contains("not a HydraSim heads file") }
    }
}
