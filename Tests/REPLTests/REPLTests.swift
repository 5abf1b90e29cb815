import Foundation
import Testing
import TestSupport
import LanguageModel
import Numerics
import REPL
import Speculation

/// The house model, its tokenizer and a workbench, loaded once for the suite.
enum House {
    static let folder = PackagePaths.fixture("models/house")
    static let model: Result<Transformer, Error> = Result { Transformer(weights: try Checkpoint.read(folder + "/model.bin")) }
    static let tokenizer: Result<BPETokenizer, Error> = Result {
        try BPETokenizer(contentsOf: folder + "/tokenizer.bin", expectedVocabularySize: try model.get().config.vocabularySize)
    }
    static func workbench() throws -> Workbench {
        Workbench(transformer: try model.get(), tokenizer: try tokenizer.get(), modelPath: folder + "/model.bin", treesFolder: PackagePaths.trees)
    }
    static func interpreter(_ spec: DecoderSpec = DecoderSpec(decoder: .hydraPlusPlus), prompt: String = "ROMEO:", seed: UInt64 = 42) throws -> Interpreter {
        let i = try Interpreter(workbench: try workbench(), spec: spec, prompt: prompt, seed: seed)
        i.outputFolder = PackagePaths.temporaryFolder().path
        return i
    }
}

/// Records without wall-clock times (which never repeat).
func timeless(_ records: [StepRecord]) -> [StepRecord] {
    records.map { var r = $0; r.draftSeconds = nil; r.verifySeconds = nil; return r }
}

@Suite("Decoding session", .serialized)
struct DecodingSessionTests {
    static func session(_ spec: DecoderSpec, seed: UInt64 = 42) throws -> (DecodingSession, Workbench) {
        let bench = try House.workbench()
        let s = try DecodingSession(model: bench.model, drafter: try bench.drafter(spec), prompt: bench.encode("JULIET:"), seed: seed)
        return (s, bench)
    }

    @Test("step, back, goto and step again give identical records (greedy, typical and sampling)",
          arguments: [DecoderSpec(decoder: .hydraPlusPlus), DecoderSpec(decoder: .medusa, tree: "house-7", rule: .typical, temperature: 0.7),
                      DecoderSpec(decoder: .hydra, tree: "dynamic:12:3", rule: .sample, temperature: 0.9, topP: 0.95)])
    func backAndAgain(spec: DecoderSpec) throws {
        let (s, _) = try Self.session(spec, seed: 7)
        for _ in 0..<6 { try s.step() }
        let first = timeless(s.steps)
        let tokens = s.tokens
        #expect(first.count == 6)
        try s.back(3)
        #expect(s.position == 3 && s.tokens == Array(tokens.prefix(s.tokens.count)))
        for _ in 0..<3 { try s.step() }
        #expect(timeless(s.steps) == first)
        #expect(s.tokens == tokens)
        try s.goto(1)
        #expect(s.position == 1)
        try s.goto(6)                                  // forward again through the recorded steps
        #expect(timeless(s.steps) == first)
        try s.restart()
        #expect(s.position == 0 && s.tokens.isEmpty)
        for _ in 0..<6 { try s.step() }
        #expect(timeless(s.steps) == first)
        #expect(throws: SessionError.self) { try s.back(7) }
        #expect(throws: SessionError.self) { try s.goto(8) }
    }

    @Test("a fork drafts the same prefix with another decoder and leaves the next step unchanged")
    func forkLeavesNextStep() throws {
        let (a, bench) = try Self.session(DecoderSpec(decoder: .hydraPlusPlus, rule: .sample, temperature: 0.8))
        let (b, _) = try Self.session(DecoderSpec(decoder: .hydraPlusPlus, rule: .sample, temperature: 0.8))
        for _ in 0..<3 { try a.step(); try b.step() }
        let medusa = try a.draft(with: try bench.drafter(DecoderSpec(decoder: .medusa, tree: "fork-2x2")))
        #expect(medusa.prefixLength == a.prefixLength)
        #expect(medusa.nodes[0].token == a.pendingRoot)
        #expect(medusa.nodes.count == 5)
        let next = try #require(try a.step()), reference = try #require(try b.step())
        #expect(timeless([next]) == timeless([reference]))
        #expect(a.tokens == b.tokens)
    }

    @Test("aligned contrast: followers draft the leader's prefix at every step; the leader's run is its free run")
    func aligned() throws {
        let bench = try House.workbench()
        let prompt = bench.encode("ROMEO:")
        let medusa = try bench.drafter(DecoderSpec(decoder: .medusa, tree: "fork-2x2"))
        let hydra = try bench.drafter(DecoderSpec(decoder: .hydra, tree: "fork-2x2"))
        let run = try AlignedDecoding.run(model: bench.model, leader: medusa, followers: [hydra], prompt: prompt, seed: 42, maxTokens: 200, maxSteps: 10)
        let free = try SpeculativeDecoder(model: bench.model, drafter: medusa).generate(prompt: prompt, maxTokens: 200, maxSteps: 10)
        #expect(timeless(run.leader.steps) == timeless(free.steps))
        let follower = run.followers[0]
        #expect(follower.steps.count == 10)
        #expect(follower.steps.map(\.prefixLength) == run.leader.steps.map(\.prefixLength))
        #expect(follower.steps.map(\.step) == run.leader.steps.map(\.step))
        #expect(follower.steps.map { $0.nodes[0].token } == run.leader.steps.map { $0.nodes[0].token })
        // Each follower step is exactly a fork of a session at that point.
        let session = try DecodingSession(model: bench.model, drafter: medusa, prompt: prompt, seed: 42, maxTokens: 200)
        for k in 0..<10 {
            #expect(timeless([try session.draft(with: hydra)]) == timeless([follower.steps[k]]))
            try session.step()
        }
    }

    @Test("generate is a loop over the session: greedy speculative output equals greedy ar on the house model")
    func generateEqualsAR() throws {
        let model = try House.model.get()
        let bench = try House.workbench()
        let prompt = bench.encode("KING HENRY:")
        var greedy = GreedySampler()
        let expected = try AutoregressiveGenerator(model: model).generate(prompt: prompt, maxTokens: 60, sampler: &greedy).tokens
        for spec in [DecoderSpec(decoder: .medusa), DecoderSpec(decoder: .hydra, tree: "broom-3"), DecoderSpec(decoder: .hydraPlusPlus, tree: "dynamic:20")] {
            let decoder = try SpeculativeDecoder(model: model, drafter: try bench.drafter(spec))
            let result = try decoder.generate(prompt: prompt, maxTokens: 60)
            #expect(result.tokens == expected, "\(spec)")
            let limited = try decoder.generate(prompt: prompt, maxTokens: 60, maxSteps: 3)
            #expect(limited.steps.count == 3 && limited.stopReason == .maxSteps)
        }
    }
}

@Suite("REPL interpreter", .serialized)
struct InterpreterTests {
    @Test("moving commands: step, back, goto, continue with breakpoints, restart, prompt; Enter repeats")
    func moving() throws {
        let repl = try House.interpreter()
        let first = repl.execute("step")
        #expect(!first.isError && first.text.hasPrefix("step 1 · hydra++ · mc_sim_7b_63 · root + 63 draft nodes · prefix 4"))
        #expect(first.text.contains("root \"\\n\""))
        #expect(repl.execute("").text.hasPrefix("step 2 "))          // Enter repeats the last moving command
        #expect(repl.execute("s 3").text.components(separatedBy: "\nstep ").count == 3)
        #expect(repl.session.position == 5)
        #expect(repl.execute("back 2").text.hasPrefix("after step 3 ("))
        #expect(repl.execute("goto 5").text.hasPrefix("after step 5 ("))
        #expect(repl.execute("goto 0").text.hasPrefix("at the start"))
        #expect(repl.execute("break tau<3").text == "breakpoint 1: tau<3")
        let cont = repl.execute("continue").text
        #expect(cont.contains("breakpoint 1 (tau<3) at step"))
        #expect((repl.session.steps.last?.acceptance ?? 9) < 3)
        #expect(repl.execute("delete").text == "deleted 1 breakpoint")
        #expect(repl.execute("restart").text.hasPrefix("at the start"))
        #expect(repl.execute("prompt JULIET:").text.hasPrefix("new prompt \"JULIET:\""))
        #expect(repl.session.position == 0 && repl.promptText == "JULIET:")
        #expect(repl.execute("quit").quits)
        #expect(repl.execute("exit").quits)
    }

    @Test("looking commands show the last step: tree, node, probs, mask, kv, text, stats, cost, display")
    func looking() throws {
        let repl = try House.interpreter(DecoderSpec(decoder: .hydra, tree: "fork-2x2"))
        for command in ["tree", "node 1", "probs", "mask", "kv", "cost"] {
            #expect(repl.execute(command).text == "error: no step yet: type step", "\(command)")
        }
        _ = repl.execute("step")
        let r = try #require(repl.session.steps.last)
        #expect(repl.execute("tree").text.contains("#4"))
        let node = repl.execute("node 0.0").text
        #expect(node.hasPrefix("node #3 ") && node.contains("head 2 gave it q = "))
        #expect(node.contains("head 2's top (q)") && node.contains("base model's top (p)"))
        #expect(repl.execute("node 3").text == node)
        let why = repl.execute("node 1").text
        #expect(why.contains(r.nodes[1].outcome == .accepted ? "accepted: it is the base model's most likely token" : "rejected: the base model preferred"))
        #expect(repl.execute("probs 1").text.contains("head 2's guess for the next token (q), given the path to #1"))
        let mask = repl.execute("mask").text.components(separatedBy: "\n")
        #expect(mask.contains { $0.hasPrefix("\(r.prefixLength + 2)") && $0.contains("#4 ") && $0.hasSuffix("█·█·█") })
        let kv = repl.execute("kv").text
        #expect(kv.contains("before: \(r.prefixLength) slots") && kv.contains("verify: \(r.prefixLength + 5) slots"))
        #expect(kv.contains("after:  \(r.prefixLength + r.acceptedPath.count) slots"))
        #expect(repl.execute("text").text.hasPrefix("JULIET:") == false)
        #expect(repl.execute("text").text.hasPrefix("ROMEO:"))
        #expect(repl.execute("stats").text.hasPrefix("1 steps, \(r.emitted.count) tokens: tau"))
        #expect(repl.execute("cost").text.contains("measured: draft"))
        #expect(repl.execute("display stats").text == "displaying after every step: stats")
        #expect(repl.execute("step").text.contains("2 steps, "))
        #expect(repl.execute("undisplay").text == "no displays")
    }

    @Test("comparing and settings: compare drafts the same prefix without moving; set changes the next step only")
    func comparing() throws {
        let repl = try House.interpreter()
        _ = repl.execute("step 2")
        let before = timeless(repl.session.steps)
        let compare = repl.execute("compare medusa --tree fork-2x2")
        #expect(!compare.isError, "\(compare.text)")
        #expect(compare.text.contains("both drafted the same prefix of \(repl.session.prefixLength) tokens"))
        #expect(timeless(repl.session.steps) == before && repl.session.position == 2)
        // Side by side: Medusa's fork-2x2 gives both depth-1 guesses the same child, so its depth 2 is all repeats.
        let lines = compare.text.components(separatedBy: "\n")
        #expect(lines[1].contains("hydra++ · mc_sim_7b_63") && lines[1].contains("medusa · fork-2x2"))
        #expect(lines.first { $0.hasPrefix("  depth 2 ") }?.hasSuffix(" rr") == true || lines.first { $0.hasPrefix("  depth 2 ") }?.contains("●r") == true)
        #expect(lines.allSatisfy { $0.count <= 80 })
        #expect(repl.execute("compare medusa --full").text.contains("per depth"))
        #expect(repl.execute("set tree chain-2").text == "from step 3: hydra++ · chain-2 · greedy")
        #expect(repl.execute("step").text.contains("root + 2 draft nodes"))
        #expect(timeless(Array(repl.session.steps.prefix(2))) == before)
        #expect(repl.execute("set rule typical").text.hasPrefix("from step 4: hydra++ · chain-2 · typical (eps 0.09"))
        #expect(repl.execute("set decoder ar").text == "from step 4: ar · typical (eps 0.09, delta 0.3, T 0.7)")
        #expect(repl.execute("set seed 9").text == "seed 9 from here on")
        #expect(repl.execute("set decoder hydra++").text.hasPrefix("from step 4: hydra++"))
        #expect(repl.execute("set head-precision f32").text.hasSuffix(" · f32 heads"))
        #expect(repl.execute("show settings").text.contains("hydra++.heads (f32 while drafting)"))
        #expect(repl.execute("show settings").text.contains("seed         9"))
        let diagram = repl.execute("diagram --format dot d.dot")
        #expect(!diagram.isError && diagram.text.hasPrefix("wrote "), "\(diagram.text)")
        #expect(!repl.execute("html").isError)
        #expect(!repl.execute("save-trace t.json").isError)
        let trace = try DecodingTrace.read(URL(fileURLWithPath: repl.outputFolder).appendingPathComponent("t.json").path)
        #expect(trace.steps.count == 3)
    }

    @Test("every error is one line and the prompt again", arguments: [
        ("stpe", "error: unknown command 'stpe': did you mean 'step'?"),
        ("bakc", "error: unknown command 'bakc': did you mean 'back'?"),
        ("xyzzy", "error: unknown command 'xyzzy': type help for the commands"),
        ("step x", "error: step takes a whole number of steps >= 1, got 'x'"),
        ("step 0", "error: step takes a whole number of steps >= 1, got '0'"),
        ("back", "error: already at the start: no step to go back over"),
        ("goto 3", "error: step 3 is not in the history: positions 0...0 (0 is the start)"),
        ("goto", "error: goto takes a step number, e.g. goto 3 (0 is the start)"),
        ("set treee chain-3", "error: unknown setting 'treee' (decoder, heads, tree, rule, temperature, top-p, eps, delta, head-precision, seed); did you mean 'tree'?"),
        ("set tree nope", "error: tree nope: 'nope' is neither a tree file nor a known tree"),
        ("set decoder eagle", "error: unknown decoder 'eagle' (ar, medusa, hydra, hydra++)"),
        ("set rule fast", "error: unknown rule 'fast' (greedy, typical, sample)"),
        ("set temperature hot", "error: set temperature takes a number, got 'hot'"),
        ("set top-p 2", "error: top-p must be in (0, 1], got 2.0"),
        ("set head-precision f8", "error: set head-precision takes f16 or f32, got 'f8'"),
        ("set tree", "error: set takes a setting and a value: set decoder|heads|tree|rule|temperature|top-p|eps|delta|head-precision|seed VALUE"),
        ("break tau<x", "error: break tau<N takes a whole number, got 'x'"),
        ("break token \"zzzqqq\"", "error: no token has the text \"zzzqqq\": this breakpoint would never fire"),
        ("delete 4", "error: no breakpoint 4 (there are none)"),
        ("display colours", "error: cannot display 'colours': choose from tree, text, stats, mask, kv, probs, cost"),
        ("compare", "error: compare takes a decoder (ar, medusa, hydra, hydra++), e.g. compare hydra++"),
        ("compare medusa --colour x", "error: unknown option --colour (--heads, --tree)"),
        ("diagram --format gif", "error: --format takes svg, png, pdf or dot, got 'gif'"),
        ("prompt \"unterminated", "error: unterminated quote"),
        ("st", "error: 'st' is ambiguous: step, stats"),
    ])
    func errors(line: String, expected: String) throws {
        let repl = try House.interpreter()
        let reply = repl.execute(line)
        #expect(reply.isError)
        #expect(reply.text.hasPrefix(expected), "\(reply.text)")
        #expect(!reply.text.contains("\n"))
        #expect(!reply.quits)
    }

    @Test("a breakpoint that never fires lets continue run to the end")
    func neverFires() throws {
        let repl = try House.interpreter(DecoderSpec(decoder: .hydraPlusPlus), prompt: String(repeating: "ROMEO: ", count: 40))
        _ = repl.execute("break step 100000")
        let out = repl.execute("continue").text
        #expect(out.contains("decoding stopped: reached the model's context limit"))
        #expect(!out.contains("breakpoint 1 ("))
    }

    @Test("thousands of random lines never throw out of the REPL or crash it")
    func randomLines() throws {
        let repl = try House.interpreter(DecoderSpec(decoder: .hydra, tree: "fork-2x2"))
        var random = XorShiftRandom(seed: 3)
        let words = Interpreter.commandWords + Interpreter.settingNames + ["-1", "0", "1", "2", "99999999999999999999", "0.1", "[0,1]", "\"", "\"a b\"",
                     "--tree", "--heads", "--contrast", "--format", "tau<2", "token", "rejected", "nan", "inf", "medusa", "hydra++", "chain-2", "dynamic:3",
                     "dynamic:x", "-", "", "é", "\\", "\t", "greedy", "sample", "typical", "1e9"]
        var errors = 0
        let cases = ProcessInfo.processInfo.environment["HYDRASIM_FUZZ_CASES"].flatMap(Int.init) ?? 3000
        for _ in 0..<cases {
            let count = Int(random.next() % 4)
            var parts: [String] = []
            for _ in 0...count { parts.append(words[Int(random.next() % UInt64(words.count))]) }
            let line = parts.joined(separator: " ")
            if ["html", "diagram", "save-trace", "continue", "prompt", "c", "cont"].contains(parts[0]) { continue }
            let reply = repl.execute(line)
            if reply.isError { errors += 1; #expect(!reply.text.contains("\n"), "\(line) -> \(reply.text)") }
            if repl.session.position > 40 { _ = repl.execute("restart") }
        }
        #expect(errors > 100)
    }

    @Test("suggestions rank by edit distance with a boost for prefixes")
    func suggestions() {
        #expect(Suggestions.nearest("stpe", among: ["step", "stats", "set"]) == ["step"])
        #expect(Suggestions.nearest("comp", among: ["compare", "continue"]).first == "compare")
        #expect(Suggestions.nearest("zzzzzz", among: ["step", "back"]).isEmpty)
        #expect(Suggestions.distance("kitten", "sitting") == 3)
    }
}

@Suite("REPL golden transcript")
struct GoldenTranscriptTests {
    static let folder = PackagePaths.root.appendingPathComponent("Tests/REPLTests/Golden")

    /// The transcript of a script as `hydrasim step` prints it when standard input is not a terminal.
    static func transcript(_ script: String) throws -> String {
        let repl = try House.interpreter()
        var out = ""
        for line in script.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            out += Interpreter.prompt + line + "\n"
            let reply = repl.execute(String(line))
            if !reply.text.isEmpty { out += reply.text + "\n" }
            if reply.quits { break }
        }
        return out
    }

    /// Regenerate with: HYDRASIM_REGENERATE_GOLDEN=1 bash scripts/test.sh --filter GoldenTranscript
    @Test("a scripted session prints exactly the golden transcript")
    func golden() throws {
        let script = try String(contentsOf: Self.folder.appendingPathComponent("session.txt"), encoding: .utf8)
        let actual = try Self.transcript(script)
        let goldenURL = Self.folder.appendingPathComponent("session.golden")
        if ProcessInfo.processInfo.environment["HYDRASIM_REGENERATE_GOLDEN"] == "1" {
            try Data(actual.utf8).write(to: goldenURL)
        }
        let expected = try String(contentsOf: goldenURL, encoding: .utf8)
        let a = actual.components(separatedBy: "\n"), e = expected.components(separatedBy: "\n")
        let firstDifference = zip(a, e).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(actual == expected, "first difference at line \((firstDifference?.offset ?? min(a.count, e.count)) + 1): \(firstDifference.map { "\($0.element.0) vs \($0.element.1)" } ?? "lengths differ")")
    }
}
