import Foundation
import LanguageModel
import Numerics
import TestSupport

/// Paths and helpers shared by the tests: the package root, the shipped fixtures, the numpy reference.
enum TestPaths {
    /// The package root (this file is `<root>/Tests/LanguageModelTests/Support.swift`).
    static let root = PackagePaths.root
    static let shared = PackagePaths.shared
    static let fixtures = PackagePaths.fixtures
    /// The shipped copy of llama2.c's stories260K (byte-identical to `../shared/models/stories260K.bin`).
    static let stories260K = PackagePaths.fixture("models/stories260K/model.bin")
    static let corpus = PackagePaths.fixture("data/tinyshakespeare.txt")
    static let referenceScript = root.appendingPathComponent("Tests/Reference/llama_reference.py").path

    /// A fresh temporary folder for one test.
    static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hydrasim-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Runs the independent numpy reference (`Tests/Reference/llama_reference.py`).
enum NumpyReference {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Runs the script with `arguments`; returns standard output, throws with standard error on failure.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPaths.referenceScript] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "reference \(arguments.first ?? "") failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Writes a random checkpoint with the reference's own writer.
    static func randomCheckpoint(dim: Int, hidden: Int, layers: Int, heads: Int, kvHeads: Int, vocab: Int, seqLen: Int,
                                 untied: Bool, seed: Int, in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("random-\(seed).bin").path
        var args = ["random", "--dim", "\(dim)", "--hidden", "\(hidden)", "--layers", "\(layers)", "--heads", "\(heads)",
                    "--kv-heads", "\(kvHeads)", "--vocab", "\(vocab)", "--seq-len", "\(seqLen)", "--seed", "\(seed)", "--out", path]
        if untied { args.append("--untied") }
        try run(args)
        return path
    }

    /// Reference logits `(T, V)` and final hidden states `(T, D)` for every position of `tokens`.
    static func logits(checkpoint: String, tokens: [Int], folder: URL) throws -> (logits: [Double], hidden: [Double]) {
        let logitsPath = folder.appendingPathComponent("logits.f64").path
        let hiddenPath = folder.appendingPathComponent("hidden.f64").path
        try run(["logits", "--checkpoint", checkpoint, "--tokens", tokens.map(String.init).joined(separator: " "),
                 "--out", logitsPath, "--hidden-out", hiddenPath])
        return (try readDoubles(logitsPath), try readDoubles(hiddenPath))
    }

    /// Reference greedy ids after `prompt`.
    static func greedy(checkpoint: String, prompt: [Int], steps: Int) throws -> [Int] {
        let out = try run(["greedy", "--checkpoint", checkpoint, "--prompt", prompt.map(String.init).joined(separator: " "),
                           "--steps", "\(steps)"])
        return out.split(whereSeparator: \.isWhitespace).map { Int($0)! }
    }

    static func readDoubles(_ path: String) throws -> [Double] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
    }
}

/// Runs `tokens` one at a time on a fresh state; returns every position's logits and hidden states.
func sequentialForward(_ model: Transformer, tokens: [Int], state: InferenceState? = nil) -> (logits: [[Float]], hidden: [[Float]]) {
    let s = state ?? model.makeState()
    var logits: [[Float]] = [], hidden: [[Float]] = []
    for t in tokens {
        logits.append(Array(model.forward(token: t, state: s)))
        hidden.append(s.hidden.array)
    }
    return (logits, hidden)
}

/// The largest absolute difference between two equally long sequences.
func maxAbsDiff<A: Collection, B: Collection>(_ a: A, _ b: B) -> Double where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
    precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs(Double($1.0) - Double($1.1))) }
}

/// A fixture loaded once, on first use. A missing or broken file fails the tests that use it, with the loader's
/// one-line error, instead of trapping in a static initializer (which would end the whole test run).
final class Loaded<Value>: @unchecked Sendable {
    private let result: Result<Value, any Error>
    init(_ load: () throws -> Value) { result = Result { try load() } }
    /// The value, or the error that loading it threw.
    func get() throws -> Value { try result.get() }
}
