import Foundation

extension BPETokenizer {
    /// The largest `max_token_length` accepted from a file; anything above is treated as corruption.
    static let maxTokenLengthLimit = 65_536

    /// Loads a llama2.c `tokenizer.bin`, reading tokens until the end of the file.
    ///
    /// The format (little-endian): int32 `max_token_length`, then per token a float32
    /// score, an int32 byte length and the bytes. The file does not store the number of
    /// tokens; pass `expectedVocabularySize` (the model's) to check it.
    /// Throws `TokenizerError` naming `path` and the problem.
    public init(contentsOf path: String, expectedVocabularySize: Int? = nil) throws {
        func fail(_ problem: String) -> TokenizerError { TokenizerError(path: path, problem: problem) }
        guard FileManager.default.fileExists(atPath: path) else { throw fail("file not found") }
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw fail("cannot read the file: \(error.localizedDescription)")
        }
        try self.init(data: bytes, path: path, expectedVocabularySize: expectedVocabularySize)
    }

    /// Decodes the bytes of a llama2.c `tokenizer.bin` (no file is read; `path` names the source in errors).
    public init(data: Data, path: String, expectedVocabularySize: Int? = nil) throws {
        try self.init(data: Array(data), path: path, expectedVocabularySize: expectedVocabularySize)
    }

    init(data bytes: [UInt8], path: String, expectedVocabularySize: Int?) throws {
        func fail(_ problem: String) -> TokenizerError { TokenizerError(path: path, problem: problem) }
        guard !bytes.isEmpty else { throw fail("the file is empty") }
        var reader = LittleEndianReader(bytes: bytes)
        guard let maxTokenLength = reader.int32() else {
            throw fail("the file is \(bytes.count) bytes long, too short for the 4-byte max_token_length header")
        }
        guard (1...Self.maxTokenLengthLimit).contains(Int(maxTokenLength)) else {
            throw fail("max_token_length is \(maxTokenLength), outside 1...\(Self.maxTokenLengthLimit)")
        }
        var pieces: [[UInt8]] = []
        var scores: [Float] = []
        while !reader.isAtEnd {
            let id = pieces.count
            guard let scoreBits = reader.uint32(), let length = reader.int32() else {
                throw fail("token \(id) is truncated: its 8-byte score and length header is cut off by the end of the file")
            }
            guard length >= 0 else { throw fail("token \(id) has a negative length (\(length))") }
            guard length <= maxTokenLength else {
                throw fail("token \(id) is \(length) bytes long, more than max_token_length \(maxTokenLength)")
            }
            guard let piece = reader.bytes(Int(length)) else {
                throw fail("token \(id) is truncated: it needs \(length) bytes but only \(reader.remaining) remain")
            }
            let score = Float(bitPattern: scoreBits)
            guard score.isFinite else { throw fail("token \(id) has the score \(score); scores must be finite") }
            scores.append(score)
            pieces.append(piece)
        }
        if let expected = expectedVocabularySize, expected != pieces.count {
            throw fail("tokenizer has \(pieces.count) tokens but the model expects \(expected)")
        }
        try self.init(pieces: pieces, scores: scores, maxTokenLength: Int(maxTokenLength), path: path)
    }

    /// The tokenizer serialised as llama2.c's `tokenizer.bin`; loading it gives back an equal tokenizer.
    public func data() -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + pieces.reduce(0) { $0 + 8 + $1.count })
        func append(_ value: UInt32) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(UInt32(truncatingIfNeeded: maxTokenLength))
        for (piece, score) in zip(pieces, scores) {
            append(score.bitPattern)
            append(UInt32(piece.count))
            bytes.append(contentsOf: piece)
        }
        return Data(bytes)
    }

    /// Writes `data()` to `path` atomically (a reader never sees a half-written file).
    public func write(to path: String) throws {
        try AtomicFile.write(data(), to: path)
    }
}

/// Reads little-endian values from a byte array, returning nil instead of reading past the end.
private struct LittleEndianReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func uint32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { offset += 4 }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }

    mutating func int32() -> Int32? {
        uint32().map { Int32(bitPattern: $0) }
    }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard remaining >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
}
