import ArgumentParser
import Foundation
import Lessons

/// `hydrasim lesson`: the lessons, their exercises and answers checked by the simulator.
struct LessonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson",
        abstract: "Lessons with exercises the simulator checks: list, show, check, hint, reveal, progress, reset.",
        discussion: """
        Answers are computed by running the simulator when you check them. Progress is kept in progress.json under \
        $HYDRASIM_HOME, else $XDG_STATE_HOME/hydrasim/, else ~/.local/state/hydrasim/. `check` exits 0 when the answer \
        is correct, 1 when it is not, 2 when it is malformed (or the exercise is unknown).
        """,
        subcommands: [List.self, Show.self, Check.self, Hint.self, Reveal.self, ProgressCommand.self, Reset.self, Verify.self]
    )

    /// Loads the shipped lessons, printing a corrupted-progress warning once.
    static func library() throws -> LessonLibrary {
        let library: LessonLibrary
        do { library = try LessonLibrary.standard() } catch { throw lessonFailure("\(error)") }
        if let warning = library.warning { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        return library
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The lessons and their exercises, with your progress.")
        @Option(name: .long, help: "text or json.") var format: ListFormat = .text
        func run() throws {
            let library = try LessonCommand.library()
            if format == .json { try printJSON(library.listJSON()) } else { print(library.listText()) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A lesson's text, rendered for the terminal (--raw: the Markdown).")
        @Argument(help: "Lesson number (1-8) or folder name.") var lesson: String
        @Flag(name: .long, help: "Print the Markdown as it is.") var raw = false
        @Option(name: .long, help: "Width to wrap at (default 80).") var width = 80
        func run() throws {
            let library = try LessonCommand.library()
            do {
                let l = try library.lesson(lesson)
                let text = try library.text(of: l)
                print(raw ? text : TerminalMarkdown(width: width).render(text))
            } catch let error as LessonError { throw lessonFailure(error.problem) }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check an answer: exit 0 correct, 1 incorrect, 2 malformed.")
        @Argument(help: "Exercise id, e.g. draft.1.") var id: String
        @Argument(parsing: .allUnrecognized, help: "Your answer (several words are joined with spaces).") var answer: [String] = []
        func run() throws {
            let library = try LessonCommand.library()
            // --format json (anywhere after the id) reports {id, result, message} on standard output.
            var words = answer
            var json = false
            if let i = words.firstIndex(of: "--format"), i + 1 < words.count, words[i + 1] == "json" { words.removeSubrange(i...(i + 1)); json = true }
            do {
                let (result, message) = try library.check(id, answer: words.joined(separator: " "))
                if json {
                    let name = switch result { case .correct: "correct"; case .incorrect: "incorrect"; case .malformed: "malformed" }
                    try printJSON(["id": id, "result": name, "message": message, "exit_code": Int(result.exitCode)] as [String: Any])
                } else if case .malformed = result { FileHandle.standardError.write(Data(("error: " + message + "\n").utf8)) } else { print(message) }
                if result.exitCode != 0 { throw ExitCode(result.exitCode) }
            } catch let error as LessonError { throw lessonFailure(error.problem) }
        }
    }

    struct Hint: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The next hint of an exercise.")
        @Argument(help: "Exercise id.") var id: String
        func run() throws {
            let library = try LessonCommand.library()
            do { print(try library.hint(id)) } catch let error as LessonError { throw lessonFailure(error.problem) }
        }
    }

    struct Reveal: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The computed answer and how it was computed (recorded as revealed).")
        @Argument(help: "Exercise id.") var id: String
        @Option(name: .long, help: "text or json.") var format: ListFormat = .text
        func run() throws {
            let library = try LessonCommand.library()
            do {
                let computed = try library.reveal(id)
                if format == .json {
                    try printJSON(["id": id, "answer": computed.value.typed, "how": computed.how])
                } else {
                    print("\(id): \(computed.value.typed)\n  computed from: \(computed.how)")
                }
            } catch let error as LessonError { throw lessonFailure(error.problem) }
        }
    }

    struct ProgressCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "progress", abstract: "Exercises solved per lesson.")
        @Option(name: .long, help: "text or json.") var format: ListFormat = .text
        func run() throws {
            let library = try LessonCommand.library()
            if format == .json { try printJSON(library.progressJSON()) } else { print(library.progressText()) }
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget all progress.")
        func run() throws {
            let library = try LessonCommand.library()
            try library.reset()
            print("progress reset")
        }
    }
}

extension LessonCommand {
    /// The author check, as CI runs it: every exercise's computed answer passes, a plausible wrong one fails.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "For lesson authors: run every exercise's question; its answer must pass check and a wrong one fail.")
        func run() throws {
            let library = try LessonCommand.library()
            let clock = ContinuousClock()
            let start = clock.now
            let (problems, slowest) = library.authorCheck()
            let seconds = (clock.now - start) / .seconds(1)
            for p in problems { FileHandle.standardError.write(Data(("error: " + p + "\n").utf8)) }
            print(String(format: "%d exercises in %d lessons: %d problem%@ (%.2f s; slowest %@, %.2f s)", library.manifest.exercises.count,
                         library.manifest.lessons.count, problems.count, problems.count == 1 ? "" : "s", seconds, slowest.id, slowest.seconds))
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}

enum ListFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// A lesson problem (unknown id or lesson, unreadable manifest): one line on standard error, then exit code 2.
func lessonFailure(_ problem: String) -> ExitCode {
    FileHandle.standardError.write(Data(("error: " + problem + "\n").utf8))
    return ExitCode(2)
}

/// Prints a JSON object, keys sorted.
func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
