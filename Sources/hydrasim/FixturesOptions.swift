import Foundation
import LanguageModel

extension Fixtures {
    /// A base-model folder (model.bin + tokenizer.bin): `base` when given, else the shipped house model.
    static func baseFolder(_ base: String?) throws -> String {
        if let base { return base }
        guard let root, FileManager.default.fileExists(atPath: "\(root)/models/house/model.bin") else {
            throw CLIError("no --base given and no shipped house model found (Fixtures/models/house/model.bin)")
        }
        return "\(root)/models/house"
    }

    /// A corpus: `corpus` when given, else the shipped Tiny Shakespeare.
    static func corpus(_ corpus: String?) throws -> String {
        if let corpus { return corpus }
        guard let root else { throw CLIError("no --corpus given and no shipped corpus found (Fixtures/data/tinyshakespeare.txt)") }
        return "\(root)/data/tinyshakespeare.txt"
    }
}
