import Foundation

/// Element-wise and row-wise kernels of a Llama block (llama2.c semantics, reference §6).
///
/// All functions work in place or into caller-owned buffers, so a forward pass
/// allocates nothing per token.
public enum Ops {
    /// The RMSNorm epsilon of llama2.c.
    public static let rmsEpsilon: Float = 1e-5

    /// `out = x / sqrt(mean(x²) + eps) * weight` over `n` elements (RMSNorm, Zhang & Sennrich 2019).
    @inlinable
    public static func rmsNorm(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, n: Int) {
        var ss: Float = 0
        for i in 0..<n { ss += x[i] * x[i] }
        let scale = 1 / (ss / Float(n) + rmsEpsilon).squareRoot()
        for i in 0..<n { out[i] = weight[i] * (scale * x[i]) }
    }

    /// In-place numerically stable softmax over `n` elements (subtracts the maximum first).
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int) {
        guard n > 0 else { return }
        // Eight lanes at a time (the sum in eight partial sums, then added up).
        var i = 0
        var maxLanes = SIMD8<Float>(repeating: -.infinity)
        while i + 8 <= n {
            let v = FastMath.load(x + i)
            maxLanes.replace(with: v, where: v .> maxLanes)
            i += 8
        }
        var maxValue = maxLanes.max()
        for j in i..<n where x[j] > maxValue { maxValue = x[j] }
        if maxValue == -.infinity { maxValue = 0 }  // every entry masked: exp gives zeros, as before
        let shift = SIMD8<Float>(repeating: maxValue)
        var sumLanes = SIMD8<Float>(repeating: 0)
        i = 0
        while i + 8 <= n {
            let e = FastMath.exp(FastMath.load(x + i) - shift)
            FastMath.store(e, x + i)
            sumLanes += e
            i += 8
        }
        var sum = sumLanes.sum()
        if i < n {
            var tail = SIMD8<Float>(repeating: -.infinity)
            for j in i..<n { tail[j - i] = x[j] - maxValue }
            let e = FastMath.exp(tail)
            for j in i..<n { x[j] = e[j - i]; sum += e[j - i] }
        }
        let inv = SIMD8<Float>(repeating: 1 / sum)
        i = 0
        while i + 8 <= n { FastMath.store(FastMath.load(x + i) * inv, x + i); i += 8 }
        for j in i..<n { x[j] *= inv[0] }
    }

    /// `silu(x) = x * sigmoid(x)` for one value.
    @inlinable
    public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// `y[i] += silu(a[i])` over `n` elements, eight lanes at a time; every element (the tail too, computed as a padded
    /// vector) goes through the same operations, so the result does not depend on where it falls.
    @inlinable
    public static func addSiLU(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, n: Int) {
        var i = 0
        while i + 8 <= n {
            let va = FastMath.load(a + i)
            FastMath.store(FastMath.load(y + i) + va * FastMath.sigmoid(va), y + i)
            i += 8
        }
        if i < n {
            var va = SIMD8<Float>(repeating: 0), vy = SIMD8<Float>(repeating: 0)
            for j in i..<n { va[j - i] = a[j]; vy[j - i] = y[j] }
            let r = vy + va * FastMath.sigmoid(va)
            for j in i..<n { y[j] = r[j - i] }
        }
    }

    /// SwiGLU gate: `out[i] = silu(a[i]) * b[i]` over `n` elements (`out` may be `a`).
    @inlinable
    public static func swiglu(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int) {
        var i = 0
        while i + 8 <= n {
            let va = FastMath.load(a + i)
            FastMath.store(va * FastMath.sigmoid(va) * FastMath.load(b + i), out + i)
            i += 8
        }
        while i < n { out[i] = silu(a[i]) * b[i]; i += 1 }
    }

    /// `y += x` over `n` elements (a residual connection).
    @inlinable
    public static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, n: Int) {
        var i = 0
        while i + 8 <= n { FastMath.store(FastMath.load(y + i) + FastMath.load(x + i), y + i); i += 8 }
        for j in i..<n { y[j] += x[j] }
    }

    /// Index of the largest of `n` values; the first one on ties (llama2.c's `sample_argmax`).
    @inlinable
    public static func argmax(_ x: UnsafePointer<Float>, n: Int) -> Int {
        var best = 0
        var bestValue = x[0]
        for i in 1..<n where x[i] > bestValue { best = i; bestValue = x[i] }
        return best
    }
}

/// Rotary position embedding over adjacent pairs `(2i, 2i+1)` within each head (RoFormer, Su et al. 2021; reference §6).
///
/// The angle for pair `i` at position `pos` is `pos / 10000^(2i / headSize)`.
/// Frequencies are precomputed once; the cos/sin for a position are computed per call
/// (in Double, then rounded) so any position id works, as tree verification needs.
public struct RotaryEmbedding: Sendable {
    public let headSize: Int
    /// `1 / 10000^(2i / headSize)` for each pair `i`.
    public let frequencies: [Double]

    public init(headSize: Int, base: Double = 10000) {
        precondition(headSize % 2 == 0, "RoPE needs an even head size")
        self.headSize = headSize
        self.frequencies = (0..<headSize / 2).map { 1 / pow(base, Double(2 * $0) / Double(headSize)) }
    }

    /// Fills `cos` and `sin` (each `headSize / 2`) for position `pos`.
    @inlinable
    public func angles(position pos: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        for i in 0..<headSize / 2 {
            let angle = Double(pos) * frequencies[i]
            cos[i] = Float(Foundation.cos(angle))
            sin[i] = Float(Foundation.sin(angle))
        }
    }

    /// Rotates `heads` consecutive heads of `x` (each `headSize` floats) in place with precomputed angles.
    @inlinable
    public func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = headSize / 2
        for h in 0..<heads {
            let v = x + h * headSize
            for i in 0..<half {
                let a = v[2 * i], b = v[2 * i + 1]
                v[2 * i] = a * cos[i] - b * sin[i]
                v[2 * i + 1] = a * sin[i] + b * cos[i]
            }
        }
    }
}
