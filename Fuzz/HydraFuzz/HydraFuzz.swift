// Coverage-guided fuzzing of HydraSim's loaders with libFuzzer (a developer run, not part of CI).
//
// Built only when HYDRASIM_LIBFUZZER=1 (see Package.swift and scripts/libfuzzer.sh):
//   HYDRASIM_LIBFUZZER=1 swift build -c release --product HydraFuzz --scratch-path .build-fuzz \
//     -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -use-ld=lld
//   HYDRASIM_FUZZ_TARGET=checkpoint .build-fuzz/release/HydraFuzz -max_total_time=60 CORPUS_DIR
// HYDRASIM_FUZZ_TARGET picks the loader: checkpoint, tokenizer, heads, tree or trace. A Swift runtime trap
// shows up as a libFuzzer crash ("deadly signal") and the input is saved as crash-<sha1>.
import Foundation
import DraftHeads
import LanguageModel
import Speculation
import Visualization

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// Which loader this run fuzzes.
nonisolated(unsafe) let target = ProcessInfo.processInfo.environment["HYDRASIM_FUZZ_TARGET"] ?? "checkpoint"

/// One input: load it; errors are the expected outcome, traps are what libFuzzer hunts.
func fuzzOne(_ data: Data) {
    switch target {
    case "checkpoint":
        if let weights = try? Checkpoint.read(data: data, path: "fuzz.bin"), weights.config.maxSequenceLength <= 4096,
           weights.config.parameterCount < 1_000_000 {
            let model = Transformer(weights: weights)
            _ = model.forward(token: min(1, weights.config.vocabularySize - 1), state: model.makeState())
        }
    case "tokenizer":
        if let tokenizer = try? BPETokenizer(data: data, path: "fuzz.bin") {
            _ = tokenizer.decode(tokenizer.encode("Hello, world! ÿ", bos: true, eos: true))
        }
    case "heads":
        _ = try? DraftHeadsFile.read(data: data, path: "fuzz.heads")
    case "tree":
        if let tree = try? CandidateTree.parse(data: data) { _ = tree.attentionMask.count + tree.retrieveIndices.count }
    case "trace":
        if let trace = try? DecodingTrace.read(data: data, path: "fuzz.json") {
            let view = TraceView(trace)
            for step in view.steps.prefix(4) {
                _ = StepDiagram.dot(step)
                _ = ContrastDiagram.dot(step, step)
                if step.nodes.count <= 256 { _ = MaskDiagram.dot(step) }
            }
        }
    default:
        fatalError("HYDRASIM_FUZZ_TARGET must be checkpoint, tokenizer, heads, tree or trace")
    }
}

@_cdecl("HydraFuzz_main")
public func hydraFuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
        fuzzOne(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
