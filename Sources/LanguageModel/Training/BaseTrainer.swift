import Foundation
import Numerics

/// Hyper-parameters of a base-model training run; a resumed run must use the same ones.
public struct BaseTrainingSettings: Codable, Equatable, Sendable {
    public var model: ModelConfig
    public var batchSize: Int
    public var steps: Int
    public var optimizer: OptimizerSettings
    public var evalInterval: Int
    public var evalBatches: Int
    public var seed: UInt64

    public init(model: ModelConfig, batchSize: Int, steps: Int, optimizer: OptimizerSettings = OptimizerSettings(warmupSteps: 100, weightDecay: 0.1),
                evalInterval: Int = 100, evalBatches: Int = 8, seed: UInt64 = 1337) {
        self.model = model
        self.batchSize = batchSize
        self.steps = steps
        self.optimizer = optimizer
        self.evalInterval = evalInterval
        self.evalBatches = evalBatches
        self.seed = seed
    }

    /// Training sequence length: the model's context.
    public var sequenceLength: Int { model.maxSequenceLength }
}

/// One evaluation point of a run.
public struct EvaluationRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var trainLoss: Float
    public var validationLoss: Float

    public init(step: Int, trainLoss: Float, validationLoss: Float) {
        self.step = step
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
    }
}

/// What one optimisation step did.
public struct StepReport: Sendable {
    public var step: Int
    public var loss: Float
    public var learningRate: Float
    public var gradientNorm: Float

    public init(step: Int, loss: Float, learningRate: Float, gradientNorm: Float) {
        self.step = step
        self.loss = loss
        self.learningRate = learningRate
        self.gradientNorm = gradientNorm
    }
}

/// Trains a decoder from scratch on next-token prediction (AdamW, warm-up + cosine, clipping),
/// and saves/resumes its full state so an interrupted run continues bit for bit.
public final class BaseTrainer {
    public let settings: BaseTrainingSettings
    public let weights: TransformerWeights
    public let data: TrainingData
    public let optimizer: AdamW
    let pass: TrainingPass
    /// Draws the batch offsets; saved with the state.
    var random: XorShiftRandom
    /// Optimisation steps done.
    public private(set) var step = 0
    /// Evaluations so far.
    public var history: [EvaluationRecord] = []

    /// A fresh run: weights randomly initialised from `settings.seed`.
    public init(settings: BaseTrainingSettings, data: TrainingData, weights: TransformerWeights? = nil) throws {
        let T = settings.sequenceLength
        guard data.train.count > T + 1 else {
            throw TrainingError("the context (\(T) tokens) is longer than the training split (\(data.train.count) tokens): use a shorter --context or a bigger corpus")
        }
        guard data.validation.count > T + 1 else {
            throw TrainingError("the context (\(T) tokens) is longer than the validation split (\(data.validation.count) tokens): use a shorter --context or a bigger corpus")
        }
        if let problem = settings.model.problem { throw TrainingError("model: \(problem)") }
        guard settings.batchSize >= 1, settings.steps >= 1 else { throw TrainingError("batch size and steps must be at least 1") }
        self.settings = settings
        self.data = data
        self.weights = weights ?? TransformerWeights(random: settings.model, seed: settings.seed)
        optimizer = AdamW(parameters: self.weights, weightDecay: settings.optimizer.weightDecay)
        pass = TrainingPass(config: settings.model, batchSize: settings.batchSize, sequenceLength: T)
        random = XorShiftRandom(seed: settings.seed &+ 1)
    }

    /// The next training batch: `B` random windows of `T + 1` tokens.
    func nextBatch() -> (inputs: [Int32], targets: [Int32]) {
        let T = settings.sequenceLength
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(settings.batchSize * T)
        targets.reserveCapacity(settings.batchSize * T)
        for _ in 0..<settings.batchSize {
            let start = Int(random.next() % UInt64(data.train.count - T - 1))
            inputs += data.train[start..<start + T]
            targets += data.train[start + 1..<start + T + 1]
        }
        return (inputs, targets)
    }

    /// One optimisation step.
    @discardableResult
    public func trainStep() -> StepReport {
        let (inputs, targets) = nextBatch()
        pass.zeroGradients()
        let loss = pass.forward(weights, inputs: inputs, targets: targets)
        pass.backward(weights, inputs: inputs, targets: targets)
        let (lr, norm) = optimizer.step(weights, grads: pass.gradients, settings: settings.optimizer, step: step, of: settings.steps)
        step += 1
        return StepReport(step: step, loss: loss, learningRate: lr, gradientNorm: norm)
    }

    /// Mean validation loss (nats/token) over consecutive non-overlapping windows from the
    /// start of the validation split: `batches` batches, or the whole split when nil.
    public func evaluate(batches: Int? = nil) -> Float {
        let T = settings.sequenceLength
        let windows = (data.validation.count - 1) / T
        let B = min(settings.batchSize, windows)
        let usable = windows / B * B
        let count = batches.map { min($0 * B, usable) } ?? usable
        let evalPass = B == settings.batchSize ? pass : TrainingPass(config: settings.model, batchSize: B, sequenceLength: T)
        var total: Double = 0
        for first in stride(from: 0, to: count, by: B) {
            var inputs: [Int32] = [], targets: [Int32] = []
            for w in first..<first + B {
                inputs += data.validation[w * T..<w * T + T]
                targets += data.validation[w * T + 1..<w * T + T + 1]
            }
            total += Double(evalPass.forward(weights, inputs: inputs, targets: targets))
        }
        return Float(total / Double(count / B))
    }

    // MARK: State

    struct StateHeader: Codable {
        var settings: BaseTrainingSettings
        var step: Int
        var optimizerStep: Int
        var randomState: UInt64
        var history: [EvaluationRecord]
    }

    /// Weights then AdamW moments, the order of the state file.
    var stateTensors: [Tensor] { weights.namedTensors.map(\.tensor) + optimizer.stateTensors }

    /// Writes the whole training state (settings, step, random state, weights, AdamW moments) atomically.
    public func saveState(to path: String) throws {
        let header = StateHeader(settings: settings, step: step, optimizerStep: optimizer.step, randomState: random.state, history: history)
        try TrainingStateFile.write(header: header, tensors: stateTensors, to: path)
    }

    /// Continues a run from a state file; `settings` must equal the saved ones.
    public static func resume(from path: String, settings: BaseTrainingSettings, data: TrainingData) throws -> BaseTrainer {
        let (header, load) = try TrainingStateFile.read(path, as: StateHeader.self)
        if header.settings != settings {
            throw TrainingError("\(path): checkpoint from another configuration: \(TrainingStateFile.differences(header.settings, settings)); pass the same options as the interrupted run")
        }
        let trainer = try BaseTrainer(settings: settings, data: data)
        try load(trainer.stateTensors)
        trainer.step = header.step
        trainer.optimizer.step = header.optimizerStep
        trainer.random = XorShiftRandom(state: header.randomState)
        trainer.history = header.history
        return trainer
    }
}
