import Foundation
import Numerics

/// A checkpoint could not be read or written: one line naming the file and the problem.
public typealias CheckpointError = FileError

/// Reads and writes llama2.c's legacy `.bin` checkpoint format exactly (reference §6).
///
/// Layout: 7 little-endian int32 (`dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size, max_seq_len`; a negative `vocab_size` means an
/// untied classifier), the float32 tensors in `TransformerWeights.namedTensors`
/// order, two legacy RoPE tables of `max_seq_len * head_size / 2` floats each,
/// then `wcls` when untied. This is what llama2.c's `run.c` reads.
public enum Checkpoint {
    /// Size of the header in bytes.
    public static let headerSize = 7 * 4

    /// Number of floats in the two legacy RoPE tables of `config`.
    public static func ropeTableCount(_ config: ModelConfig) -> Int {
        2 * config.maxSequenceLength * config.headSize / 2
    }

    /// Expected file size in bytes for a checkpoint of this shape (a shape without a `problem`).
    public static func fileSize(_ config: ModelConfig) -> Int {
        headerSize + 4 * (config.parameterCount + ropeTableCount(config))
    }

    /// `fileSize`, or nil when it does not fit in an `Int` (checked arithmetic: the header is untrusted).
    public static func checkedFileSize(_ config: ModelConfig) -> Int? {
        guard config.heads > 0 else { return nil }
        let rope = CheckedInt.mul(config.maxSequenceLength, config.dim / config.heads)
        return CheckedInt.sum([headerSize, CheckedInt.mul(4, CheckedInt.sum([config.checkedParameterCount, rope]))])
    }

    /// Reads and validates a checkpoint: size against header, dimensions, no NaN or infinity.
    public static func read(_ path: String) throws -> TransformerWeights {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(path: path, problem: "no such file")
        }
        if isDirectory.boolValue { throw CheckpointError(path: path, problem: "is a folder, not a checkpoint file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(path: path, problem: "cannot read the file")
        }
        return try decode(data, path: path)
    }

    /// Decodes checkpoint bytes; `path` only names the source in errors (no file is read).
    public static func read(data: Data, path: String) throws -> TransformerWeights {
        try decode(data, path: path)
    }

    /// Parses the 7-int header, with hints for files that are not legacy llama2.c checkpoints.
    public static func header(_ data: Data, path: String) throws -> ModelConfig {
        guard data.count >= headerSize else {
            throw CheckpointError(path: path, problem: "truncated: \(data.count) bytes, shorter than the 28-byte llama2.c header")
        }
        let ints: [Int32] = data.withUnsafeBytes { raw in (0..<7).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) } }
        if data.prefix(4) == Data("ak42".utf8.reversed()) || data.prefix(4) == Data("ak42".utf8) {
            throw CheckpointError(path: path, problem: "this is llama2.c's version-1/2 export (magic \"ak42\"); HydraSim reads the legacy format: re-export with `export.py --version 0`")
        }
        let config = ModelConfig(dim: Int(ints[0]), hiddenDim: Int(ints[1]), layers: Int(ints[2]), heads: Int(ints[3]),
                                 kvHeads: Int(ints[4]), vocabularySize: abs(Int(ints[5])), maxSequenceLength: Int(ints[6]),
                                 sharedClassifier: ints[5] > 0)
        if let problem = config.problem ?? (checkedFileSize(config) == nil ? "the described file size does not fit in 64 bits" : nil) {
            throw CheckpointError(path: path, problem: "bad header (\(ints.map(String.init).joined(separator: ", "))): \(problem); is this a llama2.c .bin checkpoint?")
        }
        return config
    }

    /// Decodes checkpoint bytes (`path` only names the source in errors).
    public static func decode(_ data: Data, path: String) throws -> TransformerWeights {
        let config = try header(data, path: path)
        // Checked before anything is allocated: the header's sizes are untrusted.
        guard let expected = checkedFileSize(config) else {
            throw CheckpointError(path: path, problem: "bad header: the described file size does not fit in 64 bits")
        }
        if data.count < expected {
            throw CheckpointError(path: path, problem: "truncated: the header describes \(expected) bytes but the file has \(data.count)")
        }
        if data.count > expected {
            throw CheckpointError(path: path, problem: "\(data.count - expected) unexpected bytes after the last tensor (the header describes \(expected) bytes)")
        }
        // The weights fit (the file holds them), but the KV cache a model of this context needs may not.
        if let problem = config.memoryProblem {
            throw CheckpointError(path: path, problem: "bad header: \(problem); is max_seq_len right?")
        }
        let weights = TransformerWeights(zeros: config)
        try data.withUnsafeBytes { raw in
            var offset = headerSize
            func load(_ name: String, _ tensor: Tensor) throws {
                let bytes = UnsafeMutableRawBufferPointer(start: tensor.pointer, count: 4 * tensor.count)
                bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 4 * tensor.count]))
                offset += 4 * tensor.count
                if let bad = tensor.firstNonFinite() {
                    throw CheckpointError(path: path, problem: "tensor \(name) holds \(tensor[bad]) at element \(bad); weights must be finite")
                }
            }
            for (name, tensor) in weights.namedTensors where name != "wcls" { try load(name, tensor) }
            let ropeCount = ropeTableCount(config)
            var tables = [Float](repeating: 0, count: ropeCount)
            tables.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 4 * ropeCount])) }
            weights.legacyRopeTables = tables
            offset += 4 * ropeCount
            if !config.sharedClassifier { try load("wcls", weights.classifier) }
        }
        return weights
    }

    /// The checkpoint bytes for `weights` (legacy RoPE tables as read, or computed as llama2.c's export writes them).
    public static func encode(_ weights: TransformerWeights) -> Data {
        let config = weights.config
        var data = Data(capacity: fileSize(config))
        let header: [Int32] = [config.dim, config.hiddenDim, config.layers, config.heads, config.kvHeads,
                               config.sharedClassifier ? config.vocabularySize : -config.vocabularySize,
                               config.maxSequenceLength].map { Int32($0) }
        header.withUnsafeBytes { data.append(contentsOf: $0) }
        for (name, tensor) in weights.namedTensors where name != "wcls" {
            data.append(UnsafeBufferPointer(start: tensor.pointer, count: tensor.count))
        }
        let tables = weights.legacyRopeTables ?? legacyRopeTables(config)
        tables.withUnsafeBytes { data.append(contentsOf: $0) }
        if !config.sharedClassifier {
            data.append(UnsafeBufferPointer(start: weights.classifier.pointer, count: weights.classifier.count))
        }
        return data
    }

    /// Writes `weights` to `path` atomically (a temporary file renamed into place).
    public static func write(_ weights: TransformerWeights, to path: String) throws {
        try AtomicFile.write(encode(weights), to: path)
    }

    /// The cos and sin tables llama2.c's legacy export writes: `(max_seq_len, head_size/2)` each.
    public static func legacyRopeTables(_ config: ModelConfig) -> [Float] {
        let rope = RotaryEmbedding(headSize: config.headSize)
        let half = config.headSize / 2
        var cosTable = [Float](), sinTable = [Float]()
        cosTable.reserveCapacity(config.maxSequenceLength * half)
        sinTable.reserveCapacity(config.maxSequenceLength * half)
        for pos in 0..<config.maxSequenceLength {
            for f in rope.frequencies {
                let angle = Double(Float(pos) * Float(f))
                cosTable.append(Float(cos(angle)))
                sinTable.append(Float(sin(angle)))
            }
        }
        return cosTable + sinTable
    }
}
