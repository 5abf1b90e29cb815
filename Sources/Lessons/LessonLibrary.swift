import Foundation
import LanguageModel
import REPL
import Speculation

/// The lessons as a learner uses them: the manifest, the evaluator that computes answers, and progress.
///
/// `hydrasim lesson` and the REPL's `lesson`/`check`/`hint` both go through it, so an answer is checked by the same
/// code path everywhere (and in the author check).
public final class LessonLibrary {
    /// The `Lessons/` folder.
    public let folder: String
    public let manifest: LessonManifest
    public let evaluator: Evaluator
    public let store: ProgressStore?
    /// The progress so far (saved after every change when there is a store).
    public private(set) var progress: Progress
    /// Set when the progress file was corrupted and set aside.
    public private(set) var warning: String?

    public init(folder: String, fixtures: String, store: ProgressStore?) throws {
        self.folder = folder
        manifest = try LessonManifest.read(folder + "/lessons.json")
        evaluator = Evaluator(fixtures: fixtures)
        try Self.checkFiles(manifest, folder: folder, fixtures: fixtures)
        self.store = store
        if let store { (progress, warning) = store.load() } else { progress = Progress() }
    }

    /// Checks what the manifest names on disk: every lesson's text and script, every model and static tree a
    /// question uses (one line naming the first problem). The questions themselves run in the author check.
    static func checkFiles(_ manifest: LessonManifest, folder: String, fixtures: String) throws {
        let fm = FileManager.default
        let name = folder + "/lessons.json"
        for lesson in manifest.lessons {
            for file in ["lesson.md", "session.txt"] where !fm.fileExists(atPath: "\(folder)/\(lesson.folder)/\(file)") {
                throw LessonError("\(name): lesson \(lesson.number) has no \(lesson.folder)/\(file)")
            }
            var setups: [(String, LessonSetup)] = [("lesson \(lesson.number)'s session", lesson.session)]
            func collect(_ q: Question, _ id: String) {
                setups.append(("exercise \(id)", (q.setup ?? LessonSetup()).over(lesson.session)))
                for o in q.operands ?? [] { collect(o, id) }
            }
            for e in lesson.exercises { collect(e.question, e.id) }
            for (place, setup) in setups {
                let model = setup.modelName
                let path = model == "house" ? fixtures + "/models/house/model.bin" : model.hasPrefix("toy:") ? fixtures + "/toys/\(model.dropFirst(4)).json" : ""
                guard !path.isEmpty, fm.fileExists(atPath: path) else {
                    throw LessonError("\(name): \(place): unknown model '\(model)' (house, or toy:NAME for a file in Fixtures/toys)")
                }
                if let heads = setup.heads, !fm.fileExists(atPath: heads.contains("/") ? heads : fixtures + "/models/house/" + heads) {
                    throw LessonError("\(name): \(place): no heads file '\(heads)'")
                }
                if let tree = setup.tree, !tree.hasPrefix("dynamic:") {
                    do { _ = try CandidateTree.load(tree, presetFolder: fixtures + "/trees") } catch {
                        throw LessonError("\(name): \(place): \(error)")
                    }
                }
            }
        }
    }

    /// The shipped `Lessons/` folder: `$HYDRASIM_LESSONS`, else the `Lessons` folder beside the `Fixtures` folder found.
    public static func standardFolder() -> String? {
        if let env = ProcessInfo.processInfo.environment["HYDRASIM_LESSONS"], !env.isEmpty { return env }
        guard let fixtures = Fixtures.root else { return nil }
        // Beside the Fixtures folder found, or beside the one it links to (a checkout that links the shipped data).
        let found = URL(fileURLWithPath: fixtures)
        for base in [found, found.resolvingSymlinksInPath()] {
            let folder = base.deletingLastPathComponent().appendingPathComponent("Lessons").path
            if FileManager.default.fileExists(atPath: folder + "/lessons.json") { return folder }
        }
        return nil
    }

    /// The library of the shipped lessons with the standard progress file.
    public static func standard() throws -> LessonLibrary {
        guard let folder = standardFolder(), let fixtures = Fixtures.root else {
            throw LessonError("no Lessons/lessons.json found (looked beside the Fixtures folder; set HYDRASIM_LESSONS)")
        }
        return try LessonLibrary(folder: folder, fixtures: fixtures, store: .standard())
    }

    // MARK: Finding

    /// A lesson by number (`3`), folder (`03-medusa-heads`) or the id prefix of its exercises (`medusa`).
    public func lesson(_ word: String) throws -> Lesson {
        if let n = Int(word), let l = manifest.lessons.first(where: { $0.number == n }) { return l }
        if let l = manifest.lessons.first(where: { $0.folder == word || $0.folder.dropFirst(3) == word || $0.exercises.first?.id.hasPrefix(word + ".") == true }) { return l }
        throw LessonError("no lesson '\(word)': lessons are 1...\(manifest.lessons.count) (hydrasim lesson list)")
    }

    /// An exercise by id, or an error suggesting the nearest ids.
    public func exercise(_ id: String) throws -> Exercise {
        if let e = manifest.exercises.first(where: { $0.id == id }) { return e }
        let near = Suggestions.nearest(id, among: manifest.exercises.map(\.id), limit: 3)
        throw LessonError("no exercise '\(id)'" + (near.isEmpty ? " (hydrasim lesson list shows them)" : "; did you mean \(near.map { "'\($0)'" }.joined(separator: " or "))?"))
    }

    // MARK: Answers

    /// The simulator's answer to an exercise.
    public func compute(_ exercise: Exercise) throws -> ComputedAnswer {
        guard let lesson = manifest.lesson(of: exercise.id) else { throw LessonError("no lesson holds \(exercise.id)") }
        do { return try evaluator.answer(exercise.question, base: lesson.session) } catch {
            throw LessonError("exercise \(exercise.id): its question does not run: \(error)")
        }
    }

    /// Checks a typed answer; records the attempt (and the solve) in the progress.
    public func check(_ id: String, answer: String) throws -> (CheckResult, String) {
        let e = try exercise(id)
        let computed = try compute(e)
        let result = AnswerChecker.check(answer, against: computed.value, for: e)
        var entry = progress[id]
        switch result {
        case .correct:
            entry.attempts += 1
            entry.solved = true
            progress[id] = entry
            save()
            return (result, "correct: \(id) solved" + (entry.revealed ? " (after a reveal)" : ""))
        case .incorrect:
            entry.attempts += 1
            progress[id] = entry
            save()
            return (result, "not quite: \(id) is not \(answer.trimmingCharacters(in: .whitespaces)). " + (entry.hints < e.hints.count ? "hydrasim lesson hint \(id) gives a hint" : "hydrasim lesson reveal \(id) shows the answer"))
        case .malformed(let problem):
            return (result, "\(id): \(problem) (expected \(AnswerChecker.form(e)))")
        }
    }

    /// The next hint of an exercise (the last one again once all were taken).
    public func hint(_ id: String) throws -> String {
        let e = try exercise(id)
        var entry = progress[id]
        let n = min(entry.hints, e.hints.count - 1)
        entry.hints = max(entry.hints, n + 1)
        progress[id] = entry
        save()
        return "hint \(n + 1) of \(e.hints.count): \(e.hints[n])"
    }

    /// The computed answer, recorded as revealed.
    public func reveal(_ id: String) throws -> ComputedAnswer {
        let e = try exercise(id)
        let computed = try compute(e)
        progress[id].revealed = true
        save()
        return computed
    }

    /// The author check: every exercise's question runs, its computed answer passes `check`, a plausible wrong answer
    /// fails, and its hints exist. Returns one line per problem (none: all good) and the slowest exercise's time.
    /// Progress is not touched. The tests and `hydrasim lesson verify` both run this.
    public func authorCheck() -> (problems: [String], slowest: (id: String, seconds: Double)) {
        var problems: [String] = []
        var slowest = (id: "", seconds: 0.0)
        let clock = ContinuousClock()
        for e in manifest.exercises {
            let start = clock.now
            do {
                let computed = try compute(e)
                let right = AnswerChecker.check(computed.value.typed, against: computed.value, for: e)
                if right != .correct { problems.append("\(e.id): its computed answer '\(computed.value.typed)' does not pass check (\(right))") }
                let wrong = AnswerChecker.plausibleWrong(computed.value, for: e)
                let verdict = AnswerChecker.check(wrong, against: computed.value, for: e)
                if verdict != .incorrect { problems.append("\(e.id): the wrong answer '\(wrong)' gives \(verdict), not incorrect") }
                if computed.how.isEmpty { problems.append("\(e.id): no account of how the answer was computed") }
            } catch {
                problems.append("\(error)")
            }
            if !(1...3).contains(e.hints.count) { problems.append("\(e.id): \(e.hints.count) hints") }
            let seconds = (clock.now - start) / .seconds(1)
            if seconds > slowest.seconds { slowest = (e.id, seconds) }
        }
        return (problems, slowest)
    }

    /// The settings an exercise's question runs on (its own, or its first operand's, over its lesson's), for
    /// `lesson ID` in the REPL.
    public func setup(of exercise: Exercise) -> LessonSetup? {
        guard let lesson = manifest.lesson(of: exercise.id) else { return nil }
        var q = exercise.question
        while q.setup == nil, let first = q.operands?.first { q = first }
        return (q.setup ?? LessonSetup()).over(lesson.session)
    }

    /// Forgets progress.
    public func reset() throws {
        progress = Progress()
        try store?.reset()
    }

    private func save() {
        guard let store else { return }
        do { try store.save(progress) } catch { warning = "warning: progress not saved: \(error)" }
    }

    // MARK: Listing

    /// A status mark: solved, revealed or open.
    func status(_ id: String) -> String {
        let p = progress[id]
        return p.solved ? "solved" : p.revealed ? "revealed" : "open"
    }

    /// The lessons and their exercises with progress, as text.
    public func listText() -> String {
        var lines: [String] = []
        for l in manifest.lessons {
            let solved = l.exercises.filter { progress[$0.id].solved }.count
            lines.append(String(format: "%2d  %@  (%d/%d solved)", l.number, l.title, solved, l.exercises.count))
            for e in l.exercises {
                let mark = progress[e.id].solved ? "✓" : progress[e.id].revealed ? "r" : " "
                lines.append("    [\(mark)] \(e.id.padding(toLength: 14, withPad: " ", startingAt: 0)) \(e.kind.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(TextWrap.cut(e.prompt, 52))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The lessons and their exercises with progress, as a JSON-ready value.
    public func listJSON() -> [String: Any] {
        ["format_version": LessonManifest.currentVersion,
         "lessons": manifest.lessons.map { l in
             ["id": l.number, "folder": l.folder, "title": l.title,
              "exercises": l.exercises.map { e -> [String: Any] in
                  var d: [String: Any] = ["id": e.id, "kind": e.kind.rawValue, "prompt": e.prompt, "hints": e.hints.count, "status": status(e.id),
                                          "hints_taken": progress[e.id].hints, "attempts": progress[e.id].attempts]
                  if let c = e.choices { d["choices"] = c }
                  return d
              }] as [String: Any]
         }]
    }

    /// Solved, revealed and open counts per lesson, for `--format json`.
    public func progressJSON() -> [String: Any] {
        let lessons = manifest.lessons.map { l -> [String: Any] in
            ["id": l.number, "title": l.title, "exercises": l.exercises.count,
             "solved": l.exercises.filter { progress[$0.id].solved }.count,
             "revealed": l.exercises.filter { progress[$0.id].revealed && !progress[$0.id].solved }.count]
        }
        return ["lessons": lessons, "solved": manifest.exercises.filter { progress[$0.id].solved }.count,
                "exercises": manifest.exercises.count, "progress_file": store?.path ?? NSNull()]
    }

    /// Solved, revealed and open counts per lesson, as text.
    public func progressText() -> String {
        var lines: [String] = []
        var total = 0, solved = 0
        for l in manifest.lessons {
            let s = l.exercises.filter { progress[$0.id].solved }.count
            let r = l.exercises.filter { progress[$0.id].revealed && !progress[$0.id].solved }.count
            total += l.exercises.count
            solved += s
            lines.append(String(format: "%2d  ", l.number) + l.title.padding(toLength: 26, withPad: " ", startingAt: 0)
                         + " \(s)/\(l.exercises.count) solved" + (r > 0 ? ", \(r) revealed" : ""))
        }
        lines.append("\(solved) of \(total) exercises solved" + (store.map { " (progress in \($0.path))" } ?? ""))
        return lines.joined(separator: "\n")
    }

    /// A lesson's text (`lesson.md`), raw.
    public func text(of lesson: Lesson) throws -> String {
        let path = "\(folder)/\(lesson.folder)/lesson.md"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw LessonError("\(path): cannot read the lesson text") }
        return text
    }

    /// The REPL script of a lesson (`session.txt`), if it has one.
    public func scriptPath(of lesson: Lesson) -> String { "\(folder)/\(lesson.folder)/session.txt" }
}

/// Cutting and wrapping text to a width.
enum TextWrap {
    static func cut(_ text: String, _ width: Int) -> String {
        text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }
}
