import Foundation
import LanguageModel
import Numerics

/// A heads file cannot be read, or does not fit the base model: one line naming the file and the problem.
public typealias DraftHeadsError = FileError

/// The heads file: magic `HSDH`, version, a JSON header (`DraftHeadsConfig`), then the float32
/// tensors of `DraftHeadSet.namedTensors` in order, little-endian.
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

    /// Reads a heads file; with `base`, also checks the heads were trained for that model.
    public static func read(_ path: String, base: TransformerWeights? = nil) throws -> DraftHeadSet {
        func fail(_ problem: String) -> DraftHeadsError { DraftHeadsError(path: path, problem: problem) }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("no such file") }
        guard data.count >= 12 else { throw fail("truncated: \(data.count) bytes, shorter than the 12-byte header") }
        let (m, v, n) = data.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt32.self), $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
             Int($0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        }
        guard m == magic else {
            throw fail("not a HydraSim heads file (bad magic number); is it a model checkpoint? Pass it as --checkpoint instead")
        }
        guard v == version else { throw fail("heads file version \(v); this HydraSim reads version \(version)") }
        guard data.count >= 12 + n, let config = try? JSONDecoder().decode(DraftHeadsConfig.self, from: data.subdata(in: 12..<12 + n)) else {
            throw fail("truncated or unreadable header")
        }
        guard config.heads >= 1, config.blocks >= 1, config.dim >= 1, config.vocabularySize >= 1 else {
            throw fail("bad configuration: \(config.heads) heads, \(config.blocks) blocks, dim \(config.dim), vocabulary \(config.vocabularySize)")
        }
        let set = DraftHeadSet(config: config)
        let expected = 12 + n + 4 * set.namedTensors.reduce(0) { $0 + $1.tensor.count }
        guard data.count == expected else {
            throw fail(data.count < expected ? "truncated: the header describes \(expected) bytes but the file has \(data.count)"
                                             : "\(data.count - expected) unexpected bytes after the last tensor")
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

    /// Throws unless `set` was trained for `base` (same width, vocabulary and fingerprint).
    public static func check(_ set: DraftHeadSet, fits base: TransformerWeights, path: String) throws {
        let c = base.config
        if set.config.dim != c.dim || set.config.vocabularySize != c.vocabularySize {
            throw DraftHeadsError(path: path, problem: "heads for a model of dim \(set.config.dim) and vocabulary \(set.config.vocabularySize) do not fit this model (dim \(c.dim), vocabulary \(c.vocabularySize))")
        }
        let fingerprint = Fingerprint.of(base)
        if fingerprint != set.config.baseFingerprint {
            throw DraftHeadsError(path: path, problem: "heads were trained for base model \(set.config.baseFingerprint), not this one (\(fingerprint)); train heads for this model with `hydrasim train heads`")
        }
    }
}
