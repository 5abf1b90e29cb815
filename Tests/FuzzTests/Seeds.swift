import Foundation
import DraftHeads
import LanguageModel
import Numerics
import Speculation
import TestSupport

/// Valid files the fuzzer mutates: tiny in-memory models (fast to load, so most cases exercise the checks rather
/// than the copying) and the shipped fixtures. Nothing here traps when a fixture is missing: `FuzzSeeds.problem`
/// says what is missing and the tests record it as a failure.
enum FuzzSeeds {
    /// The package root and the shipped fixtures, found as every test finds them.
    static let root = PackagePaths.root
    static let fixtures = PackagePaths.fixtures
    static let corpus = root.appendingPathComponent("Tests/FuzzCorpus")

    static func fixture(_ path: String) -> Data? { FileManager.default.contents(atPath: fixtures.appendingPathComponent(path).path) }

    /// The shipped files the seeds need, or a sentence naming the first one missing.
    static var problem: String? {
        for path in ["models/stories260K/model.bin", "models/house/tokenizer.bin", "trees/mc_sim_7b_63.json"] where fixture(path) == nil {
            return "missing fixture Fixtures/\(path)"
        }
        return nil
    }

    /// A tiny tied model (16 tokens, context 32) and an untied one.
    static let tinyConfig = ModelConfig(dim: 8, hiddenDim: 16, layers: 1, heads: 2, kvHeads: 1, vocabularySize: 16, maxSequenceLength: 32)
    static let tiny = TransformerWeights(random: tinyConfig, seed: 7)
    static let tinyUntied: TransformerWeights = {
        var config = tinyConfig
        config.sharedClassifier = false
        config.layers = 2
        return TransformerWeights(random: config, seed: 8)
    }()
    static let tinyModel = Transformer(weights: tiny)

    /// Tiny heads of every kind for `tiny` (3 heads, so the teaching trees fit), perturbed so that proposals vary.
    static let tinyHeads: [DraftHeadKind: DraftHeadSet] = {
        var out: [DraftHeadKind: DraftHeadSet] = [:]
        for kind in DraftHeadKind.allCases {
            let set = DraftHeadSet(kind: kind, heads: 3, blocks: kind == .hydraPlusPlus ? 2 : 1, base: tiny, prefixAttention: kind == .hydraPlusPlus)
            var rng = XorShiftRandom(seed: 11)
            for (name, t) in set.namedTensors where !name.contains("rms_") { for i in 0..<t.count { t[i] += 0.3 * rng.nextGaussian() } }
            out[kind] = set
        }
        return out
    }()

    /// Checkpoint seeds with their name.
    static var checkpoints: [(name: String, data: Data)] {
        var list = [("tiny", Checkpoint.encode(tiny)), ("tiny-untied", Checkpoint.encode(tinyUntied))]
        if let stories = fixture("models/stories260K/model.bin") { list.append(("stories260K", stories)) }
        return list
    }

    /// Offsets where a checkpoint's sections start (header fields, each tensor, the RoPE tables, the end).
    static func checkpointBoundaries(_ data: Data) -> [Int] {
        guard let weights = try? Checkpoint.read(data: data, path: "seed") else { return [0, data.count] }
        var offsets = Array(stride(from: 0, through: Checkpoint.headerSize, by: 4))
        var offset = Checkpoint.headerSize
        for (name, t) in weights.namedTensors where name != "wcls" { offset += 4 * t.count; offsets.append(offset) }
        offset += 4 * Checkpoint.ropeTableCount(weights.config)
        offsets.append(offset)
        offsets.append(data.count)
        return offsets
    }

    static let tokenizer: Data? = fixture("models/house/tokenizer.bin")

    /// Offsets of every token record in a tokenizer file and of each record's length field.
    static func tokenizerLayout(_ data: Data) -> (records: [Int], lengthFields: [Int]) {
        var records: [Int] = [], lengths: [Int] = []
        var offset = 4
        while offset + 8 <= data.count {
            records.append(offset)
            lengths.append(offset + 4)
            offset += 8 + Int(max(0, data.int32(at: offset + 4)))
        }
        records.append(data.count)
        return (records, lengths)
    }

    static var heads: [(name: String, data: Data)] {
        DraftHeadKind.allCases.compactMap { kind in (try? DraftHeadsFile.encode(tinyHeads[kind]!)).map { ("tiny-\(kind.rawValue)", $0) } }
    }

    /// Tree files: the shipped ones and the teaching presets.
    static var trees: [(name: String, data: Data)] {
        var list: [(String, Data)] = []
        let folder = fixtures.appendingPathComponent("trees").path
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() where file.hasSuffix(".json") {
            if let data = FileManager.default.contents(atPath: folder + "/" + file) { list.append((file, data)) }
        }
        for name in CandidateTree.teaching.keys.sorted() {
            list.append((name, try! JSONSerialization.data(withJSONObject: CandidateTree.teaching[name]!)))
        }
        list.append(("object-form", Data(#"{"paths": [[0], [1], [0, 0]]}"#.utf8)))
        return list
    }

    /// Traces of the tiny model with each head kind (texts from the house tokenizer, whose first ids are bytes).
    static var traces: [(name: String, data: Data)] {
        guard let tokenizerData = tokenizer, let tokenizer = try? BPETokenizer(data: tokenizerData, path: "tokenizer.bin") else { return [] }
        var list: [(String, Data)] = []
        for (kind, treeName) in [(DraftHeadKind.medusa, "binary-3"), (.hydra, "broom-3"), (.hydraPlusPlus, "fork-2x2")] {
            guard let tree = try? CandidateTree.load(treeName, presetFolder: nil),
                  let decoder = try? SpeculativeDecoder(model: tinyModel, heads: tinyHeads[kind]!, tree: tree, rule: .greedy, seed: 1),
                  let result = try? decoder.generate(prompt: [1, 5], maxTokens: 6) else { continue }
            let settings = TraceSettings(model: "tiny.bin", modelFingerprint: "0", heads: "\(kind.rawValue).heads", headsKind: kind.rawValue,
                                         tree: treeName, treeNodes: tree.nodeCount, rule: .greedy, seed: 1, maxTokens: 6)
            let trace = DecodingTrace(decoder: kind.rawValue, settings: settings, prompt: "x", promptTokens: [1, 5], result: result,
                                      tokenizer: tokenizer, timings: false)
            if let data = try? trace.encoded() { list.append((kind.rawValue, data)) }
        }
        return list
    }
}
