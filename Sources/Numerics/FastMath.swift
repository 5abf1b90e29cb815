/// Vectorised `exp` for softmax and SiLU, eight lanes at a time with baseline x86-64 instructions.
///
/// Cody-Waite range reduction `x = n·ln2 + r` (|r| ≤ ln2/2) and a degree-6 Taylor
/// polynomial for `e^r`, then `2^n` built in the exponent bits. Relative error below
/// 3e-7 (a few ulp) for inputs in [-86.9, 88.7]; below about -87 (where e^x < 2e-38, and for
/// -inf) the result is exactly 0; above 88.7, +inf. libm's scalar `expf` was 10-20% of a training step.
public enum FastMath {
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let log2e: Float = 1.442_695_04, ln2Hi: Float = 0.693_145_75, ln2Lo: Float = 1.428_606_8e-6
        // Clamp with masks: `clamped(lowerBound:upperBound:)` compiles to out-of-line generic calls here.
        var clamped = x
        clamped.replace(with: -87.3, where: x .< -87.3)
        clamped.replace(with: 88.7, where: x .> 88.7)
        // n = round(x / ln2) with the 1.5·2^23 trick (round-to-nearest without SSE4.1).
        let magic: Float = 12_582_912
        let shifted = clamped * log2e + magic
        let n = shifted - magic
        let r = (clamped - n * ln2Hi) - n * ln2Lo
        // e^r ≈ 1 + r + r²/2 + r³/6 + r⁴/24 + r⁵/120 + r⁶/720 (Horner).
        var p = SIMD8<Float>(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2^n: the low mantissa bits of `shifted` hold n; move them into the exponent.
        let nBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        // Built as 2^(n-1)·2 so that n = 128 (x near 88.7) stays finite.
        let scale = unsafeBitCast((nBits &+ 126) &<< 23, to: SIMD8<Float>.self)
        var result = p * scale * 2
        result.replace(with: 0, where: x .< -87.3)
        result.replace(with: .infinity, where: x .> 88.7)
        return result
    }

    /// The logistic function `1 / (1 + e^-x)`, eight lanes at a time.
    @inlinable @inline(__always)
    public static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + exp(-x)) }

    /// Applies `body` to `n` values in lanes of eight (the tail padded with `pad`), writing the results in place.
    @inlinable
    public static func map(_ x: UnsafeMutablePointer<Float>, n: Int, pad: Float = 0, _ body: (SIMD8<Float>) -> SIMD8<Float>) {
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(x + i).storeBytes(of: body(v), as: SIMD8<Float>.self)
            i += 8
        }
        if i < n {
            var tail = SIMD8<Float>(repeating: pad)
            for j in i..<n { tail[j - i] = x[j] }
            let e = body(tail)
            for j in i..<n { x[j] = e[j - i] }
        }
    }

    /// Loads eight floats at `p` (no alignment needed).
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

    /// Stores eight floats at `p`.
    @inlinable @inline(__always)
    public static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }

    /// `x[i] = exp(x[i])` for `n` values in place.
    @inlinable
    public static func expInPlace(_ x: UnsafeMutablePointer<Float>, n: Int) {
        map(x, n: n, pad: -.infinity) { exp($0) }
    }
}
