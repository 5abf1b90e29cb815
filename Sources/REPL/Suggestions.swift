/// "Did you mean": the nearest words by edit distance, with a boost for words the input is a prefix of (as git ranks).
public enum Suggestions {
    /// Levenshtein distance between two strings.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Up to `limit` candidates close to `word`: within about a third of its length in edits, prefixes first.
    public static func nearest(_ word: String, among candidates: [String], limit: Int = 2) -> [String] {
        guard !word.isEmpty else { return [] }
        let w = word.lowercased()
        let scored = candidates.map { c -> (String, Int) in
            var score = distance(w, c.lowercased()) * 2
            if c.lowercased().hasPrefix(w) || w.hasPrefix(c.lowercased()) { score -= 3 }
            return (c, score)
        }
        let allowed = max(2, (w.count + 2) / 3) * 2
        var seen = Set<String>()
        return scored.filter { $0.1 <= allowed }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map(\.0).filter { seen.insert($0).inserted }.prefix(limit).map { $0 }
    }
}
