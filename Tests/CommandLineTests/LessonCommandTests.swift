import Foundation
import Testing
import TestSupport

/// `hydrasim lesson` as a learner runs it: exit codes 0 / 1 / 2, one-line errors, progress in `$HYDRASIM_HOME`.
@Suite("hydrasim lesson")
struct LessonCommandTests {
    static func run(_ arguments: [String], home: URL) throws -> CommandLineTests.Result {
        try CommandLineTests.run(["lesson"] + arguments, environment: ["HYDRASIM_HOME": home.path])
    }

    @Test("check and progress report as JSON with --format json")
    func jsonOutput() throws {
        let home = CommandLineTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: home) }
        func object(_ r: CommandLineTests.Result) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        }
        let reveal = try object(try Self.run(["reveal", "mask.2", "--format", "json"], home: home))
        let answer = try #require(reveal["answer"] as? String)
        let right = try Self.run(["check", "mask.2", answer, "--format", "json"], home: home)
        let rightObject = try object(right)
        #expect(right.status == 0 && rightObject["result"] as? String == "correct")
        let bad = try Self.run(["check", "mask.2", "x", "--format", "json"], home: home)
        let badObject = try object(bad)
        #expect(bad.status == 2 && badObject["result"] as? String == "malformed")
        let progress = try object(try Self.run(["progress", "--format", "json"], home: home))
        #expect((progress["exercises"] as? Int ?? 0) >= 40)
        #expect(progress["solved"] as? Int == 1)
    }

    @Test("check exits 0, 1 or 2; unknown ids suggest the nearest; progress is kept and a corrupted file set aside")
    func exitCodes() throws {
        let home = CommandLineTests.temporaryFolder()
        let clock = ContinuousClock()
        let start = clock.now
        let right = try Self.run(["check", "hydra.2", "3"], home: home)
        let seconds = (clock.now - start) / .seconds(1)
        #expect(right.status == 0 && right.stdout.hasPrefix("correct"), "\(right.stdout) \(right.stderr)")
        let houseStart = clock.now
        let house = try Self.run(["check", "medusa.5", "5"], home: home)
        let houseSeconds = (clock.now - houseStart) / .seconds(1)
        print(String(format: "lesson check: toy %.2f s, house model %.2f s", seconds, houseSeconds))
        #expect(house.status == 1 && house.stdout.hasPrefix("not quite"))
        #expect(houseSeconds < 6)   // about 0.8 s alone; loose because the suite runs in parallel
        let malformed = try Self.run(["check", "hydra.2", "three"], home: home)
        #expect(malformed.status == 2 && malformed.stdout.isEmpty && malformed.stderr.contains("whole number"))
        let empty = try Self.run(["check", "hydra.2"], home: home)
        #expect(empty.status == 2 && empty.stderr.contains("empty"))
        let unknown = try Self.run(["hint", "hydra.20"], home: home)
        #expect(unknown.status == 2 && unknown.stderr.contains("did you mean") && unknown.stderr.split(separator: "\n").count == 1)
        let progress = try Self.run(["progress"], home: home)
        #expect(progress.stdout.contains("1 of ") && progress.stdout.contains("solved"))
        let reveal = try Self.run(["reveal", "mask.2", "--format", "json"], home: home)
        let json = try JSONSerialization.jsonObject(with: Data(reveal.stdout.utf8)) as? [String: Any]
        #expect(json?["answer"] as? String == "2")
        let list = try Self.run(["list", "--format", "json"], home: home)
        let lessons = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["lessons"] as? [[String: Any]]
        #expect(lessons?.count == 8)
        #expect((lessons?.first?["exercises"] as? [[String: Any]])?.first?["kind"] as? String == "integer")
        try Data("garbage".utf8).write(to: home.appendingPathComponent("progress.json"))
        let afterCorruption = try Self.run(["progress"], home: home)
        #expect(afterCorruption.status == 0 && afterCorruption.stderr.contains("set aside"))
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("progress.json.corrupt").path))
        let shown = try Self.run(["show", "4"], home: home)
        #expect(shown.status == 0 && shown.stdout.hasPrefix("LESSON 4"))
        #expect(try Self.run(["show", "4", "--raw"], home: home).stdout.hasPrefix("# Lesson 4"))
        #expect(try Self.run(["reset"], home: home).status == 0)
    }
}
