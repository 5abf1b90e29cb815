import Foundation
import Testing
import DraftHeads
import LanguageModel
import Numerics
import Speculation
import Visualization

/// Every loader, fed mutated valid files: no trap, no hang, every rejection one line naming the file; whatever is
/// accepted also runs (a model decodes a token, heads draft a step, a trace draws). Seeded: the same cases every run.
@Suite("Fuzzing the loaders", .serialized)
struct LoaderFuzzTests {
    init() throws {
        if let problem = FuzzSeeds.problem { throw FuzzFailure(problem) }
    }

    struct FuzzFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    @Test("llama2.c checkpoints: truncations at every boundary, header fields, NaN/Inf weights, flipped bytes")
    func checkpoints() throws {
        let seeds = FuzzSeeds.checkpoints
        let layouts = seeds.map { FuzzSeeds.checkpointBoundaries($0.data) }
        let stats = fuzz("checkpoint", cases: FuzzSettings.cases(default: 1000), seed: 1, name: "fuzz.bin") { index, r -> Data in
            // Mostly the tiny seeds; stories260K (1 MB) in one case of 16.
            let s = index % 16 == 15 ? seeds.count - 1 : index % 2
            let seed = seeds[s].data, bounds = layouts[s]
            // The first cases walk every boundary (and one byte either side) of each seed, in order.
            let walk = bounds.flatMap { [$0 - 1, $0, $0 + 1] }.filter { $0 >= 0 && $0 <= seed.count }
            if index < 2 * walk.count, index % 2 == 0 || s == 1 {
                return seed.prefix(walk[(index / 2) % walk.count])
            }
            return mutateBytes(seed, boundaries: bounds, int32Fields: Array(stride(from: 0, to: 28, by: 4)),
                               floatRange: Checkpoint.headerSize..<seed.count, random: &r)
        } check: { data in
            let weights = try Checkpoint.read(data: data, path: "fuzz.bin")
            // What loads must run: one token through the model.
            if weights.config.parameterCount < 2_000_000 && weights.config.maxSequenceLength <= 4096 {
                let model = Transformer(weights: weights)
                let state = model.makeState()
                _ = model.forward(token: min(1, weights.config.vocabularySize - 1), state: state)
            }
        }
        #expect(stats.rejected > 0 && stats.accepted > 0)
    }

    @Test("tokenizer.bin: max_token_length, record lengths, NaN scores, truncated records, flipped bytes")
    func tokenizers() throws {
        let seed = try #require(FuzzSeeds.tokenizer)
        let layout = FuzzSeeds.tokenizerLayout(seed)
        let stats = fuzz("tokenizer", cases: FuzzSettings.cases(default: 1000), seed: 2, name: "fuzz-tokenizer.bin") { index, r -> (Data, Int?) in
            let expected: Int? = r.chance(0.2) ? 1024 : nil
            let fields = [0] + (0..<8).map { _ in r.pick(layout.lengthFields) }
            var data = mutateBytes(seed, boundaries: layout.records, int32Fields: fields, floatRange: nil, random: &r)
            if r.chance(0.15) {   // a score to NaN or infinity
                data.setFloat(r.pick(interestingFloats), at: r.pick(layout.records.dropLast()))
            }
            return (data, expected)
        } check: { data, expected in
            let tokenizer = try BPETokenizer(data: data, path: "fuzz-tokenizer.bin", expectedVocabularySize: expected)
            let ids = tokenizer.encode("Hello, world!\n ÿ€ \u{0} x", bos: true, eos: true)
            _ = tokenizer.decode(ids)
            for id in ids { _ = tokenizer.pieceText(id) }
        }
        #expect(stats.rejected > 0 && stats.accepted > 0)
    }

    @Test("heads files: magic, version, JSON header (wrong types, zeros, huge sizes, prefix layer), tensors")
    func headsFiles() throws {
        let seeds = FuzzSeeds.heads
        #expect(seeds.count == 3)
        let stats = fuzz("heads", cases: FuzzSettings.cases(default: 1000), seed: 3, name: "fuzz.heads") { index, r -> (Data, Bool) in
            let seed = seeds[index % seeds.count].data
            let n = Int(seed.int32(at: 8))
            var data: Data
            if r.chance(0.5) {
                // Mutate the JSON header and keep the length field consistent with it.
                let json = mutateJSON(seed.subdata(in: 12..<12 + n), random: &r)
                data = seed.prefix(8)
                withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
                data.append(json)
                data.append(seed.suffix(from: 12 + n))
            } else {
                data = mutateBytes(seed, boundaries: [0, 4, 8, 12, 12 + n, seed.count], int32Fields: [0, 4, 8],
                                   floatRange: 12 + n..<seed.count, random: &r)
            }
            return (data, r.chance(0.5))
        } check: { data, withBase in
            let set = try DraftHeadsFile.read(data: data, path: "fuzz.heads", base: withBase ? FuzzSeeds.tiny : nil)
            // What loads for the tiny base must draft and verify a step.
            if withBase && set.config.prefix.map({ $0.maxSequenceLength <= 4096 }) ?? true {
                let decoder = try SpeculativeDecoder(model: FuzzSeeds.tinyModel, heads: set, proposer: try TreeProposer(
                    heads: set, tree: try .chain(min(set.config.heads, 3)), embedding: FuzzSeeds.tiny.tokenEmbedding))
                _ = try decoder.generate(prompt: [1, 3], maxTokens: 3)
            }
        }
        #expect(stats.rejected > 0 && stats.accepted > 0)
    }

    @Test("tree files: huge ranks and arrays, deep nesting, wrong JSON types, broken text")
    func treeFiles() throws {
        let seeds = FuzzSeeds.trees
        let heads = FuzzSeeds.tinyHeads[.hydra]!
        let stats = fuzz("tree", cases: FuzzSettings.cases(default: 1000), seed: 4, name: "fuzz-tree.json") { index, r -> (Data, Int?) in
            (mutateJSON(seeds[index % seeds.count].data, random: &r), r.chance(0.3) ? r.below(5) : nil)
        } check: { data, maxDepth in
            let tree = try CandidateTree.parse(data: data, name: "fuzz-tree.json", maxDepth: maxDepth)
            _ = tree.attentionMask.count + tree.retrieveIndices.count + tree.nodesPerDepth.count
            // A tree that fits the heads must draft (ranks beyond the vocabulary are refused by the proposer).
            do {
                let proposer = try TreeProposer(heads: heads, tree: tree, embedding: FuzzSeeds.tiny.tokenEmbedding)
                if tree.nodeCount <= 128 {
                    _ = try SpeculativeDecoder(model: FuzzSeeds.tinyModel, heads: heads, proposer: proposer).generate(prompt: [1], maxTokens: 2)
                }
            } catch let error as TreeError {
                throw TreeError("fuzz-tree.json: \(error.problem)")
            }
        }
        #expect(stats.rejected > 0 && stats.accepted > 0)
    }

    @Test("trace files as `diagram` reads them: wrong types, bad indices, deep nesting; accepted traces draw")
    func traceFiles() throws {
        let seeds = FuzzSeeds.traces
        #expect(seeds.count == 3)
        var rendered = 0
        let stats = fuzz("trace", cases: FuzzSettings.cases(default: 1000), seed: 5, name: "fuzz.trace.json") { index, r -> Data in
            mutateJSON(seeds[index % seeds.count].data, random: &r)
        } check: { data in
            let view = TraceView(try DecodingTrace.read(data: data, path: "fuzz.trace.json"))
            for number in 1...max(1, min(view.stepCount, 4)) {
                guard let step = try? view.step(number) else { continue }
                let dot = StepDiagram.dot(step)
                _ = ContrastDiagram.dot(step, step)
                if step.nodes.count <= 256 { _ = MaskDiagram.dot(step) }
                _ = TextTrace(color: false, width: 80).step(step)
                // Graphviz must accept every drawing of an accepted trace (escaping); rendering is slow, so sample.
                if rendered < 40 && (view.trace.tokens.count + number) % 7 == 3 {
                    rendered += 1
                    do { _ = try GraphvizRenderer.shared.render(dot, format: .svg) } catch {
                        Issue.record("Graphviz refused the diagram of an accepted trace: \(error)")
                    }
                }
            }
        }
        #expect(stats.rejected > 0 && stats.accepted > 0)
    }

    @Test("the regression corpus: every kept case is refused with one line naming the file, or loads")
    func regressionCorpus() throws {
        let folder = FuzzSeeds.corpus.path
        let formats = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted()
        #expect(Set(formats).isSuperset(of: ["checkpoint", "heads", "tokenizer", "trace", "tree"]))
        var count = 0
        for format in formats {
            for file in try FileManager.default.contentsOfDirectory(atPath: "\(folder)/\(format)").sorted() {
                let path = "\(folder)/\(format)/\(file)"
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                count += 1
                do {
                    switch format {
                    case "checkpoint": _ = try Checkpoint.read(data: data, path: path)
                    case "tokenizer": _ = try BPETokenizer(data: data, path: path)
                    case "heads": _ = try DraftHeadsFile.read(data: data, path: path, base: FuzzSeeds.tiny)
                    case "tree":
                        let tree = try CandidateTree.parse(data: data, name: path)
                        do { _ = try TreeProposer(heads: FuzzSeeds.tinyHeads[.hydra]!, tree: tree, embedding: FuzzSeeds.tiny.tokenEmbedding) } catch let e as TreeError {
                            throw TreeError("\(path): \(e.problem)")
                        }
                    case "trace": _ = try DecodingTrace.read(data: data, path: path)
                    default: Issue.record("unknown corpus folder \(format)")
                    }
                    #expect(file.hasPrefix("ok-"), "\(path) was accepted; only ok-* cases should be")
                } catch {
                    let message = "\(error)"
                    print("corpus \(format)/\(file): " + message.replacingOccurrences(of: folder + "/", with: ""))
                    #expect(!file.hasPrefix("ok-"), "\(path): \(message)")
                    #expect(message.hasPrefix(path + ": ") && !message.contains("\n"), "\(path): \(message)")
                }
            }
        }
        #expect(count >= 10)
    }
}
