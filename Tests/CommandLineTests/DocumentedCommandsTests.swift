import Foundation
import Testing
import TestSupport

/// Every shell command the README and the demo show, run as a newcomer would copy it: each must exit 0.
///
/// They run in a temporary copy of the package's layout (links to `Fixtures/` and `../shared`, an empty
/// `Output/`), so everything they write goes to a temporary folder; `$bin` is the built `hydrasim`. The whole list takes a few minutes (training commands included), so it runs when
/// `HYDRASIM_LONG_TESTS=1` (CI sets it); the extraction and the failure report are checked every time.
@Suite("Documented commands")
struct DocumentedCommandsTests {
    /// One command found in a document, with where it came from.
    struct Command: Equatable {
        var source: String
        var line: Int
        var text: String
    }

    /// The commands of the fenced `sh` blocks of a Markdown text: comment lines, blank lines, `swift build`,
    /// `bin=...` and the two top-level scripts (`bash scripts/...`) are left out; `\` continuations are joined.
    static func commands(markdown: String, source: String) -> [Command] {
        var result: [Command] = []
        var inShell = false
        var pending: (line: Int, text: String)?
        for (i, raw) in markdown.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                inShell = !inShell && (line == "```sh" || line == "```bash" || line == "```shell")
                continue
            }
            guard inShell else { continue }
            var text = (pending?.text ?? "") + line
            let start = pending?.line ?? i + 1
            if text.hasSuffix("\\") {
                text.removeLast()
                pending = (start, text.trimmingCharacters(in: .whitespaces) + " ")
                continue
            }
            pending = nil
            if text.isEmpty || text.hasPrefix("#") || text.hasPrefix("swift build") || text.hasPrefix("bin=") || text.hasPrefix("bash scripts/") {
                continue
            }
            result.append(Command(source: source, line: start, text: text))
        }
        return result
    }

    /// The `"$bin" ...` lines of the demo script.
    static func commands(script: String, source: String) -> [Command] {
        script.components(separatedBy: "\n").enumerated().compactMap { i, raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            return line.hasPrefix("\"$bin\"") ? Command(source: source, line: i + 1, text: line) : nil
        }
    }

    /// A sandbox that looks like the package to a command: `<folder>/hydrasim/` holds a link to the real
    /// `Fixtures/` and an empty `Output/`, and `<folder>/shared` links to the real `../shared`, so relative
    /// paths in the documents work and everything a command writes stays in `folder`.
    static func sandbox(_ folder: URL) throws -> URL {
        let fm = FileManager.default
        let package = folder.appendingPathComponent("hydrasim")
        try fm.createDirectory(at: package.appendingPathComponent("Output"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: package.appendingPathComponent("Fixtures"), withDestinationURL: PackagePaths.fixtures)
        try fm.createSymbolicLink(at: folder.appendingPathComponent("shared"), withDestinationURL: PackagePaths.shared)
        // The tool under a path without spaces: the README writes `$bin` unquoted, as a user's `bin=.build/release/hydrasim` allows.
        try fm.createSymbolicLink(at: package.appendingPathComponent("hydrasim-bin"), withDestinationURL: URL(fileURLWithPath: CommandLineTests.executable))
        return package
    }

    /// Runs `command` with bash in `package` (a `sandbox`), `bin` set to the built tool and the demo's `$out` under
    /// `Output/`. Returns the exit status, the last lines of standard error and the time taken.
    static func run(_ command: Command, in package: URL) throws -> (status: Int32, stderr: String, seconds: Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "set -o pipefail; \(command.text)"]
        process.currentDirectoryURL = package
        var environment = ProcessInfo.processInfo.environment
        environment["bin"] = package.appendingPathComponent("hydrasim-bin").path
        environment["out"] = "Output/demo"
        environment["house"] = "Fixtures/models/house"
        environment["HYDRASIM_FIXTURES"] = nil
        process.environment = environment
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        let start = ContinuousClock.now
        try process.run()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let tail = String(decoding: errors, as: UTF8.self).split(separator: "\n").suffix(3).joined(separator: " | ")
        let elapsed = ContinuousClock.now - start
        return (process.terminationStatus, tail, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    static var readme: [Command] {
        let text = (try? String(contentsOf: PackagePaths.root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
        return commands(markdown: text, source: "README.md")
    }

    static var demo: [Command] {
        let text = (try? String(contentsOf: PackagePaths.root.appendingPathComponent("scripts/demo.sh"), encoding: .utf8)) ?? ""
        return commands(script: text, source: "scripts/demo.sh")
    }

    @Test("the README and the demo show commands, and the extraction finds them")
    func extraction() throws {
        let readme = Self.readme
        #expect(readme.count >= 30, "only \(readme.count) README commands found")
        #expect(readme.contains { $0.text.hasPrefix("$bin trace --prompt") })
        #expect(!readme.contains { $0.text.contains("scripts/test.sh") || $0.text.hasPrefix("#") })
        #expect(Self.demo.count >= 4)
        let sample = "text\n```sh\n# a comment\n$bin generate \\\n  --prompt hi\nswift build\n```\n```\nnot shell\n```\n"
        #expect(Self.commands(markdown: sample, source: "x") == [Command(source: "x", line: 4, text: "$bin generate --prompt hi")])
    }

    @Test("a mistyped command is reported with its file, line and error")
    func mistypedFails() throws {
        let folder = PackagePaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let broken = Self.commands(markdown: "```sh\n$bin generat --prompt \"ROMEO:\"\n```\n", source: "broken.md")
        #expect(broken.count == 1)
        let result = try Self.run(broken[0], in: try Self.sandbox(folder))
        #expect(result.status != 0)
        #expect(!result.stderr.isEmpty)
    }

    @Test("every README and demo command exits 0", .enabled(if: ProcessInfo.processInfo.environment["HYDRASIM_LONG_TESTS"] == "1"))
    func everyCommandRuns() throws {
        let folder = PackagePaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let package = try Self.sandbox(folder)
        var failures: [String] = []
        var seconds = 0.0
        var times: [(Double, String)] = []
        let all = Self.readme + Self.demo
        for command in all {
            let result = try Self.run(command, in: package)
            seconds += result.seconds
            times.append((result.seconds, command.text))
            if result.status != 0 {
                failures.append("\(command.source):\(command.line): `\(command.text)` exited \(result.status): \(result.stderr)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(all.count) documented commands failed:\n\(failures.joined(separator: "\n"))")
        print("documented commands: \(all.count) run (\(Self.readme.count) from README.md, \(Self.demo.count) from scripts/demo.sh), \(failures.count) failed, \(Int(seconds)) s; slowest: "
              + times.sorted { $0.0 > $1.0 }.prefix(5).map { String(format: "%.0f s `%@`", $0.0, $0.1) }.joined(separator: ", "))
    }
}
