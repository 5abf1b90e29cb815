import Foundation

/// Finds the shipped `Fixtures/` folder (models, tokenizers) without needing `../shared`.
///
/// Looked for, in order: `$HYDRASIM_FIXTURES`, then `Fixtures/` in the current folder and
/// its parents, then next to the executable and its parents (`.build/release/hydrasim`
/// lives two levels below the package).
enum Fixtures {
    static var root: String? {
        if let env = ProcessInfo.processInfo.environment["HYDRASIM_FIXTURES"], !env.isEmpty { return env }
        let fm = FileManager.default
        var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        starts.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<6 {
                let candidate = dir.appendingPathComponent("Fixtures/models")
                if fm.fileExists(atPath: candidate.path) { return dir.appendingPathComponent("Fixtures").path }
                dir.deleteLastPathComponent()
            }
        }
        return nil
    }

    /// Shipped models, most preferred first: the house model once trained, then stories260K.
    static let defaultModels = ["models/house/model.bin", "models/stories260K/model.bin"]

    /// The default checkpoint: the first shipped model that exists.
    static var defaultCheckpoint: String? {
        guard let root else { return nil }
        return defaultModels.map { "\(root)/\($0)" }.first { FileManager.default.fileExists(atPath: $0) }
    }

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
