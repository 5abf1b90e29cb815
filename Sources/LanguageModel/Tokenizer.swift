import Foundation

/// Maps text to token ids and back (one small protocol per concept).
public protocol Tokenizer: Sendable {
    /// The number of token ids; valid ids are `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// Ids for `text`; with `bos`, prepends BOS (1) and a dummy-prefix space (SentencePiece/llama2.c style) when text is non-empty; with `eos`, appends EOS (2).
    func encode(_ text: String, bos: Bool, eos: Bool) -> [Int]
    /// The bytes llama2.c's run.c would print for `id` when it follows `previous` (leading space dropped right after BOS; `<0xHH>` pieces are raw bytes). No safe_printf filtering.
    func pieceBytes(_ id: Int, after previous: Int) -> [UInt8]
    /// Decodes a whole id sequence (the first id's "previous" is taken as -1, i.e. none; an initial BOS makes the next piece drop its leading space). Invalid UTF-8 is replaced with U+FFFD.
    func decode(_ ids: [Int]) -> String
}

/// A tokenizer file or vocabulary is unusable, or training cannot start.
///
/// The description is one line naming the file (when there is one) and the problem.
public struct TokenizerError: Error, CustomStringConvertible, LocalizedError {
    /// The tokenizer file concerned, or nil for in-memory vocabularies and training.
    public let path: String?
    /// What is wrong, as a short phrase.
    public let problem: String

    public init(path: String? = nil, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { path.map { "\($0): \(problem)" } ?? problem }
    public var errorDescription: String? { description }
}

/// A byte-level BPE tokenizer in llama2.c's `tokenizer.bin` layout, encoding exactly like llama2.c's `run.c`.
///
/// Vocabulary layout: id 0 `<unk>`, id 1 BOS, id 2 EOS, ids 3...258 the 256 bytes
/// (byte `b` has id `3 + b`; printable ASCII stored as the character itself, other
/// bytes as the text `<0xHH>`), then merged pieces. A higher score merges first.
public struct BPETokenizer: Tokenizer, Equatable {
    public static let unk = 0, bos = 1, eos = 2, firstByte = 3   // byte b has id 3 + b
    /// The smallest usable vocabulary: 3 special tokens and 256 bytes.
    public static let minimumVocabularySize = firstByte + 256

    /// Raw piece bytes as stored in tokenizer.bin.
    public let pieces: [[UInt8]]
    /// One merge priority per piece; run.c merges the pair whose piece has the highest score first.
    public let scores: [Float]
    /// The `max_token_length` header of tokenizer.bin: no piece is longer.
    public let maxTokenLength: Int

    /// The bytes each piece prints as when it does not follow BOS (`<0xHH>` already resolved).
    let output: [[UInt8]]
    /// Lookup tables for the encoder.
    let index: EncoderIndex

    /// Creates a tokenizer from pieces and scores, checking that they form a usable vocabulary.
    ///
    /// Throws `TokenizerError` when the counts differ, a piece is empty or repeated,
    /// there are fewer than 259 pieces, or id `3 + b` does not stand for byte `b`.
    public init(pieces: [[UInt8]], scores: [Float]) throws {
        guard pieces.count == scores.count else {
            throw TokenizerError(problem: "\(pieces.count) pieces but \(scores.count) scores")
        }
        try self.init(pieces: pieces, scores: scores, maxTokenLength: pieces.map(\.count).max() ?? 0, path: nil)
    }

    /// Validates the vocabulary (errors name `path` when given) and builds the lookup tables.
    init(pieces: [[UInt8]], scores: [Float], maxTokenLength: Int, path: String?) throws {
        func fail(_ problem: String) -> TokenizerError { TokenizerError(path: path, problem: problem) }
        guard pieces.count >= Self.minimumVocabularySize else {
            throw fail("the vocabulary has \(pieces.count) tokens; at least \(Self.minimumVocabularySize) are needed (3 special tokens + 256 bytes)")
        }
        var firstIdOfPiece: [[UInt8]: Int] = [:]
        firstIdOfPiece.reserveCapacity(pieces.count)
        for (id, piece) in pieces.enumerated() {
            guard !piece.isEmpty else { throw fail("token \(id) is empty") }
            guard piece.count <= maxTokenLength else {
                throw fail("token \(id) is \(piece.count) bytes long, more than max_token_length \(maxTokenLength)")
            }
            if let earlier = firstIdOfPiece.updateValue(id, forKey: piece) {
                throw fail("tokens \(earlier) and \(id) are both \(Self.quoted(piece))")
            }
        }
        let output = pieces.map(Self.printedBytes)
        for byte in 0...255 where output[Self.firstByte + byte] != [UInt8(byte)] {
            let expected = Self.quoted(Self.bytePiece(UInt8(byte)))
            throw fail("token \(Self.firstByte + byte) should be the byte \(expected) but is \(Self.quoted(pieces[Self.firstByte + byte]))")
        }
        self.pieces = pieces
        self.scores = scores
        self.maxTokenLength = maxTokenLength
        self.output = output
        self.index = EncoderIndex(pieces: pieces, scores: scores, idOfPiece: firstIdOfPiece)
    }

    public var vocabularySize: Int { pieces.count }

    public static func == (lhs: BPETokenizer, rhs: BPETokenizer) -> Bool {
        lhs.maxTokenLength == rhs.maxTokenLength && lhs.pieces == rhs.pieces && lhs.scores == rhs.scores
    }

    /// The bytes run.c prints for `id` after `previous`; BOS prints nothing.
    ///
    /// run.c never prints BOS: it is the prompt's first token, and generation stops
    /// when the model produces it. Every other piece prints as stored, minus a leading
    /// space right after BOS, with a `<0xHH>` piece standing for the raw byte HH.
    /// `id` must be a valid id (checked by a precondition).
    public func pieceBytes(_ id: Int, after previous: Int) -> [UInt8] {
        precondition(pieces.indices.contains(id), "token id \(id) is outside the vocabulary of \(pieces.count)")
        if id == Self.bos { return [] }
        if previous == Self.bos, pieces[id].first == UInt8(ascii: " ") {
            return Self.printedBytes(pieces[id].dropFirst())
        }
        return output[id]
    }

    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        var previous = -1
        for id in ids {
            bytes += pieceBytes(id, after: previous)
            previous = id
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The piece as readable text for diagrams: `<unk>`, `<s>`, `</s>` for the specials, otherwise the stored bytes as UTF-8 (invalid sequences replaced), unescaped.
    public func displayText(_ id: Int) -> String {
        switch id {
        case Self.unk: return "<unk>"
        case Self.bos: return "<s>"
        case Self.eos: return "</s>"
        default: return String(decoding: pieces[id], as: UTF8.self)
        }
    }

    /// The stored piece for byte `byte`: the character itself for printable ASCII, otherwise `<0xHH>`.
    static func bytePiece(_ byte: UInt8) -> [UInt8] {
        (0x20...0x7E).contains(byte) ? [byte] : hexPiece(byte)
    }

    /// The text `<0xHH>` (uppercase hex) for `byte`.
    static func hexPiece(_ byte: UInt8) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return Array("<0x".utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 15)], UInt8(ascii: ">")]
    }

    /// The byte a piece of exactly the form `<0xHH>` (either hex case) stands for, or nil.
    static func hexByte(_ piece: some Collection<UInt8>) -> UInt8? {
        let bytes = Array(piece)
        guard bytes.count == 6, bytes.starts(with: Array("<0x".utf8)), bytes[5] == UInt8(ascii: ">"),
              let high = hexValue(bytes[3]), let low = hexValue(bytes[4]) else { return nil }
        return high << 4 | low
    }

    /// The value of an ASCII hex digit, or nil.
    static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// What run.c prints for a piece: the raw byte for `<0xHH>`, otherwise the piece itself.
    static func printedBytes(_ piece: some Collection<UInt8>) -> [UInt8] {
        hexByte(piece).map { [$0] } ?? Array(piece)
    }

    /// A piece as a quoted, escaped Swift string literal, for one-line error messages.
    static func quoted(_ piece: [UInt8]) -> String {
        String(reflecting: String(decoding: piece, as: UTF8.self))
    }
}

extension Tokenizer {
    /// The text of `ids` when they follow `previous` (e.g. a prompt's last token), as run.c prints it.
    public func decode(_ ids: [Int], after previous: Int) -> String {
        var bytes: [UInt8] = []
        var last = previous
        for id in ids {
            bytes += pieceBytes(id, after: last)
            last = id
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One token's own text, as it prints mid-text (leading space kept); `<s>` for BOS, whose text is empty.
    public func pieceText(_ id: Int) -> String {
        id == 1 ? "<s>" : String(decoding: pieceBytes(id, after: -1), as: UTF8.self)
    }
}
