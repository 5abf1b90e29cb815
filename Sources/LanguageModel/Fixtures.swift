import Foundation

/// Finds the shipped `Fixtures/` folder (models, tokenizers, trees) without needing `../shared`.
///
/// Looked for, in order: `$HYDRASIM_FIXTURES`, then `Fixtures/` in the current folder and
/// its parents, then next to the executable and its parents (`.build/release/hydrasim`
/// lives two levels below the package). Nothing depends on the name of the folder the
/// package was cloned into. Tests use `root(searchingFrom:)` from the package root.
public enum Fixtures {
    /// The shipped `Fixtures` folder, or nil when none is found.
    public static var root: String? {
        if let env = ProcessInfo.processInfo.environment["HYDRASIM_FIXTURES"], !env.isEmpty { return env }
        let fm = FileManager.default
        let starts = [URL(fileURLWithPath: fm.currentDirectoryPath),
                      URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
        return root(searchingFrom: starts)
    }

    /// The first `Fixtures` folder (one holding `models/`) in any of `starts` or up to five of their parents.
    public static func root(searchingFrom starts: [URL]) -> String? {
        let fm = FileManager.default
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

    /// Where shipped trees live: `<Fixtures>/trees` (nil when no `Fixtures` folder was found).
    public static var treesFolder: String? { root.map { "\($0)/trees" } }

    /// Where this tool looks for the `Fixtures` folder, in words (for error messages).
    public static let searchDescription = "$HYDRASIM_FIXTURES, then Fixtures/ in the current folder, the executable's folder and their parents"

    /// Shipped models, most preferred first: the house model once trained, then stories260K.
    public static let defaultModels = ["models/house/model.bin", "models/stories260K/model.bin"]

    /// The default checkpoint: the first shipped model that exists.
    public static var defaultCheckpoint: String? {
        guard let root else { return nil }
        return defaultModels.map { "\(root)/\($0)" }.first { FileManager.default.fileExists(atPath: $0) }
    }
}
