import Foundation
import Numerics

/// Anything trainable: named parameter tensors, each with or without weight decay.
public protocol ParameterSet: AnyObject {
    /// The parameters in a fixed order (a tensor shared by two roles listed once).
    var namedTensors: [(name: String, tensor: Tensor)] { get }
    /// True when `name` gets weight decay (matrices), false for gains and biases.
    func decays(_ name: String) -> Bool
}

extension TransformerWeights: ParameterSet {
    /// Every matrix decays; the RMSNorm gains do not.
    public func decays(_ name: String) -> Bool { !name.hasPrefix("rms_") }
}

/// AdamW with decoupled weight decay on matrices only (Loshchilov & Hutter 2019; PyTorch's `AdamW` update).
///
/// `p ← p · (1 − lr·wd)` (matrices only), `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
/// `p ← p − lr · m̂ / (sqrt(v̂) + ε)` with bias-corrected `m̂ = m / (1−β1ᵗ)`, `v̂ = v / (1−β2ᵗ)`.
public final class AdamW {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float
    /// First and second moments, one tensor per parameter tensor (same order).
    public let m: [Tensor]
    public let v: [Tensor]
    /// Number of updates taken so far (restored when a run resumes).
    public var step = 0

    /// An optimiser for parameters shaped like `parameters`.
    public init(parameters: some ParameterSet, weightDecay: Float = 0.1) {
        self.weightDecay = weightDecay
        m = parameters.namedTensors.map { Tensor(zeros: $0.tensor.shape) }
        v = parameters.namedTensors.map { Tensor(zeros: $0.tensor.shape) }
    }

    /// The moments, in the order of the parameters (for saving and resuming).
    public var stateTensors: [Tensor] { m + v }

    /// One update of `params` with `grads` (same shapes, same order) at learning rate `lr`.
    public func update<P: ParameterSet>(_ params: P, grads: P, lr: Float) {
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        for (i, ((name, p), (_, g))) in zip(params.namedTensors, grads.namedTensors).enumerated() {
            let decay: Float = params.decays(name) ? 1 - lr * weightDecay : 1
            let (pp, gp, mp, vp) = (p.pointer, g.pointer, m[i].pointer, v[i].pointer)
            Parallel.chunks(p.count, minimumChunk: 1 << 15) { range in
                for j in range {
                    let gj = gp[j]
                    mp[j] = b1 * mp[j] + (1 - b1) * gj
                    vp[j] = b2 * vp[j] + (1 - b2) * gj * gj
                    let mhat = mp[j] / c1, vhat = vp[j] / c2
                    pp[j] = pp[j] * decay - lr * mhat / (vhat.squareRoot() + eps)
                }
            }
        }
    }
}

/// Optimiser hyper-parameters shared by every trainer: AdamW, warm-up + cosine, clipping.
public struct OptimizerSettings: Codable, Equatable, Sendable {
    public var learningRate: Float
    public var minLearningRate: Float
    public var warmupSteps: Int
    public var weightDecay: Float
    public var gradientClip: Float

    /// `minLearningRate` defaults to a tenth of the peak.
    public init(learningRate: Float = 1e-3, minLearningRate: Float? = nil, warmupSteps: Int = 50, weightDecay: Float = 0, gradientClip: Float = 1) {
        self.learningRate = learningRate
        self.minLearningRate = minLearningRate ?? learningRate / 10
        self.warmupSteps = warmupSteps
        self.weightDecay = weightDecay
        self.gradientClip = gradientClip
    }

    /// The learning-rate schedule of a run of `steps` steps.
    public func schedule(steps: Int) -> LearningRateSchedule {
        LearningRateSchedule(maxRate: learningRate, minRate: minLearningRate, warmupSteps: warmupSteps, totalSteps: steps)
    }
}

extension AdamW {
    /// Clips `grads` to the global norm, then updates `params` at the scheduled rate for 0-based `step` of `total`.
    /// Returns the rate used and the norm before clipping.
    public func step<P: ParameterSet>(_ params: P, grads: P, settings: OptimizerSettings, step: Int, of total: Int) -> (rate: Float, norm: Float) {
        let norm = GradientClipping.clip(grads, maxNorm: settings.gradientClip)
        let rate = settings.schedule(steps: total).rate(at: step)
        update(params, grads: grads, lr: rate)
        return (rate, norm)
    }
}

/// Gradient utilities.
public enum GradientClipping {
    /// The global L2 norm over all gradient tensors (a shared table counted once).
    public static func globalNorm(_ grads: some ParameterSet) -> Float {
        var sum: Double = 0
        for (_, g) in grads.namedTensors {
            var s: Float = 0
            for i in 0..<g.count { s += g[i] * g[i] }
            sum += Double(s)
        }
        return Float(sum.squareRoot())
    }

    /// Scales all gradients so their global norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ grads: some ParameterSet, maxNorm: Float) -> Float {
        let norm = globalNorm(grads)
        if norm > maxNorm, maxNorm > 0 {
            let scale = maxNorm / norm
            for (_, g) in grads.namedTensors { for i in 0..<g.count { g[i] *= scale } }
        }
        return norm
    }
}

/// Linear warm-up then cosine decay to `minRate` (Loshchilov & Hutter 2017, as nanoGPT/llama2.c train).
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public var maxRate: Float
    public var minRate: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(maxRate: Float, minRate: Float, warmupSteps: Int, totalSteps: Int) {
        self.maxRate = maxRate
        self.minRate = minRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate for 0-based `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return maxRate * Float(step + 1) / Float(warmupSteps) }
        if step >= totalSteps { return minRate }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        let coefficient = Float(0.5 * (1 + cos(Double.pi * progress)))
        return minRate + coefficient * (maxRate - minRate)
    }
}
