import Foundation
import Testing
import TestSupport
import LanguageModel
import Lessons
import Numerics
import REPL
import Speculation

/// The shipped lessons, loaded once per process (the evaluator keeps the models and sessions it loads).
enum Shipped {
    static let folder = PackagePaths.root.appendingPathComponent("Lessons").path
    nonisolated(unsafe) static let library: Result<LessonLibrary, Error> = Result {
        try LessonLibrary(folder: folder, fixtures: PackagePaths.fixtures.path, store: nil)
    }
}

/// A manifest as a JSON object, for breaking it on purpose.
func manifestObject() throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: Shipped.folder + "/lessons.json"))
    return try JSONSerialization.jsonObject(with: data) as! [String: Any]
}

@Suite("Lessons", .serialized)
struct LessonsTests {
    @Test("the manifest has eight lessons in order, at least 40 exercises, at least 4 per lesson, each with its text and script")
    func shape() throws {
        let library = try Shipped.library.get()
        let m = library.manifest
        #expect(m.lessons.count >= 8)
        #expect(m.exercises.count >= 40)
        for lesson in m.lessons {
            #expect(lesson.exercises.count >= 4, "lesson \(lesson.number) has \(lesson.exercises.count) exercises")
            let text = try library.text(of: lesson)
            #expect(text.contains("## Exercises") && text.contains("## Try this"), "lesson \(lesson.number) lacks a section")
            for e in lesson.exercises { #expect(text.contains(e.id), "lesson \(lesson.number)'s text does not mention \(e.id)") }
            #expect(FileManager.default.fileExists(atPath: library.scriptPath(of: lesson)))
        }
        #expect(FileManager.default.fileExists(atPath: Shipped.folder + "/reference.md"))
    }

    @Test("author check: every computed answer passes check, a plausible wrong one fails, hints exist")
    func authorCheck() throws {
        let library = try Shipped.library.get()
        let clock = ContinuousClock()
        let start = clock.now
        var slowest = (id: "", seconds: 0.0)
        for e in library.manifest.exercises {
            let t0 = clock.now
            let computed = try library.compute(e)
            let (result, message) = try library.check(e.id, answer: computed.value.typed)
            #expect(result == .correct, "\(e.id): its own answer '\(computed.value.typed)' gives \(message)")
            let wrong = AnswerChecker.plausibleWrong(computed.value, for: e)
            let (verdict, _) = try library.check(e.id, answer: wrong)
            #expect(verdict == .incorrect, "\(e.id): the wrong answer '\(wrong)' (right: '\(computed.value.typed)') gives \(verdict)")
            #expect((1...3).contains(e.hints.count))
            #expect(try library.hint(e.id).hasPrefix("hint 1 of"))
            #expect(!computed.how.isEmpty)
            let s = (clock.now - t0) / .seconds(1)
            if s > slowest.seconds { slowest = (e.id, s) }
        }
        let total = (clock.now - start) / .seconds(1)
        print(String(format: "author check: %d exercises in %.2f s (slowest %@, %.2f s)", library.manifest.exercises.count, total, slowest.id, slowest.seconds))
        let (problems, _) = library.authorCheck()
        #expect(problems.isEmpty, "\(problems)")
        // One check stays under 2 s alone (about 1 s for the slowest); the bound is loose because the suite runs in parallel.
        #expect(slowest.seconds < 6)
    }

    @Test("every lesson's REPL script runs to the end without an error")
    func scripts() throws {
        let library = try Shipped.library.get()
        let first = try Interpreter(workbench: try library.evaluator.workbench("house"), spec: DecoderSpec(decoder: .hydraPlusPlus), prompt: "ROMEO:")
        first.outputFolder = PackagePaths.temporaryFolder().path
        for lesson in library.manifest.lessons {
            let session = LessonSession(interpreter: first, library: library)
            let script = try String(contentsOfFile: library.scriptPath(of: lesson), encoding: .utf8)
            #expect(script.hasPrefix("lesson \(lesson.number)\n"), "\(lesson.folder)/session.txt should start with lesson \(lesson.number)")
            for line in script.components(separatedBy: "\n") {
                let reply = session.execute(line)
                #expect(!reply.isError, "\(lesson.folder)/session.txt: '\(line)' gives \(reply.text)")
                if reply.quits { break }
            }
        }
    }

    @Test("malformed answers name the expected form; wrong ones are incorrect")
    func malformed() throws {
        let library = try Shipped.library.get()
        let cases: [(String, String)] = [("medusa.1", ""), ("medusa.1", "sixty"), ("medusa.1", "6.5"), ("slow.2", "fast"), ("medusa.4", "maybe"),
                                         ("draft.4", "perhaps"), ("mask.1", "a b"), ("mask.1", "-1"), ("trees.1", "x.y")]
        for (id, answer) in cases {
            let (result, message) = try library.check(id, answer: answer)
            guard case .malformed = result else { Issue.record("\(id) '\(answer)' gives \(result)"); continue }
            #expect(result.exitCode == 2)
            #expect(message.contains("expected") && !message.contains("\n"), "\(message)")
        }
        #expect(try library.check("medusa.1", answer: "63").0 == .incorrect)
        #expect(try library.check("slow.2", answer: "1/2").0 == .incorrect)
        #expect(try library.check("mask.1", answer: "{3, 1, 0}").0 == .correct)
        #expect(try library.check("hydra.3", answer: "\"meowed\"").0 == .correct)
    }

    @Test("unknown ids and lessons suggest the nearest")
    func unknown() throws {
        let library = try Shipped.library.get()
        #expect(throws: LessonError.self) { try library.exercise("medusa.99") }
        do { _ = try library.exercise("meduza.1") } catch { #expect("\(error)".contains("'medusa.1'")) }
        do { _ = try library.lesson("42") } catch { #expect("\(error)".contains("lessons are 1...")) }
        #expect(try library.lesson("medusa").number == 3)
        #expect(try library.lesson("03-medusa-heads").number == 3)
    }

    @Test("a broken manifest gives one clear line", arguments: ["duplicate", "unknown fact", "no hints", "version", "not json", "kind", "choice labels"])
    func brokenManifest(_ breakage: String) throws {
        var m = try manifestObject()
        var lessons = m["lessons"] as! [[String: Any]]
        var exercises = lessons[0]["exercises"] as! [[String: Any]]
        var expected = ""
        switch breakage {
        case "duplicate": exercises[1]["id"] = exercises[0]["id"]; expected = "appears twice"
        case "unknown fact": exercises[0]["question"] = ["what": "acepted_length"]; expected = "did you mean 'accepted_length'"
        case "no hints": exercises[0]["hints"] = [String](); expected = "hints"
        case "version": m["format_version"] = 99; expected = "format_version 99"
        case "kind": exercises[0]["kind"] = "yesno"; expected = "cannot check"
        case "choice labels": exercises[4]["choices"] = ["gpu", "tpu"]; expected = "must be among the choices"
        default: expected = "not valid JSON"
        }
        lessons[0]["exercises"] = exercises
        m["lessons"] = lessons
        let data = breakage == "not json" ? Data("{\"format_version\": 1, \"lessons\": [".utf8) : try JSONSerialization.data(withJSONObject: m)
        do {
            _ = try LessonManifest.parse(data, name: "lessons.json")
            Issue.record("\(breakage): accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains(expected) && !text.contains("\n"), "\(breakage): \(text)")
        }
    }

    @Test("rank-sequence questions: replayed tau and the mean over positions, hand-checked, as lesson 8 quotes them")
    func rankQuestions() throws {
        let evaluator = Evaluator(fixtures: PackagePaths.fixtures.path)
        func ask(_ what: String, _ tree: String, _ ranks: String) throws -> ComputedAnswer {
            let question = try JSONDecoder().decode(Question.self, from: Data(#"{"what": "\#(what)", "setup": {"tree": "\#(tree)"}, "ranks": \#(ranks)}"#.utf8))
            return try evaluator.answer(question, base: LessonSetup(model: "house", decoder: "hydra++", tree: "house-7"))
        }
        func number(_ answer: ComputedAnswer) -> Double {
            if case .number(let x) = answer.value { return x }
            Issue.record("\(answer) is not a number")
            return .nan
        }
        // Lesson 8's worked example: chain-2 steps at positions 1 (3 tokens), 4 (a miss, 1) and 5 (2): 6 tokens in 3 steps;
        // the mean over positions is 1 + 4/6 ([0] at positions 1, 2, 3, 5) + 3/6 ([0, 0] at 1, 2, 3).
        let example = "[[[0, 0], [0, 0], [0, 0], [-1, 0], [0, -1], [-1, -1]]]"
        let replayed = try ask("replayed_tau", "chain-2", example)
        #expect(replayed.value == .number(2) && replayed.how.contains("6 tokens in 3 steps"), "\(replayed)")
        let mean = try ask("mean_tau", "chain-2", example)
        #expect(abs(number(mean) - 13.0 / 6) < 1e-12 && mean.how.contains("[0] 4/6, [0,0] 3/6"), "\(mean)")
        let text = try String(contentsOfFile: Shipped.folder + "/08-designing-trees/lesson.md", encoding: .utf8)
        #expect(text.contains("6 tokens in 3 steps: replayed tau 2.") && text.contains("1 + 7/6 = " + String(format: "%.3f", number(mean))))
        // A second run is replayed from its own start: one more step of one token.
        #expect(try ask("replayed_tau", "chain-2", "[[[0, 0], [0, 0], [0, 0], [-1, 0], [0, -1], [-1, -1]], [[-1, 0]]]").value == .number(7.0 / 4))
        // The exercises' ranks: chain-3 crosses the easy run in one step and lands on the misses (6 tokens in 3 steps)
        // where the mean credits it at every one of the easy positions; fork-2x2 catches [1, 0] at position 4.
        let exercise = "[[[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, -1], [-1, -1, -1], [-1, -1, -1]]]"
        #expect(try ask("replayed_tau", "chain-3", exercise).value == .number(2))
        #expect(try ask("mean_tau", "chain-3", exercise).value == .number(2.5))
        #expect(try ask("replayed_tau", "fork-2x2", exercise).value == .number(3))
        #expect(abs(number(try ask("mean_tau", "fork-2x2", exercise)) - 7.0 / 3) < 1e-12)
        // The evaluator refuses malformed ranks too (the manifest's check runs before any question).
        #expect(throws: LessonError.self) { try ask("mean_tau", "chain-2", "[[[0, 0], [0]]]") }
    }

    @Test("malformed rank sequences are refused when the manifest loads, with one line naming the exercise and the problem")
    func malformedRanks() throws {
        let cases: [(Any?, String)] = [
            ([Any](), "ranks is empty"), ([[Any]()], "run 1 has no positions"), ([[[Int]()]], "run 1, position 1 has no ranks"),
            ([[[0, 0], [0]]], "run 1, position 2 has 1 rank where run 1's first has 2"),
            ([[[0, 0]], [[0, 0, 0]]], "run 2, position 1 has 3 ranks where run 1's first has 2"),
            ([[[0, -2]]], "-2 is not a rank"), ([[[0, 5000]]], "5000 is not a rank"), ([[["a"]]], "wrong type at"),
            (nil, "replayed_tau needs ranks"),
        ]
        for (ranks, expected) in cases {
            var m = try manifestObject()
            var lessons = m["lessons"] as! [[String: Any]]
            var exercises = lessons[7]["exercises"] as! [[String: Any]]
            let index = try #require(exercises.firstIndex { $0["id"] as? String == "trees.8" })
            var question = exercises[index]["question"] as! [String: Any]
            question["ranks"] = ranks
            exercises[index]["question"] = question
            lessons[7]["exercises"] = exercises
            m["lessons"] = lessons
            do {
                _ = try LessonManifest.parse(try JSONSerialization.data(withJSONObject: m), name: "lessons.json")
                Issue.record("ranks \(String(describing: ranks)): accepted")
            } catch {
                let text = "\(error)"
                #expect(text.contains(expected) && !text.contains("\n"), "\(text)")
                if expected != "wrong type at" { #expect(text.contains("exercise trees.8"), "\(text)") }
            }
        }
    }

    @Test("a manifest naming a missing toy, tree or heads file fails to load with one line")
    func missingFiles() throws {
        for (key, value, expected) in [("model", "toy:nope", "unknown model 'toy:nope'"), ("tree", "no-such-tree", "no-such-tree"),
                                        ("heads", "nope.heads", "no heads file 'nope.heads'")] {
            var m = try manifestObject()
            var lessons = m["lessons"] as! [[String: Any]]
            var session = lessons[2]["session"] as! [String: Any]
            session[key] = value
            lessons[2]["session"] = session
            m["lessons"] = lessons
            let folder = PackagePaths.temporaryFolder()
            for entry in try FileManager.default.contentsOfDirectory(atPath: Shipped.folder) where entry != "lessons.json" {
                try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent(entry).path, withDestinationPath: Shipped.folder + "/" + entry)
            }
            try JSONSerialization.data(withJSONObject: m).write(to: folder.appendingPathComponent("lessons.json"))
            do {
                _ = try LessonLibrary(folder: folder.path, fixtures: PackagePaths.fixtures.path, store: nil)
                Issue.record("\(key) \(value): accepted")
            } catch {
                #expect("\(error)".contains(expected) && !"\(error)".contains("\n"), "\(error)")
            }
        }
    }

    @Test("mutated manifests, toy files and progress files give an error or load: never a trap")
    func mutations() throws {
        let manifest = try Data(contentsOf: URL(fileURLWithPath: Shipped.folder + "/lessons.json"))
        let toy = try Data(contentsOf: URL(fileURLWithPath: PackagePaths.fixture("toys/medusa-vs-hydra.json")))
        let folder = PackagePaths.temporaryFolder()
        let toyPath = folder.appendingPathComponent("toy.json").path
        let store = ProgressStore(path: folder.appendingPathComponent("progress.json").path)
        // Seeded, so a failing case comes back; HYDRASIM_FUZZ_CASES (scripts/fuzz.sh) asks for more.
        var random = XorShiftRandom(seed: 23)
        let cases = ProcessInfo.processInfo.environment["HYDRASIM_FUZZ_CASES"].flatMap(Int.init) ?? 300
        func mutate(_ data: Data) -> Data {
            var bytes = [UInt8](data)
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
                case 1 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 2 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &random)] = Array("0123456789-[]{}\",:e.".utf8).randomElement(using: &random)!
                default: bytes.insert(Array("9\"-[]{}".utf8).randomElement(using: &random)!, at: Int.random(in: 0...bytes.count, using: &random))
                }
            }
            return Data(bytes)
        }
        for _ in 0..<cases {
            do { _ = try LessonManifest.parse(mutate(manifest)) } catch { #expect(!"\(error)".contains("\n")) }
            try mutate(toy).write(to: URL(fileURLWithPath: toyPath))
            do {
                let bench = try Workbench.toy(toyPath, treesFolder: PackagePaths.trees)
                let session = try DecodingSession(model: bench.model, drafter: try bench.drafter(DecoderSpec(decoder: .hydra, tree: "fork-2x2")),
                                                  prompt: bench.encode("the"), seed: 1)
                for _ in 0..<3 { try session.step() }
            } catch { #expect(!"\(error)".contains("\n")) }
            try mutate(Data(#"{"format_version": 1, "exercises": {"a.1": {"solved": true, "revealed": false, "hints": 1, "attempts": 2}}}"#.utf8))
                .write(to: URL(fileURLWithPath: store.path))
            _ = store.load()
        }
    }

    @Test("random typed answers to every exercise: correct, incorrect or malformed naming the form wanted, never a trap")
    func answerFuzz() throws {
        let library = try Shipped.library.get()
        let exercises = library.manifest.exercises
        var random = XorShiftRandom(seed: 29)
        let words = ["0", "1", "-1", "2", "1e9", "nan", "inf", "0.5", "1/3", "50%", "[0]", "[0,1]", "0.1", "{1,2}", "yes", "no", "a", "b", "\"",
                     "", " ", "é", "\\", "[[0],[1]]", "99999999999999999999", "\"␣the\"", ",", "[", "]"]
        let cases = min(ProcessInfo.processInfo.environment["HYDRASIM_FUZZ_CASES"].flatMap(Int.init) ?? 400, 20_000)
        var malformed = 0
        for _ in 0..<cases {
            let exercise = exercises[Int(random.next() % UInt64(exercises.count))]
            let answer = (0..<Int(random.next() % 3)).map { _ in words[Int(random.next() % UInt64(words.count))] }.joined(separator: " ")
            let (result, _) = try library.check(exercise.id, answer: answer)
            if case .malformed(let message) = result {
                malformed += 1
                #expect(!message.contains("\n") && (message.contains(" is not ") || message.contains("is empty")), "\(exercise.id) '\(answer)': \(message)")
            }
        }
        #expect(malformed > cases / 10)
    }

    @Test("progress is saved atomically; a corrupted file is set aside and reported")
    func progress() throws {
        let folder = PackagePaths.temporaryFolder()
        let store = ProgressStore.standard(["HYDRASIM_HOME": folder.path])
        #expect(store.path == folder.appendingPathComponent("progress.json").path)
        #expect(ProgressStore.standard(["XDG_STATE_HOME": "/x"]).path == "/x/hydrasim/progress.json")
        let library = try LessonLibrary(folder: Shipped.folder, fixtures: PackagePaths.fixtures.path, store: store)
        _ = try library.check("mask.2", answer: "2")
        _ = try library.hint("mask.1")
        let again = store.load()
        #expect(again.0["mask.2"].solved && again.0["mask.1"].hints == 1 && again.warning == nil)
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: store.path))
        let broken = try LessonLibrary(folder: Shipped.folder, fixtures: PackagePaths.fixtures.path, store: store)
        #expect(broken.warning?.contains("set aside") == true)
        #expect(broken.progress == Progress())
        #expect(FileManager.default.fileExists(atPath: store.path + ".corrupt"))
        try broken.reset()
        #expect(!FileManager.default.fileExists(atPath: store.path))
    }

    @Test("lesson N and check work inside the REPL; other lines go to the interpreter")
    func replWrapper() throws {
        let library = try Shipped.library.get()
        let start = try Interpreter(workbench: try library.evaluator.workbench("toy:medusa-vs-hydra"), spec: DecoderSpec(decoder: .ar), prompt: "the")
        let session = LessonSession(interpreter: start, library: library)
        let set = session.execute("lesson 5")
        #expect(!set.isError && set.text.contains("Hydra heads"), "\(set.text)")
        #expect(session.interpreter.workbench.modelName == "toy:medusa-vs-hydra")
        #expect(session.execute("step").text.contains("3"))
        #expect(session.execute("check hydra.2 3").text.hasPrefix("correct"))
        #expect(session.execute("check hydra.2 2").text.hasPrefix("not quite"))
        #expect(session.execute("check hydra.2").isError)
        #expect(session.execute("check hydra.22 3").text.contains("did you mean"))
        #expect(session.execute("hint hydra.1").text.hasPrefix("hint "))
        #expect(session.execute("lesson 99").isError)
        let coin = session.execute("lesson rules.6")
        #expect(coin.text.contains("toy:lossless-coin") && session.interpreter.workbench.modelName == "toy:lossless-coin", "\(coin.text)")
        #expect(session.execute("help").text.contains("check ID ANSWER"))
        #expect(session.execute("bogus").isError)
    }

    @Test("lesson text renders for a terminal within 80 columns")
    func rendering() throws {
        let library = try Shipped.library.get()
        for lesson in library.manifest.lessons {
            let out = TerminalMarkdown(width: 80).render(try library.text(of: lesson))
            let long = out.components(separatedBy: "\n").filter { $0.count > 80 && !$0.hasPrefix("    ") }
            #expect(long.isEmpty, "lesson \(lesson.number): \(long.first ?? "")")
            #expect(!out.contains("**"))
        }
        let table = TerminalMarkdown(width: 80).render("# T\n\n| a | bb |\n|---|---|\n| ccc | d |\n\n- one *two*\n  three\n- four\n")
        #expect(table == "T\n═\n\n  a    bb\n  ───  ──\n  ccc  d\n\n  • one two three\n  • four")
    }
}

/// Each toy's hand-worked example in its lesson, recomputed by the simulator.
@Suite("Toy models")
struct ToyModelTests {
    static func session(_ toy: String, _ spec: DecoderSpec, prompt: String, seed: UInt64 = 42) throws -> (DecodingSession, Workbench) {
        let bench = try Workbench.toy(PackagePaths.fixture("toys/\(toy).json"), treesFolder: PackagePaths.trees)
        return (try DecodingSession(model: bench.model, drafter: try bench.drafter(spec), prompt: bench.encode(prompt), seed: seed), bench)
    }

    @Test("medusa-vs-hydra: Medusa drafts meowed under both guesses and keeps 'big dog'; Hydra keeps 'big dog barked'")
    func cartesian() throws {
        let (m, bench) = try Self.session("medusa-vs-hydra", DecoderSpec(decoder: .medusa, tree: "fork-2x2"), prompt: "the")
        let step = try #require(try m.step())
        #expect(step.nodes.map { bench.tokenizer.pieceText($0.token) } == ["big", "cat", "dog", "meowed", "meowed"])
        #expect(step.nodes.map(\.outcome) == [.accepted, .rejected, .accepted, .notReached, .rejected])
        #expect(bench.tokenizer.decode(step.emitted, after: 1) == "big dog" && bench.tokenizer.pieceText(step.bonus) == "barked")
        let (h, _) = try Self.session("medusa-vs-hydra", DecoderSpec(decoder: .hydra, tree: "fork-2x2"), prompt: "the")
        let hs = try #require(try h.step())
        #expect(hs.nodes.map { bench.tokenizer.pieceText($0.token) } == ["big", "dog", "cat", "barked", "meowed"])
        #expect(bench.tokenizer.decode(hs.emitted, after: 1) == "big dog barked" && bench.tokenizer.pieceText(hs.bonus) == ".")
    }

    @Test("typical-threshold: min(0.09, 0.3 exp(-H)) with H of (0.6, 0.3, 0.1); snow (0.1) passes at eps 0.09, fails at 0.2")
    func typical() throws {
        let h = -(0.6 * log(0.6) + 0.3 * log(0.3) + 0.1 * log(0.1))
        for (eps, expected) in [(Float(0.09), NodeOutcome.accepted), (0.2, .rejected)] {
            let (s, bench) = try Self.session("typical-threshold", DecoderSpec(decoder: .hydra, tree: "chain-2", rule: .typical, temperature: 1, eps: eps), prompt: "today")
            let step = try #require(try s.step())
            #expect(bench.tokenizer.pieceText(step.nodes[1].token) == "snow")
            #expect(abs(Double(step.nodes[1].threshold!) - min(Double(eps), 0.3 * exp(-h))) < 1e-5)
            #expect(step.nodes[1].outcome == expected)
        }
        #expect(abs(0.3 * exp(-h) - 0.1222) < 1e-4)
    }

    @Test("lossless-coin: tails accepted with 0.3, heads then with 5/7, edge 0.2; over many seeds the first word follows the base model")
    func lossless() throws {
        var counts: [String: Int] = [:]
        let runs = 2000
        for seed in 1...runs {
            let (s, bench) = try Self.session("lossless-coin", DecoderSpec(decoder: .hydra, tree: "fork-2x2", rule: .sample, temperature: 1), prompt: "flip", seed: UInt64(seed))
            let step = try #require(try s.step())
            #expect(abs(step.nodes[1].threshold! - 0.3) < 1e-6)
            if step.nodes[1].outcome == .rejected { #expect(abs(step.nodes[2].threshold! - 5.0 / 7.0) < 1e-5) }
            let word = step.emitted.count > 1 ? bench.tokenizer.pieceText(step.emitted[1]) : bench.tokenizer.pieceText(step.bonus)
            counts[word, default: 0] += 1
        }
        for (word, p) in [("heads", 0.5), ("tails", 0.3), ("edge", 0.2)] {
            #expect(abs(Double(counts[word, default: 0]) / Double(runs) - p) < 0.04, "\(word): \(counts)")
        }
    }

    @Test("the lessons' hand-worked toy examples quote what the simulator computes")
    func lessonTextsQuoteTheSimulator() throws {
        let folder = PackagePaths.root.appendingPathComponent("Lessons").path
        let hydraText = try String(contentsOfFile: folder + "/05-hydra-heads/lesson.md", encoding: .utf8)
        for (decoder, bonusWord) in [(DecoderKind.medusa, "the bonus is"), (.hydra, "bonus")] {
            let (s, bench) = try Self.session("medusa-vs-hydra", DecoderSpec(decoder: decoder, tree: "fork-2x2"), prompt: "the")
            let step = try #require(try s.step())
            let emitted = bench.tokenizer.decode(step.emitted, after: 1)
            let quoted = "**\(step.emitted.count) tokens**"
            #expect(hydraText.contains(quoted) && hydraText.contains("`\(emitted)`"), "lesson 5 should say \(quoted), `\(emitted)`")
            #expect(hydraText.contains("\(bonusWord) `\(bench.tokenizer.pieceText(step.bonus))`"))
        }
        let rulesText = try String(contentsOfFile: folder + "/06-acceptance-rules/lesson.md", encoding: .utf8)
        for eps in [Float(0.09), 0.2] {
            let (s, _) = try Self.session("typical-threshold", DecoderSpec(decoder: .hydra, tree: "chain-2", rule: .typical, temperature: 1, eps: eps), prompt: "today")
            let bar = try #require(try s.step()?.nodes[1].threshold)
            let text = String(format: eps == 0.09 ? "%.2f" : "%.4f", bar)
            #expect(rulesText.contains("threshold is `min(0.09, 0.1222) = \(text)`") || rulesText.contains("threshold is \(text)"), "lesson 6 should quote \(text)")
        }
        let (coin, _) = try Self.session("lossless-coin", DecoderSpec(decoder: .hydra, tree: "fork-2x2", rule: .sample, temperature: 1), prompt: "flip")
        let step = try #require(try coin.step())
        #expect(step.nodes[1].outcome == .rejected)   // seed 42 refuses both guesses, so both bars are shown
        #expect(rulesText.contains(String(format: "probability %.1f", step.nodes[1].threshold!)))
        #expect(rulesText.contains(String(format: "= %.3f", step.nodes[2].threshold!)))
    }

    @Test("a broken toy file gives one line naming it")
    func brokenToy() throws {
        let folder = PackagePaths.temporaryFolder()
        let path = folder.appendingPathComponent("bad.json").path
        try Data(#"{"format": "hydrasim-toy", "format_version": 1, "name": "b", "description": "", "tokens": ["a"], "base": [{"after": [], "next": {"a": 0.5}}]}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ToyError.self) { try ToyModelFile.read(path) }
        // A head table without rules drafts <unk> (every word unlikely), it does not trap.
        let empty = folder.appendingPathComponent("empty-head.json").path
        try Data(#"{"format": "hydrasim-toy", "format_version": 1, "name": "e", "description": "", "tokens": ["a"], "base": [{"after": [], "next": {"a": 1}}], "hydra": [[], []]}"#.utf8).write(to: URL(fileURLWithPath: empty))
        let bench = try Workbench.toy(empty, treesFolder: PackagePaths.trees)
        let s = try DecodingSession(model: bench.model, drafter: try bench.drafter(DecoderSpec(decoder: .hydra, tree: "fork-2x2")), prompt: bench.encode("a"))
        #expect(try s.step()?.nodes.count == 5)
        do { _ = try ToyModelFile.read(path) } catch { #expect("\(error)".contains("sums to 0.5")) }
    }
}
