import CKernels
import Foundation

/// HydraSim's forward kernels (the `CKernels` C target) and the pool of threads that runs them.
///
/// One pool runs one micro-kernel variant on a fixed number of threads: matrix products of `n` row
/// vectors against row-major fp32 weights (every weight row streamed once for all `n` rows, rows split
/// across the threads) and tree attention over a KV cache. Every output element is the same sequence
/// of operations whatever `n`, the thread count or the split, so a batched pass gives the bits of `n`
/// one-row passes. Workers persist; they spin briefly on a shared counter for the next job, then sleep.
/// One thread runs with no synchronisation at all. When two callers use one pool at the same moment,
/// the second runs its product on its own thread (same bits, no waiting).
public final class KernelPool: @unchecked Sendable {
    /// A micro-kernel family.
    public enum Variant: String, CaseIterable, Sendable {
        /// C vector extensions with baseline instructions (SSE2 on x86-64, NEON on arm64); no FMA on x86-64.
        case portable
        /// AVX2 + FMA + F16C, 256-bit registers, 4 weight rows x 3 input rows per register block.
        case avx2
        /// AVX-512F (+ F16C), 512-bit registers, 8 weight rows x 1 input row or 6 x 4 per register block.
        case avx512

        var raw: Int32 {
            switch self {
            case .portable: Int32(HK_VARIANT_PORTABLE.rawValue)
            case .avx2: Int32(HK_VARIANT_AVX2.rawValue)
            case .avx512: Int32(HK_VARIANT_AVX512.rawValue)
            }
        }

        init(raw: Int32) {
            switch raw {
            case Int32(HK_VARIANT_AVX512.rawValue): self = .avx512
            case Int32(HK_VARIANT_AVX2.rawValue): self = .avx2
            default: self = .portable
            }
        }

        /// True when this CPU runs the variant.
        public var isSupported: Bool { hk_variant_supported(raw) != 0 }
        /// The fastest variant this CPU runs.
        public static var best: Variant { Variant(raw: hk_best_variant()) }
        /// The variants this CPU runs, slowest first.
        public static var supported: [Variant] { allCases.filter(\.isSupported) }
        /// `HYDRASIM_KERNEL` (`avx512`, `avx2` or `portable`) when set to a supported variant, else the best.
        public static var fromEnvironment: Variant {
            if let name = ProcessInfo.processInfo.environment["HYDRASIM_KERNEL"]?.lowercased(),
               let v = Variant(rawValue: name), v.isSupported { return v }
            return best
        }
    }

    @usableFromInline let raw: OpaquePointer
    /// Threads that work on one product (the caller included).
    public let threads: Int
    /// The micro-kernels this pool runs (an unsupported request falls back to the best supported).
    public let variant: Variant

    /// A pool of `threads` threads (1...64) running `variant` (default: `HYDRASIM_KERNEL` or the best).
    /// Workers are pinned to distinct CPUs when `HYDRASIM_PIN=1` (off by default: on a CPU shared with other
    /// processes a pinned worker cannot move to an idle core, measured slower here).
    public init(threads: Int, variant: Variant? = nil) {
        let pin: Int32 = ProcessInfo.processInfo.environment["HYDRASIM_PIN"] == "1" ? 1 : 0
        raw = hk_pool_create(Int32(max(1, min(threads, 64))), (variant ?? .fromEnvironment).raw, pin)
        self.threads = Int(hk_pool_threads(raw))
        self.variant = Variant(raw: hk_pool_variant(raw))
    }

    deinit { hk_pool_destroy(raw) }

    nonisolated(unsafe) private static var current: KernelPool?
    private static let lock = NSLock()

    /// The pool the model uses unless a state names its own: `Parallel.workers` threads, the environment's variant.
    public static var shared: KernelPool {
        lock.lock()
        defer { lock.unlock() }
        if let pool = current, pool.threads == max(1, min(Parallel.workers, 64)) { return pool }
        let pool = KernelPool(threads: Parallel.workers)
        current = pool
        return pool
    }

    /// `y[i * ldy + r] = x_i · w_r` for the `n` rows of `x (n, ldx)` and the `rows` rows of `w (rows, in)`.
    @inlinable
    public func matmul(_ x: UnsafePointer<Float>, ldx: Int? = nil, n: Int, in: Int,
                       _ w: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int? = nil) {
        var segment = hk_segment(w: w, rows: Int32(rows), y: y, ldy: Int32(ldy ?? rows))
        hk_matmul(raw, x, Int32(ldx ?? `in`), Int32(n), Int32(`in`), &segment, 1)
    }

    /// Products of `x (n, in)` with several weight matrices sharing that input, in one pass over the
    /// threads (wq|wk|wv, w1|w3): segment `s` writes `y_s[i * ldy_s + r] = x_i · w_s[r]`.
    @inlinable
    public func matmul(_ x: UnsafePointer<Float>, n: Int, in: Int, _ a: WeightSegment, _ b: WeightSegment, _ c: WeightSegment? = nil) {
        var segments = (a.raw, b.raw, (c ?? b).raw)
        withUnsafePointer(to: &segments) { p in
            p.withMemoryRebound(to: hk_segment.self, capacity: 3) {
                hk_matmul(raw, x, Int32(`in`), Int32(n), Int32(`in`), $0, c == nil ? 2 : 3)
            }
        }
    }

    /// `out (n, ldo) += x wᵀ` for `x (n, in)` and `w (rows, in)`: the product lands in `y (n, rows)` and each chunk of it
    /// is added to `out` as soon as it is computed (a residual connection without a second pass).
    public func matmulAdd(_ x: UnsafePointer<Float>, n: Int, in: Int, _ w: UnsafePointer<Float>, rows: Int,
                          _ y: UnsafeMutablePointer<Float>, addTo out: UnsafeMutablePointer<Float>, ldo: Int) {
        var segment = hk_segment(w: w, rows: Int32(rows), y: y, ldy: Int32(rows))
        hk_matmul_epilogue(raw, x, Int32(`in`), Int32(n), Int32(`in`), &segment, 1, Int32(HK_EPILOGUE_ADD.rawValue), out, Int32(ldo))
    }

    /// SwiGLU in one pass: `gate (n, rows) = silu(x w1ᵀ) * (x w3ᵀ)`, `up (n, rows)` holding `x w3ᵀ`; each chunk of rows is
    /// gated as soon as both products are computed. Every element has the same bits whatever the split and the row count.
    public func matmulSwiGLU(_ x: UnsafePointer<Float>, n: Int, in: Int, gate w1: UnsafePointer<Float>, up w3: UnsafePointer<Float>, rows: Int,
                             _ gate: UnsafeMutablePointer<Float>, _ up: UnsafeMutablePointer<Float>) {
        var segments = (hk_segment(w: w1, rows: Int32(rows), y: gate, ldy: Int32(rows)), hk_segment(w: w3, rows: Int32(rows), y: up, ldy: Int32(rows)))
        withUnsafePointer(to: &segments) { p in
            p.withMemoryRebound(to: hk_segment.self, capacity: 2) {
                hk_matmul_epilogue(raw, x, Int32(`in`), Int32(n), Int32(`in`), $0, 2, Int32(HK_EPILOGUE_SWIGLU.rawValue), nil, 0)
            }
        }
    }

    /// `matmulAdd` and `matmulSwiGLU` for matrices in either precision (drafting).
    public func matmul(_ x: UnsafePointer<Float>, n: Int, in: Int, _ p: KernelProduct, addTo out: UnsafeMutablePointer<Float>, ldo: Int) {
        precondition(p.matrix.columns == `in`, "the product's matrix is \(p.matrix.columns) wide, the input \(`in`)")
        let epilogue = Int32(HK_EPILOGUE_ADD.rawValue)
        if p.matrix.precision == .single {
            var s = hk_segment(w: p.matrix.single.pointer + p.matrix.offset, rows: Int32(p.matrix.rows), y: p.y, ldy: Int32(p.ldy))
            hk_matmul_epilogue(raw, x, Int32(`in`), Int32(n), Int32(`in`), &s, 1, epilogue, out, Int32(ldo))
        } else {
            var s = hk_half_segment(w: p.matrix.halves!, rows: Int32(p.matrix.rows), y: p.y, ldy: Int32(p.ldy))
            hk_matmul_half_epilogue(raw, x, Int32(`in`), Int32(n), Int32(`in`), &s, 1, epilogue, out, Int32(ldo))
        }
    }

    /// SwiGLU over `gate` and `up` products of either precision (same rows): `gate.y = silu(gate.y) * up.y`.
    public func matmulSwiGLU(_ x: UnsafePointer<Float>, n: Int, in: Int, gate: KernelProduct, up: KernelProduct) {
        precondition(gate.matrix.columns == `in` && up.matrix.columns == `in` && gate.matrix.rows == up.matrix.rows
                     && gate.matrix.precision == up.matrix.precision, "SwiGLU's gate and up matrices share shape and precision")
        let epilogue = Int32(HK_EPILOGUE_SWIGLU.rawValue)
        if gate.matrix.precision == .single {
            var s = (hk_segment(w: gate.matrix.single.pointer + gate.matrix.offset, rows: Int32(gate.matrix.rows), y: gate.y, ldy: Int32(gate.ldy)),
                     hk_segment(w: up.matrix.single.pointer + up.matrix.offset, rows: Int32(up.matrix.rows), y: up.y, ldy: Int32(up.ldy)))
            withUnsafePointer(to: &s) { p in
                p.withMemoryRebound(to: hk_segment.self, capacity: 2) { hk_matmul_epilogue(raw, x, Int32(`in`), Int32(n), Int32(`in`), $0, 2, epilogue, nil, 0) }
            }
        } else {
            var s = (hk_half_segment(w: gate.matrix.halves!, rows: Int32(gate.matrix.rows), y: gate.y, ldy: Int32(gate.ldy)),
                     hk_half_segment(w: up.matrix.halves!, rows: Int32(up.matrix.rows), y: up.y, ldy: Int32(up.ldy)))
            withUnsafePointer(to: &s) { p in
                p.withMemoryRebound(to: hk_half_segment.self, capacity: 2) { hk_matmul_half_epilogue(raw, x, Int32(`in`), Int32(n), Int32(`in`), $0, 2, epilogue, nil, 0) }
            }
        }
    }

    /// Attention of the `n` rows of `q` over `keys`/`values` `(columns, kvStride)` under `mask`
    /// (`mask.columns` slots), written to `out (n, ldo)`; `scratch` holds `threads * attentionScratch(columns:)` floats.
    public func attention(q: UnsafePointer<Float>, ldq: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                          keys: UnsafePointer<Float>, values: UnsafePointer<Float>, kvStride: Int,
                          heads: Int, kvHeads: Int, headSize: Int, mask: AttentionBits, scratch: UnsafeMutablePointer<Float>) {
        var args = hk_attention_args(
            q: q, ldq: Int32(ldq), out: out, ldo: Int32(ldo), keys: keys, values: values, kv_stride: Int32(kvStride),
            n: Int32(mask.rows), heads: Int32(heads), kv_heads: Int32(kvHeads), head_size: Int32(headSize),
            columns: Int32(mask.columns), shared_prefix: Int32(mask.sharedPrefix), bits: mask.bits, words_per_row: Int32(mask.wordsPerRow),
            scale: 1 / Float(headSize).squareRoot(), scratch: scratch)
        hk_attention(raw, &args)
    }

    /// Floats of attention scratch one thread needs for `columns` attended slots.
    public static func attentionScratch(columns: Int) -> Int { Int(hk_attention_scratch(Int32(clamping: columns))) }

    /// Seconds to read `count` floats at `buffer` once with this pool's threads (the fastest of `repeats`).
    public func measureStream(_ buffer: UnsafePointer<Float>, count: Int, repeats: Int = 10) -> Double {
        hk_measure_stream(raw, buffer, count, Int32(repeats))
    }

    /// The FMA peak of this pool's variant on all its threads, GFLOP/s (the best of `repeats`).
    public func measureFMAPeak(repeats: Int = 5) -> Double { hk_measure_fma_peak(raw, Int32(repeats)) }

    /// Microseconds a worker waits for the next job before sleeping (default 500: 50 spinning, then yielding).
    public func setSpin(microseconds: Int) { hk_pool_set_spin(raw, Int32(microseconds)) }
}

/// One weight matrix of a fused product: `rows` rows of `w (rows, in)`, written to `y (n, ldy)`.
public struct WeightSegment {
    @usableFromInline let raw: hk_segment
    @inlinable
    public init(_ w: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        raw = hk_segment(w: w, rows: Int32(rows), y: y, ldy: Int32(ldy))
    }
}

/// Which slots each of `rows` new rows attends to, without a `(rows, columns)` matrix: slots
/// `0..<sharedPrefix` are visible to every row; bit `j` of row `r`'s words makes slot `sharedPrefix + j` visible.
public struct AttentionBits {
    public let rows: Int
    public let columns: Int
    public let sharedPrefix: Int
    public let wordsPerRow: Int
    /// `(rows, wordsPerRow)` words (may be empty when `wordsPerRow` is 0).
    public let bits: UnsafePointer<UInt64>

    public init(rows: Int, columns: Int, sharedPrefix: Int, wordsPerRow: Int, bits: UnsafePointer<UInt64>) {
        self.rows = rows
        self.columns = columns
        self.sharedPrefix = sharedPrefix
        self.wordsPerRow = wordsPerRow
        self.bits = bits
    }
}

/// Direct, single-thread entry to one variant's product kernel (tests and measurements).
public enum Kernels {
    /// `y[i * ldy + r] = x_i · w_r` on the calling thread with `variant`.
    public static func matmulSerial(_ variant: KernelPool.Variant, _ x: UnsafePointer<Float>, n: Int, in: Int,
                                    _ w: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        hk_matmul_serial(variant.raw, x, Int32(`in`), Int32(n), Int32(`in`), w, Int32(rows), y, Int32(rows))
    }
}

/// The precision the kernels stream a weight matrix in.
public enum WeightPrecision: String, Codable, CaseIterable, Sendable {
    /// fp32, the trained weights themselves.
    case single = "f32"
    /// IEEE half (fp16): a rounded copy at half the bytes, converted exactly to fp32 in the kernel. Drafting uses it by
    /// default: the heads are streamed every step, and their guesses are verified exactly by the base model anyway.
    case half = "f16"

    /// Parses `f32` or `f16`, with a one-line error.
    public static func parse(_ text: String) throws -> WeightPrecision {
        guard let p = WeightPrecision(rawValue: text.lowercased()) else {
            throw KernelMatrixError("unknown weight precision '\(text)' (f16 or f32)")
        }
        return p
    }
}

/// A weight-precision problem, in one line.
public struct KernelMatrixError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A row-major `(rows, columns)` weight matrix as the kernels stream it: the fp32 tensor itself, or an fp16 copy made
/// once (the copy does not follow later changes of the tensor: make it after training).
public final class KernelMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let precision: WeightPrecision
    /// The fp32 weights (kept alive for `.single`), starting `offset` floats into the tensor.
    let single: Tensor
    let offset: Int
    /// `(rows, columns)` IEEE halves for `.half`.
    let halves: UnsafeMutablePointer<UInt16>?

    /// `rows x columns` weights starting at `offset` floats into `tensor`, streamed in `precision`.
    public init(_ tensor: Tensor, rows: Int, columns: Int, offset: Int = 0, precision: WeightPrecision) {
        precondition(rows >= 0 && columns >= 0 && offset >= 0 && offset + rows * columns <= tensor.count, "matrix outside its tensor")
        self.rows = rows
        self.columns = columns
        self.precision = precision
        single = tensor
        self.offset = offset
        if precision == .half {
            let h = UnsafeMutablePointer<UInt16>.allocate(capacity: max(rows * columns, 1))
            hk_to_half(tensor.pointer + offset, rows * columns, h)
            halves = h
        } else {
            halves = nil
        }
    }

    deinit { halves?.deallocate() }

    /// Bytes the kernels stream for one product with this matrix.
    public var bytes: Int { rows * columns * (precision == .half ? 2 : 4) }

    /// The weights the kernels read, widened to fp32 (for checks: the rounded values when `.half`).
    public func widened() -> [Float] {
        guard let halves else { return Array(UnsafeBufferPointer(start: single.pointer + offset, count: rows * columns)) }
        return (0..<rows * columns).map { Float(bitPattern: Self.halfToFloatBits(halves[$0])) }
    }

    /// `value` rounded to the nearest IEEE half (ties to even), as the fp16 copies store it.
    public static func halfBits(_ value: Float) -> UInt16 { hk_float_to_half(value) }

    /// The fp32 bits of an IEEE half (exact).
    static func halfToFloatBits(_ h: UInt16) -> UInt32 {
        let sign = UInt32(h & 0x8000) << 16, exponent = UInt32(h >> 10) & 0x1F
        var mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return sign | 0x7F80_0000 | mantissa << 13 }
        if exponent != 0 { return sign | (exponent + 112) << 23 | mantissa << 13 }
        if mantissa == 0 { return sign }
        var e: UInt32 = 0
        while mantissa & 0x400 == 0 { mantissa <<= 1; e += 1 }
        return sign | (113 - e) << 23 | (mantissa & 0x3FF) << 13
    }
}

/// One matrix of a fused product and where its outputs go: `y[i * ldy + r] = x_i · w_r`.
public struct KernelProduct {
    public let matrix: KernelMatrix
    public let y: UnsafeMutablePointer<Float>
    public let ldy: Int
    public init(_ matrix: KernelMatrix, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil) {
        self.matrix = matrix
        self.y = y
        self.ldy = ldy ?? matrix.rows
    }
}

extension KernelPool {
    /// Products of `x (n, in)` with `a` (and `b`, same width and precision) in one pass over the threads, each
    /// weight row streamed once for all `n` rows. Allocates nothing.
    public func matmul(_ x: UnsafePointer<Float>, n: Int, in: Int, _ a: KernelProduct, _ b: KernelProduct? = nil, _ c: KernelProduct? = nil) {
        precondition(c == nil || b != nil, "the second product comes before the third")
        func check(_ p: KernelProduct?) {
            guard let p else { return }
            precondition(p.matrix.columns == `in` && p.matrix.precision == a.matrix.precision, "fused products share the input width and the precision")
        }
        check(b)
        check(c)
        precondition(a.matrix.columns == `in`, "the product's matrix is \(a.matrix.columns) wide, the input \(`in`)")
        let count = c != nil ? 3 : b != nil ? 2 : 1
        if a.matrix.precision == .single {
            withUnsafeTemporaryAllocation(of: hk_segment.self, capacity: 3) { s in
                func segment(_ p: KernelProduct) -> hk_segment {
                    hk_segment(w: p.matrix.single.pointer + p.matrix.offset, rows: Int32(p.matrix.rows), y: p.y, ldy: Int32(p.ldy))
                }
                s[0] = segment(a)
                if let b { s[1] = segment(b) }
                if let c { s[2] = segment(c) }
                hk_matmul(raw, x, Int32(`in`), Int32(n), Int32(`in`), s.baseAddress!, Int32(count))
            }
        } else {
            withUnsafeTemporaryAllocation(of: hk_half_segment.self, capacity: 3) { s in
                func segment(_ p: KernelProduct) -> hk_half_segment {
                    hk_half_segment(w: p.matrix.halves!, rows: Int32(p.matrix.rows), y: p.y, ldy: Int32(p.ldy))
                }
                s[0] = segment(a)
                if let b { s[1] = segment(b) }
                if let c { s[2] = segment(c) }
                hk_matmul_half(raw, x, Int32(`in`), Int32(n), Int32(`in`), s.baseAddress!, Int32(count))
            }
        }
    }
}
