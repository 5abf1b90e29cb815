import Foundation
import Testing
import Numerics
import Speculation

@Suite("Decoder descriptions")
struct DecoderSpecTests {
    @Test("a spec round-trips through JSON; one written before head precisions existed reads as f16")
    func codable() throws {
        let spec = DecoderSpec(decoder: .hydraPlusPlus, tree: "chain-2", headPrecision: .single)
        let data = try JSONEncoder().encode(spec)
        #expect(try JSONDecoder().decode(DecoderSpec.self, from: data) == spec)
        let old = #"{"decoder":"hydra","tree":"fork-2x2","topP":1,"eps":0.09,"delta":0.3}"#
        let read = try JSONDecoder().decode(DecoderSpec.self, from: Data(old.utf8))
        #expect(read == DecoderSpec(decoder: .hydra, tree: "fork-2x2"))
        #expect(read.headPrecision == .half)
        #expect(spec.description == "hydra++ · chain-2 · greedy · f32 heads")
        #expect(read.description == "hydra · fork-2x2 · greedy")
    }
}
