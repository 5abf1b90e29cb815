import Foundation
import LanguageModel

/// The one way tests find files: the package root from this file's path, the shipped data through the
/// product's own `Fixtures` lookup, and `../shared` (beside the package) only for what does not ship.
/// Nothing here depends on the name of the folder the package was cloned into.
public enum PackagePaths {
    /// The package root (this file is `<root>/Tests/TestSupport/PackagePaths.swift`).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The shipped `Fixtures` folder, found as the product finds it (from the package root).
    public static let fixtures: URL = {
        guard let path = Fixtures.root(searchingFrom: [root]) else { return root.appendingPathComponent("Fixtures") }
        return URL(fileURLWithPath: path)
    }()
    /// `../shared`: the reference checkpoint, corpus and data the tests compare against (not shipped).
    public static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

    /// A file under `Fixtures/` (e.g. `models/house/model.bin`).
    public static func fixture(_ relative: String) -> String { fixtures.appendingPathComponent(relative).path }
    /// A file under `../shared/` (e.g. `reference/medusa_head_accuracy.csv`).
    public static func sharedFile(_ relative: String) -> String { shared.appendingPathComponent(relative).path }
    /// The shipped trees folder.
    public static var trees: String { fixture("trees") }

    /// A fresh temporary folder for one test.
    public static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hydrasim-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
