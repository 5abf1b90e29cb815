import Foundation
import Testing
import Numerics

@Suite("Numerics kernels")
struct NumericsTests {
    @Test("softmax is stable for huge logits and sums to one")
    func softmaxStable() {
        var x: [Float] = [1000, 1001, 999, -.infinity]
        x.withUnsafeMutableBufferPointer { Ops.softmax($0.baseAddress!, n: 4) }
        #expect(x.allSatisfy { $0.isFinite })
        #expect(abs(x.reduce(0, +) - 1) < 1e-6)
        // exp(1)/(1 + e + e^-1) for the middle value.
        let e = Float(M_E)
        #expect(abs(x[1] - e / (1 + e + 1 / e)) < 1e-6)
        #expect(x[3] == 0)
    }

    @Test("RMSNorm matches its formula")
    func rmsNorm() {
        let x: [Float] = [1, -2, 3, 0.5]
        let w: [Float] = [1, 2, 0.5, -1]
        var out = [Float](repeating: 0, count: 4)
        Ops.rmsNorm(&out, x, w, n: 4)
        let rms = ((1 + 4 + 9 + 0.25) / 4 + 1e-5 as Double).squareRoot()
        for i in 0..<4 { #expect(abs(Double(out[i]) - Double(x[i]) / rms * Double(w[i])) < 1e-6) }
    }

    @Test("RoPE rotates adjacent pairs by pos / 10000^(2i/hs) and preserves norms")
    func rope() {
        let rope = RotaryEmbedding(headSize: 8)
        var cos = [Float](repeating: 0, count: 4), sin = [Float](repeating: 0, count: 4)
        rope.angles(position: 3, cos: &cos, sin: &sin)
        var v: [Float] = [1, 0, 0, 1, 2, 3, -1, 0.5]
        let before = v
        v.withUnsafeMutableBufferPointer { rope.rotate($0.baseAddress!, heads: 1, cos: cos, sin: sin) }
        for i in 0..<4 {
            let angle = 3 / pow(10000, Double(2 * i) / 8)
            let (a, b) = (Double(before[2 * i]), Double(before[2 * i + 1]))
            #expect(abs(Double(v[2 * i]) - (a * Foundation.cos(angle) - b * Foundation.sin(angle))) < 1e-6)
            #expect(abs(Double(v[2 * i + 1]) - (a * Foundation.sin(angle) + b * Foundation.cos(angle))) < 1e-6)
        }
        // Position 0 is the identity.
        rope.angles(position: 0, cos: &cos, sin: &sin)
        var w = before
        w.withUnsafeMutableBufferPointer { rope.rotate($0.baseAddress!, heads: 1, cos: cos, sin: sin) }
        #expect(w == before)
    }

    @Test("SiLU and argmax (first index on ties)")
    func siluArgmax() {
        #expect(Ops.silu(0) == 0)
        #expect(abs(Ops.silu(2) - 2 / (1 + Float(exp(-2.0)))) < 1e-6)
        let x: [Float] = [0.5, 3, 1, 3]
        #expect(Ops.argmax(x, n: 4) == 1)
    }

    @Test("BLAS products agree with naive loops, including strided and transposed views")
    func blas() {
        var rng = XorShiftRandom(seed: 9)
        let (m, k, n) = (5, 7, 3)
        let a = (0..<m * k).map { _ in rng.nextGaussian() }
        let b = (0..<n * k).map { _ in rng.nextGaussian() }     // (n, k): used as Wᵀ
        var y = [Float](repeating: 0, count: m * n)
        BLAS.matmul(a, b, &y, n: m, out: n, in: k)
        for i in 0..<m {
            for j in 0..<n {
                let expected = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[j * k + $1]) }
                #expect(abs(Double(y[i * n + j]) - expected) < 1e-4)
            }
        }
        var v = [Float](repeating: 0, count: m)
        BLAS.matvec(a, Array(b[0..<k]), &v, out: m, in: k)
        for i in 0..<m { #expect(abs(v[i] - y[i * n]) < 1e-4) }
        // Transposed gemv: aᵀ x with x of length m.
        let x = (0..<m).map { Float($0) - 2 }
        var t = [Float](repeating: 0, count: k)
        BLAS.gemv(rows: m, cols: k, a: a, lda: k, x: x, y: &t, transposed: true)
        for j in 0..<k {
            let expected = (0..<m).reduce(0.0) { $0 + Double(a[$1 * k + j]) * Double(x[$1]) }
            #expect(abs(Double(t[j]) - expected) < 1e-4)
        }
    }
}

@Suite("Random numbers and sampling")
struct SamplingTests {
    @Test("xorshift64* gives run.c's sequence (values computed independently in Python)")
    func xorshift() {
        var rng = XorShiftRandom(seed: 42)
        let first = (0..<4).map { _ in rng.nextUInt32() }
        // python: M = 2**64-1; s ^= s>>12; s ^= (s<<25)&M; s ^= s>>27; ((s*0x2545F4914F6CDD1D)&M)>>32
        #expect(first == [1456360119, 3359763283, 3393612768, 4054632243])
        var other = XorShiftRandom(seed: 43)
        #expect(other.nextUInt32() != first[0])
        var f = XorShiftRandom(seed: 42)
        #expect(f.nextFloat() == Float(1456360119 >> 8) / 16_777_216)
    }

    @Test("nucleus sampling keeps the smallest set whose mass exceeds top-p")
    func topP() {
        let p: [Float] = [0.05, 0.5, 0.3, 0.1, 0.05]
        // Sorted: 0.5 (id 1), 0.3 (id 2), 0.1 (id 3) -> cumulative 0.9 > 0.85 keeps ids 1, 2, 3.
        var counts = [Int](repeating: 0, count: 5)
        for i in 0..<1000 {
            let coin = (Float(i) + 0.5) / 1000
            counts[TemperatureSampler.sampleTopP(p, count: 5, topP: 0.85, coin: coin)] += 1
        }
        #expect(counts[0] == 0 && counts[4] == 0)
        #expect(abs(counts[1] - 556) <= 2 && abs(counts[2] - 333) <= 2 && abs(counts[3] - 111) <= 2)
        #expect(TemperatureSampler.sampleMultinomial(p, count: 5, coin: 0.04) == 0)
        #expect(TemperatureSampler.sampleMultinomial(p, count: 5, coin: 0.06) == 1)
        #expect(TemperatureSampler.sampleMultinomial(p, count: 5, coin: 0.9999) == 4)
    }

    @Test("temperature sampling follows softmax(logits / T): chi-square over many draws")
    func temperatureDistribution() {
        let logits: [Float] = [2, 1, 0, -1]
        let t: Float = 0.7
        let expected = logits.map { exp(Double($0 / t)) }
        let z = expected.reduce(0, +)
        var sampler = TemperatureSampler(temperature: t, topP: 1, seed: 1)
        var counts = [Double](repeating: 0, count: 4)
        let draws = 20000
        for _ in 0..<draws {
            var copy = logits
            counts[copy.withUnsafeMutableBufferPointer { sampler.sample($0.baseAddress!, count: 4) }] += 1
        }
        let chi2 = (0..<4).reduce(0.0) { acc, i in
            let e = Double(draws) * expected[i] / z
            return acc + (counts[i] - e) * (counts[i] - e) / e
        }
        #expect(chi2 < 16.27, "chi-square \(chi2) with 3 degrees of freedom (p = 0.001)")
    }
}
