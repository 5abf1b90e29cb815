import Foundation
import Testing
import Numerics

/// Random floats in [-scale, scale).
private func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = XorShiftRandom(seed: seed)
    return (0..<count).map { _ in (rng.nextFloat() * 2 - 1) * scale }
}

@Suite("fp16 weights for drafting")
struct HalfPrecisionTests {
    @Test("float to half rounds to nearest even as IEEE does (Swift's Float16), subnormals, overflow and NaN included")
    func conversionMatchesFloat16() {
        var values: [Float] = [0, -0, 1, -1, 65504, 65519, 65520, 1e9, -1e9, .infinity, -.infinity, 6.1035156e-05, 6.0e-05, 5.9604645e-08,
                               2.9802322e-08, 2.9802326e-08, 8.940697e-08, 1e-12, -3.0e-06, 1.0009766, 1.0004883, 1.0014648, .leastNormalMagnitude]
        values += randomFloats(20_000, seed: 5, scale: 4)
        values += randomFloats(5_000, seed: 6, scale: 1e-4)
        values += randomFloats(2_000, seed: 7, scale: 70_000)
        for v in values {
            #expect(KernelMatrix.halfBits(v) == Float16(v).bitPattern, "\(v)")
        }
        #expect(Float16(bitPattern: KernelMatrix.halfBits(.nan)).isNaN)
    }

    @Test("a product with fp16 weights equals the fp32 product with the rounded weights, bit for bit, on every variant, row count and thread count",
          arguments: KernelPool.Variant.supported)
    func halfEqualsRoundedSingle(variant: KernelPool.Variant) {
        for (index, shape) in [(n: 1, rows: 9, in: 7), (n: 2, rows: 17, in: 33), (n: 4, rows: 13, in: 100), (n: 7, rows: 64, in: 65),
                               (n: 3, rows: 40, in: 256)].enumerated() {
            let x = randomFloats(shape.n * shape.in, seed: UInt64(30 + index))
            let w = Tensor(shape: [shape.rows, shape.in], values: randomFloats(shape.rows * shape.in, seed: UInt64(40 + index), scale: 0.3))
            let half = KernelMatrix(w, rows: shape.rows, columns: shape.in, precision: .half)
            let rounded = Tensor(shape: [shape.rows, shape.in], values: half.widened())
            #expect(rounded.array != w.array, "rounding changes some weights")
            let single = KernelMatrix(rounded, rows: shape.rows, columns: shape.in, precision: .single)
            #expect(half.bytes * 2 == single.bytes)
            for threads in [1, 2] {
                let pool = KernelPool(threads: threads, variant: variant)
                var a = [Float](repeating: .nan, count: shape.n * shape.rows), b = a
                a.withUnsafeMutableBufferPointer { pool.matmul(x, n: shape.n, in: shape.in, KernelProduct(half, into: $0.baseAddress!)) }
                b.withUnsafeMutableBufferPointer { pool.matmul(x, n: shape.n, in: shape.in, KernelProduct(single, into: $0.baseAddress!)) }
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(variant), \(threads) threads, \(shape)")
            }
        }
    }

    @Test("a half matrix is a snapshot: it keeps the weights it was made from; an fp32 one follows its tensor")
    func halfIsASnapshot() throws {
        let w = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let half = KernelMatrix(w, rows: 2, columns: 3, precision: .half)
        let single = KernelMatrix(w, rows: 2, columns: 3, precision: .single)
        w[0] = 10
        #expect(half.widened() == [1, 2, 3, 4, 5, 6])
        #expect(single.widened() == [10, 2, 3, 4, 5, 6])
        #expect(throws: KernelMatrixError.self) { try WeightPrecision.parse("f64") }
        #expect(try WeightPrecision.parse("F16") == .half)
    }
}

@Suite("Product epilogues (residual add, SwiGLU)")
struct EpilogueTests {
    @Test("matmulAdd adds the product to the residual; matmulSwiGLU gates; both give every row the bits of that row alone, on 1-3 threads",
          arguments: KernelPool.Variant.supported)
    func epilogues(variant: KernelPool.Variant) {
        for (n, rows, k) in [(1, 9, 7), (3, 40, 33), (8, 104, 64), (5, 300, 256)] {
            let x = randomFloats(n * k, seed: 51), w1 = randomFloats(rows * k, seed: 52, scale: 0.5), w3 = randomFloats(rows * k, seed: 53, scale: 0.5)
            let residual = randomFloats(n * rows, seed: 54)
            var alone = (add: [Float](repeating: 0, count: n * rows), gate: [Float](repeating: 0, count: n * rows))
            let single = KernelPool(threads: 1, variant: variant)
            for i in 0..<n {
                var y = [Float](repeating: 0, count: rows), out = Array(residual[i * rows..<(i + 1) * rows])
                var gate = [Float](repeating: 0, count: rows), up = gate
                let xi = Array(x[i * k..<(i + 1) * k])
                single.matmulAdd(xi, n: 1, in: k, w1, rows: rows, &y, addTo: &out, ldo: rows)
                single.matmulSwiGLU(xi, n: 1, in: k, gate: w1, up: w3, rows: rows, &gate, &up)
                alone.add.replaceSubrange(i * rows..<(i + 1) * rows, with: out)
                alone.gate.replaceSubrange(i * rows..<(i + 1) * rows, with: gate)
                // Against Double: residual + x·w1, and silu(x·w1) · (x·w3).
                for r in 0..<rows {
                    let a = (0..<k).reduce(0.0) { $0 + Double(xi[$1]) * Double(w1[r * k + $1]) }
                    let b = (0..<k).reduce(0.0) { $0 + Double(xi[$1]) * Double(w3[r * k + $1]) }
                    #expect(abs(Double(out[r]) - (Double(residual[i * rows + r]) + a)) < 1e-4)
                    #expect(abs(Double(gate[r]) - a / (1 + Foundation.exp(-a)) * b) < 1e-4)
                }
            }
            for threads in [1, 2, 3] {
                let pool = KernelPool(threads: threads, variant: variant)
                var y = [Float](repeating: 0, count: n * rows), out = residual
                var gate = [Float](repeating: 0, count: n * rows), up = gate
                pool.matmulAdd(x, n: n, in: k, w1, rows: rows, &y, addTo: &out, ldo: rows)
                pool.matmulSwiGLU(x, n: n, in: k, gate: w1, up: w3, rows: rows, &gate, &up)
                #expect(out.map(\.bitPattern) == alone.add.map(\.bitPattern), "\(variant) add, n \(n), \(threads) threads")
                #expect(gate.map(\.bitPattern) == alone.gate.map(\.bitPattern), "\(variant) swiglu, n \(n), \(threads) threads")
            }
        }
    }
}
