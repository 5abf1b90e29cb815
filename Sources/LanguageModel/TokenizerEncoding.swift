/// Lookup tables that let `BPETokenizer.encode` run llama2.c's algorithm in O(n log n).
struct EncoderIndex: Sendable {
    /// The id of the piece that is exactly one byte `b`, or -1.
    let singleByte: [Int32]
    /// Ids of pieces of 2...4 bytes (whole multi-byte UTF-8 characters), keyed by `codepointKey`.
    let codepoints: [UInt64: Int32]
    /// For each pair of ids whose stored pieces concatenate to a piece with score > -1e10: that piece's id.
    let merges: [UInt64: Int32]
    /// Per id, the position of its score among the distinct scores of merged pieces, highest first.
    let rank: [Int32]
    /// The number of distinct ranks.
    let rankCount: Int
    /// The id of the piece " " used as the dummy prefix.
    let space: Int32

    init(pieces: [[UInt8]], scores: [Float], idOfPiece: [[UInt8]: Int]) {
        var singleByte = [Int32](repeating: -1, count: 256)
        var codepoints: [UInt64: Int32] = [:]
        var merges: [UInt64: Int32] = [:]
        for (id, piece) in pieces.enumerated() {
            switch piece.count {
            case 1: singleByte[Int(piece[0])] = Int32(id)
            case 2...4: codepoints[Self.codepointKey(piece)] = Int32(id)
            default: break
            }
            // run.c's candidates: a score strictly above its starting best of -1e10.
            guard scores[id] > -1e10 else { continue }
            for split in 1..<piece.count {
                if let left = idOfPiece[Array(piece[..<split])], let right = idOfPiece[Array(piece[split...])] {
                    merges[Self.pairKey(Int32(left), Int32(right))] = Int32(id)
                }
            }
        }
        self.singleByte = singleByte
        self.codepoints = codepoints
        self.merges = merges
        // Equal scores share a rank (-0 and +0 are equal), so ties fall to the leftmost pair.
        let distinct = Set(merges.values.map { scores[Int($0)] == 0 ? 0 : scores[Int($0)] }).sorted(by: >)
        let rankOfScore = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, Int32($0)) })
        self.rank = scores.map { rankOfScore[$0 == 0 ? 0 : $0] ?? -1 }
        self.rankCount = distinct.count
        // run.c looks " " up; every valid vocabulary has it at least as the byte token.
        self.space = singleByte[0x20] >= 0 ? singleByte[0x20] : Int32(BPETokenizer.firstByte + 0x20)
    }

    /// A dictionary key for the adjacent pair (left, right).
    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// A dictionary key for a byte string of at most 4 bytes (its length and its bytes).
    @inline(__always)
    static func codepointKey(_ bytes: some Collection<UInt8>) -> UInt64 {
        var key = UInt64(bytes.count) << 32
        for (shift, byte) in zip(stride(from: 0, to: 32, by: 8), bytes) {
            key |= UInt64(byte) << UInt64(shift)
        }
        return key
    }
}

extension BPETokenizer {
    /// Encodes `text` exactly as llama2.c's run.c `encode` does, but in O(n log n).
    ///
    /// run.c always adds the dummy-prefix space to non-empty text (and always passes
    /// `bos` for generation); here the space is added only together with BOS, so that
    /// `encode(s, bos: false, eos: false)` tokenizes `s` as it stands.
    ///
    /// Steps: BOS; the dummy prefix " "; each UTF-8 character (a byte plus at most 3
    /// following continuation bytes) as its piece if there is one, otherwise as byte
    /// tokens; then repeatedly merge the adjacent pair whose concatenated pieces form the
    /// piece with the highest score (leftmost on ties); finally EOS. Pieces are compared
    /// as whole byte strings, which is what run.c does for pieces without a 0x00 byte.
    public func encode(_ text: String, bos: Bool, eos: Bool) -> [Int] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count + 3)
        if bos {
            ids.append(Int32(Self.bos))
            if !text.isEmpty { ids.append(index.space) }
        }
        appendCharacters(of: text, to: &ids)
        var result = mergePairs(ids).map(Int.init)
        if eos { result.append(Self.eos) }
        return result
    }

    /// Appends run.c's initial tokens for each UTF-8 character of `text`.
    private func appendCharacters(of text: String, to ids: inout [Int32]) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            while start < bytes.count {
                var end = start + 1
                while end < bytes.count, end - start < 4, bytes[end] & 0xC0 == 0x80 { end += 1 }
                let id = end - start == 1
                    ? index.singleByte[Int(bytes[start])]
                    : index.codepoints[EncoderIndex.codepointKey(bytes[start..<end])] ?? -1
                if id >= 0 {
                    ids.append(id)
                } else {
                    for byte in bytes[start..<end] { ids.append(Int32(Self.firstByte) + Int32(byte)) }
                }
                start = end
            }
        }
    }

    /// Applies run.c's merge loop to `ids` using a linked list and per-score queues.
    ///
    /// Nodes keep their original position, so positions stay in text order. Each
    /// adjacent pair that forms a piece is queued by its left position in the queue
    /// of its score's rank; a queue of ranks gives the best non-empty score. Entries
    /// go stale when a merge changes a node and are skipped when popped (the pair is
    /// looked up again); every current pair always has an entry, so the first live
    /// entry of the best rank is exactly the leftmost best pair run.c's scan picks.
    private func mergePairs(_ initial: [Int32]) -> [Int32] {
        guard initial.count > 1, index.rankCount > 0 else { return initial }
        var ids = initial   // -1 marks a node merged into its left neighbour
        var next = (0..<Int32(ids.count)).map { $0 + 1 }
        next[ids.count - 1] = -1
        var previous = (0..<Int32(ids.count)).map { $0 - 1 }
        var queues = [PositionHeap](repeating: PositionHeap(), count: index.rankCount)
        var ranks = PositionHeap()

        /// The piece that merging node `left` with its successor makes, if any.
        func mergedPiece(at left: Int32) -> Int32? {
            let right = next[Int(left)]
            guard right >= 0 else { return nil }
            return index.merges[EncoderIndex.pairKey(ids[Int(left)], ids[Int(right)])]
        }
        func enqueue(_ left: Int32) {
            guard let merged = mergedPiece(at: left) else { return }
            let rank = Int(index.rank[Int(merged)])
            if queues[rank].isEmpty { ranks.push(Int32(rank)) }
            queues[rank].push(left)
        }

        for left in 0..<Int32(ids.count - 1) { enqueue(left) }
        while let rank = ranks.first {
            guard let left = queues[Int(rank)].pop() else {
                _ = ranks.pop()
                continue
            }
            guard ids[Int(left)] >= 0, let merged = mergedPiece(at: left), index.rank[Int(merged)] == rank else { continue }
            let right = Int(next[Int(left)])
            ids[Int(left)] = merged
            ids[right] = -1
            next[Int(left)] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = left }
            if previous[Int(left)] >= 0 { enqueue(previous[Int(left)]) }
            enqueue(left)
        }
        return ids.filter { $0 >= 0 }
    }
}

/// A binary min-heap of node positions (or ranks).
struct PositionHeap {
    private var items: [Int32] = []

    var isEmpty: Bool { items.isEmpty }
    var first: Int32? { items.first }

    mutating func push(_ item: Int32) {
        items.append(item)
        items.withUnsafeMutableBufferPointer { buffer in
            var child = buffer.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard item < buffer[parent] else { break }
                buffer[child] = buffer[parent]
                child = parent
            }
            buffer[child] = item
        }
    }

    mutating func pop() -> Int32? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items.withUnsafeMutableBufferPointer { buffer in
            var hole = 0
            while true {
                var child = 2 * hole + 1
                guard child < buffer.count else { break }
                if child + 1 < buffer.count, buffer[child + 1] < buffer[child] { child += 1 }
                guard buffer[child] < last else { break }
                buffer[hole] = buffer[child]
                hole = child
            }
            buffer[hole] = last
        }
        return top
    }
}
