import Foundation
import Testing
import LanguageModel
import Numerics

/// Training: one step against the numpy reference, learning, resume, and bad input.
@Suite("Training", .serialized)
struct TrainingTests {
    @Test("loss, gradients and one clipped AdamW step agree with the numpy reference (stories260K)")
    func numpyReferenceStep() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let weights = try Checkpoint.read(TestPaths.stories260K)
        let (B, T) = (2, 24)
        var rng = XorShiftRandom(seed: 5)
        let sequences = (0..<B).map { _ in [1] + (0..<T).map { _ in Int(rng.nextUInt32() % 512) } }
        let inputs = sequences.flatMap { $0.dropLast() }.map(Int32.init)
        let targets = sequences.flatMap { $0.dropFirst() }.map(Int32.init)
        let out = folder.appendingPathComponent("grads.f64").path
        let updated = folder.appendingPathComponent("updated.f64").path
        try NumpyReference.run(["train-step", "--checkpoint", TestPaths.stories260K,
                                "--batch", sequences.map { $0.map(String.init).joined(separator: " ") }.joined(separator: ";"),
                                "--out", out, "--updated-out", updated, "--lr", "1e-3", "--weight-decay", "0.1", "--clip", "1.0"])
        let reference = try NumpyReference.readDoubles(out)

        let pass = TrainingPass(config: weights.config, batchSize: B, sequenceLength: T)
        pass.zeroGradients()
        let loss = pass.forward(weights, inputs: inputs, targets: targets)
        pass.backward(weights, inputs: inputs, targets: targets)
        #expect(abs(Double(loss) - reference[0]) < 1e-4, "loss \(loss) vs \(reference[0])")
        var offset = 1
        for (name, g) in pass.gradients.namedTensors {
            let ref = reference[offset..<offset + g.count]
            offset += g.count
            let scale = ref.map(abs).max()!
            let error = maxAbsDiff(g.array, ref) / scale
            #expect(error < 1e-3, "\(name): max error \(error) relative to the largest gradient \(scale)")
        }
        #expect(offset == reference.count)

        // One clipped AdamW step (weight decay on matrices only).
        GradientClipping.clip(pass.gradients, maxNorm: 1)
        let optimizer = AdamW(parameters: weights, weightDecay: 0.1)
        optimizer.update(weights, grads: pass.gradients, lr: 1e-3)
        let after = try NumpyReference.readDoubles(updated)
        let ours = weights.namedTensors.flatMap { $0.tensor.array }
        #expect(ours.count == after.count)
        // Adam moves each weight by about lr where the gradient is not tiny: compare to a fraction of that.
        #expect(maxAbsDiff(ours, after) < 2e-4)
    }

    static let repetitive = String(repeating: "the cat sat on the mat. the dog sat on the log. ", count: 60)

    static func tinySettings(steps: Int) -> (BaseTrainingSettings, TrainingData) {
        let tokenizer = try! BPETokenizer.train(text: repetitive, vocabularySize: 280)
        let data = TrainingData(text: repetitive, tokenizer: tokenizer)
        let model = ModelConfig(dim: 32, hiddenDim: 64, layers: 2, heads: 4, kvHeads: 2, vocabularySize: tokenizer.vocabularySize,
                                maxSequenceLength: 16)
        let settings = BaseTrainingSettings(model: model, batchSize: 4, steps: steps,
                                            optimizer: OptimizerSettings(learningRate: 1e-2, warmupSteps: 10, weightDecay: 0),
                                            evalInterval: 50, evalBatches: 2, seed: 7)
        return (settings, data)
    }

    @Test("a tiny model learns a tiny repetitive text: loss falls close to zero")
    func learns() throws {
        let (settings, data) = Self.tinySettings(steps: 300)
        let trainer = try BaseTrainer(settings: settings, data: data)
        let first = trainer.trainStep().loss
        var last: Float = 0
        while trainer.step < settings.steps { last = trainer.trainStep().loss }
        #expect(first > 3)
        #expect(last < 0.15, "final training loss \(last)")
        #expect(trainer.evaluate() < 0.3)
    }

    @Test("resume: interrupting and resuming gives bit-identical weights")
    func resume() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (settings, data) = Self.tinySettings(steps: 12)
        let straight = try BaseTrainer(settings: settings, data: data)
        while straight.step < 12 { straight.trainStep() }

        let first = try BaseTrainer(settings: settings, data: data)
        while first.step < 5 { first.trainStep() }
        let state = folder.appendingPathComponent("train_state.bin").path
        try first.saveState(to: state)
        let resumed = try BaseTrainer.resume(from: state, settings: settings, data: data)
        #expect(resumed.step == 5)
        while resumed.step < 12 { resumed.trainStep() }
        for ((name, a), (_, b)) in zip(straight.weights.namedTensors, resumed.weights.namedTensors) {
            #expect(a.array == b.array, "\(name) differs after resume")
        }

        // Another configuration is refused, naming the difference.
        var other = settings
        other.batchSize = 8
        #expect {
            _ = try BaseTrainer.resume(from: state, settings: other, data: data)
        } throws: { "\($0)".contains("checkpoint from another configuration: batchSize was 4, now 8") }
        // A truncated state is refused.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: state))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: state))
        #expect { _ = try BaseTrainer.resume(from: state, settings: settings, data: data) } throws: { "\($0)".contains("truncated") }
    }

    @Test("bad corpora and shapes give one clear error")
    func badInput() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ name: String, _ data: Data) -> String {
            let path = folder.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: path, contents: data)
            return path
        }
        let empty = write("empty.txt", Data())
        let short = write("short.txt", Data("hello".utf8))
        let invalid = write("bad.txt", Data([0x41, 0xFF, 0xFE, 0x41] + [UInt8](repeating: 0x41, count: 2000)))
        #expect { _ = try CorpusCheck.read(empty) } throws: { "\($0)".hasSuffix("empty.txt: the corpus is empty") }
        #expect { _ = try CorpusCheck.read(short) } throws: { "\($0)".contains("has 5 characters; at least 1000") }
        #expect { _ = try CorpusCheck.read(invalid) } throws: { "\($0)".hasSuffix("bad.txt: not valid UTF-8 text") }
        #expect { _ = try CorpusCheck.read(folder.appendingPathComponent("none.txt").path) } throws: { "\($0)".contains("no such file") }

        // A context longer than the (validation) split.
        var (settings, data) = Self.tinySettings(steps: 1)
        settings.model.maxSequenceLength = 400
        #expect { _ = try BaseTrainer(settings: settings, data: data) } throws: { "\($0)".contains("longer than the") }
        #expect { _ = try BPETokenizer.train(text: Self.repetitive, vocabularySize: 258) } throws: { "\($0)".contains("smaller than 259") }
    }

    @Test("learning-rate schedule: linear warm-up, cosine to the minimum")
    func schedule() {
        let s = LearningRateSchedule(maxRate: 1e-3, minRate: 1e-4, warmupSteps: 10, totalSteps: 110)
        #expect(abs(s.rate(at: 0) - 1e-4) < 1e-9)
        #expect(abs(s.rate(at: 9) - 1e-3) < 1e-9)
        #expect(abs(s.rate(at: 60) - 5.5e-4) < 1e-7)
        #expect(abs(s.rate(at: 110) - 1e-4) < 1e-9)
        #expect(s.rate(at: 30) > s.rate(at: 31))
    }
}
