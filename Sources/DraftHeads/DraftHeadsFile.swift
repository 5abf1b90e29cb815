import Foundation
import LanguageModel
import Numerics

/// A heads file cannot be read, or does not fit the base model: one line naming the file and the problem.
public typealias DraftHeadsError = FileError

/// The heads file: magic `HSDH`, version, a JSON header (`DraftHeadsConfig`), then the float32
/// tensors of `DraftHeadSet.namedTensors` in order, little-endian. Heads that share the base model's classifier
/// (`DraftHeadsConfig.sharedClassifier`) store no output weights: they load only together with their base model.
public enum DraftHeadsFile {
    public static let magic: UInt32 = 0x4844_5348   // "HSDH" little-endian
    public static let version: UInt32 = 1

    /// The file's bytes.
    public static func encode(_ set: DraftHeadSet) throws -> Data {
        let json = try JSONEncoder().encode(set.config)
        var data = Data()
        for word in [magic, version, UInt32(json.count)] { withUnsafeBytes(of: word.littleEndian) { data.append(contentsOf: $0) } }
        data.append(json)
        for (_, t) in set.namedTensors { data.append(UnsafeBufferPointer(start: t.pointer, count: t.count)) }
        return data
    }

    /// Writes atomically.
    public static func write(_ set: DraftHeadSet, to path: String) throws {
        try AtomicFile.write(encode(set), to: path)
    }

    /// Reads a heads file; with `base`, also checks the heads were trained for that model (shared-classifier heads
    /// need `base`: their output layer is its classifier).
    public static func read(_ path: String, base: TransformerWeights? = nil) throws -> DraftHeadSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DraftHeadsError(path: path, problem: "no such file") }
        if isDirectory.boolValue { throw DraftHeadsError(path: path, problem: "is a folder, not a heads file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw DraftHeadsError(path: path, problem: "cannot read the file") }
        return try read(data: data, path: path, base: base)
    }

    /// Decodes the bytes of a heads file (no file is read; `path` names the source in errors); with `base`, also
    /// checks the heads were trained for that model (shared-classifier heads need `base`). Every size is checked against the file's length before
    /// anything is allocated.
    public static func read(data: Data, path: String = "heads", base: TransformerWeights? = nil) throws -> DraftHeadSet {
        func fail(_ problem: String) -> DraftHeadsError { DraftHeadsError(path: path, problem: problem) }
        guard data.count >= 12 else { throw fail("truncated: \(data.count) bytes, shorter than the 12-byte header") }
        let (m, v, n) = data.withUnsafeBytes {
            (UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self)), UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
             Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))))
        }
        guard m == magic else {
            throw fail("not a HydraSim heads file (bad magic number); is it a model checkpoint? Pass it as --checkpoint instead")
        }
        guard v == version else { throw fail("heads file version \(v); this HydraSim reads version \(version)") }
        guard data.count - 12 >= n else {
            throw fail("truncated: the header announces \(n) bytes of JSON but only \(data.count - 12) bytes follow")
        }
        let json = data.subdata(in: data.startIndex + 12..<data.startIndex + 12 + n)
        let config: DraftHeadsConfig
        do { config = try JSONDecoder().decode(DraftHeadsConfig.self, from: json) } catch {
            throw fail("unreadable JSON header: \(describe(error))")
        }
        if let problem = problem(config) { throw fail("bad configuration: \(problem)") }
        guard let floats = tensorCount(config, atMost: (data.count - 12 - n) / 4 + 1) else {
            throw fail("truncated: the header describes more tensor data than the file's \(data.count) bytes")
        }
        let expected = 12 + n + 4 * floats
        guard data.count == expected else {
            throw fail(data.count < expected ? "truncated: the header describes \(expected) bytes but the file has \(data.count)"
                                             : "\(data.count - expected) unexpected bytes after the last tensor")
        }
        var classifier: Tensor? = nil
        if config.sharedClassifier {
            guard let base else {
                throw fail("the heads share the base model's classifier, so they load only with their base model (pass the checkpoint too)")
            }
            try check(config, fits: base, path: path)
            classifier = base.classifier
        }
        let set = DraftHeadSet(config: config, baseClassifier: classifier)
        guard set.namedTensors.reduce(0, { $0 + $1.tensor.count }) == floats else {
            throw fail("internal error: the heads' tensors do not match the size computed from the header")
        }
        try data.withUnsafeBytes { raw in
            var offset = 12 + n
            for (name, t) in set.namedTensors {
                UnsafeMutableRawBufferPointer(start: t.pointer, count: 4 * t.count)
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 4 * t.count]))
                offset += 4 * t.count
                if let bad = t.firstNonFinite() { throw fail("tensor \(name) holds \(t[bad]) at element \(bad); weights must be finite") }
            }
        }
        if let base { try check(set, fits: base, path: path) }
        return set
    }

    /// The first problem with a heads configuration read from a file, or nil.
    public static func problem(_ config: DraftHeadsConfig) -> String? {
        guard config.heads >= 1, config.blocks >= 1, config.dim >= 1, config.vocabularySize >= 3 else {
            return "\(config.heads) heads, \(config.blocks) blocks, dim \(config.dim), vocabulary \(config.vocabularySize) (need at least 1, 1, 1 and 3)"
        }
        if let prefix = config.prefix {
            if let problem = prefix.problem { return "prefix-attention layer: \(problem)" }
            if prefix.dim != config.dim { return "prefix-attention layer of dim \(prefix.dim) under heads of dim \(config.dim)" }
            if prefix.layers != 1 { return "prefix-attention layer with \(prefix.layers) layers; it has exactly 1" }
            if prefix.vocabularySize != config.vocabularySize {
                return "prefix-attention layer for vocabulary \(prefix.vocabularySize) under heads for vocabulary \(config.vocabularySize)"
            }
            if let problem = prefix.memoryProblem { return "prefix-attention layer: \(problem)" }
        }
        return nil
    }

    /// Floats in the tensors of heads shaped by `config` (a config without a `problem`), in checked arithmetic;
    /// nil when the count overflows or exceeds `limit` (so a header claiming billions of heads is refused quickly).
    public static func tensorCount(_ config: DraftHeadsConfig, atMost limit: Int) -> Int? {
        let D = config.dim, V = config.vocabularySize, c = CheckedInt.self
        let sequential = config.kind.isSequential
        var total = 0
        if let p = config.prefix {
            let kv = p.dim * p.kvHeads / p.heads
            guard let layer = c.sum([c.mul(2, D), c.mul(2, D, D), c.mul(2, kv, D), c.mul(3, p.hiddenDim, D)]) else { return nil }
            total = layer
        }
        guard let later = c.mul(config.blocks - 1, c.sum([c.mul(D, D), D])),
              let output = c.sum([config.sharedClassifier ? 0 : c.mul(V, D), sequential ? V : 0]) else { return nil }
        var k = 1
        while k <= config.heads {
            guard total <= limit else { return nil }
            let input = sequential ? c.mul(k + 1, D) : D
            guard let head = c.sum([sequential ? c.mul(D, input) : 0, c.mul(D, input), D, later, output]),
                  let sum = c.sum([total, head]) else { return nil }
            total = sum
            k += 1
        }
        return total <= limit ? total : nil
    }

    /// A JSON decoding error as one short phrase.
    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (at.isEmpty ? "" : "\(at): ") + context.debugDescription.replacingOccurrences(of: "\n", with: " ")
        default: return "\(error)".replacingOccurrences(of: "\n", with: " ")
        }
    }

    /// Throws unless heads shaped by `config` fit `base`: same width and vocabulary (so also its classifier's shape).
    public static func check(_ config: DraftHeadsConfig, fits base: TransformerWeights, path: String) throws {
        let c = base.config
        if config.dim != c.dim || config.vocabularySize != c.vocabularySize || base.classifier.count != c.vocabularySize * c.dim {
            throw DraftHeadsError(path: path, problem: "heads for a model of dim \(config.dim) and vocabulary \(config.vocabularySize) do not fit this model (dim \(c.dim), vocabulary \(c.vocabularySize))")
        }
    }

    /// Throws unless `set` was trained for `base` (same width, vocabulary and fingerprint: a shared classifier then
    /// holds `base`'s classifier's bytes).
    public static func check(_ set: DraftHeadSet, fits base: TransformerWeights, path: String) throws {
        try check(set.config, fits: base, path: path)
        let fingerprint = Fingerprint.of(base)
        if fingerprint != set.config.baseFingerprint {
            throw DraftHeadsError(path: path, problem: "heads were trained for base model \(set.config.baseFingerprint), not this one (\(fingerprint)); train heads for this model with `hydrasim train heads`")
        }
    }
}
