import CAllocationCounter
import Foundation
import Testing
import TestSupport
import DraftHeads
import LanguageModel
import Numerics
import Speculation

/// Decoding steps allocate nothing on the heap beyond the step's record: drafting, verification, KV compaction and
/// Hydra++'s prefix layer run on scratch made before (grown during the warm-up steps), for every decoder, tree and rule.
///
/// Counted with `CAllocationCounter`, which sees every malloc, calloc, realloc and aligned allocation of the test's
/// thread (Linux with glibc; elsewhere, or under a sanitizer, the tests are skipped).
@Suite("Allocation-free decoding steps", .serialized)
struct AllocationTests {
    /// Allocations a step may make: its record, which the session keeps (`StepRecord.nodes`, `.acceptedPath` and
    /// `.emitted`, one array each).
    static let budget = 3
    /// Steps run before counting (the scratch buffers reach their sizes), then steps counted one by one.
    static let warmUpSteps = 2
    static let countedSteps = 10

    static let folder = PackagePaths.fixtures.appendingPathComponent("models/house")
    static let loaded = Loaded { () throws -> (Transformer, DecoderFactory, [Int]) in
        let weights = try Checkpoint.read(folder.appendingPathComponent("model.bin").path)
        let tokenizer = try BPETokenizer(contentsOf: folder.appendingPathComponent("tokenizer.bin").path,
                                         expectedVocabularySize: weights.config.vocabularySize)
        let factory = DecoderFactory(weights: weights, modelFolder: folder.path, treesFolder: PackagePaths.trees)
        return (Transformer(weights: weights), factory, tokenizer.encode("KING HENRY:", bos: true, eos: false))
    }

    static let available = hs_allocation_counting_available() != 0
    static let unavailable: Comment = "allocations are counted only on Linux with glibc, without a sanitizer"

    /// The rules every decoder runs under: greedy, typical at T 0.7, sampling at T 0.7 (whole and top-p 0.9).
    static let rules: [(name: String, rule: RuleKind, temperature: Float?, topP: Float)] = [
        ("greedy", .greedy, nil, 1), ("typical", .typical, 0.7, 1), ("sample", .sample, 0.7, 1), ("sample top-p 0.9", .sample, 0.7, 0.9),
    ]

    /// Allocations of each counted step of a session running `spec` (after the warm-up steps).
    static func countedAllocations(_ spec: DecoderSpec, seed: UInt64 = 3) throws -> [Int] {
        let (model, factory, prompt) = try loaded.get()
        let session = try DecodingSession(model: model, drafter: try factory.make(spec), prompt: prompt, seed: seed)
        for _ in 0..<warmUpSteps { try #require(try session.step() != nil, "\(spec): decoding stopped during the warm-up") }
        // Made before counting; written in place.
        var counts = [Int](repeating: -1, count: countedSteps)
        var stepped = 0
        for i in 0..<countedSteps {
            hs_allocation_counting_begin()
            let record = Result { try session.step() }
            counts[i] = hs_allocation_counting_end()
            guard try record.get() != nil else { break }
            stepped += 1
        }
        return Array(counts[..<stepped])
    }

    @Test("the counter sees an allocation on this thread and none once stopped", .enabled(if: available, unavailable))
    func counterWorks() {
        hs_allocation_counting_begin()
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 1000)
        let counted = hs_allocation_counting_end()
        buffer.deallocate()
        #expect(counted == 1)
        hs_allocation_counting_begin()
        let nothing = hs_allocation_counting_end()
        #expect(nothing == 0)
    }

    @Test("a decoding step allocates at most its record (3 arrays), for every decoder, tree and rule",
          .enabled(if: available, unavailable),
          arguments: [DecoderKind.medusa, .hydra, .hydraPlusPlus], ["chain-3", "mc_sim_7b_63", "fork-2x2", "dynamic:24"])
    func stepAllocatesOnlyItsRecord(decoder: DecoderKind, tree: String) throws {
        for rule in Self.rules {
            let spec = DecoderSpec(decoder: decoder, tree: tree, rule: rule.rule, temperature: rule.temperature, topP: rule.topP)
            let counts = try Self.countedAllocations(spec)
            #expect(counts.count >= Self.countedSteps / 2, "\(spec): only \(counts.count) steps counted")
            #expect(counts.allSatisfy { $0 <= Self.budget }, "\(spec) (\(rule.name)): allocations per step \(counts), budget \(Self.budget)")
        }
    }

    @Test("plain decoding through the session (one node per step) allocates at most its record",
          .enabled(if: available, unavailable))
    func autoregressiveStepAllocatesOnlyItsRecord() throws {
        for rule in Self.rules {
            let spec = DecoderSpec(decoder: .ar, rule: rule.rule, temperature: rule.temperature, topP: rule.topP)
            let counts = try Self.countedAllocations(spec)
            #expect(counts.count >= Self.countedSteps / 2, "\(spec): only \(counts.count) steps counted")
            #expect(counts.allSatisfy { $0 <= Self.budget }, "\(spec) (\(rule.name)): allocations per step \(counts), budget \(Self.budget)")
        }
    }
}
