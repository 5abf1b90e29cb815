import Foundation
import LanguageModel
import Testing
import TestSupport


@Suite struct TokenizerTests {
    @Test func vocabularyLayoutFollowsLlama2c() throws {
        let tokenizer = try Fixture.shakespeare512.get()
        #expect(tokenizer.vocabularySize == 512)
        #expect(tokenizer.pieces[0] == Array("<unk>".utf8))
        #expect(tokenizer.pieces[1] == Array("\n<s>\n".utf8))
        #expect(tokenizer.pieces[2] == Array("\n</s>\n".utf8))
        #expect(tokenizer.pieces[3 + 0x61] == Array("a".utf8))
        #expect(tokenizer.pieces[3 + 0x20] == Array(" ".utf8))
        #expect(tokenizer.pieces[3 + 0x0A] == Array("<0x0A>".utf8))
        #expect(tokenizer.pieces[3 + 0x7F] == Array("<0x7F>".utf8))
        #expect(tokenizer.pieces[3 + 0xC3] == Array("<0xC3>".utf8))
        #expect(tokenizer.scores[..<259].allSatisfy { $0 == 0 })
        #expect(tokenizer.scores[259...].elementsEqual((0..<253).map { -Float($0) }))
        #expect(tokenizer.maxTokenLength == tokenizer.pieces.map(\.count).max())
    }

    @Test func wholeCorpusRoundTrips() throws {
        let text = try Fixture.corpus.get()
        let tokenizer = try Fixture.shakespeare512.get()
        let withBOS = tokenizer.encode(text, bos: true, eos: false)
        #expect(tokenizer.decode(withBOS) == text)
        let plain = tokenizer.encode(text, bos: false, eos: false)
        #expect(tokenizer.decode(plain) == text)
        // Real compression (every newline stays its own token, see `BPETrainer.isAllowed`).
        #expect(Double(text.count) / Double(plain.count) > 1.8)
    }

    /// A test argument shown escaped in the runner's output (so a newline does not break its lines).
    struct Sample: CustomTestStringConvertible, Sendable {
        let text: String
        var testDescription: String { text.debugDescription }
    }

    @Test(arguments: ["héllo wörld", "日本語", "😀👍🏽🇯🇵 ok", "\t\n  x", "", " ", "  lead", "e\u{301}", "a\u{0}b", "\r\n"].map(Sample.init))
    func nonASCIIRoundTrips(_ sample: Sample) throws {
        let text = sample.text
        for tokenizer in [try Fixture.shakespeare512.get(), try Fixture.multilingual.get()] {
            #expect(tokenizer.decode(tokenizer.encode(text, bos: true, eos: false)) == text)
            #expect(tokenizer.decode(tokenizer.encode(text, bos: false, eos: false)) == text)
        }
    }

    @Test func randomTextRoundTrips() throws {
        var random = SplitMix64(seed: 1)
        let tokenizers = [try Fixture.shakespeare512.get(), try Fixture.multilingual.get()]
        for _ in 0..<300 {
            let text = Self.randomText(using: &random)
            for tokenizer in tokenizers {
                #expect(tokenizer.decode(tokenizer.encode(text, bos: true, eos: false)) == text)
                #expect(tokenizer.decode(tokenizer.encode(text, bos: false, eos: false)) == text)
            }
        }
    }

    @Test func specialTokensAndDummyPrefix() throws {
        let tokenizer = try Fixture.shakespeare512.get()
        #expect(tokenizer.encode("", bos: true, eos: true) == [1, 2])
        #expect(tokenizer.encode("", bos: false, eos: false) == [])
        let ids = tokenizer.encode("the king", bos: true, eos: true)
        #expect(ids.first == 1 && ids.last == 2)
        #expect(tokenizer.pieces[ids[1]].first == UInt8(ascii: " "))
        #expect(!tokenizer.encode("the king", bos: false, eos: false).contains(1))
        #expect(tokenizer.encode("the", bos: true, eos: false) == [1, Self.pieceId(tokenizer, " the")!])
    }

    @Test func fastEncodeEqualsNaiveOnRandomText() throws {
        let tokenizers = [try Fixture.shakespeare512.get(), try Fixture.multilingual.get(), try Self.tieHeavyTokenizer()]
        var random = SplitMix64(seed: 2)
        for _ in 0..<300 {
            let text = Self.randomText(using: &random)
            for tokenizer in tokenizers {
                for (bos, eos) in [(true, false), (false, false), (true, true)] {
                    #expect(tokenizer.encode(text, bos: bos, eos: eos) == Self.naiveEncode(tokenizer, text, bos: bos, eos: eos),
                            "text \(String(reflecting: text)) bos \(bos) eos \(eos)")
                }
            }
        }
    }

    @Test func fastEncodeEqualsNaiveOnCorpusSlices() throws {
        let bytes = Array(try Fixture.corpus.get().utf8)
        let tokenizers = [try Fixture.shakespeare512.get(), try Self.tieHeavyTokenizer()]
        var random = SplitMix64(seed: 3)
        for _ in 0..<40 {
            let start = Int.random(in: 0..<bytes.count - 500, using: &random)
            let text = String(decoding: bytes[start..<start + Int.random(in: 1...500, using: &random)], as: UTF8.self)
            for tokenizer in tokenizers {
                #expect(tokenizer.encode(text, bos: true, eos: false) == Self.naiveEncode(tokenizer, text, bos: true, eos: false))
            }
        }
    }

    @Test func tieHeavyVocabularyExercisesTiesAndLowScores() throws {
        let tokenizer = try Self.tieHeavyTokenizer()
        #expect(Set(tokenizer.scores[259...]).isSuperset(of: [0, -1, -2, -1e10, -3e10]))
        // A merge whose score is not above -1e10 never happens (such a piece can still be a looked-up character).
        let lowScored = tokenizer.pieces.indices.filter {
            $0 >= 259 && tokenizer.scores[$0] <= -1e10 && String(decoding: tokenizer.pieces[$0], as: UTF8.self).unicodeScalars.count > 1
        }
        #expect(!lowScored.isEmpty)
        let ids = tokenizer.encode(String(repeating: "the é日本😀, ax\n\n", count: 20), bos: true, eos: false)
        #expect(ids.allSatisfy { !lowScored.contains($0) })
    }

    @Test func writeThenLoadIsByteIdentical() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for tokenizer in [try Fixture.shakespeare512.get(), try Fixture.multilingual.get(), try Self.tieHeavyTokenizer()] {
            let path = folder.appendingPathComponent("tokenizer.bin").path
            try tokenizer.write(to: path)
            let written = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(written == tokenizer.data())
            let loaded = try BPETokenizer(contentsOf: path, expectedVocabularySize: tokenizer.vocabularySize)
            #expect(loaded == tokenizer)
            #expect(loaded.data() == written)
        }
    }

    @Test func loadKeepsAGenerousMaxTokenLength() throws {
        let base = try Self.tieHeavyTokenizer()
        var file = FileBuilder(maxTokenLength: 64)
        for (piece, score) in zip(base.pieces, base.scores) { file.entry(piece, score: score) }
        let path = try file.write()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let loaded = try BPETokenizer(contentsOf: path)
        #expect(loaded.maxTokenLength == 64)
        #expect(loaded.data() == Data(file.bytes))
        #expect(loaded.pieces == base.pieces)
    }

    @Test func pieceBytesFollowsRunC() throws {
        let tokenizer = try Fixture.shakespeare512.get()
        let the = try #require(Self.pieceId(tokenizer, " the"))
        #expect(tokenizer.pieceBytes(the, after: 1) == Array("the".utf8))
        #expect(tokenizer.pieceBytes(the, after: 50) == Array(" the".utf8))
        #expect(tokenizer.pieceBytes(the, after: -1) == Array(" the".utf8))
        #expect(tokenizer.pieceBytes(3 + 0x20, after: 1) == [])
        #expect(tokenizer.pieceBytes(3 + 0x0A, after: 1) == [0x0A])
        #expect(tokenizer.pieceBytes(3 + 0xE6, after: 40) == [0xE6])
        #expect(tokenizer.pieceBytes(3 + 0x41, after: 40) == [0x41])
        #expect(tokenizer.pieceBytes(1, after: 40) == [])
        #expect(tokenizer.pieceBytes(2, after: 40) == Array("\n</s>\n".utf8))
        #expect(tokenizer.decode([1, the, the]) == "the the")
        #expect(tokenizer.decode([the, the]) == " the the")
        #expect(tokenizer.decode([3 + 0x61, 3 + 0xE6, 3 + 0x97, 3 + 0x62]) == "a\u{FFFD}b")
    }

    @Test func onlyExactHexPiecesAreBytes() throws {
        var pieces = try Self.tieHeavyTokenizer().pieces
        let odd = ["<0x41>x", "<0x4", " <0x41>", "<0xzz>"]
        pieces += odd.map { Array($0.utf8) }
        let tokenizer = try BPETokenizer(pieces: pieces, scores: [Float](repeating: 0, count: pieces.count))
        let ids = odd.map { Self.pieceId(tokenizer, $0)! }
        #expect(tokenizer.pieceBytes(ids[0], after: 0) == Array("<0x41>x".utf8))
        #expect(tokenizer.pieceBytes(ids[1], after: 0) == Array("<0x4".utf8))
        #expect(tokenizer.pieceBytes(ids[2], after: 0) == Array(" <0x41>".utf8))
        // run.c drops the space after BOS first, then reads the byte.
        #expect(tokenizer.pieceBytes(ids[2], after: 1) == [0x41])
        #expect(tokenizer.pieceBytes(ids[3], after: 0) == Array("<0xzz>".utf8))
    }

    @Test func displayTextIsReadable() throws {
        let tokenizer = try Fixture.shakespeare512.get()
        #expect(tokenizer.displayText(0) == "<unk>")
        #expect(tokenizer.displayText(1) == "<s>")
        #expect(tokenizer.displayText(2) == "</s>")
        #expect(tokenizer.displayText(3 + 0x61) == "a")
        #expect(tokenizer.displayText(3 + 0x0A) == "<0x0A>")
        #expect(tokenizer.displayText(try #require(Self.pieceId(tokenizer, " the"))) == " the")
        let multilingual = try Fixture.multilingual.get()
        #expect(multilingual.displayText(try #require(Self.pieceId(multilingual, "é"))) == "é")
    }

    @Test func trainedVocabularyHasCommonWords() throws {
        let tokenizer = try Fixture.shakespeare512.get()
        for word in [" the", " and", " to", " of", " you", " my"] {
            #expect(Self.pieceId(tokenizer, word) != nil, "missing \(String(reflecting: word))")
        }
        let multilingual = try Fixture.multilingual.get()
        for word in ["é", "日本", "😀", " hé"] {
            #expect(Self.pieceId(multilingual, word) != nil, "missing \(String(reflecting: word))")
        }
    }

    @Test func trainedPiecesAreSafeForRunC() throws {
        let hostile = String(repeating: "<0x41><0x41> <0x0A>x \u{0}\u{0}a\u{0}a \n\n\n\t\t <unk><unk> ", count: 50)
        let tokenizers = [try Fixture.shakespeare512.get(), try Fixture.multilingual.get(),
                          try BPETokenizer.train(text: hostile, vocabularySize: 300)]
        let looksLikeByte = try Regex(#"^ ?<0x[0-9A-Fa-f]"#)
        for tokenizer in tokenizers {
            for piece in tokenizer.pieces[259...] {
                let text = String(decoding: piece, as: UTF8.self)
                #expect(!piece.contains(0), "\(String(reflecting: text)) contains 0x00")
                #expect(text.firstMatch(of: looksLikeByte) == nil, "\(String(reflecting: text)) would print as a byte")
                // run.c reaches pieces of whole characters without control bytes; the only other
                // pieces are the steps inside one multi-byte character towards its whole piece.
                let wholeCharacters = String(validating: piece, as: UTF8.self) != nil
                #expect(wholeCharacters || piece.allSatisfy { $0 >= 0x80 }, "\(piece) mixes a character part with other bytes")
                #expect(!piece.contains { $0 < 0x20 || $0 == 0x7F }, "\(String(reflecting: text)) is unreachable for run.c")
            }
        }
    }

    @Test func mergesStayInsideChunks() throws {
        let tokenizer = try Fixture.shakespeare512.get()
        let chunkPattern = Self.chunkPattern
        for piece in tokenizer.pieces[259...] {
            let text = String(decoding: piece, as: UTF8.self)
            let chunks = text.matches(of: chunkPattern).map { String(text[$0.range]) }
            #expect(chunks == [text], "\(String(reflecting: text)) spans chunks \(chunks)")
        }
    }

    @Test func trainerMatchesNaiveBPE() throws {
        let text = String(try Fixture.corpus.get().prefix(20_000))
        let tokenizer = try BPETokenizer.train(text: text, vocabularySize: 320)
        #expect(Array(tokenizer.pieces[259...]) == Self.naiveTrain(text, vocabularySize: 320))
    }

    @Test func trainingIsDeterministic() throws {
        let text = String(try Fixture.corpus.get().prefix(200_000))
        let first = try BPETokenizer.train(text: text, vocabularySize: 400).data()
        let second = try BPETokenizer.train(text: text, vocabularySize: 400).data()
        #expect(first == second)
        let multilingual = try BPETokenizer.train(text: Fixture.multilingualText, vocabularySize: 400).data()
        #expect(multilingual == (try Fixture.multilingual.get()).data())
    }

    @Test func trainingReportsProgressAndStopsWhenPairsRunOut() throws {
        var reports: [(Int, Int)] = []
        let tokenizer = try BPETokenizer.train(text: "ab ab ab cd", vocabularySize: 1000) { reports.append(($0, $1)) }
        // "ab" (twice in " ab" and once alone) then " ab"; nothing else occurs twice.
        #expect(tokenizer.pieces[259...].map { String(decoding: $0, as: UTF8.self) } == ["ab", " ab"])
        #expect(reports.map(\.0) == [1, 2])
        #expect(reports.allSatisfy { $0.1 == 1000 - 259 })
    }

    @Test func trainerRejectsBadArguments() {
        #expect(throws: TokenizerError.self) { try BPETokenizer.train(text: "hello", vocabularySize: 258) }
        do {
            _ = try BPETokenizer.train(text: "hello", vocabularySize: 100)
            Issue.record("vocabulary size 100 was accepted")
        } catch {
            #expect("\(error)" == "vocabulary size 100 is smaller than 259 (3 special tokens + 256 bytes)")
        }
        #expect(throws: TokenizerError.self) { try BPETokenizer.train(text: "", vocabularySize: 512) }
        #expect(throws: Never.self) { try BPETokenizer.train(text: "hello", vocabularySize: 259) }
    }

    @Test func initRejectsBadVocabularies() throws {
        let good = try Self.tieHeavyTokenizer()
        func problem(_ pieces: [[UInt8]], _ scores: [Float]) -> String? {
            do {
                _ = try BPETokenizer(pieces: pieces, scores: scores)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(problem(good.pieces, good.scores) == nil)
        #expect(problem(good.pieces, Array(good.scores.dropLast())) == "\(good.pieces.count) pieces but \(good.pieces.count - 1) scores")
        #expect(problem(good.pieces + [Array("he".utf8), Array("he".utf8)], good.scores + [0, 0])?.contains("are both \"he\"") == true)
        #expect(problem(good.pieces + [[]], good.scores + [0])?.contains("is empty") == true)
        #expect(problem(Array(good.pieces.prefix(258)), Array(good.scores.prefix(258)))?.contains("at least 259") == true)
        var swapped = good.pieces
        swapped.swapAt(3 + 0x41, 3 + 0x42)
        #expect(problem(swapped, good.scores)?.contains("token 68 should be the byte \"A\"") == true)
    }
}

extension TokenizerTests {
    /// Shared inputs, built once per test process.
    enum Fixture {
        /// The shipped `Fixtures/data/tinyshakespeare.txt`.
        static let corpusPath = PackagePaths.fixture("data/tinyshakespeare.txt")

        static let corpus = Result { try String(contentsOfFile: corpusPath, encoding: .utf8) }

        /// A tokenizer trained on the whole corpus with 512 tokens.
        static let shakespeare512 = Result { try BPETokenizer.train(text: corpus.get(), vocabularySize: 512) }

        /// Made-up text full of accented letters, CJK and emoji, so non-ASCII characters become pieces.
        static let multilingualText: String = {
            var random = SplitMix64(seed: 7)
            let syllables = ["hé", "llo", "wör", "ld", "日本", "語", "ça", "va", "😀", "ñu", "ß", "Ä", "ka", "👍🏽", "x"]
            var words: [String] = []
            for _ in 0..<3000 {
                let length = Int.random(in: 1...3, using: &random)
                words.append((0..<length).map { _ in syllables.randomElement(using: &random)! }.joined())
            }
            return words.joined(separator: " ")
        }()

        static let multilingual = Result { try BPETokenizer.train(text: multilingualText, vocabularySize: 400) }
    }


    // MARK: Reference implementations (small and obvious, slow)

    /// llama2.c run.c's `encode`, transcribed literally: O(n^2) merging over stored pieces.
    static func naiveEncode(_ tokenizer: BPETokenizer, _ text: String, bos: Bool, eos: Bool) -> [Int] {
        var lookup: [[UInt8]: Int] = [:]
        for (id, piece) in tokenizer.pieces.enumerated() { lookup[piece] = id }
        var tokens: [Int] = []
        if bos { tokens.append(1) }
        if bos && !text.isEmpty { tokens.append(lookup[[0x20]]!) }
        let bytes = Array(text.utf8)
        var buffer: [UInt8] = []
        for (i, byte) in bytes.enumerated() {
            if byte & 0xC0 != 0x80 { buffer = [] }
            buffer.append(byte)
            if i + 1 < bytes.count, bytes[i + 1] & 0xC0 == 0x80, buffer.count < 4 { continue }
            if let id = lookup[buffer] {
                tokens.append(id)
            } else {
                tokens += buffer.map { Int($0) + 3 }
            }
            buffer = []
        }
        while true {
            var bestScore: Float = -1e10, bestId = -1, bestIndex = -1
            for i in 0..<max(tokens.count - 1, 0) {
                if let id = lookup[tokenizer.pieces[tokens[i]] + tokenizer.pieces[tokens[i + 1]]], tokenizer.scores[id] > bestScore {
                    bestScore = tokenizer.scores[id]
                    bestId = id
                    bestIndex = i
                }
            }
            if bestIndex == -1 { break }
            tokens[bestIndex] = bestId
            tokens.remove(at: bestIndex + 1)
        }
        if eos { tokens.append(2) }
        return tokens
    }

    /// The trainer's pre-tokeniser as one regular expression (ASCII text): word-like runs with an
    /// optional leading space, newline runs, and whitespace runs that leave a space before a word alone.
    static var chunkPattern: Regex<AnyRegexOutput> {
        try! Regex(
        #" ?[A-Za-z\x{80}-\x{10FFFF}]+| ?[0-9]+| ?[^A-Za-z0-9\s\x{80}-\x{10FFFF}]+|[\r\n]+|(?:[\t\x{0B}\x{0C}]| (?![^\s]))+"#
    ).matchingSemantics(.unicodeScalar)
    }

    /// Plain BPE on ASCII text, recounting every pair at every step; returns the learned pieces in order.
    static func naiveTrain(_ text: String, vocabularySize: Int) -> [[UInt8]] {
        var wordCounts: [[[UInt8]]: Int] = [:]
        for match in text.matches(of: Self.chunkPattern) {
            wordCounts[text[match.range].utf8.map { [$0] }, default: 0] += 1
        }
        var words = Array(wordCounts)
        var learned: [[UInt8]] = []
        while 259 + learned.count < vocabularySize {
            var pairCounts: [[[UInt8]]: Int] = [:]
            for (symbols, count) in words {
                for (left, right) in zip(symbols, symbols.dropFirst())
                where (left + right).allSatisfy({ (0x20...0x7E).contains($0) }) {
                    pairCounts[[left, right], default: 0] += count
                }
            }
            guard let best = pairCounts.filter({ $0.value >= 2 }).min(by: { a, b in
                a.value != b.value ? a.value > b.value
                    : a.key[0] != b.key[0] ? a.key[0].lexicographicallyPrecedes(b.key[0])
                    : a.key[1].lexicographicallyPrecedes(b.key[1])
            }) else { break }
            let merged = best.key[0] + best.key[1]
            if !learned.contains(merged) { learned.append(merged) }
            words = words.map { symbols, count in
                var out: [[UInt8]] = []
                var i = 0
                while i < symbols.count {
                    if i + 1 < symbols.count, symbols[i] == best.key[0], symbols[i + 1] == best.key[1] {
                        out.append(merged)
                        i += 2
                    } else {
                        out.append(symbols[i])
                        i += 1
                    }
                }
                return (out, count)
            }
        }
        return learned
    }

    /// Random text from fragments covering ASCII, whitespace runs, accents, CJK, emoji and odd bytes.
    static func randomText(using random: inout SplitMix64) -> String {
        let fragments = ["a", "e", "t", "h", "x", "the", " the", " and", "he", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n",
                         ",", ".", "'", ":", "<0x41>", "\u{0}", "é", "ö", "Ä", "ß", "日本", "語", "😀", "👍🏽", "🇯🇵", "e\u{301}",
                         "hé", "llo", "wör", "ld", "ça", "ñu", "ka", "\n<s>\n"]
        let count = Int.random(in: 0...40, using: &random)
        return (0..<count).map { _ in fragments.randomElement(using: &random)! }.joined()
    }

    /// A hand-made vocabulary with many equal scores, raw "\n" and non-ASCII pieces, a piece that
    /// joins BOS with the dummy space, and pieces too low-scored to merge: it stresses the encoder's
    /// tie-breaking and generality.
    static func tieHeavyTokenizer() throws -> BPETokenizer {
        var random = SplitMix64(seed: 99)
        var pieces: [[UInt8]] = [Array("<unk>".utf8), Array("\n<s>\n".utf8), Array("\n</s>\n".utf8)]
        pieces += (0...255).map { byte in
            (0x20...0x7E).contains(byte) ? [UInt8(byte)] : Array(String(format: "<0x%02X>", byte).utf8)
        }
        var extra: [[UInt8]] = ["\n", "é", "日", "本", "😀", "\n<s>\n ", "\n\n"].map { Array($0.utf8) }
        let atoms = ["a", "e", "t", "h", "x", " ", ",", "é", "日", "本", "😀", "\n"].map { Array($0.utf8) }
        while extra.count < 200 {
            let pool = atoms + extra
            let piece = pool.randomElement(using: &random)! + pool.randomElement(using: &random)!
            if piece.count <= 12, !extra.contains(piece), !pieces.contains(piece) { extra.append(piece) }
        }
        pieces += extra
        let choices: [Float] = [0, -1, -1, -2, -1e10, -3e10]
        let scores = pieces.indices.map { $0 < 259 ? Float(0) : choices.randomElement(using: &random)! }
        return try BPETokenizer(pieces: pieces, scores: scores)
    }

    /// The id of `text`'s piece in `tokenizer`, if it is one.
    static func pieceId(_ tokenizer: BPETokenizer, _ text: String) -> Int? {
        tokenizer.pieces.firstIndex(of: Array(text.utf8))
    }

    /// A fresh temporary folder for files written by one test.
    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("TokenizerTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Builds tokenizer.bin files byte by byte, including malformed ones.
    struct FileBuilder {
        var bytes: [UInt8] = []

        init(maxTokenLength: Int32) { int32(maxTokenLength) }

        mutating func int32(_ value: Int32) {
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
        }

        mutating func entry(_ piece: [UInt8], score: Float = 0, length: Int32? = nil) {
            int32(Int32(bitPattern: score.bitPattern))
            int32(length ?? Int32(piece.count))
            bytes += piece
        }

        /// A valid minimal vocabulary: the three specials and the 256 bytes.
        static func minimal(maxTokenLength: Int32 = 16) -> FileBuilder {
            var file = FileBuilder(maxTokenLength: maxTokenLength)
            for special in ["<unk>", "\n<s>\n", "\n</s>\n"] { file.entry(Array(special.utf8)) }
            for byte in 0...255 {
                file.entry((0x20...0x7E).contains(byte) ? [UInt8(byte)] : Array(String(format: "<0x%02X>", byte).utf8))
            }
            return file
        }

        /// Writes the bytes to a new temporary file and returns its path.
        func write() throws -> String {
            let path = try TokenizerTests.temporaryFolder().appendingPathComponent("tokenizer.bin").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// Each malformed tokenizer.bin gives a one-line error naming the file.
    @Suite struct FileErrors {
        /// Loads `file` and returns the error's problem; the whole message must be one line naming the file.
        func loadError(_ file: FileBuilder, expectedVocabularySize: Int? = nil) throws -> String {
            let path = try file.write()
            defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
            return loadError(path: path, expectedVocabularySize: expectedVocabularySize)
        }

        func loadError(path: String, expectedVocabularySize: Int? = nil) -> String {
            do {
                _ = try BPETokenizer(contentsOf: path, expectedVocabularySize: expectedVocabularySize)
                Issue.record("\(path) loaded without error")
                return ""
            } catch {
                #expect("\(error)".hasPrefix(path + ": "))
                #expect(!"\(error)".contains("\n"))
                return (error as? TokenizerError)?.problem ?? "not a TokenizerError: \(error)"
            }
        }

        @Test func minimalFileLoads() throws {
            let file = FileBuilder.minimal()
            let path = try file.write()
            defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
            let tokenizer = try BPETokenizer(contentsOf: path, expectedVocabularySize: 259)
            #expect(tokenizer.vocabularySize == 259)
            #expect(tokenizer.data() == Data(file.bytes))
        }

        @Test func missingFile() throws {
            let folder = try TokenizerTests.temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            #expect(loadError(path: folder.appendingPathComponent("absent.bin").path) == "file not found")
        }

        @Test func emptyFile() throws {
            var file = FileBuilder(maxTokenLength: 1)
            file.bytes = []
            #expect(try loadError(file) == "the file is empty")
        }

        @Test func shortHeader() throws {
            var file = FileBuilder(maxTokenLength: 1)
            file.bytes = [1, 0]
            #expect(try loadError(file).contains("too short for the 4-byte max_token_length header"))
        }

        @Test func absurdMaxTokenLength() throws {
            #expect(try loadError(FileBuilder(maxTokenLength: -3)).contains("max_token_length is -3"))
            #expect(try loadError(FileBuilder(maxTokenLength: 1 << 30)).contains("max_token_length is 1073741824"))
        }

        @Test func truncatedEntryHeader() throws {
            var file = FileBuilder.minimal()
            file.bytes += [0, 0, 0, 0, 3]
            #expect(try loadError(file).contains("token 259 is truncated"))
        }

        @Test func truncatedEntryBytes() throws {
            var file = FileBuilder.minimal()
            file.entry(Array("hello".utf8))
            file.bytes.removeLast(2)
            #expect(try loadError(file) == "token 259 is truncated: it needs 5 bytes but only 3 remain")
        }

        @Test func negativeLength() throws {
            var file = FileBuilder.minimal()
            file.entry([], length: -7)
            #expect(try loadError(file) == "token 259 has a negative length (-7)")
        }

        @Test func pieceLongerThanMaxTokenLength() throws {
            var file = FileBuilder.minimal(maxTokenLength: 5)
            #expect(try loadError(file) == "token 2 is 6 bytes long, more than max_token_length 5")
            file = FileBuilder.minimal()
            file.entry([], length: 1_000_000)
            #expect(try loadError(file) == "token 259 is 1000000 bytes long, more than max_token_length 16")
        }

        @Test func duplicatePieces() throws {
            var file = FileBuilder.minimal()
            file.entry(Array("ab".utf8))
            file.entry(Array("ab".utf8))
            #expect(try loadError(file) == "tokens 259 and 260 are both \"ab\"")
        }

        @Test func emptyPiece() throws {
            var file = FileBuilder.minimal()
            file.entry([])
            #expect(try loadError(file) == "token 259 is empty")
        }

        @Test func wrongVocabularySize() throws {
            #expect(try loadError(FileBuilder.minimal(), expectedVocabularySize: 512) == "tokenizer has 259 tokens but the model expects 512")
        }

        @Test func tooFewTokens() throws {
            var file = FileBuilder(maxTokenLength: 8)
            file.entry(Array("<unk>".utf8))
            #expect(try loadError(file).contains("the vocabulary has 1 tokens; at least 259 are needed"))
        }
    }
}
