import Foundation
import Numerics

/// A machine for the roofline cost model: how fast it streams weights and multiplies.
public struct DeviceProfile: Codable, Equatable, Sendable {
    public var name: String
    /// Sustained memory bandwidth, bytes per second.
    public var bandwidth: Double
    /// Sustained matrix-multiply throughput, FLOP per second.
    public var flops: Double
    /// Fixed cost of one base forward pass beyond weights and products (kernel launches, attention, norms), seconds.
    public var passOverhead: Double
    /// Fixed cost of one draft-head pass (a few products and a softmax), seconds.
    public var draftPassOverhead: Double
    /// Bandwidth when the weights stay in the last-level cache (bytes per second), and that cache's size in
    /// bytes: a model (with its heads) smaller than `cacheBytes` streams at `cacheBandwidth`, a larger one at
    /// `bandwidth` (memory). Nil: one bandwidth for every size.
    public var cacheBandwidth: Double?
    public var cacheBytes: Double?

    public init(name: String, bandwidth: Double, flops: Double, passOverhead: Double, draftPassOverhead: Double,
                cacheBandwidth: Double? = nil, cacheBytes: Double? = nil) {
        self.name = name
        self.bandwidth = bandwidth
        self.flops = flops
        self.passOverhead = passOverhead
        self.draftPassOverhead = draftPassOverhead
        self.cacheBandwidth = cacheBandwidth
        self.cacheBytes = cacheBytes
    }

    /// The bandwidth at which `bytes` of weights stream: the cache's when they fit it, memory's otherwise.
    public func bandwidth(streaming bytes: Double) -> Double {
        if let cacheBandwidth, let cacheBytes, bytes <= cacheBytes { return cacheBandwidth }
        return bandwidth
    }

    /// This machine class (2-core Xeon VM, OpenBLAS, both cores), measured (BENCHMARKS.md, "Verification cost"):
    /// bandwidth and FLOP/s from `hydrasim cost --calibrate`, the fixed cost per pass fitted to the house model's
    /// one-token time, 0.1 ms per head pass (a fork-join, a softmax and a top-k).
    public static let cpu = DeviceProfile(name: "cpu", bandwidth: 1.7e10, flops: 8.0e10, passOverhead: 1.1e-3, draftPassOverhead: 1.0e-4)
    /// A datacenter GPU (NVIDIA A100 80 GB): HBM2e at 2.0 TB/s, 312 TFLOP/s dense fp16, about 1 ms of kernel
    /// launches per 32-layer pass and 50 µs per head pass.
    public static let a100 = DeviceProfile(name: "a100", bandwidth: 2.0e12, flops: 3.12e14, passOverhead: 1.0e-3, draftPassOverhead: 5.0e-5)
    public static let presets = [cpu, a100]
}

/// A model for the cost model: parameters and bytes per parameter, base and draft heads.
public struct ModelProfile: Codable, Equatable, Sendable {
    public var name: String
    public var parameters: Double
    public var bytesPerParameter: Double
    /// Parameters of all draft heads together (streamed once per drafted depth, a share per head).
    public var headParameters: Double
    public var heads: Int
    /// Bytes per head parameter while drafting (nil: `bytesPerParameter`; 2 for fp16 drafting copies).
    public var headBytesPerParameter: Double?

    public init(name: String, parameters: Double, bytesPerParameter: Double, headParameters: Double, heads: Int) {
        self.name = name
        self.parameters = parameters
        self.bytesPerParameter = bytesPerParameter
        self.headParameters = headParameters
        self.heads = heads
    }

    /// The house model (4.69M parameters, float32) with four Hydra heads (2.9M parameters).
    public static let house = ModelProfile(name: "house", parameters: 4_689_152, bytesPerParameter: 4, headParameters: 2_888_704, heads: 4)
    /// Vicuna-7B in fp16 with four Medusa-size heads (each a 4096² block and a 4096 x 32000 output: 148M).
    public static let vicuna7B = ModelProfile(name: "vicuna-7b", parameters: 6.74e9, bytesPerParameter: 2, headParameters: 4 * 1.48e8, heads: 4)
    public static let presets = [house, vicuna7B]
}

/// The roofline cost of speculative decoding (reference §5): speedup = tau / overhead, where a forward pass
/// over `n` tokens takes `max(weight bytes / bandwidth, 2 · params · n / FLOP/s) + fixed overhead`.
public struct CostModel: Codable, Equatable, Sendable {
    public var device: DeviceProfile
    public var model: ModelProfile

    public init(device: DeviceProfile, model: ModelProfile) {
        self.device = device
        self.model = model
    }

    /// Seconds for one pass over `parameters` for `tokens` rows, fixed cost excluded. The bandwidth is the
    /// cache's when the base model and its heads together fit the cache, memory's otherwise.
    public func rooflineSeconds(parameters: Double, tokens: Int, bytesPerParameter: Double? = nil) -> Double {
        let resident = model.parameters * model.bytesPerParameter + model.headParameters * (model.headBytesPerParameter ?? model.bytesPerParameter)
        let bytes = bytesPerParameter ?? model.bytesPerParameter
        return max(parameters * bytes / device.bandwidth(streaming: resident), 2 * parameters * Double(tokens) / device.flops)
    }

    /// One base forward over `tokens` tokens.
    public func forwardSeconds(tokens: Int) -> Double { rooflineSeconds(parameters: model.parameters, tokens: tokens) + device.passOverhead }

    /// Drafting: head `k` runs once per depth over `rows[k]` rows (Medusa: 1 row each; Hydra: the parents expanded).
    public func draftSeconds(rowsPerDepth rows: [Int]) -> Double {
        let perHead = model.headParameters / Double(max(model.heads, 1))
        return rows.reduce(0) {
            $0 + rooflineSeconds(parameters: perHead, tokens: $1, bytesPerParameter: model.headBytesPerParameter) + device.draftPassOverhead
        }
    }

    /// A step's cost relative to one autoregressive step.
    public func overhead(treeNodes: Int, rowsPerDepth: [Int]) -> Double {
        (forwardSeconds(tokens: treeNodes) + draftSeconds(rowsPerDepth: rowsPerDepth)) / forwardSeconds(tokens: 1)
    }

    /// Projected speedup over autoregressive decoding for a measured `tau` with a tree of `treeNodes`
    /// (root included) drafted with `rowsPerDepth`.
    public func speedup(tau: Double, treeNodes: Int, rowsPerDepth: [Int]) -> Double {
        tau / overhead(treeNodes: treeNodes, rowsPerDepth: rowsPerDepth)
    }
}

/// Measures this machine for the cost model with HydraSim's own kernels and thread pool
/// (`KernelPool.shared`, `Parallel.workers` threads): memory bandwidth from streaming 128 MB once, cache
/// bandwidth from streaming 12 MB that stay in the last-level cache, and the FMA peak of the kernel variant.
public enum DeviceCalibration {
    /// What one measurement saw.
    public struct Figures: Codable, Sendable {
        /// Bytes per second streaming a buffer much larger than the caches / one that fits the last-level cache.
        public var memoryBandwidth: Double
        public var cacheBandwidth: Double
        /// Peak multiply-add throughput of the kernel variant on all threads, FLOP per second.
        public var fmaPeak: Double
        public var threads: Int
        public var kernel: String
    }

    /// Streams and FMA chains, best of a few repeats each.
    public static func figures(repeats: Int = 10) -> Figures {
        let pool = KernelPool.shared
        let big = Tensor(zeros: [32 << 20])      // (32M) floats: 128 MB
        let small = Tensor(zeros: [3 << 20])     // (3M) floats: 12 MB
        let memory = pool.measureStream(big.pointer, count: big.count, repeats: max(2, repeats / 3))
        _ = pool.measureStream(small.pointer, count: small.count, repeats: 3)  // bring it into the cache
        let cache = pool.measureStream(small.pointer, count: small.count, repeats: repeats)
        return Figures(memoryBandwidth: Double(big.count * 4) / memory, cacheBandwidth: Double(small.count * 4) / cache,
                       fmaPeak: pool.measureFMAPeak(repeats: max(3, repeats / 2)) * 1e9, threads: pool.threads, kernel: pool.variant.rawValue)
    }

    /// A device profile from this machine's figures; the last-level cache is taken as 32 MB unless `cacheBytes` says.
    public static func measure(name: String = "cpu (measured)", repeats: Int = 10, cacheBytes: Double = 32e6) -> DeviceProfile {
        let f = figures(repeats: repeats)
        return DeviceProfile(name: name, bandwidth: f.memoryBandwidth, flops: f.fmaPeak, passOverhead: DeviceProfile.cpu.passOverhead,
                             draftPassOverhead: DeviceProfile.cpu.draftPassOverhead, cacheBandwidth: f.cacheBandwidth, cacheBytes: cacheBytes)
    }
}
