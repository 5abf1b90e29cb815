import Foundation
import DraftHeads
import LanguageModel
import Numerics
import Speculation
import Visualization

/// What a stepping session runs on: a base model, its tokenizer, and how decoder descriptions become drafters.
///
/// The shipped house model with its heads is one workbench (`Workbench(transformer:...)`); a hand-made toy model is
/// another: both drive the same `DecodingSession` and the same interpreter.
public final class Workbench {
    public let model: any DecodingModel
    public let tokenizer: any Tokenizer
    /// The model's file name (for traces and `show settings`).
    public let modelName: String
    /// The model's fingerprint (traces record it).
    public let fingerprint: String
    /// Token embeddings `(V, D)` that Hydra heads read (nil for models without any, such as toys).
    public let embedding: Tensor?
    /// Parameters of the base model (the cost model).
    public let parameterCount: Int
    /// Trees offered by tab completion and `help set`.
    public let treeNames: [String]
    private let makeDrafter: (DecoderSpec) throws -> Drafter

    public init(model: any DecodingModel, tokenizer: any Tokenizer, modelName: String, fingerprint: String, embedding: Tensor?,
                parameterCount: Int, treeNames: [String], makeDrafter: @escaping (DecoderSpec) throws -> Drafter) {
        self.model = model
        self.tokenizer = tokenizer
        self.modelName = modelName
        self.fingerprint = fingerprint
        self.embedding = embedding
        self.parameterCount = parameterCount
        self.treeNames = treeNames
        self.makeDrafter = makeDrafter
    }

    /// A workbench on a llama2.c model, with heads found beside it (`<decoder>.heads`) and the shipped trees.
    public convenience init(transformer: Transformer, tokenizer: any Tokenizer, modelPath: String, treesFolder: String? = Fixtures.treesFolder) {
        let factory = DecoderFactory(weights: transformer.weights, modelFolder: URL(fileURLWithPath: modelPath).deletingLastPathComponent().path,
                                     treesFolder: treesFolder)
        let shipped = treesFolder.flatMap { CandidateTree.shippedNames(in: $0) } ?? []
        self.init(model: transformer, tokenizer: tokenizer, modelName: URL(fileURLWithPath: modelPath).lastPathComponent,
                  fingerprint: Fingerprint.of(transformer.weights), embedding: transformer.weights.tokenEmbedding,
                  parameterCount: transformer.config.parameterCount,
                  treeNames: shipped + CandidateTree.teaching.keys.sorted() + ["chain-3", "dynamic:16", "dynamic:24:4"]) { spec in
            try factory.make(spec)
        }
    }

    /// A runnable drafter for `spec`.
    public func drafter(_ spec: DecoderSpec) throws -> Drafter { try makeDrafter(spec) }

    /// Prompt ids for `text` (BOS first).
    public func encode(_ text: String) -> [Int] { tokenizer.encode(text, bos: true, eos: false) }

    /// A token's text as the pictures show it (escaped, in quotes).
    public func quoted(_ token: Int) -> String {
        guard token >= 0 && token < tokenizer.vocabularySize else { return "#\(token)" }
        return TokenText.quoted(tokenizer.pieceText(token))
    }
}
