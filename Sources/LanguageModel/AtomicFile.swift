import Foundation

/// Writes files so that a reader never sees a half-written one.
///
/// The bytes go to a temporary file in the destination's folder, which is then
/// renamed over the destination (rename is atomic on POSIX file systems). If
/// anything fails, the temporary file is removed and the destination is untouched.
public enum AtomicFile {
    /// Writes `data` to `path` atomically; throws `AtomicFileError` naming the path on failure.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
            throw AtomicFileError(path: path, problem: "folder \(folder.path) does not exist")
        }
        let temp = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: temp.path, contents: data) else {
            throw AtomicFileError(path: path, problem: "cannot create a file in \(folder.path)")
        }
        if rename(temp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw AtomicFileError(path: path, problem: "cannot replace the file: \(reason)")
        }
        removeStaleTemporaries(of: url)
    }

    /// Removes temporaries of `url` (`.NAME.tmp-PID...` files or folders beside it) left by writers that were
    /// killed mid-write: their process is gone.
    public static func removeStaleTemporaries(of url: URL) {
        let folder = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent).tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }
        }
    }
}

/// A file cannot be read, written or used: one line, `path: problem`.
public struct FileError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}

/// A file could not be written atomically.
public typealias AtomicFileError = FileError
