extension BPETokenizer {
    /// Learns a byte-level BPE vocabulary of at most `vocabularySize` tokens from `text`, deterministically.
    ///
    /// The text is cut into chunks (see `BPETrainer.chunkEnd`) and pairs are merged only
    /// within chunks, so pieces are words and word parts. Each step merges the most
    /// frequent adjacent pair (ties: the pair's bytes in lexicographic order), reusing
    /// the id when the merged bytes are already a piece. Merges that run.c could never
    /// reproduce or would misread are skipped (see `BPETrainer.isAllowed`). Training
    /// stops at `vocabularySize` tokens or when no allowed pair occurs twice.
    /// `progress` is called after each learned piece with (pieces learned, pieces wanted).
    /// Throws `TokenizerError` when `vocabularySize` is below 259 or `text` is empty.
    public static func train(text: String, vocabularySize: Int,
                             progress: ((Int, Int) -> Void)? = nil) throws -> BPETokenizer {
        guard vocabularySize >= minimumVocabularySize else {
            throw TokenizerError(problem: "vocabulary size \(vocabularySize) is smaller than \(minimumVocabularySize) (3 special tokens + 256 bytes)")
        }
        guard !text.isEmpty else { throw TokenizerError(problem: "the training text is empty") }
        var trainer = BPETrainer(text: text)
        let wanted = vocabularySize - minimumVocabularySize
        while trainer.pieces.count < vocabularySize, let pair = trainer.bestPair() {
            let before = trainer.pieces.count
            trainer.merge(pair: pair)
            if trainer.pieces.count > before { progress?(trainer.pieces.count - minimumVocabularySize, wanted) }
        }
        return try BPETokenizer(pieces: trainer.pieces, scores: trainer.scores)
    }
}

/// The state of a BPE training run: the vocabulary so far, the distinct chunks, and incremental pair counts.
struct BPETrainer {
    /// Pieces as stored in tokenizer.bin.
    private(set) var pieces: [[UInt8]]
    private(set) var scores: [Float]
    /// The bytes each id stands for (differs from `pieces` for specials and `<0xHH>` bytes).
    private var raw: [[UInt8]]
    /// Whether run.c can merge the id with a neighbour: it is stored as its own bytes and is whole UTF-8 characters.
    private var joinable: [Bool]
    /// Ids of learned pieces by their bytes, to reuse an id reached by a second pair.
    private var learnedId: [[UInt8]: Int32] = [:]
    /// The distinct chunks of the text as symbol ids, and how often each occurs.
    private var words: [[Int32]]
    private let wordCounts: [Int]
    /// Per pair (by index): its ids, summed occurrences, whether it may merge, and the words that may hold it.
    private var pairIndex: [UInt64: Int] = [:]
    private var pairLeft: [Int32] = []
    private var pairRight: [Int32] = []
    private var pairCount: [Int] = []
    private var pairAllowed: [Bool] = []
    private var pairWords: [[Int32]] = []
    /// Marks words already rewritten during the current merge.
    private var wordStamp: [Int]
    private var stamp = 0

    init(text: String) {
        let specials: [[UInt8]] = [Array("<unk>".utf8), Array("\n<s>\n".utf8), Array("\n</s>\n".utf8)]
        let singleBytes = (0...255).map { [UInt8($0)] }
        pieces = specials + (0...255).map { BPETokenizer.bytePiece(UInt8($0)) }
        scores = [Float](repeating: 0, count: pieces.count)
        raw = specials + singleBytes
        joinable = [false, false, false] + (0...255).map { (0x20...0x7E).contains($0) }

        let chunkCounts = Self.countChunks(Array(text.utf8))
        let sorted = chunkCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        words = sorted.map { $0.key.map { Int32(BPETokenizer.firstByte) + Int32($0) } }
        wordCounts = sorted.map(\.value)
        wordStamp = [Int](repeating: 0, count: words.count)
        for (word, symbols) in words.enumerated() {
            for k in 0..<symbols.count - 1 {
                let pair = pairId(symbols[k], symbols[k + 1])
                pairCount[pair] += wordCounts[word]
                pairWords[pair].append(Int32(word))
            }
        }
    }

    /// The allowed pair occurring most often (at least twice); ties go to the pair whose bytes sort first.
    func bestPair() -> Int? {
        var best: Int?
        for pair in pairCount.indices where pairAllowed[pair] && pairCount[pair] >= 2 {
            guard let current = best else { best = pair; continue }
            if pairCount[pair] > pairCount[current]
                || (pairCount[pair] == pairCount[current] && bytesPrecede(pair, current)) {
                best = pair
            }
        }
        return best
    }

    /// Merges every occurrence of `pair` into one symbol, adding its piece unless those bytes already are one.
    mutating func merge(pair: Int) {
        let left = pairLeft[pair], right = pairRight[pair]
        let bytes = raw[Int(left)] + raw[Int(right)]
        let merged: Int32
        if let existing = learnedId[bytes] {
            merged = existing
        } else {
            merged = Int32(pieces.count)
            scores.append(-Float(pieces.count - BPETokenizer.minimumVocabularySize))
            pieces.append(bytes)
            raw.append(bytes)
            joinable.append(String(validating: bytes, as: UTF8.self) != nil)
            learnedId[bytes] = merged
        }
        stamp += 1
        let candidates = pairWords[pair]
        pairWords[pair] = []   // every occurrence is merged, and (left, right) cannot form again
        for word in candidates.map(Int.init) where wordStamp[word] != stamp {
            wordStamp[word] = stamp
            rewrite(word: word, left: left, right: right, merged: merged)
        }
    }

    /// Replaces (left, right) by `merged` in one word, left to right, updating the pair counts.
    private mutating func rewrite(word: Int, left: Int32, right: Int32, merged: Int32) {
        let old = words[word]
        guard zip(old, old.dropFirst()).contains(where: { $0 == left && $1 == right }) else { return }
        let count = wordCounts[word]
        for k in 0..<old.count - 1 { pairCount[pairId(old[k], old[k + 1])] -= count }
        var new: [Int32] = []
        new.reserveCapacity(old.count - 1)
        var k = 0
        while k < old.count {
            if k + 1 < old.count, old[k] == left, old[k + 1] == right {
                new.append(merged)
                k += 2
            } else {
                new.append(old[k])
                k += 1
            }
        }
        for k in 0..<new.count - 1 {
            let pair = pairId(new[k], new[k + 1])
            pairCount[pair] += count
            if new[k] == merged || new[k + 1] == merged { pairWords[pair].append(Int32(word)) }
        }
        words[word] = new
    }

    /// The index of pair (left, right), registering it (and whether it may merge) on first sight.
    private mutating func pairId(_ left: Int32, _ right: Int32) -> Int {
        let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
        if let pair = pairIndex[key] { return pair }
        let pair = pairCount.count
        pairIndex[key] = pair
        pairLeft.append(left)
        pairRight.append(right)
        pairCount.append(0)
        pairAllowed.append(isAllowed(left, right))
        pairWords.append([])
        return pair
    }

    /// Whether merging (left, right) gives a piece run.c can reach and prints correctly.
    ///
    /// run.c merges by concatenating *stored* pieces, so a byte stored as `<0xHH>` never
    /// joins a neighbour; the only way to a multi-byte character is to look the whole
    /// character up. So a pair may merge when both sides are joinable (stored as their
    /// own bytes, whole characters), or inside one UTF-8 character (the right side
    /// starts with a continuation byte) on the way to that character's piece. The result
    /// must also not contain 0x00 (run.c uses C strings), start with `<0x` and a hex digit
    /// (run.c's `sscanf("<0x%02hhX>")` would print it as one byte), also not after a
    /// dropped leading space, and not equal a special piece.
    private func isAllowed(_ left: Int32, _ right: Int32) -> Bool {
        let leftBytes = raw[Int(left)], rightBytes = raw[Int(right)]
        guard (joinable[Int(left)] && joinable[Int(right)]) || rightBytes[0] & 0xC0 == 0x80 else { return false }
        let bytes = leftBytes + rightBytes
        func looksLikeByte(_ piece: ArraySlice<UInt8>) -> Bool {
            piece.count >= 4 && piece.starts(with: "<0x".utf8) && BPETokenizer.hexValue(piece[piece.startIndex + 3]) != nil
        }
        return !bytes.contains(0)
            && !looksLikeByte(bytes[...])
            && !(bytes[0] == UInt8(ascii: " ") && looksLikeByte(bytes.dropFirst()))
            && !pieces[..<BPETokenizer.firstByte].contains(bytes)
    }

    /// Whether pair `a`'s (left bytes, right bytes) sort before pair `b`'s.
    private func bytesPrecede(_ a: Int, _ b: Int) -> Bool {
        let aLeft = raw[Int(pairLeft[a])], bLeft = raw[Int(pairLeft[b])]
        if aLeft != bLeft { return aLeft.lexicographicallyPrecedes(bLeft) }
        return raw[Int(pairRight[a])].lexicographicallyPrecedes(raw[Int(pairRight[b])])
    }

    /// How often each distinct chunk occurs in `bytes`.
    static func countChunks(_ bytes: [UInt8]) -> [ArraySlice<UInt8>: Int] {
        var counts: [ArraySlice<UInt8>: Int] = [:]
        var start = 0
        while start < bytes.count {
            let end = chunkEnd(bytes, from: start)
            counts[bytes[start..<end], default: 0] += 1
            start = end
        }
        return counts
    }

    /// The kinds of byte the pre-tokeniser tells apart.
    enum ByteClass {
        case letter, digit, punctuation, newline, space

        /// Letters, digits and punctuation form words; a single space before them joins the word.
        var isWordLike: Bool { self == .letter || self == .digit || self == .punctuation }

        init(_ byte: UInt8) {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), 0x80...0xFF: self = .letter
            case UInt8(ascii: "0")...UInt8(ascii: "9"): self = .digit
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"): self = .newline
            case UInt8(ascii: " "), UInt8(ascii: "\t"), 0x0B, 0x0C: self = .space
            default: self = .punctuation
            }
        }
    }

    /// The end of the chunk starting at `start`.
    ///
    /// A chunk is an optional single leading space and then a run of letters (ASCII
    /// letters and all bytes >= 0x80, so UTF-8 words stay whole), of digits, or of other
    /// punctuation; or a run of newlines; or a run of other whitespace, which leaves a
    /// space that directly precedes a word to that word.
    static func chunkEnd(_ bytes: [UInt8], from start: Int) -> Int {
        func spaceStartsWord(_ index: Int) -> Bool {
            bytes[index] == UInt8(ascii: " ") && index + 1 < bytes.count && ByteClass(bytes[index + 1]).isWordLike
        }
        func endOfRun(_ kind: ByteClass, from index: Int) -> Int {
            var end = index
            while end < bytes.count, ByteClass(bytes[end]) == kind { end += 1 }
            return end
        }
        let kind = ByteClass(bytes[start])
        if kind.isWordLike || kind == .newline { return endOfRun(kind, from: start + 1) }
        if spaceStartsWord(start) { return endOfRun(ByteClass(bytes[start + 1]), from: start + 2) }
        var end = start + 1
        while end < bytes.count, ByteClass(bytes[end]) == .space, !spaceStartsWord(end) { end += 1 }
        return end
    }
}
