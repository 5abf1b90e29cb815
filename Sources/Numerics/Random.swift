import Foundation

/// A seeded, portable random generator: xorshift64* (Vigna 2016), the generator of llama2.c's `run.c`.
///
/// The sequence depends only on the seed, never on the platform, so a run with
/// the same seed gives the same bytes everywhere. It also plugs into Swift's
/// `RandomNumberGenerator` for `shuffle(using:)` and friends.
public struct XorShiftRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    /// A generator seeded with `seed` (0 is replaced by a fixed non-zero constant: xorshift needs a non-zero state).
    public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    /// A generator continuing from a saved `state` (as read from `state`).
    public init(state: UInt64) {
        precondition(state != 0, "xorshift state must be non-zero")
        self.state = state
    }

    /// The next 32 random bits (run.c's `random_u32`).
    public mutating func nextUInt32() -> UInt32 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return UInt32(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 32)
    }

    /// A float in [0, 1) with 24 random bits (run.c's `random_f32`).
    public mutating func nextFloat() -> Float { Float(nextUInt32() >> 8) / 16_777_216.0 }

    /// 64 random bits (two 32-bit draws), for `RandomNumberGenerator`.
    public mutating func next() -> UInt64 {
        (UInt64(nextUInt32()) << 32) | UInt64(nextUInt32())
    }

    /// A standard normal sample (Box-Muller on two uniform draws).
    public mutating func nextGaussian() -> Float {
        let u1 = max(Double(nextFloat()), 1e-12), u2 = Double(nextFloat())
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}
