import Foundation
import TestSupport
import Testing

/// Deterministic mutation fuzzing of HydraSim's loaders (issue 14): seeded, so a failing case can be replayed
/// by its format and index.
///
/// Cases per format: `HYDRASIM_FUZZ_CASES` (the long run, `scripts/fuzz.sh`, sets 10000), else a small default
/// that keeps the normal test run fast. `HYDRASIM_FUZZ_LAST=FILE` writes "format index" to FILE before each case,
/// so a case that traps (and takes the test process with it) can be found; `HYDRASIM_FUZZ_REPORT=FILE` appends
/// one JSON line of statistics per format.
enum FuzzSettings {
    static let environment = ProcessInfo.processInfo.environment
    /// Cases per format: the environment's count, or `fallback`.
    static func cases(default fallback: Int) -> Int {
        environment["HYDRASIM_FUZZ_CASES"].flatMap { Int($0) }.map { max(1, $0) } ?? fallback
    }
    /// A case slower than this is reported as a hang (debug build, shared CPU: generous).
    static let hangSeconds = Double(environment["HYDRASIM_FUZZ_HANG_SECONDS"] ?? "") ?? 5
    static let lastCaseFile = environment["HYDRASIM_FUZZ_LAST"]
    static let reportFile = environment["HYDRASIM_FUZZ_REPORT"]
}

/// The fuzzer's seeded generator (SplitMix64, shared with the other tests).
typealias FuzzRandom = SplitMix64

/// What a fuzz run saw for one format.
struct FuzzStats {
    let format: String
    var cases = 0
    var accepted = 0
    var rejected = 0
    /// Distinct error messages with every number replaced by `#` (the kinds of problem reported).
    var kinds: [String: Int] = [:]
    var distinctMessages = Set<String>()
    var slowest = 0.0
    var seconds = 0.0

    init(format: String) { self.format = format }

    /// Reduces a message to its kind: digits become `#`.
    static func kind(_ message: String) -> String {
        var out = ""
        var lastWasDigit = false
        for c in message {
            if c.isNumber { if !lastWasDigit { out.append("#") }; lastWasDigit = true } else { out.append(c); lastWasDigit = false }
        }
        return out
    }

    var summary: String {
        String(format: "%@: %d cases (%d accepted, %d rejected), %d distinct messages, %d kinds, slowest case %.3f s, %.1f s in all",
               format, cases, accepted, rejected, distinctMessages.count, kinds.count, slowest, seconds)
    }

    var json: String {
        let object: [String: Any] = ["format": format, "cases": cases, "accepted": accepted, "rejected": rejected, "crashes": 0, "hangs": 0,
                                     "distinct_messages": distinctMessages.count, "kinds": kinds.count,
                                     "slowest_case_seconds": (slowest * 1000).rounded() / 1000, "seconds": (seconds * 10).rounded() / 10,
                                     "messages": kinds.keys.sorted()]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs `count` cases of one format: `make(index, &random)` builds the input, `check` loads it and returns nil when
/// it was accepted or the thrown error. Every rejection must be one non-empty line naming `name` (the path given to
/// the loader); every case must finish within `FuzzSettings.hangSeconds`.
func fuzz<Input>(_ format: String, cases count: Int, seed: UInt64, name: String,
                 make: (Int, inout FuzzRandom) -> Input, check: (Input) throws -> Void) -> FuzzStats {
    var stats = FuzzStats(format: format)
    let clock = ContinuousClock()
    let start = clock.now
    for index in 0..<count {
        var random = FuzzRandom(seed: seed &+ UInt64(index) &* 0x2545_F491_4F6C_DD1D)
        if let file = FuzzSettings.lastCaseFile { try? Data("\(format) \(index)\n".utf8).write(to: URL(fileURLWithPath: file)) }
        let input = make(index, &random)
        let caseStart = clock.now
        var message: String?
        do { try check(input) } catch { message = "\(error)" }
        let seconds = (clock.now - caseStart).seconds
        stats.slowest = max(stats.slowest, seconds)
        if seconds > FuzzSettings.hangSeconds {
            Issue.record("\(format) case \(index) took \(seconds) s (a hang): \(message ?? "accepted")")
        }
        stats.cases += 1
        if let message {
            stats.rejected += 1
            stats.distinctMessages.insert(message)
            stats.kinds[FuzzStats.kind(message), default: 0] += 1
            if message.isEmpty || message.contains("\n") || !message.contains(name) {
                Issue.record("\(format) case \(index): the error is not one line naming \(name): \(message)")
            }
        } else {
            stats.accepted += 1
        }
    }
    stats.seconds = (clock.now - start).seconds
    print("fuzz " + stats.summary)
    if let file = FuzzSettings.reportFile, let handle = FileHandle(forWritingAtPath: file) ?? {
        guard FileManager.default.createFile(atPath: file, contents: nil) else { return nil }
        return FileHandle(forWritingAtPath: file)
    }() {
        handle.seekToEndOfFile()
        handle.write(Data((stats.json + "\n").utf8))
        try? handle.close()
    }
    return stats
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

// MARK: Byte mutations

/// Interesting 32-bit values for header fields.
let interestingInt32: [Int32] = [0, -1, 1, 2, 3, 7, 8, 255, 256, 1024, 65_535, 65_536, 1 << 20, 1 << 24, 1 << 30,
                                 Int32.max, Int32.max - 1, Int32.min, Int32.min + 1, -2, -1024]
/// Interesting floats for tensor elements.
let interestingFloats: [Float] = [.nan, -.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                  .leastNonzeroMagnitude, 0, -0.0, 1e30, -1e30, Float(bitPattern: 0x7FA0_0000)]

extension Data {
    mutating func setInt32(_ value: Int32, at offset: Int) {
        guard offset >= 0, offset + 4 <= count else { return }
        Swift.withUnsafeBytes(of: value.littleEndian) { replaceSubrange(offset..<offset + 4, with: $0) }
    }
    mutating func setFloat(_ value: Float, at offset: Int) { setInt32(Int32(bitPattern: value.bitPattern), at: offset) }
    func int32(at offset: Int) -> Int32 {
        guard offset >= 0, offset + 4 <= count else { return 0 }
        return self[offset..<offset + 4].withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(as: Int32.self)) }
    }
}

/// Generic byte-level mutations of `data`; `boundaries` are offsets where the format changes (fields, tensors),
/// `int32Fields` offsets of header integers, `floatRange` where float32 values live.
func mutateBytes(_ data: Data, boundaries: [Int], int32Fields: [Int], floatRange: Range<Int>?, random r: inout FuzzRandom) -> Data {
    var d = data
    let rounds = 1 + (r.chance(0.3) ? r.below(4) : 0)
    for _ in 0..<rounds {
        switch r.below(11) {
        case 0:   // truncate at a boundary, or one byte either side
            if let b = boundaries.isEmpty ? nil : r.pick(boundaries) { d = d.prefix(max(0, min(d.count, b + r.pick([-1, 0, 0, 1])))) }
        case 1:   // truncate anywhere
            d = d.prefix(r.below(d.count + 1))
        case 2:   // header field to an interesting value
            if !int32Fields.isEmpty { d.setInt32(r.pick(interestingInt32), at: r.pick(int32Fields)) }
        case 3:   // header field to a random value, or off by one
            if !int32Fields.isEmpty {
                let f = r.pick(int32Fields)
                d.setInt32(r.chance(0.5) ? Int32(truncatingIfNeeded: r.next()) : d.int32(at: f) &+ Int32(r.pick([-1, 1, 2, -2])), at: f)
            }
        case 4:   // NaN / infinity / extreme float in the tensors
            if let range = floatRange, range.count >= 4 {
                let offset = range.lowerBound + 4 * r.below(range.count / 4)
                d.setFloat(r.pick(interestingFloats), at: offset)
            }
        case 5:   // flip bits
            if !d.isEmpty { for _ in 0..<(1 + r.below(8)) { let i = r.below(d.count); d[d.startIndex + i] ^= UInt8(1 << r.below(8)) } }
        case 6:   // random bytes
            if !d.isEmpty { for _ in 0..<(1 + r.below(16)) { let i = r.below(d.count); d[d.startIndex + i] = UInt8(truncatingIfNeeded: r.next()) } }
        case 7:   // append bytes
            d.append(contentsOf: (0..<r.pick([1, 3, 4, 8, 100])).map { _ in UInt8(truncatingIfNeeded: r.next()) })
        case 8:   // drop a slice in the middle
            if d.count > 2 { let a = r.below(d.count); let n = 1 + r.below(Swift.min(64, d.count - a)); d.removeSubrange(d.startIndex + a..<d.startIndex + a + n) }
        case 9:   // duplicate a slice
            if d.count > 2 { let a = r.below(d.count); let n = 1 + r.below(Swift.min(64, d.count - a)); d.insert(contentsOf: d[d.startIndex + a..<d.startIndex + a + n], at: d.startIndex + a) }
        default:  // a header field to an interesting value, and the file cut to match nothing in particular
            if !int32Fields.isEmpty { d.setInt32(r.pick(interestingInt32), at: r.pick(int32Fields)) }
            if r.chance(0.5) { d = d.prefix(r.below(d.count + 1)) }
        }
    }
    return d
}

// MARK: JSON mutations

/// Raw JSON texts a mutated value may become (some not representable by JSONSerialization).
let interestingJSON: [String] = [
    "0", "-1", "1", "2147483647", "-2147483648", "2147483648", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "99999999999", "1e308", "1e309", "-1e309", "1.5", "-0", "0.0", "1e-320", "3.4028236e38", "\"\"", "\"x\"", "\"0\"", "\"\\u0000\"",
    "\"\\ud800\"", "null", "true", "false", "[]", "{}", "[[]]", "[0]", "[-1]", "{\"paths\": 5}", "NaN", "Infinity",
]

/// One structure-aware mutation of a JSON document; falls back to text mutations when it does not parse.
func mutateJSON(_ data: Data, random r: inout FuzzRandom) -> Data {
    guard r.chance(0.75), let root = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
        return mutateText(data, random: &r)
    }
    let placeholder = "__HYDRASIM_FUZZ_\(r.next())__"
    var replacement = r.pick(interestingJSON)
    switch r.below(8) {
    case 0: replacement = String(repeating: "[", count: r.pick([64, 600, 5_000, 100_000])) + String(repeating: "]", count: r.chance(0.8) ? 0 : 1)
    case 1: let depth = r.pick([64, 513, 5_000, 100_000]); replacement = String(repeating: "[", count: depth) + "0" + String(repeating: "]", count: depth)
    case 2: replacement = "[" + Array(repeating: r.pick(["0", "1", "[0]", "99999999999"]), count: r.pick([1_000, 100_000])).joined(separator: ",") + "]"
    case 3: replacement = String(repeating: "9", count: r.pick([20, 400, 10_000]))
    default: break
    }
    let mutated = replaceRandomNode(root, with: placeholder, random: &r)
    guard let text = try? JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed]) else { return data }
    let out = String(decoding: text, as: UTF8.self).replacingOccurrences(of: "\"\(placeholder)\"", with: replacement)
    return Data(out.utf8)
}

/// `value` with one randomly chosen node (or a dictionary key's presence) changed to the string `placeholder`.
func replaceRandomNode(_ value: Any, with placeholder: String, random r: inout FuzzRandom, depth: Int = 0) -> Any {
    let descend = r.chance(0.8)
    if var object = value as? [String: Any], !object.isEmpty {
        let key = r.pick(object.keys.sorted())
        if !descend { return placeholder }
        switch r.below(6) {
        case 0: object.removeValue(forKey: key)
        case 1: object["unexpected_\(r.below(3))"] = placeholder
        default: object[key] = replaceRandomNode(object[key]!, with: placeholder, random: &r, depth: depth + 1)
        }
        return object
    }
    if var array = value as? [Any], !array.isEmpty {
        if !descend { return placeholder }
        let i = r.below(array.count)
        switch r.below(6) {
        case 0: array.remove(at: i)
        case 1: array.insert(array[r.below(array.count)], at: i)
        case 2: array.append(placeholder)
        default: array[i] = replaceRandomNode(array[i], with: placeholder, random: &r, depth: depth + 1)
        }
        return array
    }
    return placeholder
}

/// Text-level mutations: truncate, flip, insert JSON punctuation.
func mutateText(_ data: Data, random r: inout FuzzRandom) -> Data {
    var d = data
    switch r.below(5) {
    case 0: d = d.prefix(r.below(d.count + 1))
    case 1: if !d.isEmpty { let i = r.below(d.count); d[d.startIndex + i] = UInt8(truncatingIfNeeded: r.next()) }
    case 2: let i = r.below(d.count + 1); d.insert(contentsOf: Data(r.pick(["[", "]", "{", "}", ",", ":", "\"", "-", "9", "e", "\\", "\u{0}"]).utf8), at: d.startIndex + i)
    case 3: if d.count > 1 { let a = r.below(d.count); d.removeSubrange(d.startIndex + a..<d.startIndex + a + 1 + r.below(min(16, d.count - a))) }
    default: d = Data(String(repeating: r.pick(["[", "{\"paths\":", "[[", "{\"a\":"]), count: r.pick([10, 1_000, 100_000])).utf8)
    }
    return d
}
