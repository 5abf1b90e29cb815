import Foundation
import REPL
import Speculation

/// The REPL with lessons: handles `lesson N` (or `lesson ID`: that exercise's settings), `check ID ANSWER`, `hint ID` and `lessons`, and forwards every other
/// line to the `Interpreter` (which `lesson N` replaces with one on that lesson's session: its model, decoder and prompt).
public final class LessonSession {
    public private(set) var interpreter: Interpreter
    /// Nil when no lessons were found: the lesson commands then say so.
    public let library: LessonLibrary?
    private let libraryProblem: String?

    /// Wraps `interpreter`; `library` nil (with the reason) when the lessons cannot be loaded.
    public init(interpreter: Interpreter, library: LessonLibrary?, problem: String? = nil) {
        self.interpreter = interpreter
        self.library = library
        libraryProblem = problem
        if let library, interpreter.workbench.modelName == "model.bin" {
            library.evaluator.register(interpreter.workbench, as: "house")
        }
    }

    /// Runs one line (never throws).
    public func execute(_ line: String) -> Reply {
        let words = line.split(separator: " ", maxSplits: 2).map(String.init)
        guard let first = words.first?.lowercased() else { return interpreter.execute(line) }
        switch first {
        case "lesson", "lessons", "check", "hint":
            guard let library else { return Reply(text: "error: \(libraryProblem ?? "no lessons found")", isError: true) }
            do { return Reply(text: try lessonCommand(first, Array(words.dropFirst()), library)) } catch {
                return Reply(text: "error: \(error)", isError: true)
            }
        case "help" where words.count == 1:
            var reply = interpreter.execute(line)
            reply.text += "\nLessons: lesson N (set up lesson N's session; lesson ID: an exercise's), lessons (list them), check ID ANSWER, hint ID."
            return reply
        default:
            return interpreter.execute(line)
        }
    }

    private func lessonCommand(_ command: String, _ args: [String], _ library: LessonLibrary) throws -> String {
        switch command {
        case "lessons":
            return library.listText()
        case "lesson":
            guard args.count == 1 else { throw LessonError("lesson takes a lesson number or an exercise id, e.g. lesson 2 or lesson rules.6 (lessons lists them)") }
            let exercise = library.manifest.exercises.first { $0.id == args[0] }
            let lesson = try exercise.flatMap { library.manifest.lesson(of: $0.id) } ?? library.lesson(args[0])
            let setup = exercise.flatMap { library.setup(of: $0) } ?? lesson.session
            let bench = try library.evaluator.workbench(setup.modelName)
            let next = try Interpreter(workbench: bench, spec: try library.evaluator.spec(setup), prompt: setup.prompt ?? "ROMEO:", seed: setup.seed ?? 42)
            next.width = interpreter.width
            next.color = interpreter.color
            next.outputFolder = interpreter.outputFolder
            next.interrupted = interpreter.interrupted
            interpreter = next
            let ids = lesson.exercises.map(\.id).joined(separator: ", ")
            let title = exercise.map { "exercise \($0.id) of lesson \(lesson.number): \($0.prompt)" } ?? "lesson \(lesson.number): \(lesson.title)"
            return "\(title)\nsession: \(setup.summary)\nexercises: \(ids) (check ID ANSWER, hint ID)"
        case "check":
            guard args.count == 2 else { throw LessonError("check takes an exercise id and an answer, e.g. check draft.1 3") }
            let (_, message) = try library.check(args[0], answer: args[1])
            return message
        default:
            guard args.count == 1 else { throw LessonError("hint takes an exercise id, e.g. hint draft.1") }
            return try library.hint(args[0])
        }
    }
}
