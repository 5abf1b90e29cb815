import Foundation
import Testing
import Numerics

/// Random floats in [-1, 1).
private func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
    var rng = XorShiftRandom(seed: seed)
    return (0..<count).map { _ in rng.nextFloat() * 2 - 1 }
}

/// Bit patterns, for comparisons that must be exact.
private func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }

/// `y (n, rows) = x (n, in) wᵀ` in Double, the naive triple loop.
private func naiveProduct(_ x: [Float], _ w: [Float], n: Int, rows: Int, in k: Int) -> [Double] {
    var y = [Double](repeating: 0, count: n * rows)
    for i in 0..<n { for r in 0..<rows { var s = 0.0; for j in 0..<k { s += Double(x[i * k + j]) * Double(w[r * k + j]) }; y[i * rows + r] = s } }
    return y
}

@Suite("Forward kernels (CKernels)")
struct KernelTests {
    static let shapes: [(n: Int, rows: Int, in: Int)] = [
        (1, 1, 1), (1, 9, 7), (2, 17, 33), (3, 8, 16), (4, 13, 100), (5, 31, 17), (7, 64, 65), (16, 24, 48), (33, 5, 129), (64, 19, 256),
    ]

    @Test("every variant the CPU runs matches a naive triple loop on odd shapes", arguments: KernelPool.Variant.supported)
    func againstNaive(variant: KernelPool.Variant) {
        for (index, shape) in Self.shapes.enumerated() {
            let x = randomFloats(shape.n * shape.in, seed: UInt64(10 + index))
            let w = randomFloats(shape.rows * shape.in, seed: UInt64(100 + index))
            var y = [Float](repeating: .nan, count: shape.n * shape.rows)
            Kernels.matmulSerial(variant, x, n: shape.n, in: shape.in, w, rows: shape.rows, &y)
            let reference = naiveProduct(x, w, n: shape.n, rows: shape.rows, in: shape.in)
            let worst = zip(y, reference).map { abs(Double($0) - $1) }.max() ?? 0
            // Float32 sums of up to 256 products of values in [-1, 1): a few ulp of the sum's magnitude.
            #expect(worst < 1e-5 * Double(shape.in), "\(variant) \(shape): \(worst)")
        }
    }

    @Test("a row of an n-row product has the bits of that row alone, on 1, 2 and 3 threads", arguments: KernelPool.Variant.supported)
    func rowsAreIndependent(variant: KernelPool.Variant) {
        let pools = [1, 2, 3].map { KernelPool(threads: $0, variant: variant) }
        for shape in Self.shapes {
            let x = randomFloats(shape.n * shape.in, seed: 7)
            let w = randomFloats(shape.rows * shape.in, seed: 8)
            var alone = [Float](repeating: 0, count: shape.n * shape.rows)
            for i in 0..<shape.n {
                x.withUnsafeBufferPointer { xp in
                    alone.withUnsafeMutableBufferPointer { yp in
                        Kernels.matmulSerial(variant, xp.baseAddress! + i * shape.in, n: 1, in: shape.in, w, rows: shape.rows,
                                             yp.baseAddress! + i * shape.rows)
                    }
                }
            }
            for pool in pools {
                var y = [Float](repeating: .nan, count: shape.n * shape.rows)
                pool.matmul(x, n: shape.n, in: shape.in, w, rows: shape.rows, &y)
                #expect(bits(y) == bits(alone), "\(variant), \(pool.threads) threads, \(shape)")
            }
        }
    }

    @Test("a fused product (two or three weight matrices on one input) equals the separate products bit for bit")
    func fusedEqualsSeparate() {
        let pool = KernelPool(threads: 2)
        let (n, k) = (5, 96)
        let x = randomFloats(n * k, seed: 1)
        let wa = randomFloats(40 * k, seed: 2), wb = randomFloats(24 * k, seed: 3), wc = randomFloats(24 * k, seed: 4)
        var a = [Float](repeating: 0, count: n * 40), b = [Float](repeating: 0, count: n * 24), c = [Float](repeating: 0, count: n * 24)
        pool.matmul(x, n: n, in: k, wa, rows: 40, &a)
        pool.matmul(x, n: n, in: k, wb, rows: 24, &b)
        pool.matmul(x, n: n, in: k, wc, rows: 24, &c)
        // Fused into one (n, 88) output with column offsets 0, 40, 64.
        var fused = [Float](repeating: .nan, count: n * 88)
        fused.withUnsafeMutableBufferPointer { y in
            wa.withUnsafeBufferPointer { pa in wb.withUnsafeBufferPointer { pb in wc.withUnsafeBufferPointer { pc in
                pool.matmul(x, n: n, in: k,
                            WeightSegment(pa.baseAddress!, rows: 40, into: y.baseAddress!, ldy: 88),
                            WeightSegment(pb.baseAddress!, rows: 24, into: y.baseAddress! + 40, ldy: 88),
                            WeightSegment(pc.baseAddress!, rows: 24, into: y.baseAddress! + 64, ldy: 88))
            } } }
        }
        for i in 0..<n {
            #expect(bits(Array(fused[i * 88..<i * 88 + 40])) == bits(Array(a[i * 40..<(i + 1) * 40])))
            #expect(bits(Array(fused[i * 88 + 40..<i * 88 + 64])) == bits(Array(b[i * 24..<(i + 1) * 24])))
            #expect(bits(Array(fused[i * 88 + 64..<i * 88 + 88])) == bits(Array(c[i * 24..<(i + 1) * 24])))
        }
    }

    @Test("the pool: many small products in a row, products smaller than the pool, one thread, create and destroy")
    func poolStress() {
        let x = randomFloats(3 * 200, seed: 5), w = randomFloats(300 * 200, seed: 6)
        var expected = [Float](repeating: 0, count: 3 * 300)
        Kernels.matmulSerial(.portable, x, n: 3, in: 200, w, rows: 300, &expected)
        for threads in [1, 2, 3] {
            let pool = KernelPool(threads: threads, variant: .portable)
            #expect(pool.threads == threads)
            var y = [Float](repeating: 0, count: 3 * 300)
            for _ in 0..<300 { pool.matmul(x, n: 3, in: 200, w, rows: 300, &y) }
            #expect(bits(y) == bits(expected))
            // One weight row (fewer rows than threads), one input row.
            var tiny = [Float](repeating: 0, count: 1)
            for _ in 0..<300 { pool.matmul(x, n: 1, in: 200, w, rows: 1, &tiny) }
            #expect(tiny[0].bitPattern == expected[0].bitPattern)
            // Workers that went to sleep wake up for the next product.
            pool.setSpin(microseconds: 0)
            usleep(2000)
            pool.matmul(x, n: 3, in: 200, w, rows: 300, &y)
            #expect(bits(y) == bits(expected))
        }
        for _ in 0..<50 { _ = KernelPool(threads: 2) }  // destroyed at once: no worker left waiting
    }

    @Test("callers sharing one pool at the same moment get the same bits (the second runs on its own thread)")
    func concurrentCallers() async {
        let pool = KernelPool(threads: 2)
        let x = randomFloats(4 * 128, seed: 11), w = randomFloats(256 * 128, seed: 12)
        var serial = [Float](repeating: 0, count: 4 * 256)
        Kernels.matmulSerial(pool.variant, x, n: 4, in: 128, w, rows: 256, &serial)
        let expected = serial
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var y = [Float](repeating: 0, count: 4 * 256)
                    var same = true
                    for _ in 0..<200 { pool.matmul(x, n: 4, in: 128, w, rows: 256, &y); same = same && bits(y) == bits(expected) }
                    return same
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == [true, true, true, true])
    }

    @Test("a cancelled task that was running products leaves the pool usable (no hang, same bits)")
    func cancelledPass() async {
        let pool = KernelPool(threads: 2)
        let x = randomFloats(2 * 64, seed: 31), w = randomFloats(512 * 64, seed: 32)
        var serial = [Float](repeating: 0, count: 2 * 512)
        Kernels.matmulSerial(pool.variant, x, n: 2, in: 64, w, rows: 512, &serial)
        let expected = serial
        let task = Task.detached {
            var y = [Float](repeating: 0, count: 2 * 512)
            var runs = 0
            while !Task.isCancelled { pool.matmul(x, n: 2, in: 64, w, rows: 512, &y); runs += 1; await Task.yield() }
            return runs
        }
        try? await Task.sleep(nanoseconds: 20_000_000)
        task.cancel()
        _ = await task.value
        var y = [Float](repeating: 0, count: 2 * 512)
        pool.matmul(x, n: 2, in: 64, w, rows: 512, &y)
        #expect(bits(y) == bits(expected))
    }

    @Test("HYDRASIM_KERNEL picks the variant of a new pool; an unknown or unsupported name falls back to the best")
    func environmentVariant() {
        setenv("HYDRASIM_KERNEL", "portable", 1)
        #expect(KernelPool.Variant.fromEnvironment == .portable)
        #expect(KernelPool(threads: 2).variant == .portable)
        setenv("HYDRASIM_KERNEL", "no-such-kernel", 1)
        #expect(KernelPool.Variant.fromEnvironment == .best)
        unsetenv("HYDRASIM_KERNEL")
        #expect(KernelPool.Variant.fromEnvironment == .best)
        #expect(KernelPool.Variant.supported.contains(.portable))
    }

    @Test("attention over a shared prefix and per-row bits matches a masked softmax in Double; rows do not depend on n",
          arguments: KernelPool.Variant.supported)
    func attention(variant: KernelPool.Variant) {
        // Query heads per key/value head 2 (pairs), 3 (a pair and a single) and 1; head sizes with a tail, with
        // 32-column blocks and 8-column blocks after them.
        for (heads, kvHeads, hs) in [(4, 2, 12), (6, 2, 44), (4, 4, 32)] { attention(variant: variant, heads: heads, kvHeads: kvHeads, hs: hs) }
    }

    func attention(variant: KernelPool.Variant, heads: Int, kvHeads: Int, hs: Int) {
        let kvDim = kvHeads * hs, dim = heads * hs
        let prefix = 37, n = 9, columns = prefix + n
        let keys = randomFloats(columns * kvDim, seed: 21), values = randomFloats(columns * kvDim, seed: 22)
        let q = randomFloats(n * dim, seed: 23).map { $0 * 3 }
        // Random tree: row i sees itself and its ancestors among the n new slots.
        var rng = XorShiftRandom(seed: 24)
        var rowBits = [UInt64](repeating: 0, count: n)
        for i in 0..<n {
            let parent = i == 0 ? -1 : Int(rng.nextUInt32() % UInt32(i))
            rowBits[i] = (parent >= 0 ? rowBits[parent] : 0) | (1 << UInt64(i))
        }
        for threads in [1, 2] {
            let pool = KernelPool(threads: threads, variant: variant)
            var out = [Float](repeating: .nan, count: n * dim)
            var scratch = [Float](repeating: 0, count: threads * KernelPool.attentionScratch(columns: columns))
            rowBits.withUnsafeBufferPointer { b in
                pool.attention(q: q, ldq: dim, out: &out, ldo: dim, keys: keys, values: values, kvStride: kvDim,
                               heads: heads, kvHeads: kvHeads, headSize: hs,
                               mask: AttentionBits(rows: n, columns: columns, sharedPrefix: prefix, wordsPerRow: 1, bits: b.baseAddress!),
                               scratch: &scratch)
            }
            for i in 0..<n {
                // Reference in Double.
                for h in 0..<heads {
                    let g = h / (heads / kvHeads)
                    let visible = (0..<columns).filter { $0 < prefix || rowBits[i] >> UInt64($0 - prefix) & 1 == 1 }
                    let scores = visible.map { j in (0..<hs).reduce(0.0) { $0 + Double(q[i * dim + h * hs + $1]) * Double(keys[j * kvDim + g * hs + $1]) } / Double(hs).squareRoot() }
                    let top = scores.max()!
                    let e = scores.map { Foundation.exp($0 - top) }
                    let total = e.reduce(0, +)
                    for d in 0..<hs {
                        let expected = zip(visible, e).reduce(0.0) { $0 + $1.1 / total * Double(values[$1.0 * kvDim + g * hs + d]) }
                        #expect(abs(Double(out[i * dim + h * hs + d]) - expected) < 1e-5, "row \(i) head \(h) of \(heads)/\(kvHeads)x\(hs)")
                    }
                }
                // The same row alone (n = 1, its visible slots gathered in order) gives the same bits.
                let visible = (0..<columns).filter { $0 < prefix || rowBits[i] >> UInt64($0 - prefix) & 1 == 1 }
                let gatheredKeys = visible.flatMap { keys[$0 * kvDim..<($0 + 1) * kvDim] }
                let gatheredValues = visible.flatMap { values[$0 * kvDim..<($0 + 1) * kvDim] }
                var single = [Float](repeating: .nan, count: dim)
                var none: UInt64 = 0
                var small = [Float](repeating: 0, count: threads * KernelPool.attentionScratch(columns: visible.count))
                pool.attention(q: Array(q[i * dim..<(i + 1) * dim]), ldq: dim, out: &single, ldo: dim, keys: gatheredKeys, values: gatheredValues,
                               kvStride: kvDim, heads: heads, kvHeads: kvHeads, headSize: hs,
                               mask: AttentionBits(rows: 1, columns: visible.count, sharedPrefix: visible.count, wordsPerRow: 0, bits: &none),
                               scratch: &small)
                #expect(bits(single) == bits(Array(out[i * dim..<(i + 1) * dim])), "row \(i), \(threads) threads, \(heads)/\(kvHeads)x\(hs)")
            }
        }
    }
}
