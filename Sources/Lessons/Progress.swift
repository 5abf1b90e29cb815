import Foundation
import LanguageModel

/// A learner's progress: per exercise, solved or revealed, hints taken and attempts.
public struct Progress: Codable, Equatable, Sendable {
    /// One exercise's record.
    public struct Entry: Codable, Equatable, Sendable {
        /// Checked correct at least once.
        public var solved = false
        /// Its answer was shown with `reveal`.
        public var revealed = false
        /// Hints taken so far.
        public var hints = 0
        /// Answers checked (correct or not; malformed ones are not counted).
        public var attempts = 0
        public init() {}
    }

    public var formatVersion = 1
    /// Records by exercise id.
    public var exercises: [String: Entry] = [:]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", exercises
    }

    public init() {}

    /// The entry of an exercise (empty when never touched).
    public subscript(id: String) -> Entry {
        get { exercises[id] ?? Entry() }
        set { exercises[id] = newValue }
    }
}

/// Where progress is kept: `progress.json` under `$HYDRASIM_HOME`, else `$XDG_STATE_HOME/hydrasim/`, else
/// `~/.local/state/hydrasim/`. Written atomically; a corrupted file is renamed aside (`progress.json.corrupt`) and
/// reported, and progress starts again.
public struct ProgressStore {
    public let path: String

    public init(path: String) { self.path = path }

    /// The store at the standard place for `environment`.
    public static func standard(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ProgressStore {
        let folder: String
        if let home = environment["HYDRASIM_HOME"], !home.isEmpty { folder = home }
        else if let state = environment["XDG_STATE_HOME"], !state.isEmpty { folder = state + "/hydrasim" }
        else { folder = (environment["HOME"] ?? NSTemporaryDirectory()) + "/.local/state/hydrasim" }
        return ProgressStore(path: folder + "/progress.json")
    }

    /// The progress, and a warning line when the file was corrupted and set aside.
    public func load() -> (Progress, warning: String?) {
        guard let data = FileManager.default.contents(atPath: path) else { return (Progress(), nil) }
        if let p = try? JSONDecoder().decode(Progress.self, from: data), p.formatVersion == 1 { return (p, nil) }
        let aside = path + ".corrupt"
        try? FileManager.default.removeItem(atPath: aside)
        let moved = (try? FileManager.default.moveItem(atPath: path, toPath: aside)) != nil
        return (Progress(), "warning: \(path) is not a progress file; \(moved ? "set aside as \(aside)" : "ignored"), starting afresh")
    }

    /// Writes `progress` atomically (creating the folder).
    public func save(_ progress: Progress) throws {
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(progress), to: path)
    }

    /// Forgets all progress.
    public func reset() throws {
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }
}
